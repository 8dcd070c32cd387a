//! The store's errors: small, typed, and saying whether the caller can act.

use graygate_policy::PolicyError;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The policy does not validate; nothing was written.
    #[error("invalid policy: {0}")]
    Invalid(#[from] PolicyError),
    /// Compare-and-set failed: the store holds another version than expected.
    /// `current` is 0 when the store holds no policy yet.
    #[error("version conflict: expected version {expected}, the store is at version {current}")]
    Conflict {
        /// The version the caller based its change on.
        expected: u64,
        /// The version the store holds now.
        current: u64,
    },
    /// The version asked for is not (or no longer) kept in the history.
    #[error("version {0} is not in the store's history")]
    UnknownVersion(u64),
    /// The store's backend could not be reached or failed (I/O, Redis).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store holds data that cannot be read (a corrupt or foreign entry).
    #[error("corrupt store entry: {0}")]
    Corrupt(String),
    /// The store configuration is wrong.
    #[error("store configuration: {0}")]
    Config(String),
}

impl StoreError {
    /// True when retrying the same call later may succeed (the backend was
    /// unreachable); false for conflicts, invalid policies and bad config.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}
