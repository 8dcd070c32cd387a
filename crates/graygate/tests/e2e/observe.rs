//! Issue 5: what an operator sees of each version. Known traffic goes
//! through a gateway started like `graygate serve` — a fast default group, a
//! slow one, a failing one and a healthy one — and `/metrics`,
//! `/api/v1/stats` and the canary alerts must say exactly that.

use super::canned::{Hook, Scripted};
use super::harness::{Gw, eventually};
use super::live::{TOKEN, admin_call, start_live};
use super::prom::{Exposition, parse};
use graygate_metrics::{AlertKind, Stats};
use graygate_policy::{Overrides, RequestAttrs};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

const GROUPS: [&str; 4] = ["stable", "slow", "failing", "healthy"];

/// A live gateway's configuration: `gateway` lines go in `[gateway]`,
/// `tables` after `[gateway.admin]`.
fn config(dir: &Path, gateway: &str, tables: &str, policy: &str) -> String {
    format!(
        "[gateway]\nlisten = \"127.0.0.1:0\"\nshutdown_timeout_secs = 1\ndata_dir = \"{}\"\n{gateway}\n\n[gateway.admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n\n{tables}\n\n{policy}",
        dir.display()
    )
}

/// Route `web`: a user-hash split over the four groups, 40/20/20/20.
fn policy(addrs: [SocketAddr; 4]) -> String {
    let mut p = String::new();
    for (g, a) in GROUPS.iter().zip(addrs) {
        p += &format!("[groups.{g}]\nservers = [{{ addr = \"{a}\" }}]\n");
    }
    p + "\n[[routes]]\nname = \"web\"\ndefault = \"stable\"\n\n[[routes.rules]]\nname = \"ramp\"\nsplit = { by = \"user\", salt = \"observe\", weights = { stable = 4000, slow = 2000, failing = 2000, healthy = 2000 } }\n"
}

/// The group the policy sends `user` to.
fn group_of(policy: &str, user: &str) -> String {
    let p = graygate_policy::compile_toml(policy, 1).unwrap();
    let req = RequestAttrs::get("/").header("x-user-id", user);
    p.decide(&req, Overrides::default()).unwrap().group.to_owned()
}

/// `GET path` on the admin API: status and text.
async fn admin_text(admin: SocketAddr, path: &str) -> (u16, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let req = http::Request::get(format!("http://{admin}{path}"))
        .body(Empty::new())
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn scrape(admin: SocketAddr) -> Exposition {
    let (status, text) = admin_text(admin, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    parse(&text)
}

async fn stats(admin: SocketAddr) -> Stats {
    let (status, text) = admin_text(admin, "/api/v1/stats").await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Sends one request per user, four at a time; every one must be answered.
async fn drive(gw: &Gw, users: impl Iterator<Item = String>) {
    let users: Vec<String> = users.collect();
    let mut tasks = Vec::new();
    for chunk in users.chunks(users.len().div_ceil(4)) {
        let (client, url, chunk) = (gw.client.clone(), gw.url("/"), chunk.to_vec());
        tasks.push(tokio::spawn(async move {
            for u in chunk {
                let req = http::Request::get(&url)
                    .header("x-user-id", &u)
                    .body(super::harness::TestBody::empty())
                    .unwrap();
                let resp = client.request(req).await.unwrap();
                assert!([200, 500].contains(&resp.status().as_u16()));
                resp.into_body().collect().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// The exact quantile the stats approximate: the ⌈q·n⌉-th smallest sample.
fn exact_ms(sorted_us: &[u64], q: f64) -> f64 {
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).max(1);
    sorted_us[rank - 1] as f64 / 1000.0
}

/// 1,000 users through a slow group (80 ms), a failing one (every 5th
/// answer a 500), a healthy one and the default: the counters, decisions,
/// histograms, quantiles (against the access log's latencies, the same
/// measurements), observed shares, and the alerts — latency for the slow
/// group, success rate for the failing one, none for the healthy one —
/// logged as metric, in the stats and POSTed to a webhook.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_traffic_shows_in_counters_quantiles_shares_and_alerts() {
    let stable = Scripted::start("stable", Duration::ZERO, 0).await;
    let slow = Scripted::start("slow", Duration::from_millis(80), 0).await;
    let failing = Scripted::start("failing", Duration::ZERO, 5).await;
    let healthy = Scripted::start("healthy", Duration::ZERO, 0).await;
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let policy = policy([stable.addr, slow.addr, failing.addr, healthy.addr]);
    let gateway = format!("access_log = \"json\"\naccess_log_path = \"{}\"", log.display());
    let tables = format!(
        "[gateway.alerts]\ninterval_ms = 100\nmin_samples = 50\np99_min_increase_ms = 20\nwebhooks = [\"http://{}/hook\"]",
        hook.addr
    );
    let live = start_live(&config(dir.path(), &gateway, &tables, &policy)).await;

    const N: usize = 1000;
    let users = (0..N).map(|i| format!("user-{i}"));
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for u in users.clone() {
        *expected.entry(group_of(&policy, &u)).or_default() += 1;
    }
    drive(&live.gw, users).await;

    // The access log: every request's group and latency, as measured.
    let mut latencies: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    eventually("the access log has every request", || async {
        std::fs::read_to_string(&log).is_ok_and(|t| t.lines().count() == N)
    })
    .await;
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let us = (v["latency_ms"].as_f64().unwrap() * 1000.0 + 1e-6).floor() as u64;
        latencies
            .entry(v["group"].as_str().unwrap().to_owned())
            .or_default()
            .push(us);
    }

    let m = scrape(live.admin).await;
    fn web(g: &str) -> [(&str, &str); 2] {
        [("route", "web"), ("group", g)]
    }
    for g in GROUPS {
        let n = expected[g] as f64;
        let l = web(g);
        let by_class = |c| m.value("graygate_requests_total", &[l[0], l[1], ("class", c)]);
        assert_eq!(by_class("2xx") + by_class("5xx"), n, "{g}");
        let d = [l[0], l[1], ("rule", "ramp"), ("reason", "hash")];
        assert_eq!(m.value("graygate_decisions_total", &d), n, "{g}");
        assert_eq!(m.value("graygate_request_duration_seconds_count", &l), n, "{g}");
        assert_eq!(m.value("graygate_in_flight_requests", &l), 0.0, "{g}");
        let t = m.value("graygate_split_target_share", &[l[0], l[1], ("rule", "ramp")]);
        assert_eq!(t, if g == "stable" { 0.4 } else { 0.2 });
    }
    for (b, g) in [
        (&stable, "stable"),
        (&slow, "slow"),
        (&failing, "failing"),
        (&healthy, "healthy"),
    ] {
        assert_eq!(
            b.served.load(std::sync::atomic::Ordering::Relaxed),
            expected[g],
            "{g} served its share"
        );
    }
    let failures = failing.failed.load(std::sync::atomic::Ordering::Relaxed) as f64;
    assert_eq!(failures, (expected["failing"] / 5) as f64);
    let l = web("failing");
    assert_eq!(
        m.value("graygate_requests_total", &[l[0], l[1], ("class", "5xx")]),
        failures
    );
    let up = [("group", "slow"), ("server", &*slow.addr.to_string())];
    assert_eq!(m.value("graygate_upstream_up", &up), 1.0);

    let s = stats(live.admin).await;
    let route = s.routes.iter().find(|r| r.route == "web").unwrap();
    assert_eq!(route.default_group, "stable");
    for g in &route.groups {
        let w = &g.windows["5m"];
        let n = expected[&g.group];
        assert_eq!(w.requests, n, "{}", g.group);
        assert!((w.share.unwrap() - n as f64 / N as f64).abs() < 1e-9, "{}", g.group);
        let mut exact = latencies.remove(&g.group).unwrap();
        exact.sort_unstable();
        assert_eq!(exact.len() as u64, n);
        for (q, got) in [(0.5, w.p50_ms), (0.95, w.p95_ms), (0.99, w.p99_ms), (1.0, w.max_ms)] {
            let (got, want) = (got.unwrap(), exact_ms(&exact, q));
            assert!(
                got >= want - 0.0005 && got <= want * 1.01 + 0.0005,
                "{} q{q}: {got} ms, exact {want} ms",
                g.group
            );
        }
        let errors = if g.group == "failing" { failures as u64 } else { 0 };
        let sr = w.success_rate.unwrap();
        assert!(
            (sr - (1.0 - errors as f64 / n as f64)).abs() < 1e-9,
            "{}: {sr}",
            g.group
        );
        assert_eq!(g.vs_default.is_empty(), g.default, "{}", g.group);
    }
    let split = &route.splits[0];
    for sg in &split.groups {
        let want = expected[&sg.group] as f64 / N as f64;
        assert!((sg.observed["5m"].unwrap() - want).abs() < 1e-9, "{}", sg.group);
    }

    // The alerts: evaluated every 100 ms over the last minute.
    let want = [
        ("slow".to_owned(), AlertKind::Latency),
        ("failing".to_owned(), AlertKind::SuccessRate),
    ];
    let mut fired = BTreeSet::new();
    for _ in 0..500 {
        fired = stats(live.admin)
            .await
            .alerts
            .iter()
            .map(|a| (a.group.clone(), a.kind))
            .collect();
        if want.iter().all(|w| fired.contains(w)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        want.iter().all(|w| fired.contains(w)),
        "the slow and the failing group alert: {fired:?}"
    );
    assert!(
        !fired.iter().any(|(g, _)| g == "healthy" || g == "stable"),
        "only degraded groups alert: {fired:?}"
    );
    assert!(
        !fired.contains(&("slow".to_owned(), AlertKind::SuccessRate)),
        "{fired:?}"
    );
    let m = scrape(live.admin).await;
    let alert = [
        ("route", "web"),
        ("group", "slow"),
        ("baseline", "stable"),
        ("kind", "latency"),
    ];
    assert_eq!(m.value("graygate_canary_alert", &alert), 1.0);
    assert_eq!(m.find("graygate_canary_alert", &[("group", "healthy")]).count(), 0);
    eventually("the webhook got the slow group's alert", || async {
        hook.bodies
            .lock()
            .unwrap()
            .iter()
            .any(|b| b["status"] == "firing" && b["alert"]["group"] == "slow" && b["alert"]["kind"] == "latency")
    })
    .await;
}

/// A new policy version keeps the counters of the routes and groups that
/// still exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_survive_a_policy_change() {
    let b: Vec<Scripted> = futures_util::future::join_all(GROUPS.map(|g| Scripted::start(g, Duration::ZERO, 0))).await;
    let dir = tempfile::tempdir().unwrap();
    let policy = policy([b[0].addr, b[1].addr, b[2].addr, b[3].addr]);
    let live = start_live(&config(
        dir.path(),
        "access_log = \"off\"\ndecision_headers = true",
        "",
        &policy,
    ))
    .await;
    eventually("version 1 serves", || async {
        live.gw.get("/", &[("x-user-id", "x")]).await.h("x-graygate-version") == "1"
    })
    .await;
    let before = scrape(live.admin).await;
    let count = |m: &Exposition, g: &str| m.value_or_zero("graygate_requests_total", &[("group", g)]);
    drive(&live.gw, (0..40).map(|i| format!("u{i}"))).await;
    let mid = scrape(live.admin).await;
    let weights = json!({ "weights": { "stable": 10_000, "slow": 0, "failing": 0, "healthy": 0 } });
    let (status, _) = admin_call(live.admin, "PUT", "/api/v1/routes/web/splits/ramp", Some(weights)).await;
    assert_eq!(status, 200);
    // Asked of the admin API: a probe request would count.
    eventually("version 2 is applied", || async {
        admin_call(live.admin, "GET", "/readyz", None).await.1["policy_version"] == 2
    })
    .await;
    drive(&live.gw, (0..40).map(|i| format!("u{i}"))).await;
    let after = scrape(live.admin).await;
    assert_eq!(
        count(&after, "stable"),
        count(&mid, "stable") + 40.0,
        "stable kept counting from where it was"
    );
    for g in ["slow", "failing", "healthy"] {
        assert_eq!(count(&after, g), count(&mid, g), "{g} kept its count");
        assert!(count(&mid, g) > count(&before, g));
    }
    assert_eq!(after.value("graygate_policy_version", &[]), 2.0);
    assert!(after.value("graygate_policy_applies_total", &[]) >= 2.0);
    assert_eq!(after.value("graygate_store_connected", &[]), 1.0);
}

/// `[gateway] metrics = false`: requests are served, `/metrics` and
/// `/api/v1/stats` answer 404.
#[tokio::test]
async fn metrics_can_be_switched_off() {
    let b: Vec<Scripted> = futures_util::future::join_all(GROUPS.map(|g| Scripted::start(g, Duration::ZERO, 0))).await;
    let dir = tempfile::tempdir().unwrap();
    let policy = policy([b[0].addr, b[1].addr, b[2].addr, b[3].addr]);
    let live = start_live(&config(
        dir.path(),
        "access_log = \"off\"\nmetrics = false",
        "",
        &policy,
    ))
    .await;
    assert_eq!(live.gw.get("/", &[("x-user-id", "a")]).await.status, 200);
    assert_eq!(admin_text(live.admin, "/metrics").await.0, 404);
    assert_eq!(admin_text(live.admin, "/api/v1/stats").await.0, 404);
}

/// `deploy/grafana/graygate.json` and `deploy/prometheus/alerts.yml` parse,
/// and every metric they query is one a running gateway exports.
#[tokio::test]
async fn deploy_artefacts_reference_only_exported_metrics() {
    let b: Vec<Scripted> = futures_util::future::join_all(GROUPS.map(|g| Scripted::start(g, Duration::ZERO, 0))).await;
    let dir = tempfile::tempdir().unwrap();
    let policy = policy([b[0].addr, b[1].addr, b[2].addr, b[3].addr]);
    let live = start_live(&config(dir.path(), "access_log = \"off\"", "", &policy)).await;
    let exported = scrape(live.admin).await.names();

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("deploy/grafana/graygate.json")).unwrap()).unwrap();
    let rules: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(root.join("deploy/prometheus/alerts.yml")).unwrap()).unwrap();
    let mut alerts = 0;
    for g in rules["groups"].as_array().expect("groups") {
        for r in g["rules"].as_array().expect("rules") {
            assert!(r["expr"].is_string(), "{r}");
            alerts += usize::from(r["alert"].is_string());
        }
    }
    assert!(alerts >= 2, "the canary comparisons are there as alerting rules");
    assert!(dashboard["panels"].as_array().is_some_and(|p| p.len() >= 4));

    for (file, doc) in [("graygate.json", &dashboard), ("alerts.yml", &rules)] {
        let mut used = BTreeSet::new();
        strings(doc, &mut |s| used.extend(metric_names(s)));
        assert!(used.len() >= 3, "{file} queries graygate metrics: {used:?}");
        let unknown: Vec<_> = used.difference(&exported).collect();
        assert!(
            unknown.is_empty(),
            "{file} queries metrics graygate does not export: {unknown:?}"
        );
    }
}

/// Calls `f` on every string in `v`.
fn strings(v: &serde_json::Value, f: &mut dyn FnMut(&str)) {
    match v {
        serde_json::Value::String(s) => f(s),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, f)),
        serde_json::Value::Object(o) => o.values().for_each(|x| strings(x, f)),
        _ => {}
    }
}

/// The `graygate_…` identifiers in a query.
fn metric_names(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("graygate_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let preceded = rest[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !preceded {
            out.push(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    out
}
