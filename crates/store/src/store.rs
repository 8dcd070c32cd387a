//! The [`PolicyStore`] trait every store implements, and the connection
//! status a store reports for `/readyz`.

use crate::error::StoreError;
use crate::model::{Change, StoredPolicy, VersionMeta};
use graygate_policy::Policy;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;
use tokio::sync::watch;

/// The latest version a store has seen; `None` while the store holds no policy.
pub type Current = Option<Arc<StoredPolicy>>;

/// A versioned, audited home for the policy.
///
/// Guarantees shared by every implementation:
/// - versions start at 1 and grow by one per successful [`save`](Self::save);
///   a version number is never reused;
/// - `save` validates (compiles) the policy first: a store never holds a
///   policy that does not compile;
/// - `save` is a compare-and-set: exactly one of several writers based on the
///   same version wins, the others get [`StoreError::Conflict`];
/// - [`watch`](Self::watch) only ever moves forward: it never announces a
///   version lower than one it announced before.
#[async_trait::async_trait]
pub trait PolicyStore: Send + Sync + std::fmt::Debug {
    /// The current version, or `None` when nothing was saved yet.
    async fn load(&self) -> Result<Option<StoredPolicy>, StoreError>;

    /// Validates `policy` and saves it as the next version, provided the store
    /// is still at `expected` (0: "the store is empty"). Returns what was saved.
    ///
    /// A save that fails with [`StoreError::Unavailable`] after reaching the
    /// backend (a Redis reply that timed out) may have been applied: reload
    /// before retrying; a blind retry then gets a conflict, never a duplicate.
    async fn save(&self, policy: &Policy, expected: u64, change: Change) -> Result<StoredPolicy, StoreError>;

    /// The audit records of the last `limit` versions, newest first.
    async fn history(&self, limit: usize) -> Result<Vec<VersionMeta>, StoreError>;

    /// One version, if the store still keeps it.
    async fn get(&self, version: u64) -> Result<Option<StoredPolicy>, StoreError>;

    /// Saves the document of a kept `version` again, as the next version
    /// (provided the store is still at `expected`): a rollback is a new,
    /// audited version, never a rewind of the version number.
    async fn rollback(&self, version: u64, expected: u64, change: Change) -> Result<StoredPolicy, StoreError> {
        let old = self.get(version).await?.ok_or(StoreError::UnknownVersion(version))?;
        self.save(&old.policy()?, expected, change).await
    }

    /// A receiver that holds the latest version and is notified of each newer
    /// one (in order; a receiver that falls behind skips to the latest).
    fn watch(&self) -> watch::Receiver<Current>;

    /// The connection state, for `/readyz`.
    fn status(&self) -> StoreStatus;
}

/// Whether the store's backend is reachable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Reachable (an embedded store always is).
    Connected,
    /// Not reachable since this time; the last known policy stays in use.
    Disconnected {
        /// When the connection was lost (or first failed).
        since: SystemTime,
    },
}

/// What `/readyz` reports about a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStatus {
    /// The connection state.
    pub connection: Connection,
    /// The last error met, kept after reconnecting until a newer one replaces it.
    pub last_error: Option<String>,
    /// The latest version seen.
    pub version: Option<u64>,
}

impl StoreStatus {
    /// True when the backend is reachable.
    pub fn is_connected(&self) -> bool {
        self.connection == Connection::Connected
    }
}

/// A shared, updatable [`StoreStatus`].
#[derive(Debug, Clone)]
pub(crate) struct StatusCell(Arc<Mutex<StoreStatus>>);

impl StatusCell {
    pub(crate) fn new(connection: Connection) -> Self {
        StatusCell(Arc::new(Mutex::new(StoreStatus {
            connection,
            last_error: None,
            version: None,
        })))
    }

    pub(crate) fn get(&self) -> StoreStatus {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn update(&self, f: impl FnOnce(&mut StoreStatus)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }

    pub(crate) fn connected(&self) {
        self.update(|s| s.connection = Connection::Connected);
    }

    pub(crate) fn failed(&self, error: impl std::fmt::Display) {
        let error = error.to_string();
        self.update(|s| {
            if s.connection == Connection::Connected {
                s.connection = Connection::Disconnected {
                    since: SystemTime::now(),
                };
            }
            s.last_error = Some(error);
        });
    }

    pub(crate) fn error(&self, error: impl std::fmt::Display) {
        let error = error.to_string();
        self.update(|s| s.last_error = Some(error));
    }

    pub(crate) fn version(&self, version: u64) {
        self.update(|s| s.version = Some(version));
    }
}

/// Announces `stored` on `tx` if it is newer than what `tx` holds; returns
/// whether it did. This is the one place that keeps watches moving forward.
pub(crate) fn announce(tx: &watch::Sender<Current>, stored: Arc<StoredPolicy>) -> bool {
    tx.send_if_modified(|cur| {
        if cur.as_ref().is_some_and(|c| c.version() >= stored.version()) {
            return false;
        }
        *cur = Some(stored);
        true
    })
}
