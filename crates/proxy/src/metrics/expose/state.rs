//! The families that describe state rather than requests: upstream servers,
//! the policy and its store, the lookup cache, the gateway's own queues.

use super::{Labels, family, single};
use crate::gateway::{Gateway, Snapshot};
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType::{Counter, Gauge};
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;

/// Per group and server: up, connect failures, ejections.
pub(super) fn upstreams(enc: &mut DescriptorEncoder<'_>, snap: &Snapshot) -> fmt::Result {
    let servers: Vec<_> = snap
        .upstreams
        .groups()
        .iter()
        .flat_map(|g| g.servers().map(move |s| (&*g.name, s)))
        .collect();
    let rows = |f: &dyn Fn(&crate::upstream::ServerState) -> f64| -> Vec<(Labels<'_, 2>, f64)> {
        servers
            .iter()
            .map(|(g, s)| ([("group", *g), ("server", &*s.addr)], f(s)))
            .collect()
    };
    family(
        enc,
        "graygate_upstream_up",
        "1 when the server takes requests (not ejected by passive health, not failed by active checks), else 0.",
        Gauge,
        rows(&|s| f64::from(u8::from(s.is_up()))),
    )?;
    family(
        enc,
        "graygate_upstream_connect_failures",
        "Connections to the server that failed or timed out (per server: a server in two groups shows the same count under both).",
        Counter,
        rows(&|s| s.connect_failures() as f64),
    )?;
    family(
        enc,
        "graygate_upstream_ejections",
        "Times the server was taken out: passive health (max_fails) or active checks (fall).",
        Counter,
        rows(&|s| s.ejections() as f64),
    )
}

/// The policy, the store, the lookup cache and the gateway's own counters.
pub(super) fn gateway(enc: &mut DescriptorEncoder<'_>, gw: &Gateway, snap: &Snapshot) -> fmt::Result {
    let m = &gw.metrics;
    single(
        enc,
        "graygate_policy_version",
        "The policy version in force.",
        Gauge,
        Some(snap.policy.version() as f64),
    )?;
    let applied = m.applied_at_ms.load(Relaxed);
    single(
        enc,
        "graygate_policy_last_apply_timestamp_seconds",
        "When a policy was last swapped in (Unix time).",
        Gauge,
        (applied > 0).then(|| applied as f64 / 1000.0),
    )?;
    single(
        enc,
        "graygate_policy_applies",
        "Policies swapped in since start (the first included).",
        Counter,
        Some(m.applies.load(Relaxed) as f64),
    )?;
    let lag = m.apply_lag_ms.load(Relaxed);
    single(
        enc,
        "graygate_policy_apply_lag_seconds",
        "From the save of the store's version last applied to its apply here (clocks of the saver and this host).",
        Gauge,
        (lag != u64::MAX).then(|| lag as f64 / 1000.0),
    )?;
    let status = m.store.get().map(|s| s.status());
    single(
        enc,
        "graygate_store_connected",
        "1 while the policy store's backend is reachable, else 0 (the last known policy stays in force).",
        Gauge,
        status.as_ref().map(|s| f64::from(u8::from(s.is_connected()))),
    )?;
    single(
        enc,
        "graygate_store_version",
        "The latest policy version the store has seen.",
        Gauge,
        status.and_then(|s| s.version).map(|v| v as f64),
    )?;
    lookups(enc, gw)?;
    single(
        enc,
        "graygate_connections_open",
        "Client connections being served.",
        Gauge,
        Some(gw.connections.open() as f64),
    )?;
    single(
        enc,
        "graygate_connections_refused",
        "Client connections answered 503 and closed because max_connections were open.",
        Counter,
        Some(gw.connections.refused() as f64),
    )?;
    single(
        enc,
        "graygate_responses_cut_off",
        "Responses cut off after their head because the upstream closed, reset or went silent mid-body.",
        Counter,
        Some(gw.connections.responses_cut_off() as f64),
    )?;
    single(
        enc,
        "graygate_access_log_dropped",
        "Access-log lines dropped because the writer could not keep up.",
        Counter,
        Some(gw.access_log.dropped() as f64),
    )?;
    single(
        enc,
        "graygate_alert_webhook_failures",
        "Alert deliveries to a webhook that failed every attempt.",
        Counter,
        Some(m.webhook_failures.load(Relaxed) as f64),
    )
}

/// The per-user key lookups (`[gateway.lookup]`), when configured.
fn lookups(enc: &mut DescriptorEncoder<'_>, gw: &Gateway) -> fmt::Result {
    let lookup = gw.lookup();
    let stats = lookup.map(|l| l.stats());
    let n =
        |f: fn(&graygate_store::LookupStats) -> &std::sync::atomic::AtomicU64| stats.map(|s| f(s).load(Relaxed) as f64);
    let results = [
        ("hit", n(|s| &s.hits)),
        ("miss", n(|s| &s.misses)),
        ("stale", n(|s| &s.stale)),
        ("unavailable", n(|s| &s.unavailable)),
    ];
    family(
        enc,
        "graygate_lookups",
        "Per-user key lookups by result: hit (fresh cache entry), miss (asked Redis), stale (served past its TTL), unavailable (no answer in time).",
        Counter,
        results.iter().filter_map(|(r, v)| v.map(|v| ([("result", *r)], v))),
    )?;
    single(
        enc,
        "graygate_lookup_timeouts",
        "Lookups whose Redis request timed out.",
        Counter,
        n(|s| &s.timeouts),
    )?;
    single(
        enc,
        "graygate_lookup_errors",
        "Lookups whose Redis request failed.",
        Counter,
        n(|s| &s.errors),
    )?;
    single(
        enc,
        "graygate_lookup_cache_entries",
        "Entries in the lookup cache (as of its last maintenance run).",
        Gauge,
        lookup.map(|l| l.entries() as f64),
    )?;
    single(
        enc,
        "graygate_lookup_cache_bytes",
        "Bytes the lookup cache holds, as weighed against max_bytes.",
        Gauge,
        lookup.map(|l| l.bytes() as f64),
    )
}
