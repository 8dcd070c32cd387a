//! Per-route, per-group metrics (R13, R18): recorded on the request path,
//! read by `/metrics`, `/api/v1/stats` and the canary alerts.
//!
//! - `series`: the long-lived series, kept by *name* in a registry so that
//!   a new policy version keeps the counters of the routes and groups that
//!   still exist;
//! - `table`: per snapshot, the policy's dense route and group ids mapped to
//!   those series, so that recording a request is a few relaxed atomic adds
//!   and one short, per-thread-sharded lock for the latency window — no
//!   label hashing, no allocation;
//! - `expose`: the Prometheus text exposition (prometheus-client);
//! - `stats`: the JSON of `/api/v1/stats`;
//! - `alerts` and `webhook`: the canary alerts, evaluated in the
//!   background with `graygate_metrics::compare`, logged, exported and
//!   POSTed to webhooks.
//!
//! Every metric is listed in `docs/observability.md`.

mod alerts;
mod expose;
mod series;
mod stats;
mod table;
mod webhook;

pub(crate) use table::Table;

use crate::gateway::{Gateway, Snapshot};
use graygate_metrics::{MetricsSource, Stats};
use graygate_policy::Decision;
use graygate_store::PolicyStore;
use series::{GroupSeries, Registry, class_of};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime};

/// The clock of the windows: milliseconds since the process's first call.
fn mono_ms(at: Instant) -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    at.saturating_duration_since(epoch).as_millis() as u64
}

pub(crate) fn now_ms() -> u64 {
    mono_ms(Instant::now())
}

/// Wall-clock milliseconds since the Unix epoch.
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The gateway's metrics state, outliving snapshots.
#[derive(Debug)]
pub struct Metrics {
    enabled: bool,
    registry: Mutex<Registry>,
    /// Window shards per series: one per worker thread is plenty.
    shards: usize,
    undecided: [AtomicU64; 5],
    applies: AtomicU64,
    applied_at_ms: AtomicU64,
    /// Milliseconds from a version's save to its apply here; `u64::MAX`: unknown.
    apply_lag_ms: AtomicU64,
    store: OnceLock<Arc<dyn PolicyStore>>,
    alerts: alerts::Firing,
    webhook_failures: Arc<AtomicU64>,
}

impl Metrics {
    pub(crate) fn new(enabled: bool, workers: usize) -> Metrics {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Metrics {
            enabled,
            registry: Mutex::default(),
            shards: if workers == 0 { cores } else { workers }.clamp(1, 64),
            undecided: Default::default(),
            applies: AtomicU64::new(0),
            applied_at_ms: AtomicU64::new(0),
            apply_lag_ms: AtomicU64::new(u64::MAX),
            store: OnceLock::new(),
            alerts: alerts::Firing::default(),
            webhook_failures: Arc::default(),
        }
    }

    /// Whether requests are recorded (`[gateway] metrics`, read at start).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A policy version was swapped in.
    pub(crate) fn policy_applied(&self) {
        self.applies.fetch_add(1, Relaxed);
        self.applied_at_ms.store(unix_ms(), Relaxed);
    }

    /// The store's version just applied was saved `lag` ago (by the clock of
    /// whoever saved it).
    pub fn apply_lag(&self, lag: Duration) {
        self.apply_lag_ms.store(lag.as_millis() as u64, Relaxed);
    }

    /// The policy store, for its connection state; set once, at start.
    pub fn set_store(&self, store: Arc<dyn PolicyStore>) {
        let _ = self.store.set(store);
    }
}

/// Counts a request decided for its group as in flight until dropped.
#[derive(Debug)]
pub(crate) struct InFlight<'a>(Option<&'a GroupSeries>);

impl<'a> InFlight<'a> {
    pub(crate) fn start(snap: &'a Snapshot, d: &Decision<'_>) -> InFlight<'a> {
        let s = snap.metrics.as_ref().and_then(|t| t.series(d.route_id, d.group_id));
        if let Some(s) = s {
            s.in_flight.fetch_add(1, Relaxed);
        }
        InFlight(s)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.0 {
            s.in_flight.fetch_sub(1, Relaxed);
        }
    }
}

/// Records one answered request: its decision (as served), status and
/// latency (request head to response head), ending at `end`.
pub(crate) fn record(
    gw: &Gateway,
    snap: &Snapshot,
    decision: Option<&Decision<'_>>,
    status: u16,
    latency: Duration,
    end: Instant,
) {
    let Some(table) = &snap.metrics else { return };
    let now = mono_ms(end);
    match decision {
        Some(d) => {
            if let Some(s) = table.series(d.route_id, d.group_id) {
                s.record(status, latency.as_micros() as u64, now);
            }
            table.decided(&gw.metrics, d, now);
        }
        None => {
            if let Some(c) = gw.metrics.undecided.get(class_of(status)) {
                c.fetch_add(1, Relaxed);
            }
        }
    }
}

/// Counts a retry (an attempt on another server after a connect failure).
pub(crate) fn retried(snap: &Snapshot, d: &Decision<'_>) {
    if let Some(s) = snap.metrics.as_ref().and_then(|t| t.series(d.route_id, d.group_id)) {
        s.retries.fetch_add(1, Relaxed);
    }
}

/// Starts the alert evaluator of `gw` (when metrics are on).
pub(crate) fn spawn_alerts(gw: &Arc<Gateway>) {
    if gw.metrics.enabled {
        tokio::spawn(alerts::run(Arc::downgrade(gw)));
    }
}

/// What the admin API reads: this gateway's metrics, while it runs.
#[derive(Debug)]
pub struct GatewayMetrics(Weak<Gateway>);

impl GatewayMetrics {
    /// The metrics of `gw`; `None` when `[gateway] metrics = false`.
    pub fn of(gw: &Arc<Gateway>) -> Option<Arc<dyn MetricsSource>> {
        gw.metrics
            .enabled
            .then(|| Arc::new(GatewayMetrics(Arc::downgrade(gw))) as Arc<dyn MetricsSource>)
    }
}

impl MetricsSource for GatewayMetrics {
    fn prometheus(&self) -> String {
        self.0.upgrade().map(|gw| expose::render(&gw)).unwrap_or_default()
    }

    fn stats(&self) -> Stats {
        match self.0.upgrade() {
            Some(gw) => stats::build(&gw, &gw.snapshot()),
            None => stats::empty(),
        }
    }
}

#[cfg(test)]
mod tests;
