//! `/metrics`: every metric in the Prometheus (OpenMetrics) text format,
//! through prometheus-client. Every family is declared on every scrape —
//! samples appear once there is something to count — so that dashboards and
//! rules can rely on the names. The list is in `docs/observability.md`.

mod state;

use super::series::CLASSES;
use crate::gateway::Gateway;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

/// The exposition of `gw`, in the OpenMetrics text format.
pub(super) fn render(gw: &Arc<Gateway>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape(gw.clone())));
    let mut out = String::with_capacity(16 * 1024);
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        tracing::error!(error = %e, "encoding the metrics failed");
    }
    out
}

#[derive(Debug)]
struct Scrape(Arc<Gateway>);

type Labels<'a, const N: usize> = [(&'static str, &'a str); N];

/// Declares one family and writes its samples.
fn family<S: EncodeLabelSet>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: impl IntoIterator<Item = (S, f64)>,
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, kind)?;
    for (labels, v) in samples {
        let mut f = m.encode_family(&labels)?;
        value(&mut f, &kind, v)?;
    }
    Ok(())
}

fn value(m: &mut MetricEncoder<'_>, kind: &MetricType, v: f64) -> fmt::Result {
    match kind {
        MetricType::Counter => m.encode_counter::<NoLabelSet, f64, f64>(&v, None),
        _ => m.encode_gauge(&v),
    }
}

/// A family without labels, with one sample when `v` is known.
fn single(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, kind: MetricType, v: Option<f64>) -> fmt::Result {
    let none: Labels<'_, 0> = [];
    family(enc, name, help, kind, v.map(|v| (none, v)))
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let gw = &self.0;
        let snap = gw.snapshot();
        let m = &gw.metrics;
        let (groups, decisions) = {
            let reg = m.registry();
            let mut g: Vec<_> = reg.groups.values().cloned().collect();
            let mut d: Vec<_> = reg.decisions.values().cloned().collect();
            g.sort_by(|a, b| (&a.route, &a.group).cmp(&(&b.route, &b.group)));
            d.sort_by(|a, b| (&a.route, &a.rule, &a.group).cmp(&(&b.route, &b.rule, &b.group)));
            (g, d)
        };
        use MetricType::{Counter, Gauge};
        family(
            &mut enc,
            "graygate_requests",
            "Requests answered, by route, group (as served) and status class.",
            Counter,
            groups.iter().flat_map(|s| {
                let classes = s.classes();
                CLASSES.iter().zip(classes).map(move |(c, n)| {
                    let l: Labels<'_, 3> = [("route", &s.route), ("group", &s.group), ("class", c)];
                    (l, n as f64)
                })
            }),
        )?;
        {
            let mut h = enc.encode_descriptor(
                "graygate_request_duration_seconds",
                "Time from the request head to the response head, by route and group.",
                None,
                MetricType::Histogram,
            )?;
            for s in &groups {
                let (sum, count, buckets) = s.histogram();
                let l: Labels<'_, 2> = [("route", &s.route), ("group", &s.group)];
                h.encode_family(&l)?
                    .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
            }
        }
        let per_group = |f: &dyn Fn(&super::GroupSeries) -> f64| -> Vec<(Labels<'_, 2>, f64)> {
            groups
                .iter()
                .map(|s| ([("route", &*s.route), ("group", &*s.group)], f(s)))
                .collect()
        };
        family(
            &mut enc,
            "graygate_in_flight_requests",
            "Requests decided for the group and waiting for their response head.",
            Gauge,
            per_group(&|s| s.in_flight.load(Relaxed) as f64),
        )?;
        family(
            &mut enc,
            "graygate_retries",
            "Attempts on another server after a connect failure.",
            Counter,
            per_group(&|s| s.retries.load(Relaxed) as f64),
        )?;
        family(
            &mut enc,
            "graygate_undecided_requests",
            "Requests answered without a decision (no route matched, or the request could not be read), by status class.",
            Counter,
            CLASSES
                .iter()
                .zip(&m.undecided)
                .map(|(c, n)| ([("class", *c)], n.load(Relaxed) as f64)),
        )?;
        family(
            &mut enc,
            "graygate_decisions",
            "Decisions, by route, rule, group (as served) and reason.",
            Counter,
            decisions.iter().map(|d| {
                let l: Labels<'_, 4> = [
                    ("route", &d.route),
                    ("rule", &d.rule),
                    ("group", &d.group),
                    ("reason", d.reason.as_str()),
                ];
                (l, d.total.load(Relaxed) as f64)
            }),
        )?;
        family(
            &mut enc,
            "graygate_route_default_group",
            "1 for each route's default group: the baseline canary comparisons use (join on route and group).",
            Gauge,
            snap.policy.policy().routes.iter().map(|r| {
                let l: Labels<'_, 2> = [("route", &r.name), ("group", &r.default)];
                (l, 1.0)
            }),
        )?;
        let splits = super::stats::all_splits(gw, &snap);
        let split_rows: Vec<(&str, &str, &str, f64, Option<f64>)> = splits
            .iter()
            .flat_map(|(route, splits)| {
                splits.iter().flat_map(move |s| {
                    s.groups.iter().map(move |g| {
                        let observed = g.observed.get("1m").copied().flatten();
                        (route.as_str(), s.rule.as_str(), g.group.as_str(), g.target, observed)
                    })
                })
            })
            .collect();
        let alerts = m.alerts.list();
        family(
            &mut enc,
            "graygate_split_target_share",
            "A split rule's weight for the group, as a share (0..1).",
            Gauge,
            split_rows.iter().map(|(r, rule, g, t, _)| {
                let l: Labels<'_, 3> = [("route", r), ("rule", rule), ("group", g)];
                (l, *t)
            }),
        )?;
        family(
            &mut enc,
            "graygate_split_observed_share",
            "The share of a split rule's decisions that went to the group over the last minute (0..1).",
            Gauge,
            split_rows.iter().filter_map(|(r, rule, g, _, o)| {
                let l: Labels<'_, 3> = [("route", r), ("rule", rule), ("group", g)];
                o.map(|o| (l, o))
            }),
        )?;
        family(
            &mut enc,
            "graygate_canary_alert",
            "1 while a canary alert fires: the group is worse than the route's default group (kind: latency or success_rate).",
            Gauge,
            alerts.iter().map(|a| {
                let l: Labels<'_, 4> = [
                    ("route", &a.route),
                    ("group", &a.group),
                    ("baseline", &a.baseline),
                    ("kind", a.kind.as_str()),
                ];
                (l, 1.0)
            }),
        )?;
        state::upstreams(&mut enc, &snap)?;
        state::gateway(&mut enc, gw, &snap)
    }
}
