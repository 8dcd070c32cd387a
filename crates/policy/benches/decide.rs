//! Decision latency: (a) a typical policy — 10 rules mixing header, cookie,
//! 1,000 CIDR ranges, a 100,000-user list and a 10 % hash split; (b) 1,000
//! rules. Run: `cargo bench -p graygate-policy --bench decide`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use graygate_policy::model::{Condition, Group, Route, Rule, Server, Split, Text};
use graygate_policy::{CompiledPolicy, Overrides, Policy, RequestAttrs, compile};
use indexmap::IndexMap;
use std::hint::black_box;

fn group(addr: &str) -> Group {
    Group {
        servers: vec![Server {
            addr: addr.into(),
            weight: 1,
            backup: false,
        }],
        ..Default::default()
    }
}

fn cond(f: impl FnOnce(&mut Condition)) -> Option<Condition> {
    let mut c = Condition::default();
    f(&mut c);
    Some(c)
}

fn to(name: &str, when: Option<Condition>, group: &str) -> Rule {
    Rule {
        name: Some(name.into()),
        when,
        to: Some(group.into()),
        split: None,
    }
}

fn base(rules: Vec<Rule>) -> Policy {
    let mut groups = IndexMap::new();
    groups.insert("stable".to_owned(), group("127.0.0.1:9001"));
    groups.insert("canary".to_owned(), group("127.0.0.1:9002"));
    let mut lists = IndexMap::new();
    lists.insert("beta".to_owned(), (0..100_000).map(|i| format!("beta-{i}")).collect());
    let route = Route {
        name: "app".into(),
        default: "stable".into(),
        path_prefix: "/".into(),
        rules,
        ..Default::default()
    };
    Policy {
        groups,
        lists,
        routes: vec![route],
        ..Default::default()
    }
}

/// Ten rules, as a team would write them for a mobile/web canary.
fn typical() -> CompiledPolicy {
    let cidrs: Vec<String> = (0..1000u32)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect();
    let mut weights = IndexMap::new();
    weights.insert("canary".to_owned(), 1000);
    weights.insert("stable".to_owned(), 9000);
    let rules = vec![
        to(
            "force-canary",
            cond(|c| (c.header, c.equals) = (Some("x-gray".into()), Some(Text("1".into())))),
            "canary",
        ),
        to(
            "force-stable",
            cond(|c| (c.header, c.equals) = (Some("x-gray".into()), Some(Text("0".into())))),
            "stable",
        ),
        to(
            "cookie",
            cond(|c| (c.cookie, c.equals) = (Some("canary".into()), Some(Text("yes".into())))),
            "canary",
        ),
        to(
            "qa",
            cond(|c| (c.header, c.prefix) = (Some("x-qa-token".into()), Some("qa-".into()))),
            "canary",
        ),
        to("offices", cond(|c| c.ip = Some(cidrs)), "canary"),
        to("beta", cond(|c| c.list = Some("beta".into())), "canary"),
        to(
            "app",
            cond(|c| (c.header, c.version_ge) = (Some("app-version".into()), Some("9.0.0".into()))),
            "canary",
        ),
        to(
            "bot",
            cond(|c| (c.header, c.regex) = (Some("user-agent".into()), Some("(?i)bot|crawler".into()))),
            "stable",
        ),
        to(
            "tier",
            cond(|c| (c.query, c.equals) = (Some("tier".into()), Some(Text("gold".into())))),
            "canary",
        ),
        Rule {
            name: Some("ten-percent".into()),
            split: Some(Split {
                by: "user".into(),
                salt: Some("exp".into()),
                weights,
            }),
            ..Default::default()
        },
    ];
    compile(&base(rules), 1).unwrap()
}

/// 1,000 rules: per-tenant header rules, per-path rules, per-cookie and per-query rules.
fn thousand() -> CompiledPolicy {
    let mut rules = Vec::new();
    for i in 0..250 {
        let v = Text(format!("tenant-{i}"));
        rules.push(to(
            &format!("tenant-{i}"),
            cond(|c| (c.header, c.equals) = (Some("x-tenant".into()), Some(v))),
            "canary",
        ));
    }
    for i in 0..250 {
        let v = Text(format!("flag-{i}"));
        rules.push(to(
            &format!("cookie-{i}"),
            cond(|c| (c.cookie, c.equals) = (Some("ff".into()), Some(v))),
            "canary",
        ));
    }
    for i in 0..250 {
        let v = Text(format!("{i}"));
        rules.push(to(
            &format!("query-{i}"),
            cond(|c| (c.query, c.equals) = (Some("shard".into()), Some(v))),
            "canary",
        ));
    }
    for i in 0..250 {
        let p = format!("/svc-{i}/");
        rules.push(to(
            &format!("path-{i}"),
            cond(|c| (c.attr, c.prefix) = (Some(graygate_policy::model::Attr::Path), Some(p))),
            "canary",
        ));
    }
    compile(&base(rules), 1).unwrap()
}

fn request() -> RequestAttrs {
    RequestAttrs::get("http://shop.example.com/api/items?page=2&sort=asc")
        .header("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)")
        .header("Accept", "application/json")
        .header("X-User-ID", "user-4711")
        .header("App-Version", "5.2.1")
        .cookie("session", "abc123")
        .ip("203.0.113.9".parse().unwrap())
}

fn bench(c: &mut Criterion) {
    let typical = typical();
    let thousand = thousand();
    let miss = request();
    let header_hit = request().header("X-Gray", "1");
    let list_hit = RequestAttrs {
        headers: vec![("x-user-id".into(), "beta-99999".into())],
        ..request()
    };
    assert_eq!(
        typical.decide(&header_hit, Overrides::default()).unwrap().rule,
        "force-canary"
    );
    assert_eq!(typical.decide(&list_hit, Overrides::default()).unwrap().rule, "beta");
    assert_eq!(typical.decide(&miss, Overrides::default()).unwrap().rule, "ten-percent");
    assert_eq!(thousand.decide(&miss, Overrides::default()).unwrap().rule, "default");

    let mut g = c.benchmark_group("decide");
    g.bench_function("typical/all-10-rules-to-hash-split", |b| {
        b.iter(|| black_box(typical.decide(black_box(&miss), Overrides::default())))
    });
    g.bench_function("typical/first-rule-header", |b| {
        b.iter(|| black_box(typical.decide(black_box(&header_hit), Overrides::default())))
    });
    g.bench_function("typical/list-of-100k", |b| {
        b.iter(|| black_box(typical.decide(black_box(&list_hit), Overrides::default())))
    });
    g.bench_function("thousand-rules/no-match", |b| {
        b.iter(|| black_box(thousand.decide(black_box(&miss), Overrides::default())))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
