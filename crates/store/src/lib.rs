//! graygate's policy stores.
//!
//! A [`PolicyStore`] holds the versions of the policy document: load the
//! current one, save the next with compare-and-set on the version, list the
//! audit history, fetch one version, watch for changes. Two implementations:
//! [`EmbeddedStore`] (a crash-safe data directory, the default) and
//! [`RedisStore`] (one Redis shared by many gateways, pub/sub plus polling).
//! [`SnapshotCache`] keeps the last applied version on local disk so that a
//! gateway restarted while its store is unreachable still starts (fail-static).
//! [`KeyLookup`] answers per-user key lookups (`gray:{user}`) from Redis through
//! a cache bounded in entries and bytes, with request coalescing and a timeout.
//! [`compiled`] turns a stream of versions into compiled policies, off the
//! request path, for the data plane to swap in.
//! Configuration: [`StoreConfig`], [`LookupConfig`]; reference in `docs/store.md`.

#![forbid(unsafe_code)]

pub mod apply;
mod config;
pub mod embedded;
mod error;
mod fsutil;
pub mod lookup;
mod model;
pub mod redis;
mod snapshot;
mod store;
#[cfg(test)]
mod testutil;

pub use apply::{Compiled, compiled};
pub use config::{LookupConfig, OpenStore, StoreConfig, StoreKind, open};
pub use embedded::{EmbeddedOptions, EmbeddedStore};
pub use error::StoreError;
pub use lookup::{Answer, KeyLookup, LookupAnswers, LookupOptions, LookupStats, REFRESH_BACKOFF, WithAnswers};
pub use model::{Change, StoredPolicy, VersionMeta};
pub use redis::{RedisOptions, RedisStore, SentinelOptions};
pub use snapshot::SnapshotCache;
pub use store::{Connection, Current, PolicyStore, StoreStatus};
