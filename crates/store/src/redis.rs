//! The Redis store: one Redis shared by many gateways.
//!
//! Key layout, with the default prefix `graygate:`:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `graygate:policy` | hash | `version`, `doc` (JSON), `meta` (who/when/summary) of the current version |
//! | `graygate:docs` | hash | version → document, for the kept versions |
//! | `graygate:meta` | hash | version → audit record, for the kept versions |
//! | `graygate:log` | list | kept version numbers, newest first |
//! | `graygate:changes` | pub/sub channel | each new version number |
//!
//! A save runs one Lua script (`redis/script.rs`) that checks the expected
//! version, writes all of the above and publishes, so readers never see a
//! document without its version or the reverse. Watchers SUBSCRIBE to the
//! channel and also poll the head's version every `poll_interval`, because
//! pub/sub drops messages while a subscriber is disconnected (a poll reads
//! only the version, and the document only when it changed); they reconnect
//! with exponential backoff. `redis://:password@host` and `rediss://` (TLS)
//! URLs work as redis-rs reads them; with [`SentinelOptions`] the master is
//! found through Redis Sentinel and followed across failovers.

mod endpoint;
mod script;
mod watcher;

pub(crate) use endpoint::Endpoint;

use crate::error::StoreError;
use crate::model::{Change, StoredPolicy, VersionMeta, validated_document};
use crate::store::{Connection, Current, PolicyStore, StatusCell, StoreStatus};
use graygate_policy::Policy;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Options of a [`RedisStore`].
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// `redis://[:password@]host:port[/db]` or `rediss://…` for TLS.
    pub url: String,
    /// Prefix of every key and of the channel. Default `graygate:`.
    pub prefix: String,
    /// How many versions to keep (at least 1). Default 50.
    pub history: usize,
    /// How often watchers read the current version besides pub/sub. Default 2 s.
    pub poll_interval: Duration,
    /// Bound on connecting and on each command. Default 2 s.
    pub timeout: Duration,
    /// For `rediss://`: a PEM file of the CA(s) to trust instead of the
    /// system's roots (a private CA). Default: the system's roots.
    pub tls_ca_file: Option<PathBuf>,
    /// Find the master through Redis Sentinel instead of `url`'s host
    /// (`url` then only supplies credentials, database and TLS).
    pub sentinel: Option<SentinelOptions>,
}

/// Where the Sentinels are and which master to ask them for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelOptions {
    /// The Sentinels, `host:port` each.
    pub sentinels: Vec<String>,
    /// The master's name in their configuration (`sentinel monitor NAME …`).
    pub master: String,
}

impl RedisOptions {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        RedisOptions {
            url: url.into(),
            prefix: "graygate:".into(),
            history: 50,
            poll_interval: Duration::from_secs(2),
            timeout: Duration::from_secs(2),
            tls_ca_file: None,
            sentinel: None,
        }
    }
}

/// A [`PolicyStore`] in Redis. See the module docs for the key layout.
///
/// Opening never waits for Redis: a gateway starts while Redis is down, its
/// watcher keeps retrying, and [`PolicyStore::status`] says so.
#[derive(Debug, Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    endpoint: Endpoint,
    keys: Keys,
    keep: usize,
    timeout: Duration,
    save: redis::Script,
    tx: Arc<watch::Sender<Current>>,
    status: StatusCell,
    watcher: tokio::task::AbortHandle,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

/// The names of the store's keys.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    head: String,
    docs: String,
    meta: String,
    log: String,
    channel: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Keys {
            head: format!("{prefix}policy"),
            docs: format!("{prefix}docs"),
            meta: format!("{prefix}meta"),
            log: format!("{prefix}log"),
            channel: format!("{prefix}changes"),
        }
    }
}

/// The audit record as stored (the version is the hash field or the head's).
#[derive(Debug, Serialize, Deserialize)]
struct MetaRecord {
    who: String,
    when_ms: u64,
    summary: String,
}

impl MetaRecord {
    fn into_meta(self, version: u64) -> VersionMeta {
        VersionMeta {
            version,
            who: self.who,
            when_ms: self.when_ms,
            summary: self.summary,
        }
    }
}

fn parse_meta(json: &str, version: u64) -> Result<VersionMeta, StoreError> {
    serde_json::from_str::<MetaRecord>(json)
        .map(|m| m.into_meta(version))
        .map_err(|e| StoreError::Corrupt(format!("audit record of version {version}: {e}")))
}

/// The endpoint `url` (or the Sentinels) designate.
pub(crate) fn endpoint(
    url: &str,
    tls_ca_file: Option<&Path>,
    sentinel: Option<&SentinelOptions>,
    timeout: Duration,
) -> Result<Endpoint, StoreError> {
    match sentinel {
        None => Endpoint::direct(url, tls_ca_file, timeout),
        Some(s) => {
            let url = (!url.is_empty()).then_some(url);
            Endpoint::sentinel(&s.sentinels, &s.master, url, timeout)
        }
    }
}

impl RedisStore {
    /// Starts a store on `options.url` and its watcher task. Fails only on a
    /// malformed URL; an unreachable Redis shows in [`PolicyStore::status`].
    /// Must be called within a tokio runtime.
    pub fn open(options: RedisOptions) -> Result<Self, StoreError> {
        let endpoint = endpoint(
            &options.url,
            options.tls_ca_file.as_deref(),
            options.sentinel.as_ref(),
            options.timeout,
        )?;
        let keys = Keys::new(&options.prefix);
        let tx = Arc::new(watch::Sender::new(None));
        let status = StatusCell::new(Connection::Disconnected {
            since: std::time::SystemTime::now(),
        });
        let watcher = tokio::spawn(
            watcher::Watcher {
                endpoint: endpoint.clone(),
                keys: keys.clone(),
                tx: tx.clone(),
                status: status.clone(),
                poll_interval: options.poll_interval,
                timeout: options.timeout,
            }
            .run(),
        )
        .abort_handle();
        Ok(RedisStore {
            inner: Arc::new(Inner {
                endpoint,
                keys,
                keep: options.history.max(1),
                timeout: options.timeout,
                save: redis::Script::new(script::SAVE),
                tx,
                status,
                watcher,
            }),
        })
    }

    async fn bounded<T>(&self, f: impl Future<Output = redis::RedisResult<T>>) -> Result<T, StoreError> {
        match tokio::time::timeout(self.inner.timeout, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                self.inner.endpoint.failed(&e);
                Err(e.into())
            }
            Err(_) => {
                self.inner.endpoint.forget();
                Err(StoreError::Unavailable("redis did not answer in time".into()))
            }
        }
    }

    async fn conn(&self) -> Result<ConnectionManager, StoreError> {
        self.inner.endpoint.conn().await
    }
}

/// Reads the head: the current version, or `None` when the store is empty.
pub(crate) async fn read_head(conn: &mut ConnectionManager, keys: &Keys) -> Result<Option<StoredPolicy>, StoreError> {
    let (version, doc, meta): (Option<u64>, Option<String>, Option<String>) =
        conn.hmget(&keys.head, &["version", "doc", "meta"]).await?;
    match (version, doc, meta) {
        (None, None, None) => Ok(None),
        (Some(version), Some(doc), Some(meta)) => Ok(Some(StoredPolicy {
            meta: parse_meta(&meta, version)?,
            document: doc.into(),
        })),
        _ => Err(StoreError::Corrupt(format!("{} is incomplete", keys.head))),
    }
}

#[async_trait::async_trait]
impl PolicyStore for RedisStore {
    async fn load(&self) -> Result<Option<StoredPolicy>, StoreError> {
        let mut conn = self.conn().await?;
        match tokio::time::timeout(self.inner.timeout, read_head(&mut conn, &self.inner.keys)).await {
            Ok(r) => r,
            Err(_) => {
                self.inner.endpoint.forget();
                Err(StoreError::Unavailable("redis did not answer in time".into()))
            }
        }
    }

    async fn save(&self, policy: &Policy, expected: u64, change: Change) -> Result<StoredPolicy, StoreError> {
        let version = expected + 1;
        let document = validated_document(policy, version)?;
        let meta = VersionMeta::new(version, &change);
        let record = serde_json::to_string(&MetaRecord {
            who: meta.who.clone(),
            when_ms: meta.when_ms,
            summary: meta.summary.clone(),
        })
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let keys = &self.inner.keys;
        let mut conn = self.conn().await?;
        let mut call = self.inner.save.prepare_invoke();
        call.key(&keys.head)
            .key(&keys.docs)
            .key(&keys.meta)
            .key(&keys.log)
            .arg(expected)
            .arg(&document)
            .arg(&record)
            .arg(self.inner.keep)
            .arg(&keys.channel);
        let (ok, n): (u8, u64) = self.bounded(call.invoke_async(&mut conn)).await?;
        if ok != 1 {
            return Err(StoreError::Conflict { expected, current: n });
        }
        Ok(StoredPolicy {
            meta: VersionMeta { version: n, ..meta },
            document: document.into(),
        })
    }

    async fn history(&self, limit: usize) -> Result<Vec<VersionMeta>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let keys = &self.inner.keys;
        let mut conn = self.conn().await?;
        let last = isize::try_from(limit).unwrap_or(isize::MAX) - 1;
        let versions: Vec<u64> = self.bounded(conn.lrange(&keys.log, 0, last)).await?;
        if versions.is_empty() {
            return Ok(Vec::new());
        }
        let records: Vec<Option<String>> = self.bounded(conn.hmget(&keys.meta, &versions)).await?;
        let mut out = Vec::with_capacity(versions.len());
        // A version trimmed between the two reads has no record: skip it.
        for (v, record) in versions.into_iter().zip(records) {
            if let Some(record) = record {
                out.push(parse_meta(&record, v)?);
            }
        }
        Ok(out)
    }

    async fn get(&self, version: u64) -> Result<Option<StoredPolicy>, StoreError> {
        let keys = &self.inner.keys;
        let mut conn = self.conn().await?;
        let mut pipe = redis::pipe();
        pipe.atomic().hget(&keys.docs, version).hget(&keys.meta, version);
        let (doc, meta): (Option<String>, Option<String>) = self.bounded(pipe.query_async(&mut conn)).await?;
        match (doc, meta) {
            (Some(doc), Some(meta)) => Ok(Some(StoredPolicy {
                meta: parse_meta(&meta, version)?,
                document: doc.into(),
            })),
            _ => Ok(None),
        }
    }

    fn watch(&self) -> watch::Receiver<Current> {
        self.inner.tx.subscribe()
    }

    fn status(&self) -> StoreStatus {
        self.inner.status.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_the_prefix() {
        let k = Keys::new("team-a:");
        assert_eq!(k.head, "team-a:policy");
        assert_eq!(k.channel, "team-a:changes");
    }
}
