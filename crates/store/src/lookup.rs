//! Per-user key lookups (`lookup = "gray:{user}"`): Redis GET through a
//! bounded cache, with coalescing and a timeout.
//!
//! - **Bounded in entries and bytes.** Each entry weighs its key and value
//!   bytes plus a fixed overhead, and at least `max_bytes / max_entries`; the
//!   cache's capacity is `max_bytes` of weight. So the total weight never
//!   passes `max_bytes` and the count never passes `max_entries`. The cache
//!   (moka) applies evictions in batches on its maintenance runs; between two
//!   runs it may briefly hold a bounded number of extra entries.
//! - **Separate TTLs** for a key found (`ttl_found`) and a key missing
//!   (`ttl_missing`).
//! - **One in-flight GET per key**: concurrent lookups of a key that is not
//!   cached wait on the same Redis request.
//! - **A timeout** (default 50 ms) on every lookup. A lookup that times out
//!   or fails yields [`Answer::Unavailable`] — the rule reading it does not
//!   match — is counted, and is not cached (the next request asks again).
//! - **Stale-if-error**: an answer past its TTL stays in the cache for
//!   `stale_if_error` more. The first lookup to find it stale refreshes it
//!   from Redis (the others meanwhile get the stale answer at once); if Redis
//!   fails or is too slow, the stale answer is served. A Redis outage then
//!   moves no user whose answer was cached.
//! - **No waiting on a Redis known to fail.** After a request to Redis fails
//!   or times out, stale entries are served at once, without asking Redis,
//!   for [`REFRESH_BACKOFF`]; then one lookup tries again (a success ends
//!   the back-off). Without it, every lookup of a stale key would wait the
//!   full timeout for as long as the outage lasts.
//!
//! Keys are read as the policy writes them, optionally behind `key_prefix`;
//! values are plain strings, so seed-style keys (`gray:<uid>` = `1`/`0`) work
//! as they are.

mod answers;

pub use answers::{LookupAnswers, WithAnswers};

use crate::error::StoreError;
use crate::redis::{Endpoint, SentinelOptions, endpoint};
use graygate_policy::Lookup;
use moka::Expiry;
use moka::future::Cache;
use moka::ops::compute::{CompResult, Op};
use redis::AsyncCommands;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

/// Bytes counted per cache entry on top of its key and value: what the cache
/// really spends on one (its index, eviction and expiry bookkeeping, and the
/// allocator's share), measured with `bench/lookup-memory.sh` on x86_64
/// Linux (≈ 450 bytes), plus a margin. With it, `max_bytes` bounds the memory
/// the cache holds, not only the data in it.
pub const ENTRY_OVERHEAD: u32 = 480;

/// After a request to Redis fails or times out, stale answers are served
/// without asking Redis for this long; then a single lookup probes again.
pub const REFRESH_BACKOFF: Duration = Duration::from_secs(1);

/// Whether Redis failed recently, shared by the clones of a [`KeyLookup`].
#[derive(Debug)]
struct Backoff {
    base: Instant,
    /// Milliseconds since `base` (plus 1) of the last failure, or of the
    /// last probe taken after the back-off; 0 when the last request succeeded.
    failed_at: AtomicU64,
}

impl Backoff {
    fn new() -> Self {
        Backoff {
            base: Instant::now(),
            failed_at: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    /// May this refresh ask Redis? Yes when the last request succeeded; while
    /// backing off, no; after the back-off, yes for exactly one caller, which
    /// restarts the back-off for the others until its answer is known.
    fn may_ask(&self) -> bool {
        let last = self.failed_at.load(Ordering::Relaxed);
        if last == 0 {
            return true;
        }
        let now = self.now_ms();
        let backoff = u64::try_from(REFRESH_BACKOFF.as_millis()).unwrap_or(u64::MAX);
        now.saturating_sub(last) >= backoff
            && self
                .failed_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    fn failed(&self) {
        self.failed_at.store(self.now_ms(), Ordering::Relaxed);
    }

    fn succeeded(&self) {
        if self.failed_at.load(Ordering::Relaxed) != 0 {
            self.failed_at.store(0, Ordering::Relaxed);
        }
    }
}

/// Options of a [`KeyLookup`].
#[derive(Debug, Clone)]
pub struct LookupOptions {
    /// Prepended to every key before asking Redis. Default: none.
    pub key_prefix: String,
    /// Bound on each lookup. Default 50 ms.
    pub timeout: Duration,
    /// Most entries cached. Default 100,000.
    pub max_entries: u64,
    /// Most bytes cached (keys, values and [`ENTRY_OVERHEAD`] each). Default 64 MiB.
    pub max_bytes: u64,
    /// How long a found value is cached. Default 5 s.
    pub ttl_found: Duration,
    /// How long "no such key" is cached. Default 1 s.
    pub ttl_missing: Duration,
    /// How long past its TTL an answer is still served while Redis fails or
    /// is slow (stale-if-error), so that a Redis outage does not move gray
    /// users. Zero turns it off. Default 5 min.
    pub stale_if_error: Duration,
    /// For `rediss://`: a PEM file of the CA(s) to trust instead of the
    /// system's roots. Default: the system's roots.
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// Find the master through Redis Sentinel (`url` then only supplies
    /// credentials, database and TLS). Default: none.
    pub sentinel: Option<SentinelOptions>,
}

impl Default for LookupOptions {
    fn default() -> Self {
        LookupOptions {
            key_prefix: String::new(),
            timeout: Duration::from_millis(50),
            max_entries: 100_000,
            max_bytes: 64 << 20,
            ttl_found: Duration::from_secs(5),
            ttl_missing: Duration::from_secs(1),
            stale_if_error: Duration::from_secs(300),
            tls_ca_file: None,
            sentinel: None,
        }
    }
}

/// The answer to one lookup, owned (see [`Answer::as_lookup`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The key holds this value.
    Found(Arc<str>),
    /// The key does not exist.
    Missing,
    /// Redis did not answer in time or failed.
    Unavailable,
}

impl Answer {
    /// Borrowed as the policy engine reads it.
    pub fn as_lookup(&self) -> Lookup<'_> {
        match self {
            Answer::Found(v) => Lookup::Found(v),
            Answer::Missing => Lookup::Missing,
            Answer::Unavailable => Lookup::Unavailable,
        }
    }
}

/// What the cache holds: an answer (never `Unavailable`) and until when it
/// is fresh; past that it is stale and served only when Redis fails.
#[derive(Debug, Clone)]
struct Cached {
    value: Option<Arc<str>>,
    fresh_until: Instant,
}

impl Cached {
    fn answer(&self) -> Answer {
        match &self.value {
            Some(v) => Answer::Found(v.clone()),
            None => Answer::Missing,
        }
    }

    fn is_fresh(&self, now: Instant) -> bool {
        now < self.fresh_until
    }
}

/// Counters for the metrics endpoint; plain atomics, read with `Relaxed`.
/// Every lookup counts once in `hits`, `misses`, `stale` or `unavailable`.
#[derive(Debug, Default)]
pub struct LookupStats {
    /// Lookups asked.
    pub lookups: AtomicU64,
    /// Lookups answered from a fresh cache entry (including those that
    /// waited on another lookup's request for the same key).
    pub hits: AtomicU64,
    /// Lookups answered by their own request to Redis.
    pub misses: AtomicU64,
    /// Lookups answered from an entry past its TTL, because Redis failed or
    /// was slow, or while another lookup refreshes it.
    pub stale: AtomicU64,
    /// Lookups answered `Unavailable`: no usable entry and no answer in time.
    pub unavailable: AtomicU64,
    /// Lookups whose Redis request timed out (they may still be served stale).
    pub timeouts: AtomicU64,
    /// Lookups whose Redis request failed (they may still be served stale).
    pub errors: AtomicU64,
    /// GET requests sent to Redis.
    pub redis_gets: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
enum Failure {
    Timeout,
    Error,
}

#[derive(Debug, Clone, Copy)]
struct Ttl {
    found: Duration,
    missing: Duration,
    stale: Duration,
}

impl Ttl {
    fn fresh_for(&self, value: &Option<Arc<str>>) -> Duration {
        if value.is_some() { self.found } else { self.missing }
    }
}

impl Expiry<String, Cached> for Ttl {
    fn expire_after_create(&self, _key: &String, value: &Cached, _at: Instant) -> Option<Duration> {
        Some(self.fresh_for(&value.value) + self.stale)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Cached,
        _at: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.fresh_for(&value.value) + self.stale)
    }
}

/// Per-user key lookups over Redis. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct KeyLookup {
    cache: Cache<String, Cached>,
    ttl: Ttl,
    endpoint: Endpoint,
    options: Arc<LookupOptions>,
    stats: Arc<LookupStats>,
    backoff: Arc<Backoff>,
}

impl std::fmt::Debug for KeyLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLookup")
            .field("options", &self.options)
            .field("entries", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}

impl KeyLookup {
    /// A lookup service on the Redis at `url`. Does not wait for Redis; must
    /// be called within a tokio runtime.
    pub fn open(url: &str, options: LookupOptions) -> Result<Self, StoreError> {
        if options.max_entries == 0 || options.max_bytes == 0 {
            return Err(StoreError::Config("lookup cache bounds must be positive".into()));
        }
        // The lookup's own timeout bounds each request; the connection's is a
        // backstop so that a dead server is noticed and reconnected.
        let endpoint = endpoint(
            url,
            options.tls_ca_file.as_deref(),
            options.sentinel.as_ref(),
            Duration::from_secs(1).max(options.timeout),
        )?;
        // Connect now (TLS handshakes take longer than a lookup's timeout),
        // so the first requests do not pay for it.
        let warm = endpoint.clone();
        tokio::spawn(async move {
            if let Ok(mut conn) = warm.conn().await {
                let _ = redis::cmd("PING").query_async::<()>(&mut conn).await;
            }
        });
        let floor = u32::try_from(options.max_bytes.div_ceil(options.max_entries)).unwrap_or(u32::MAX);
        let ttl = Ttl {
            found: options.ttl_found,
            missing: options.ttl_missing,
            stale: options.stale_if_error,
        };
        let cache = Cache::builder()
            .max_capacity(options.max_bytes)
            .weigher(move |k: &String, v: &Cached| {
                let value = v.value.as_ref().map_or(0, |s| s.len());
                let bytes = u32::try_from(k.len() + value).unwrap_or(u32::MAX);
                bytes.saturating_add(ENTRY_OVERHEAD).max(floor)
            })
            .expire_after(ttl)
            .build();
        Ok(KeyLookup {
            cache,
            ttl,
            endpoint,
            options: Arc::new(options),
            stats: Arc::default(),
            backoff: Arc::new(Backoff::new()),
        })
    }

    /// The answer for `key`, from the cache or Redis; never waits longer than
    /// the timeout. See the module docs for what is counted.
    pub async fn get(&self, key: &str) -> Answer {
        let stats = &self.stats;
        stats.lookups.fetch_add(1, Ordering::Relaxed);
        // Nothing is allocated for a fresh hit.
        match self.cache.get(key).await {
            Some(c) if c.is_fresh(Instant::now()) => {
                stats.hits.fetch_add(1, Ordering::Relaxed);
                c.answer()
            }
            // The slow paths are boxed: they allocate anyway, and this keeps
            // the future of a lookup small for the request path.
            Some(stale) => Box::pin(self.refresh(key, stale)).await,
            None => Box::pin(self.fill(key)).await,
        }
    }

    /// No entry: one request to Redis whose answer (or failure) every
    /// concurrent lookup of the key shares.
    async fn fill(&self, key: &str) -> Answer {
        let stats = &self.stats;
        let init = async {
            let value = self.fetch(key).await?;
            Ok(self.cached(value))
        };
        let filled = self.cache.entry_by_ref(key).or_try_insert_with(init);
        let failure = match tokio::time::timeout(self.options.timeout, filled).await {
            Ok(Ok(entry)) => {
                let counter = if entry.is_fresh() { &stats.misses } else { &stats.hits };
                counter.fetch_add(1, Ordering::Relaxed);
                return entry.into_value().answer();
            }
            Ok(Err(failure)) => *failure,
            Err(_) => {
                self.backoff.failed();
                Failure::Timeout
            }
        };
        self.count(failure);
        stats.unavailable.fetch_add(1, Ordering::Relaxed);
        Answer::Unavailable
    }

    /// An entry past its TTL: one lookup refreshes it while the others are
    /// served the stale answer at once; if the refresh fails or is too slow,
    /// the stale answer stands (stale-if-error).
    async fn refresh(&self, key: &str, stale: Cached) -> Answer {
        let stats = &self.stats;
        if !self.backoff.may_ask() {
            // Redis failed less than REFRESH_BACKOFF ago: do not wait on it.
            stats.stale.fetch_add(1, Ordering::Relaxed);
            return stale.answer();
        }
        let failed = std::sync::Mutex::new(None);
        let refresh = self
            .cache
            .entry(key.to_owned())
            .and_try_compute_if_nobody_else(|current| async {
                if current.is_some_and(|c| c.value().is_fresh(Instant::now())) {
                    return Ok::<_, Failure>(Op::Nop); // refreshed meanwhile
                }
                match self.fetch(key).await {
                    Ok(value) => Ok(Op::Put(self.cached(value))),
                    Err(f) => {
                        *failed.lock().unwrap_or_else(PoisonError::into_inner) = Some(f);
                        Ok(Op::Nop)
                    }
                }
            });
        let result = tokio::time::timeout(self.options.timeout, refresh).await;
        let failure = failed.into_inner().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(Ok(CompResult::Inserted(e) | CompResult::ReplacedWith(e))) => {
                stats.misses.fetch_add(1, Ordering::Relaxed);
                e.into_value().answer()
            }
            Ok(Ok(CompResult::Unchanged(e))) if failure.is_none() && e.value().is_fresh(Instant::now()) => {
                stats.hits.fetch_add(1, Ordering::Relaxed);
                e.into_value().answer()
            }
            other => {
                if let Some(f) = failure {
                    self.count(f);
                } else if other.is_err() {
                    // Timed out here before the request's own timeout said so.
                    self.backoff.failed();
                    self.count(Failure::Timeout);
                }
                stats.stale.fetch_add(1, Ordering::Relaxed);
                stale.answer()
            }
        }
    }

    fn cached(&self, value: Option<Arc<str>>) -> Cached {
        Cached {
            fresh_until: Instant::now() + self.ttl.fresh_for(&value),
            value,
        }
    }

    fn count(&self, failure: Failure) {
        let counter = match failure {
            Failure::Timeout => &self.stats.timeouts,
            Failure::Error => &self.stats.errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The single Redis request behind a cache fill or refresh.
    async fn fetch(&self, key: &str) -> Result<Option<Arc<str>>, Failure> {
        self.stats.redis_gets.fetch_add(1, Ordering::Relaxed);
        let full = format!("{}{key}", self.options.key_prefix);
        let get = async {
            let mut conn = self.endpoint.conn().await.map_err(|_| Failure::Error)?;
            conn.get::<_, Option<Vec<u8>>>(full).await.map_err(|e| {
                tracing::debug!(key, error = %e, "key lookup failed");
                self.endpoint.failed(&e);
                Failure::Error
            })
        };
        let result = match tokio::time::timeout(self.options.timeout, get).await {
            Ok(Ok(Some(v))) => Ok(Some(String::from_utf8_lossy(&v).into())),
            Ok(Ok(None)) => Ok(None),
            Ok(Err(f)) => Err(f),
            Err(_) => Err(Failure::Timeout),
        };
        match result {
            Ok(_) => self.backoff.succeeded(),
            Err(_) => self.backoff.failed(),
        }
        result
    }

    /// Looks up all `keys` at once (e.g. [`graygate_policy::RouteRef::lookup_keys`])
    /// and returns answers the request's `Request::lookup` can serve.
    pub async fn get_all(&self, keys: Vec<String>) -> LookupAnswers {
        let answers = futures_util::future::join_all(keys.iter().map(|k| self.get(k))).await;
        keys.into_iter().zip(answers).collect()
    }

    /// The counters.
    pub fn stats(&self) -> &LookupStats {
        &self.stats
    }

    /// Entries cached now (as of the cache's last maintenance run).
    pub fn entries(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Bytes cached now, as weighed (as of the last maintenance run).
    pub fn bytes(&self) -> u64 {
        self.cache.weighted_size()
    }

    /// Applies pending evictions and expirations now (tests, metrics scrapes).
    pub async fn run_maintenance(&self) {
        self.cache.run_pending_tasks().await;
    }

    /// The options in force.
    pub fn options(&self) -> &LookupOptions {
        &self.options
    }
}
