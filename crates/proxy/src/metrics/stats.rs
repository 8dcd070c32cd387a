//! `GET /api/v1/stats`: the windows of the current snapshot's routes and
//! groups, side by side, with the canary comparison and the alerts firing.

use super::series::DecisionSeries;
use super::table::{route_groups, rule_names};
use super::{now_ms, unix_ms};
use crate::gateway::{Gateway, Snapshot};
use graygate_metrics::{
    GroupStats, RouteStats, SplitGroup, SplitStats, Stats, Summary, Thresholds, WINDOWS, WindowStats, compare,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Decision series by (route, rule).
type ByRule = HashMap<(Box<str>, Box<str>), Vec<Arc<DecisionSeries>>>;

/// Nothing: the gateway is gone.
pub(super) fn empty() -> Stats {
    Stats {
        version: 0,
        generated_at_ms: unix_ms(),
        windows: windows(),
        thresholds: Thresholds::default(),
        alert_window: String::new(),
        routes: Vec::new(),
        alerts: Vec::new(),
    }
}

fn windows() -> BTreeMap<String, u64> {
    WINDOWS.iter().map(|(k, s)| ((*k).to_owned(), *s)).collect()
}

/// Decision series by (route, rule), taken out of the registry's lock.
fn by_rule(gw: &Gateway) -> ByRule {
    let mut decisions = ByRule::new();
    for d in gw.metrics.registry().decisions.values() {
        decisions
            .entry((d.route.clone(), d.rule.clone()))
            .or_default()
            .push(d.clone());
    }
    decisions
}

/// Every route's name and split rules (what `/metrics` needs of the stats).
pub(super) fn all_splits(gw: &Gateway, snap: &Snapshot) -> Vec<(String, Vec<SplitStats>)> {
    let (decisions, now) = (by_rule(gw), now_ms());
    let routes = &snap.policy.policy().routes;
    routes
        .iter()
        .map(|r| (r.name.clone(), splits(r, &decisions, now)))
        .collect()
}

/// The stats of `snap`'s routes.
pub(super) fn build(gw: &Gateway, snap: &Snapshot) -> Stats {
    let now = now_ms();
    let alerts_cfg = &snap.settings.raw.alerts;
    let thresholds = alerts_cfg.thresholds();
    let decisions = by_rule(gw);
    let policy = &snap.policy;
    let routes = policy
        .policy()
        .routes
        .iter()
        .enumerate()
        .map(|(r, route)| {
            let groups: Vec<(&str, Option<&super::GroupSeries>)> = route_groups(route)
                .into_iter()
                .map(|g| {
                    let id = policy.group_id(g);
                    let series = id
                        .zip(snap.metrics.as_ref())
                        .and_then(|(id, t)| t.series(graygate_policy::RouteId(r as u16), id));
                    (g, series)
                })
                .collect();
            let summaries: Vec<Vec<Summary>> = groups
                .iter()
                .map(|(_, s)| {
                    WINDOWS
                        .iter()
                        .map(|(_, secs)| s.map(|s| s.window.summary(now, *secs)).unwrap_or_default())
                        .collect()
                })
                .collect();
            let totals: Vec<u64> = (0..WINDOWS.len())
                .map(|w| summaries.iter().map(|s| s[w].requests).sum())
                .collect();
            // The default group is first (see `route_groups`).
            let base = summaries.first();
            let group_stats = groups
                .iter()
                .zip(&summaries)
                .map(|((name, series), sums)| {
                    let is_default = *name == route.default;
                    let mut windows = BTreeMap::new();
                    let mut vs_default = BTreeMap::new();
                    for (w, (key, _)) in WINDOWS.iter().enumerate() {
                        windows.insert((*key).to_owned(), WindowStats::of(&sums[w], totals[w]));
                        if let Some(base) = base.filter(|_| !is_default) {
                            vs_default.insert((*key).to_owned(), compare(&base[w], &sums[w], &thresholds));
                        }
                    }
                    GroupStats {
                        group: (*name).to_owned(),
                        default: is_default,
                        in_flight: series.map_or(0, |s| s.in_flight.load(std::sync::atomic::Ordering::Relaxed)),
                        windows,
                        vs_default,
                    }
                })
                .collect();
            RouteStats {
                route: route.name.clone(),
                default_group: route.default.clone(),
                groups: group_stats,
                splits: splits(route, &decisions, now),
            }
        })
        .collect();
    let alert_window = WINDOWS
        .iter()
        .find(|(_, s)| *s == alerts_cfg.window_secs)
        .map_or_else(|| format!("{}s", alerts_cfg.window_secs), |(k, _)| (*k).to_owned());
    Stats {
        version: policy.version(),
        generated_at_ms: unix_ms(),
        windows: windows(),
        thresholds,
        alert_window,
        routes,
        alerts: gw.metrics.alerts.list(),
    }
}

/// Every split rule of `route`: targets, and what it decided per window.
fn splits(route: &graygate_policy::model::Route, decisions: &ByRule, now: u64) -> Vec<SplitStats> {
    let names = rule_names(route);
    route
        .rules
        .iter()
        .zip(&names)
        .filter_map(|(rule, name)| {
            let split = rule.split.as_ref()?;
            let series = decisions.get(&(Box::from(route.name.as_str()), Box::from(name.as_str())));
            let count = |group: Option<&str>, secs: u64| -> u64 {
                series.map_or(0, |all| {
                    all.iter()
                        .filter(|d| group.is_none_or(|g| *d.group == *g))
                        .map(|d| d.recent.sum(now, secs))
                        .sum()
                })
            };
            let weight_sum: u64 = split.weights.values().map(|w| u64::from(*w)).sum();
            let groups = split
                .weights
                .iter()
                .map(|(group, w)| {
                    let mut decided = BTreeMap::new();
                    let mut observed = BTreeMap::new();
                    for (key, secs) in WINDOWS {
                        let (n, all) = (count(Some(group), secs), count(None, secs));
                        decided.insert(key.to_owned(), n);
                        observed.insert(key.to_owned(), (all > 0).then(|| n as f64 / all as f64));
                    }
                    SplitGroup {
                        group: group.clone(),
                        target: if weight_sum == 0 {
                            0.0
                        } else {
                            f64::from(*w) / weight_sum as f64
                        },
                        decisions: decided,
                        observed,
                    }
                })
                .collect();
            Some(SplitStats {
                rule: name.clone(),
                groups,
            })
        })
        .collect()
}
