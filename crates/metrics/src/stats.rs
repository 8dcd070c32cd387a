//! The shape of `GET /api/v1/stats` (documented in `docs/observability.md`).
//!
//! Per route, every group side by side over the last minute and five
//! (`"1m"`, `"5m"`): rate, success and error rate, p50/p95/p99/max latency,
//! share of the route's traffic, and — for every group but the default — its
//! [`Comparison`] with the default group. Per split rule, each group's target
//! share and the share it observed. Then the canary alerts firing now.

use crate::compare::{AlertKind, Comparison, Thresholds};
use crate::window::Summary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything `/api/v1/stats` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// The policy version in force.
    pub version: u64,
    /// When this was computed, in milliseconds since the Unix epoch.
    pub generated_at_ms: u64,
    /// The windows reported: key → seconds.
    pub windows: BTreeMap<String, u64>,
    /// The alert thresholds in force.
    pub thresholds: Thresholds,
    /// The window alerts are evaluated over (a key of `windows`).
    pub alert_window: String,
    /// One entry per route of the policy, in the policy's order.
    pub routes: Vec<RouteStats>,
    /// Canary alerts firing now.
    pub alerts: Vec<Alert>,
}

/// One route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteStats {
    /// The route's name.
    pub route: String,
    /// Its default group: the baseline of every comparison.
    pub default_group: String,
    /// Every group the route can send traffic to, the default first.
    pub groups: Vec<GroupStats>,
    /// Its split rules.
    pub splits: Vec<SplitStats>,
}

/// One group of a route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStats {
    /// The group's name.
    pub group: String,
    /// Whether it is the route's default group.
    pub default: bool,
    /// Requests of this route and group waiting for their response head now.
    pub in_flight: i64,
    /// Per window key.
    pub windows: BTreeMap<String, WindowStats>,
    /// Per window key, compared with the default group (absent for the default).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vs_default: BTreeMap<String, Comparison>,
}

/// One window of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowStats {
    /// Requests that ended in the window.
    pub requests: u64,
    /// Requests per second.
    pub rate: f64,
    /// Share of non-5xx answers, 0..=1 (none without requests).
    pub success_rate: Option<f64>,
    /// Share of 5xx answers, 0..=1.
    pub error_rate: Option<f64>,
    /// Latency quantiles and maximum, in milliseconds (≤ 1 % above the truth).
    pub p50_ms: Option<f64>,
    /// 95th percentile.
    pub p95_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
    /// Largest.
    pub max_ms: Option<f64>,
    /// This group's share of the route's requests in the window, 0..=1.
    pub share: Option<f64>,
}

impl WindowStats {
    /// The figures of `s`, whose route had `route_requests` in the same window.
    pub fn of(s: &Summary, route_requests: u64) -> WindowStats {
        WindowStats {
            requests: s.requests,
            rate: s.rate(),
            success_rate: s.success_rate(),
            error_rate: s.success_rate().map(|r| 1.0 - r),
            p50_ms: s.quantile_ms(0.5),
            p95_ms: s.quantile_ms(0.95),
            p99_ms: s.quantile_ms(0.99),
            max_ms: s.max_ms(),
            share: (route_requests > 0).then(|| s.requests as f64 / route_requests as f64),
        }
    }
}

/// One split rule: its target shares and what it decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitStats {
    /// The rule's name.
    pub rule: String,
    /// Per group, in the split's order.
    pub groups: Vec<SplitGroup>,
}

/// One group of a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitGroup {
    /// The group's name.
    pub group: String,
    /// Its weight as a share, 0..=1.
    pub target: f64,
    /// Per window key: the requests this split rule sent to the group
    /// (after a fallback, the group that served).
    pub decisions: BTreeMap<String, u64>,
    /// Per window key: its share of the rule's decisions (none without any).
    pub observed: BTreeMap<String, Option<f64>>,
}

/// A canary alert: a group worse than its route's default group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The route.
    pub route: String,
    /// The degraded group.
    pub group: String,
    /// The route's default group it was compared with.
    pub baseline: String,
    /// What is degraded.
    pub kind: AlertKind,
    /// The group's value: p99 in ms, or success rate in percent.
    pub value: f64,
    /// The default group's value.
    pub baseline_value: f64,
    /// The limit crossed.
    pub limit: f64,
    /// The group's requests in the window.
    pub samples: u64,
    /// The window, in seconds.
    pub window_secs: u64,
    /// Firing since, in milliseconds since the Unix epoch.
    pub since_ms: u64,
}
