//! The long-lived series, keyed by names so that they outlive snapshots: a
//! new policy version keeps the counters of every route and group (and
//! decision) that still exists.

use graygate_metrics::{Window, WindowCounter};
use graygate_policy::Reason;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// Upper bounds of the latency histogram's buckets, in microseconds:
/// 100 µs to 10 s (then `+Inf`).
pub(crate) const BOUNDS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// Status classes, by the status's first digit − 1.
pub(crate) const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The class index of a status (anything out of range counts as 5xx).
pub(crate) fn class_of(status: u16) -> usize {
    usize::from(status / 100).clamp(1, 5) - 1
}

/// One route and group: everything recorded per request.
#[derive(Debug)]
pub(crate) struct GroupSeries {
    pub(crate) route: Box<str>,
    pub(crate) group: Box<str>,
    classes: [AtomicU64; 5],
    /// Non-cumulative, one per bound and `+Inf` last.
    buckets: [AtomicU64; BOUNDS_US.len() + 1],
    sum_us: AtomicU64,
    /// Requests decided for this group that have no response head yet.
    pub(crate) in_flight: AtomicI64,
    /// Attempts on another server after a connect failure.
    pub(crate) retries: AtomicU64,
    /// The recent outcomes, for `/api/v1/stats` and the alerts.
    pub(crate) window: Window,
}

impl GroupSeries {
    fn new(route: &str, group: &str, now_ms: u64, shards: usize) -> GroupSeries {
        GroupSeries {
            route: route.into(),
            group: group.into(),
            classes: Default::default(),
            buckets: Default::default(),
            sum_us: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
            retries: AtomicU64::new(0),
            window: Window::new(now_ms, shards),
        }
    }

    /// Records one answered request.
    pub(crate) fn record(&self, status: u16, latency_us: u64, now_ms: u64) {
        if let Some(c) = self.classes.get(class_of(status)) {
            c.fetch_add(1, Relaxed);
        }
        let b = BOUNDS_US.partition_point(|&bound| bound < latency_us);
        if let Some(b) = self.buckets.get(b) {
            b.fetch_add(1, Relaxed);
        }
        self.sum_us.fetch_add(latency_us, Relaxed);
        self.window.record(now_ms, latency_us, status >= 500);
    }

    /// Requests per status class since the series began.
    pub(crate) fn classes(&self) -> [u64; 5] {
        std::array::from_fn(|i| self.classes[i].load(Relaxed))
    }

    /// (sum in seconds, count, non-cumulative buckets as (upper bound in
    /// seconds, count), `+Inf` as `f64::MAX`) for the exposition.
    pub(crate) fn histogram(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let buckets: Vec<(f64, u64)> = self
            .buckets
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let bound = BOUNDS_US.get(i).map_or(f64::MAX, |us| *us as f64 / 1e6);
                (bound, b.load(Relaxed))
            })
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        (self.sum_us.load(Relaxed) as f64 / 1e6, count, buckets)
    }
}

/// One (route, rule, group, reason): how many decisions, in all and recently.
#[derive(Debug)]
pub(crate) struct DecisionSeries {
    pub(crate) route: Box<str>,
    pub(crate) rule: Box<str>,
    pub(crate) group: Box<str>,
    pub(crate) reason: Reason,
    pub(crate) total: AtomicU64,
    pub(crate) recent: WindowCounter,
}

impl DecisionSeries {
    pub(crate) fn add(&self, now_ms: u64) {
        self.total.fetch_add(1, Relaxed);
        self.recent.add(now_ms);
    }
}

type DecisionKey = (Box<str>, Box<str>, Box<str>, Reason);

/// Every series, by names.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub(crate) groups: HashMap<(Box<str>, Box<str>), Arc<GroupSeries>>,
    pub(crate) decisions: HashMap<DecisionKey, Arc<DecisionSeries>>,
}

impl Registry {
    /// The series of `route` and `group`, new or kept.
    pub(crate) fn group(&mut self, route: &str, group: &str, now_ms: u64, shards: usize) -> Arc<GroupSeries> {
        self.groups
            .entry((route.into(), group.into()))
            .or_insert_with(|| Arc::new(GroupSeries::new(route, group, now_ms, shards)))
            .clone()
    }

    /// The decision series of the four names, new or kept.
    pub(crate) fn decision(&mut self, route: &str, rule: &str, group: &str, reason: Reason) -> Arc<DecisionSeries> {
        self.decisions
            .entry((route.into(), rule.into(), group.into(), reason))
            .or_insert_with(|| {
                Arc::new(DecisionSeries {
                    route: route.into(),
                    rule: rule.into(),
                    group: group.into(),
                    reason,
                    total: AtomicU64::new(0),
                    recent: WindowCounter::default(),
                })
            })
            .clone()
    }
}
