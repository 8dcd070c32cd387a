//! graygate's metrics core, shared by the data plane (which records), the
//! admin API (which serves) and `graygate ctl top` (which reads).
//!
//! - [`window`]: sliding windows of per-request outcomes — counts and an HDR
//!   histogram of latencies (≤ 1 % relative error) per 10-second slice,
//!   sharded per thread — read back as a [`Summary`] over the last minute
//!   or five.
//! - [`mod@compare`]: the canary comparison (R13): one group's window against
//!   the route's default group's, with a minimum sample count, a p99 ratio
//!   and a success-rate margin. A pure function over plain values; the
//!   alerts, the A/B view of `/api/v1/stats` and a future automatic rollout
//!   all use it.
//! - [`stats`]: the JSON shape of `GET /api/v1/stats`.
//! - [`MetricsSource`]: what the admin API asks the gateway for.
//!
//! Like the policy crate it does no I/O and reads no clock: every time is a
//! parameter, so everything here is testable with plain values.

#![forbid(unsafe_code)]

pub mod compare;
pub mod stats;
pub mod window;

pub use compare::{AlertKind, Breach, Comparison, Thresholds, Verdict, compare};
pub use stats::{Alert, GroupStats, RouteStats, SplitGroup, SplitStats, Stats, WindowStats};
pub use window::{SLICE_MS, Summary, Window, WindowCounter};

/// What the admin API reads from a running gateway.
pub trait MetricsSource: Send + Sync + std::fmt::Debug {
    /// Every metric in the Prometheus (OpenMetrics) text exposition format.
    fn prometheus(&self) -> String;
    /// The live per-route, per-group view of `GET /api/v1/stats`.
    fn stats(&self) -> Stats;
}

/// The windows `/api/v1/stats` reports, in seconds, with their keys.
pub const WINDOWS: [(&str, u64); 2] = [("1m", 60), ("5m", 300)];
