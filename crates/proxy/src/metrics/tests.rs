#![allow(clippy::unwrap_used)]

use super::*;
use graygate_policy::{CompiledPolicy, Overrides, Reason, RequestAttrs, compile_toml};

fn policy(version: u64, routes: &str) -> CompiledPolicy {
    let src = format!(
        "[groups.stable]\nservers = [{{ addr = \"127.0.0.1:1\" }}]\n[groups.canary]\nservers = [{{ addr = \"127.0.0.1:2\" }}]\n{routes}"
    );
    compile_toml(&src, version).unwrap()
}

const WEB: &str = "[[routes]]\nname = \"web\"\ndefault = \"stable\"\n[[routes.rules]]\nwhen = { header = \"x-gray\", equals = \"1\" }\nto = \"canary\"\n";
const API: &str = "[[routes]]\nname = \"api\"\npath_prefix = \"/api\"\ndefault = \"canary\"\n";

/// Decides `req` with `p` and records it (200, 1 ms) in `table`.
fn serve(m: &Metrics, table: &Table, p: &CompiledPolicy, req: &RequestAttrs) {
    let d = p.decide(req, Overrides::default()).unwrap();
    let s = table.series(d.route_id, d.group_id).unwrap();
    s.record(200, 1000, now_ms());
    table.decided(m, &d, now_ms());
}

fn count(m: &Metrics, route: &str, group: &str) -> u64 {
    let reg = m.registry();
    let s = &reg.groups[&(Box::from(route), Box::from(group))];
    s.classes()[1]
}

#[test]
fn a_new_version_keeps_the_series_of_what_still_exists_and_drops_the_rest() {
    let m = Metrics::new(true, 1);
    let v1 = policy(1, &format!("{WEB}{API}"));
    let t1 = Table::build(&v1, &m);
    serve(&m, &t1, &v1, &RequestAttrs::get("/"));
    serve(&m, &t1, &v1, &RequestAttrs::get("/").header("x-gray", "1"));
    serve(&m, &t1, &v1, &RequestAttrs::get("/api/x"));
    // Version 2 drops route api; web keeps its ids' meaning by name.
    let v2 = policy(2, WEB);
    let t2 = Table::build(&v2, &m);
    serve(&m, &t2, &v2, &RequestAttrs::get("/"));
    assert_eq!(count(&m, "web", "stable"), 2, "counted across versions");
    assert_eq!(count(&m, "web", "canary"), 1);
    let reg = m.registry();
    assert!(!reg.groups.keys().any(|(r, _)| &**r == "api"), "api's series are gone");
    assert!(!reg.decisions.keys().any(|(r, ..)| &**r == "api"));
    let rules: Vec<(&str, &str, Reason, u64)> = {
        let mut v: Vec<_> = reg
            .decisions
            .values()
            .map(|d| (&*d.rule, &*d.group, d.reason, d.total.load(Relaxed)))
            .collect();
        v.sort_by_key(|x| (x.0, x.1));
        v
    };
    assert_eq!(
        rules,
        [
            ("default", "stable", Reason::Default, 2),
            ("rules[0]", "canary", Reason::Header, 1)
        ],
        "an unnamed rule counts as rules[N]"
    );
}

#[test]
fn a_fallback_counts_under_the_group_that_served() {
    let m = Metrics::new(true, 1);
    let p = policy(1, WEB);
    let t = Table::build(&p, &m);
    let d = p
        .decide(&RequestAttrs::get("/").header("x-gray", "1"), Overrides::default())
        .unwrap();
    let stable = p.group_id("stable").unwrap();
    let served = d.fallback_to(stable, "stable");
    t.decided(&m, &served, now_ms());
    let reg = m.registry();
    let only: Vec<_> = reg
        .decisions
        .values()
        .map(|d| (&*d.rule, &*d.group, d.reason))
        .collect();
    assert_eq!(only, [("rules[0]", "stable", Reason::Fallback)]);
}

#[test]
fn a_latency_lands_in_the_first_bucket_whose_bound_is_not_below_it() {
    let m = Metrics::new(true, 1);
    let p = policy(1, WEB);
    let t = Table::build(&p, &m);
    let d = p.decide(&RequestAttrs::get("/"), Overrides::default()).unwrap();
    let s = t.series(d.route_id, d.group_id).unwrap();
    for us in [50, 100, 101, 9_999, 20_000_000] {
        s.record(200, us, now_ms());
    }
    let (sum, count, buckets) = s.histogram();
    assert_eq!(count, 5);
    assert!((sum - 20.01025).abs() < 1e-9, "{sum}");
    let n = |le: f64| buckets.iter().find(|(b, _)| (*b - le).abs() < 1e-12).unwrap().1;
    assert_eq!(n(0.0001), 2, "100 µs is in the 100 µs bucket (le)");
    assert_eq!(n(0.00025), 1);
    assert_eq!(n(0.01), 1);
    assert_eq!(buckets.last().unwrap(), &(f64::MAX, 1), "over 10 s: +Inf");
}
