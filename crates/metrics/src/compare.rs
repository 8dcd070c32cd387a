//! The canary comparison (R13, R18): is a group worse than the route's
//! default (stable) group over the same window?
//!
//! A group is **degraded** when both it and the default group have at least
//! `min_samples` requests in the window and either
//! - its p99 latency is more than `p99_ratio` times the default's *and* more
//!   than `p99_min_increase_ms` above it (so that 0.3 ms against 0.2 ms on
//!   loopback is not an incident), or
//! - its success rate (share of non-5xx answers) is more than
//!   `success_margin_pp` percentage points below the default's.
//!
//! With fewer samples the verdict is `insufficient_data`: never an alert.
//! This is a pure function of two [`Summary`]s; the alert evaluator, the A/B
//! view of `/api/v1/stats` and a future automatic rollout share it.

use crate::window::Summary;
use serde::{Deserialize, Serialize};

/// When a group counts as worse than the default group.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Requests each side needs in the window before a verdict. Default 100.
    pub min_samples: u64,
    /// The p99 ratio (group ÷ default) above which latency is degraded. Default 1.5.
    pub p99_ratio: f64,
    /// …provided the p99 is also this many milliseconds above the default's. Default 1.
    pub p99_min_increase_ms: f64,
    /// Percentage points of success rate the group may fall below the
    /// default's. Default 1.
    pub success_margin_pp: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            min_samples: 100,
            p99_ratio: 1.5,
            p99_min_increase_ms: 1.0,
            success_margin_pp: 1.0,
        }
    }
}

/// What is degraded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The p99 latency.
    Latency,
    /// The success rate.
    SuccessRate,
}

impl AlertKind {
    /// The name used in logs, metrics labels and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Latency => "latency",
            AlertKind::SuccessRate => "success_rate",
        }
    }
}

/// The overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Enough samples, no threshold crossed.
    Healthy,
    /// At least one threshold crossed.
    Degraded,
    /// One side has fewer than `min_samples` requests.
    InsufficientData,
}

/// One crossed threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Breach {
    /// What is degraded.
    pub kind: AlertKind,
    /// The group's value: p99 in ms, or success rate in percent.
    pub value: f64,
    /// The default group's value, in the same unit.
    pub baseline: f64,
    /// The value the group had to stay within (same unit).
    pub limit: f64,
}

/// A group side by side with the default group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The verdict.
    pub verdict: Verdict,
    /// The group's requests in the window.
    pub samples: u64,
    /// The default group's requests in the window.
    pub baseline_samples: u64,
    /// p50 ÷ the default's p50.
    pub p50_ratio: Option<f64>,
    /// p99 ÷ the default's p99.
    pub p99_ratio: Option<f64>,
    /// Success rate minus the default's, in percentage points (negative: worse).
    pub success_rate_diff_pp: Option<f64>,
    /// The thresholds crossed (empty unless degraded).
    pub breaches: Vec<Breach>,
}

/// Compares `candidate` with `baseline` (the route's default group) over
/// the same window.
pub fn compare(baseline: &Summary, candidate: &Summary, t: &Thresholds) -> Comparison {
    let ratio = |q: f64| match (candidate.quantile_ms(q), baseline.quantile_ms(q)) {
        (Some(c), Some(b)) if b > 0.0 => Some(c / b),
        _ => None,
    };
    let success = candidate.success_rate().zip(baseline.success_rate());
    let mut breaches = Vec::new();
    let enough = candidate.requests >= t.min_samples.max(1) && baseline.requests >= t.min_samples.max(1);
    if enough {
        if let (Some(c), Some(b)) = (candidate.quantile_ms(0.99), baseline.quantile_ms(0.99)) {
            let limit = (b * t.p99_ratio).max(b + t.p99_min_increase_ms);
            if c > limit {
                breaches.push(Breach {
                    kind: AlertKind::Latency,
                    value: c,
                    baseline: b,
                    limit,
                });
            }
        }
        if let Some((c, b)) = success {
            let (c, b) = (c * 100.0, b * 100.0);
            let limit = b - t.success_margin_pp;
            if c < limit {
                breaches.push(Breach {
                    kind: AlertKind::SuccessRate,
                    value: c,
                    baseline: b,
                    limit,
                });
            }
        }
    }
    Comparison {
        verdict: match (enough, breaches.is_empty()) {
            (false, _) => Verdict::InsufficientData,
            (true, true) => Verdict::Healthy,
            (true, false) => Verdict::Degraded,
        },
        samples: candidate.requests,
        baseline_samples: baseline.requests,
        p50_ratio: ratio(0.5),
        p99_ratio: ratio(0.99),
        success_rate_diff_pp: success.map(|(c, b)| (c - b) * 100.0),
        breaches,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` requests of `ms` milliseconds each, `errors` of them failed.
    fn flat(n: usize, ms: u64, errors: u64) -> Summary {
        Summary::of(&vec![ms * 1000; n], errors, 60_000)
    }

    fn kinds(c: &Comparison) -> Vec<AlertKind> {
        c.breaches.iter().map(|b| b.kind).collect()
    }

    #[test]
    fn a_p99_three_times_the_default_is_degraded_latency() {
        let c = compare(&flat(200, 10, 0), &flat(200, 30, 0), &Thresholds::default());
        assert_eq!(c.verdict, Verdict::Degraded);
        assert_eq!(kinds(&c), [AlertKind::Latency]);
        let r = c.p99_ratio.unwrap_or_default();
        assert!((2.9..3.1).contains(&r), "{r}");
    }

    #[test]
    fn a_p99_within_the_ratio_is_healthy() {
        let c = compare(&flat(200, 10, 0), &flat(200, 14, 0), &Thresholds::default());
        assert_eq!(c.verdict, Verdict::Healthy);
        assert!(c.breaches.is_empty());
    }

    #[test]
    fn a_large_ratio_of_tiny_latencies_is_not_an_incident() {
        // 0.6 ms against 0.2 ms: 3×, but only 0.4 ms more.
        let base = Summary::of(&[200; 200], 0, 60_000);
        let cand = Summary::of(&[600; 200], 0, 60_000);
        assert_eq!(compare(&base, &cand, &Thresholds::default()).verdict, Verdict::Healthy);
        let pure_ratio = Thresholds {
            p99_min_increase_ms: 0.0,
            ..Thresholds::default()
        };
        assert_eq!(compare(&base, &cand, &pure_ratio).verdict, Verdict::Degraded);
    }

    #[test]
    fn a_success_rate_more_than_the_margin_below_is_degraded() {
        // 100 % against 97 %: 3 points below, the margin is 1.
        let c = compare(&flat(200, 10, 0), &flat(200, 10, 6), &Thresholds::default());
        assert_eq!(kinds(&c), [AlertKind::SuccessRate]);
        let b = c.breaches[0];
        assert!((b.value - 97.0).abs() < 1e-9 && (b.limit - 99.0).abs() < 1e-9, "{b:?}");
        assert!((c.success_rate_diff_pp.unwrap_or_default() + 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_success_rate_within_the_margin_is_healthy() {
        // 99.5 % against 100 %: half a point.
        let c = compare(&flat(200, 10, 0), &flat(200, 10, 1), &Thresholds::default());
        assert_eq!(c.verdict, Verdict::Healthy);
    }

    #[test]
    fn too_few_samples_on_either_side_is_never_an_alert() {
        let t = Thresholds::default();
        let c = compare(&flat(200, 10, 0), &flat(99, 100, 99), &t);
        assert_eq!(c.verdict, Verdict::InsufficientData);
        assert!(c.breaches.is_empty());
        assert!(c.p99_ratio.is_some(), "the differences are still reported");
        let c = compare(&flat(99, 10, 0), &flat(200, 100, 100), &t);
        assert_eq!(c.verdict, Verdict::InsufficientData);
    }

    #[test]
    fn both_kinds_can_fire_at_once() {
        let c = compare(&flat(500, 10, 0), &flat(500, 50, 50), &Thresholds::default());
        assert_eq!(kinds(&c), [AlertKind::Latency, AlertKind::SuccessRate]);
    }

    #[test]
    fn an_empty_baseline_gives_no_ratio() {
        let t = Thresholds {
            min_samples: 0,
            ..Thresholds::default()
        };
        let c = compare(&Summary::default(), &flat(10, 10, 0), &t);
        assert_eq!(c.p99_ratio, None);
        assert_eq!(c.verdict, Verdict::InsufficientData);
    }
}
