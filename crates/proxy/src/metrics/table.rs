//! The per-snapshot handle table: the policy's dense route and group ids
//! mapped to the long-lived series, so that recording a request indexes two
//! arrays — no label hashing, no allocation.

use super::Metrics;
use super::series::{DecisionSeries, GroupSeries};
use graygate_policy::{CompiledPolicy, Decision, GroupId, Reason, RouteId};
use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

/// Rule names every route has besides its rules (see `Decision::rule`).
const IMPLICIT_RULES: [&str; 3] = ["default", "sticky", "tag"];

/// One snapshot's handles.
#[derive(Debug)]
pub(crate) struct Table {
    groups: usize,
    /// Route × group; `None` where the route never sends to the group.
    series: Box<[Option<Arc<GroupSeries>>]>,
    routes: Box<[RouteCells]>,
}

#[derive(Debug)]
struct RouteCells {
    name: Box<str>,
    /// The route's rule names, then [`IMPLICIT_RULES`].
    rules: Box<[Box<str>]>,
    /// Rule × group × (decided, fallback), filled on first use.
    cells: Box<[OnceLock<Arc<DecisionSeries>>]>,
}

/// The groups a route may send traffic to, by name: its default, its
/// fallback, and every group its rules name.
pub(crate) fn route_groups(route: &graygate_policy::model::Route) -> Vec<&str> {
    let mut out = vec![route.default.as_str()];
    out.extend(route.fallback.as_deref());
    for rule in &route.rules {
        out.extend(rule.to.as_deref());
        if let Some(split) = &rule.split {
            out.extend(split.weights.keys().map(String::as_str));
        }
    }
    let mut seen = HashSet::new();
    out.retain(|g| seen.insert(*g));
    out
}

/// A route's rule names as decisions carry them.
pub(crate) fn rule_names(route: &graygate_policy::model::Route) -> Vec<String> {
    let mut names: Vec<String> = route
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| r.name.clone().unwrap_or_else(|| format!("rules[{i}]")))
        .collect();
    names.extend(IMPLICIT_RULES.iter().map(|s| (*s).to_owned()));
    names
}

impl Table {
    /// The handles of `policy`, reusing the series of `metrics` by name;
    /// series of routes and groups no longer in the policy are dropped.
    pub(crate) fn build(policy: &CompiledPolicy, metrics: &Metrics) -> Table {
        let groups = policy.groups().len();
        let routes = &policy.policy().routes;
        let mut series = vec![None; routes.len() * groups];
        let mut cells = Vec::with_capacity(routes.len());
        let now = super::now_ms();
        let mut reg = metrics.registry();
        let mut kept = std::collections::HashMap::new();
        let mut kept_rules = HashSet::new();
        for (r, route) in routes.iter().enumerate() {
            for name in route_groups(route) {
                let Some(g) = policy.group_id(name) else { continue };
                let s = reg.group(&route.name, name, now, metrics.shards);
                kept.insert((Box::from(route.name.as_str()), Box::from(name)), s.clone());
                if let Some(slot) = series.get_mut(r * groups + usize::from(g.0)) {
                    *slot = Some(s);
                }
            }
            let rules: Box<[Box<str>]> = rule_names(route).into_iter().map(Box::from).collect();
            for rule in rules.iter() {
                kept_rules.insert((Box::<str>::from(route.name.as_str()), rule.clone()));
            }
            cells.push(RouteCells {
                name: route.name.as_str().into(),
                cells: (0..rules.len() * groups * 2).map(|_| OnceLock::new()).collect(),
                rules,
            });
        }
        reg.decisions.retain(|(route, rule, group, _), _| {
            kept.contains_key(&(route.clone(), group.clone())) && kept_rules.contains(&(route.clone(), rule.clone()))
        });
        reg.groups = kept;
        Table {
            groups,
            series: series.into(),
            routes: cells.into(),
        }
    }

    /// The series of a route and group, when the route sends to the group.
    pub(crate) fn series(&self, route: RouteId, group: GroupId) -> Option<&GroupSeries> {
        let i = usize::from(route.0) * self.groups + usize::from(group.0);
        self.series.get(i)?.as_deref()
    }

    /// Counts a decision (as served: after a fallback, the fallback group).
    pub(crate) fn decided(&self, metrics: &Metrics, d: &Decision<'_>, now_ms: u64) {
        let Some(r) = self.routes.get(usize::from(d.route_id.0)) else {
            return;
        };
        let slot = r.rules.iter().position(|n| **n == *d.rule);
        let fallback = usize::from(d.reason == Reason::Fallback);
        let cell = slot.and_then(|s| {
            r.cells
                .get((s * self.groups + usize::from(d.group_id.0)) * 2 + fallback)
        });
        let series = match cell {
            Some(c) => c.get_or_init(|| metrics.registry().decision(&r.name, d.rule, d.group, d.reason)),
            None => return,
        };
        if series.reason == d.reason {
            series.add(now_ms);
        } else {
            // A rule whose reason varies (never so far): the slow path.
            metrics
                .registry()
                .decision(&r.name, d.rule, d.group, d.reason)
                .add(now_ms);
        }
    }
}
