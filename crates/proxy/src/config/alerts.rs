//! `[gateway.alerts]`: when a canary counts as degraded, and who is told.

use graygate_metrics::Thresholds;
use serde::Deserialize;

/// `[gateway.alerts]` as written; see `docs/observability.md`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Evaluate canary alerts. Default true (needs `metrics = true`).
    pub enabled: bool,
    /// The window compared, in seconds: 10 to 300. Default 60.
    pub window_secs: u64,
    /// Time between two evaluations, in milliseconds. Default 10000.
    pub interval_ms: u64,
    /// Requests each group needs in the window before it is judged. Default 100.
    pub min_samples: u64,
    /// A group's p99 above this many times the default group's is degraded. Default 1.5.
    pub p99_ratio: f64,
    /// …when it is also this many milliseconds above it. Default 1.
    pub p99_min_increase_ms: f64,
    /// A success rate more than this many percentage points below the
    /// default group's is degraded. Default 1.
    pub success_margin_pp: f64,
    /// `http://` URLs each alert is POSTed to as JSON when it fires and when
    /// it resolves. Default none.
    pub webhooks: Vec<String>,
    /// Time for one webhook attempt, in milliseconds. Default 2000.
    pub webhook_timeout_ms: u64,
    /// Further attempts after a failed one (backoff 0.5 s, doubling). Default 3.
    pub webhook_retries: u32,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        let t = Thresholds::default();
        AlertsConfig {
            enabled: true,
            window_secs: 60,
            interval_ms: 10_000,
            min_samples: t.min_samples,
            p99_ratio: t.p99_ratio,
            p99_min_increase_ms: t.p99_min_increase_ms,
            success_margin_pp: t.success_margin_pp,
            webhooks: Vec::new(),
            webhook_timeout_ms: 2_000,
            webhook_retries: 3,
        }
    }
}

impl AlertsConfig {
    /// The comparison's thresholds.
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            min_samples: self.min_samples,
            p99_ratio: self.p99_ratio,
            p99_min_increase_ms: self.p99_min_increase_ms,
            success_margin_pp: self.success_margin_pp,
        }
    }

    /// Every problem, as (key, message).
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(10..=300).contains(&self.window_secs) {
            out.push(("window_secs", "must be between 10 and 300".to_owned()));
        }
        if self.interval_ms < 10 {
            out.push(("interval_ms", "must be at least 10".to_owned()));
        }
        if !(self.p99_ratio.is_finite() && self.p99_ratio >= 1.0) {
            out.push(("p99_ratio", "must be a number of at least 1".to_owned()));
        }
        if !(self.p99_min_increase_ms.is_finite() && self.p99_min_increase_ms >= 0.0) {
            out.push(("p99_min_increase_ms", "must be a number of at least 0".to_owned()));
        }
        if !(self.success_margin_pp.is_finite() && (0.0..=100.0).contains(&self.success_margin_pp)) {
            out.push(("success_margin_pp", "must be between 0 and 100".to_owned()));
        }
        if self.webhook_timeout_ms == 0 {
            out.push(("webhook_timeout_ms", "must be at least 1".to_owned()));
        }
        for url in &self.webhooks {
            if let Err(m) = webhook_target(url) {
                out.push(("webhooks", format!("{url:?}: {m}")));
            }
        }
        out
    }
}

/// A webhook URL's `host:port` and path: plain `http://` only.
pub fn webhook_target(url: &str) -> Result<(String, String), String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err("only http:// URLs are supported (put a TLS proxy in front for https)".to_owned());
    }
    let auth = uri.authority().ok_or("the URL has no host")?;
    let host = format!("{}:{}", auth.host(), auth.port_u16().unwrap_or(80));
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    Ok((host, path))
}
