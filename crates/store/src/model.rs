//! What a store holds: versions of the policy document with who/when/what.
//!
//! The document is kept as the JSON text of a [`Policy`] exactly as it was
//! saved, so every gateway compiles the same bytes.

use crate::error::StoreError;
use graygate_policy::{CompiledPolicy, Policy, PolicyError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Who made a change and why; the store adds the time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The author (an operator name, a token's name, `ctl@host`).
    pub who: String,
    /// A one-line summary of the difference, e.g. `checkout: canary 5% → 10%`.
    pub summary: String,
}

impl Change {
    /// A change by `who`, described by `summary`.
    pub fn new(who: impl Into<String>, summary: impl Into<String>) -> Self {
        Change {
            who: who.into(),
            summary: summary.into(),
        }
    }
}

/// The audit record of one version: who, when, what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionMeta {
    /// The version number: starts at 1, grows by one per save, never reused.
    pub version: u64,
    /// Who saved it.
    pub who: String,
    /// When it was saved, in milliseconds since the Unix epoch.
    pub when_ms: u64,
    /// What changed.
    pub summary: String,
}

impl VersionMeta {
    pub(crate) fn new(version: u64, change: &Change) -> Self {
        VersionMeta {
            version,
            who: change.who.clone(),
            when_ms: now_ms(),
            summary: change.summary.clone(),
        }
    }
}

/// One stored version of the policy: its audit record and its JSON document.
///
/// A `StoredPolicy` read from a store always held a document that compiled
/// when it was saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPolicy {
    /// Version, author, time and summary.
    pub meta: VersionMeta,
    /// The policy as JSON (`serde_json` of [`Policy`]), byte for byte as saved.
    pub document: Arc<str>,
}

impl StoredPolicy {
    /// The version number.
    pub fn version(&self) -> u64 {
        self.meta.version
    }

    /// Parses the document.
    pub fn policy(&self) -> Result<Policy, PolicyError> {
        Policy::from_json(self.document.as_bytes())
    }

    /// Whether this version's document is `policy` as a store saves it: the
    /// same JSON text. (`Policy`'s `==` ignores the order of maps, and a
    /// split's order decides which users move.)
    pub fn holds(&self, policy: &Policy) -> bool {
        serde_json::to_string(policy).is_ok_and(|d| *d == *self.document)
    }

    /// Parses and compiles the document, stamped with this version.
    pub fn compile(&self) -> Result<CompiledPolicy, PolicyError> {
        graygate_policy::compile_json(self.document.as_bytes(), self.meta.version)
    }
}

/// Serializes and compiles `policy` as version `version`: what every store does
/// before writing, so that a store never holds a policy that does not compile.
pub(crate) fn validated_document(policy: &Policy, version: u64) -> Result<String, PolicyError> {
    let doc = serde_json::to_string(policy)
        .map_err(|e| PolicyError::one(graygate_policy::FieldPath::default(), e.to_string()))?;
    // Compile the JSON text itself: it is what every gateway will compile.
    graygate_policy::compile_json(doc.as_bytes(), version)?;
    Ok(doc)
}

/// The file format of a version (embedded store, snapshot cache): the audit
/// record as one JSON line, then the document verbatim.
pub(crate) fn encode_entry(stored: &StoredPolicy) -> Result<Vec<u8>, StoreError> {
    let mut bytes = serde_json::to_vec(&stored.meta).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    bytes.push(b'\n');
    bytes.extend_from_slice(stored.document.as_bytes());
    Ok(bytes)
}

/// Reads what [`encode_entry`] wrote; `expected` checks the version number.
pub(crate) fn decode_entry(text: &str, expected: Option<u64>) -> Result<StoredPolicy, StoreError> {
    let (head, document) = text
        .split_once('\n')
        .ok_or_else(|| StoreError::Corrupt("no header line".into()))?;
    let meta = decode_meta(head, expected)?;
    Ok(StoredPolicy {
        meta,
        document: document.into(),
    })
}

/// Reads the header line of an entry.
pub(crate) fn decode_meta(line: &str, expected: Option<u64>) -> Result<VersionMeta, StoreError> {
    let meta: VersionMeta =
        serde_json::from_str(line.trim_end()).map_err(|e| StoreError::Corrupt(format!("bad header: {e}")))?;
    if let Some(v) = expected.filter(|v| *v != meta.version) {
        return Err(StoreError::Corrupt(format!(
            "entry of version {v} holds version {}",
            meta.version
        )));
    }
    Ok(meta)
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
