//! Canary alerts (R13): every `interval_ms`, each route's non-default groups
//! are compared with its default group over `window_secs`
//! ([`graygate_metrics::compare`]). An alert that starts firing or resolves
//! is logged and POSTed to the webhooks; the alerts firing now are in
//! `/api/v1/stats` and the `graygate_canary_alert` metric.

use super::table::route_groups;
use super::{now_ms, unix_ms, webhook};
use crate::gateway::{Gateway, Snapshot};
use graygate_metrics::{Alert, AlertKind, compare};
use graygate_policy::RouteId;
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError, Weak};
use std::time::Duration;

type Key = (String, String, AlertKind);

/// The alerts firing now, by route, group and kind.
#[derive(Debug, Default)]
pub(crate) struct Firing(Mutex<BTreeMap<Key, Alert>>);

impl Firing {
    /// The alerts firing now, ordered by route, group and kind.
    pub(crate) fn list(&self) -> Vec<Alert> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }
}

/// Evaluates every `interval_ms` until the gateway is gone.
pub(super) async fn run(gw: Weak<Gateway>) {
    loop {
        let interval = {
            let Some(gw) = gw.upgrade() else { return };
            let snap = gw.snapshot();
            evaluate(&gw, &snap);
            snap.settings.raw.alerts.interval_ms
        };
        tokio::time::sleep(Duration::from_millis(interval)).await;
    }
}

/// What is degraded now in `snap`'s routes.
fn degraded(snap: &Snapshot) -> BTreeMap<Key, Alert> {
    let cfg = &snap.settings.raw.alerts;
    let mut found = BTreeMap::new();
    let Some(table) = snap.metrics.as_ref().filter(|_| cfg.enabled) else {
        return found;
    };
    let (now, t) = (now_ms(), cfg.thresholds());
    let policy = &snap.policy;
    for (r, route) in policy.policy().routes.iter().enumerate() {
        let id = RouteId(r as u16);
        let series = |g: &str| policy.group_id(g).and_then(|g| table.series(id, g));
        let Some(base) = series(&route.default) else { continue };
        let base = base.window.summary(now, cfg.window_secs);
        for group in route_groups(route).into_iter().filter(|g| *g != route.default) {
            let Some(s) = series(group) else { continue };
            let c = compare(&base, &s.window.summary(now, cfg.window_secs), &t);
            for b in c.breaches {
                let alert = Alert {
                    route: route.name.clone(),
                    group: group.to_owned(),
                    baseline: route.default.clone(),
                    kind: b.kind,
                    value: b.value,
                    baseline_value: b.baseline,
                    limit: b.limit,
                    samples: c.samples,
                    window_secs: cfg.window_secs,
                    since_ms: unix_ms(),
                };
                found.insert((alert.route.clone(), alert.group.clone(), b.kind), alert);
            }
        }
    }
    found
}

/// One evaluation: updates the firing set; logs and notifies the changes.
pub(super) fn evaluate(gw: &Gateway, snap: &Snapshot) {
    let mut found = degraded(snap);
    let cfg = &snap.settings.raw.alerts;
    let mut changes = Vec::new();
    {
        let mut firing = gw.metrics.alerts.0.lock().unwrap_or_else(PoisonError::into_inner);
        for (key, alert) in &mut found {
            match firing.get(key) {
                Some(old) => alert.since_ms = old.since_ms,
                None => changes.push(("firing", alert.clone())),
            }
        }
        for (key, alert) in firing.iter() {
            if !found.contains_key(key) {
                changes.push(("resolved", alert.clone()));
            }
        }
        *firing = found;
    }
    for (status, a) in changes {
        let unit = if a.kind == AlertKind::Latency {
            "ms p99"
        } else {
            "% success"
        };
        if status == "firing" {
            tracing::warn!(
                route = %a.route, group = %a.group, baseline = %a.baseline, kind = a.kind.as_str(),
                value = a.value, baseline_value = a.baseline_value, limit = a.limit, samples = a.samples,
                "canary alert: {} {:.2}{unit} against {} {:.2}{unit}", a.group, a.value, a.baseline, a.baseline_value
            );
        } else {
            tracing::info!(route = %a.route, group = %a.group, kind = a.kind.as_str(), "canary alert resolved");
        }
        let body = serde_json::json!({
            "status": status,
            "alert": a,
            "policy_version": snap.policy.version(),
        });
        for url in &cfg.webhooks {
            webhook::spawn_post(
                url.clone(),
                body.to_string(),
                Duration::from_millis(cfg.webhook_timeout_ms),
                cfg.webhook_retries,
                gw.metrics.webhook_failures.clone(),
            );
        }
    }
}
