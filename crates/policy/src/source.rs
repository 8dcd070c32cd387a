//! Reading a policy from TOML or JSON, with errors that point at the line.
//!
//! Syntax and type errors come from serde (which stops at the first); the
//! semantic checks of [`compile()`](crate::compile()) then report every remaining problem at
//! once. For TOML, each error's path is looked up in a span-preserving parse of
//! the same text to find its line.

use crate::CompiledPolicy;
use crate::compile::compile;
use crate::error::{FieldError, FieldPath, PolicyError, Seg};
use crate::model::Policy;

/// Deserializes a TOML document into any serde type, with an error that
/// carries the field path and line (serde stops at the first such error).
/// The gateway reads its own `[gateway]` table with it too.
pub fn parse_toml<T: serde::de::DeserializeOwned>(src: &str) -> Result<T, PolicyError> {
    let de = toml::Deserializer::parse(src).map_err(|e| toml_error(src, &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = path_of(e.path());
        let inner = e.into_inner();
        let mut err = toml_error(src, &inner);
        if let Some(first) = err.errors.first_mut() {
            if first.path.0.is_empty() {
                first.path = path;
            }
            if first.line.is_none() {
                first.line = line_of(src, &first.path);
            }
        }
        err
    })
}

impl Policy {
    /// Parses a TOML policy (type errors only; see [`compile_toml`]).
    pub fn from_toml(src: &str) -> Result<Policy, PolicyError> {
        parse_toml(src)
    }

    /// Whether `other` is the same document: the same JSON text. `==` ignores
    /// the order of maps, and a split's order decides which users move.
    pub fn same_document(&self, other: &Policy) -> bool {
        matches!((serde_json::to_string(self), serde_json::to_string(other)), (Ok(a), Ok(b)) if a == b)
    }

    /// Parses a JSON policy (type errors only; see [`compile_json`]).
    pub fn from_json(src: &[u8]) -> Result<Policy, PolicyError> {
        let mut de = serde_json::Deserializer::from_slice(src);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = path_of(e.path());
            let inner = e.into_inner();
            let msg = inner.to_string();
            // serde_json appends " at line L column C"; keep the message plain.
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
            PolicyError::one(path, msg)
        })
    }
}

/// Parses, validates and compiles a TOML policy; every error carries its line.
pub fn compile_toml(src: &str, version: u64) -> Result<CompiledPolicy, PolicyError> {
    let policy = Policy::from_toml(src)?;
    compile(&policy, version).map_err(|mut e| {
        let doc = toml_edit::Document::parse(src).ok();
        for fe in &mut e.errors {
            fe.line = doc.as_ref().and_then(|d| line_in(d, src, &fe.path));
        }
        // Report in document order (the checks run group by group).
        e.errors.sort_by_key(|fe| fe.line.unwrap_or(0));
        e
    })
}

/// Parses, validates and compiles a JSON policy.
pub fn compile_json(src: &[u8], version: u64) -> Result<CompiledPolicy, PolicyError> {
    compile(&Policy::from_json(src)?, version)
}

fn path_of(p: &serde_path_to_error::Path) -> FieldPath {
    use serde_path_to_error::Segment;
    FieldPath(
        p.iter()
            .filter_map(|s| match s {
                Segment::Seq { index } => Some(Seg::Index(*index)),
                Segment::Map { key } | Segment::Enum { variant: key } => Some(Seg::Key(key.clone())),
                Segment::Unknown => None,
            })
            .collect(),
    )
}

fn toml_error(src: &str, e: &toml::de::Error) -> PolicyError {
    let line = e.span().map(|s| line_at(src, s.start));
    let message = e.message().trim().to_owned();
    PolicyError {
        errors: vec![FieldError {
            path: FieldPath::default(),
            message,
            line,
        }],
    }
}

/// The 1-based line of byte `offset` in `src`.
pub fn line_at(src: &str, offset: usize) -> usize {
    src.as_bytes()[..offset.min(src.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The line of the deepest part of `path` present in the TOML text: for a
/// missing field, the table that lacks it. Shared with the gateway's own
/// `[gateway]` settings so that every error of a file points at its line.
pub fn line_of(src: &str, path: &FieldPath) -> Option<usize> {
    line_in(&toml_edit::Document::parse(src).ok()?, src, path)
}

fn line_in(doc: &toml_edit::Document<&str>, src: &str, path: &FieldPath) -> Option<usize> {
    let mut item: &toml_edit::Item = doc.as_item();
    let mut span = None;
    for seg in &path.0 {
        let next = match seg {
            Seg::Key(k) => item.get(k.as_str()),
            Seg::Index(i) => item.get(*i),
        };
        let Some(next) = next else { break };
        item = next;
        span = item.span().or(span);
    }
    span.map(|s| line_at(src, s.start))
}
