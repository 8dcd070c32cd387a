//! The `[gateway.store]` and `[gateway.lookup]` sections, and [`open`], which
//! turns the first into a running store. Reference: `docs/store.md`.

use crate::embedded::{EmbeddedOptions, EmbeddedStore};
use crate::error::StoreError;
use crate::lookup::{KeyLookup, LookupOptions};
use crate::redis::{RedisOptions, RedisStore, SentinelOptions};
use crate::snapshot::SnapshotCache;
use crate::store::{Current, PolicyStore};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The directory used when `dir` is not set (the gateway sets it to
/// `<data_dir>/store`).
pub(crate) const DEFAULT_DIR: &str = "graygate-data/store";

/// Which store holds the policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// Files in `dir` (the default): one gateway, or several on one host.
    #[default]
    Embedded,
    /// A Redis at `url` shared by many gateways; `dir` holds the snapshot cache.
    Redis,
}

/// `[gateway.store]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `embedded` or `redis`.
    pub kind: StoreKind,
    /// Embedded: the data directory. Redis: where the fail-static snapshot is
    /// kept. Default: `store` in the gateway's `data_dir` (`graygate-data/store`).
    pub dir: Option<PathBuf>,
    /// Redis URL (`redis://[:password@]host:port[/db]`, `rediss://` for TLS);
    /// required when `kind = "redis"`.
    pub url: Option<String>,
    /// Prefix of the store's Redis keys. Default `graygate:`.
    pub prefix: String,
    /// How often to re-read the current version besides pub/sub (Redis), or
    /// re-read the directory for other processes' writes (embedded). Default 2000.
    pub poll_interval_ms: u64,
    /// Versions kept in the history. Default 50.
    pub history: usize,
    /// Bound on connecting to Redis and on each store command. Default 2000.
    pub timeout_ms: u64,
    /// For `rediss://` URLs: a PEM file of the CA(s) to trust instead of the
    /// system's roots.
    pub tls_ca_file: Option<PathBuf>,
    /// Redis Sentinels (`host:port` each) to ask for the master; `url` then
    /// only supplies credentials, database and TLS. Default: none.
    pub sentinels: Vec<String>,
    /// The master's name known to the Sentinels; required with `sentinels`.
    pub sentinel_master: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            kind: StoreKind::Embedded,
            dir: None,
            url: None,
            prefix: "graygate:".into(),
            poll_interval_ms: 2000,
            history: 50,
            timeout_ms: 2000,
            tls_ca_file: None,
            sentinels: Vec::new(),
            sentinel_master: None,
        }
    }
}

impl StoreConfig {
    /// Checks the values that serde cannot.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.kind == StoreKind::Redis && self.url.is_none() && self.sentinels.is_empty() {
            return Err(StoreError::Config(
                "`url` (or `sentinels`) is required when kind = \"redis\"".into(),
            ));
        }
        if !self.sentinels.is_empty() && self.sentinel_master.is_none() {
            return Err(StoreError::Config(
                "`sentinel_master` is required with `sentinels`".into(),
            ));
        }
        if self.history == 0 {
            return Err(StoreError::Config("`history` must be at least 1".into()));
        }
        if self.poll_interval_ms < 10 {
            return Err(StoreError::Config("`poll_interval_ms` must be at least 10".into()));
        }
        if self.timeout_ms == 0 {
            return Err(StoreError::Config("`timeout_ms` must be positive".into()));
        }
        Ok(())
    }
}

impl StoreConfig {
    /// The directory: `dir`, else `graygate-data/store`.
    pub fn dir(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))
    }

    fn sentinel(&self) -> Option<SentinelOptions> {
        match (&self.sentinels[..], &self.sentinel_master) {
            ([], _) | (_, None) => None,
            (sentinels, Some(master)) => Some(SentinelOptions {
                sentinels: sentinels.to_vec(),
                master: master.clone(),
            }),
        }
    }
}

/// A running store and the stream of versions a gateway should apply.
#[derive(Debug)]
pub struct OpenStore {
    /// The store, for the admin API (load, save, history, get).
    pub store: Arc<dyn PolicyStore>,
    /// The versions to apply, in order. For Redis it starts from the local
    /// snapshot when there is one (fail-static) and every version it carries
    /// has been saved to that snapshot first.
    pub updates: watch::Receiver<Current>,
}

/// Opens the store `config` describes. Never waits for Redis.
pub async fn open(config: &StoreConfig) -> Result<OpenStore, StoreError> {
    config.validate()?;
    let poll = Duration::from_millis(config.poll_interval_ms);
    match config.kind {
        StoreKind::Embedded => {
            let options = EmbeddedOptions {
                history: config.history,
                poll_interval: Some(poll),
            };
            let store = EmbeddedStore::open(config.dir(), options).await?;
            let updates = store.watch();
            Ok(OpenStore {
                store: Arc::new(store),
                updates,
            })
        }
        StoreKind::Redis => {
            let options = RedisOptions {
                url: config.url.clone().unwrap_or_default(),
                prefix: config.prefix.clone(),
                history: config.history,
                poll_interval: poll,
                timeout: Duration::from_millis(config.timeout_ms),
                tls_ca_file: config.tls_ca_file.clone(),
                sentinel: config.sentinel(),
            };
            let store = RedisStore::open(options)?;
            let cache = SnapshotCache::open(&config.dir()).await?;
            let updates = cache.follow(&store).await;
            Ok(OpenStore {
                store: Arc::new(store),
                updates,
            })
        }
    }
}

/// `[gateway.lookup]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LookupConfig {
    /// Redis URL for per-user keys; default: the store's `url`.
    pub url: Option<String>,
    /// Prepended to each key before reading it. Default: none, so existing
    /// `gray:<uid>` keys are read as they are.
    pub key_prefix: String,
    /// Bound on each lookup. Default 50.
    pub timeout_ms: u64,
    /// Most cached answers. Default 100000.
    pub max_entries: u64,
    /// Most cached bytes, bookkeeping included. Default 67108864 (64 MiB).
    pub max_bytes: u64,
    /// How long a found value is cached. Default 5000.
    pub ttl_found_ms: u64,
    /// How long a missing key is cached. Default 1000.
    pub ttl_missing_ms: u64,
    /// How long past its TTL an answer is still served while Redis fails or
    /// is slow; 0 turns it off. Default 300000 (5 min).
    pub stale_if_error_ms: u64,
    /// For `rediss://` URLs: a PEM file of the CA(s) to trust; default: the
    /// store's `tls_ca_file` when `url` is the store's, else the system's roots.
    pub tls_ca_file: Option<PathBuf>,
}

impl Default for LookupConfig {
    fn default() -> Self {
        let o = LookupOptions::default();
        LookupConfig {
            url: None,
            key_prefix: o.key_prefix,
            timeout_ms: millis(o.timeout),
            max_entries: o.max_entries,
            max_bytes: o.max_bytes,
            ttl_found_ms: millis(o.ttl_found),
            ttl_missing_ms: millis(o.ttl_missing),
            stale_if_error_ms: millis(o.stale_if_error),
            tls_ca_file: None,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl LookupConfig {
    /// The options these settings describe.
    pub fn options(&self) -> LookupOptions {
        LookupOptions {
            key_prefix: self.key_prefix.clone(),
            timeout: Duration::from_millis(self.timeout_ms),
            max_entries: self.max_entries,
            max_bytes: self.max_bytes,
            ttl_found: Duration::from_millis(self.ttl_found_ms),
            ttl_missing: Duration::from_millis(self.ttl_missing_ms),
            stale_if_error: Duration::from_millis(self.stale_if_error_ms),
            tls_ca_file: self.tls_ca_file.clone(),
            sentinel: None,
        }
    }

    /// Starts the lookup service on `url`, or on the store's Redis (`store`
    /// with `kind = "redis"`, its TLS CA and Sentinels) when `url` is not set; `None` when there is
    /// neither: lookups then answer `Unavailable` (the rules reading them do
    /// not match).
    pub fn open(&self, store: &StoreConfig) -> Result<Option<KeyLookup>, StoreError> {
        if self.timeout_ms == 0 || self.max_entries == 0 || self.max_bytes == 0 {
            return Err(StoreError::Config(
                "lookup `timeout_ms`, `max_entries` and `max_bytes` must be positive".into(),
            ));
        }
        let mut options = self.options();
        let url = match (&self.url, store.kind) {
            (Some(url), _) => url.as_str(),
            (None, StoreKind::Redis) => {
                options.tls_ca_file = options.tls_ca_file.or_else(|| store.tls_ca_file.clone());
                options.sentinel = store.sentinel();
                store.url.as_deref().unwrap_or_default()
            }
            (None, StoreKind::Embedded) => return Ok(None),
        };
        KeyLookup::open(url, options).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_section_means_the_embedded_store_with_defaults() {
        let c: StoreConfig = toml::from_str("").unwrap();
        assert_eq!(c, StoreConfig::default());
        c.validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<StoreConfig>("kind = \"redis\"\nurll = \"x\"").is_err());
        assert!(toml::from_str::<LookupConfig>("timeout = 5").is_err());
    }

    #[test]
    fn a_redis_store_needs_a_url() {
        let c: StoreConfig = toml::from_str("kind = \"redis\"").unwrap();
        assert!(matches!(c.validate(), Err(StoreError::Config(_))));
    }

    #[test]
    fn lookup_settings_become_options() {
        let c: LookupConfig = toml::from_str("timeout_ms = 20\nmax_entries = 10\nmax_bytes = 4096").unwrap();
        let o = c.options();
        assert_eq!(o.timeout, Duration::from_millis(20));
        assert_eq!((o.max_entries, o.max_bytes), (10, 4096));
    }
}
