//! Routes, actions, reasons and overrides.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{PREAMBLE, get, with_route};
use graygate_policy::{Overrides, Reason, compile_toml};

const NONE: Overrides<'static> = Overrides {
    tag: None,
    sticky: None,
};

#[test]
fn the_most_specific_route_wins_exact_host_then_wildcard_then_longest_prefix() {
    let src = format!(
        r#"{PREAMBLE}
[[routes]]
name = "any"
default = "v1"
[[routes]]
name = "api"
path_prefix = "/api"
default = "v2"
[[routes]]
name = "wild"
host = "*.example.com"
default = "v3"
[[routes]]
name = "exact"
host = "shop.example.com"
path_prefix = "/"
default = "v1"
[[routes]]
name = "only-site"
host = "site.test"
path_prefix = "/x"
default = "v1"
"#
    );
    let p = compile_toml(&src, 1).unwrap();
    let route = |url: &str| p.decide(&get(url), NONE).map(|d| d.route);
    assert_eq!(route("http://other.test/"), Some("any"));
    assert_eq!(route("http://other.test/api/x"), Some("api"));
    assert_eq!(
        route("http://a.example.com/api/x"),
        Some("wild"),
        "a host match beats a longer path"
    );
    assert_eq!(route("http://SHOP.example.com/api"), Some("exact"));
    assert_eq!(
        route("http://example.com/"),
        Some("any"),
        "*.example.com needs a subdomain"
    );
    assert_eq!(route("http://site.test/y"), Some("any"));
}

#[test]
fn no_route_means_no_decision() {
    let p = with_route("name = \"api\"\nhost = \"api.test\"\ndefault = \"v1\"");
    assert!(p.decide(&get("http://other.test/"), NONE).is_none());
}

#[test]
fn first_matching_rule_wins_and_no_match_gives_the_default() {
    let p = with_route(
        r#"name = "app"
default = "v1"
[[routes.rules]]
name = "gray-header"
when = { header = "x-gray", equals = "1" }
to = "v2"
[[routes.rules]]
name = "beta"
when = { list = "beta" }
to = "v3"
"#,
    );
    let d = p
        .decide(&get("/").header("X-Gray", "1").header("X-User-ID", "1001"), NONE)
        .unwrap();
    assert_eq!(
        (d.group, d.rule, d.reason, d.version),
        ("v2", "gray-header", Reason::Header, 7)
    );
    let d = p.decide(&get("/").header("X-User-ID", "1001"), NONE).unwrap();
    assert_eq!((d.group, d.rule, d.reason), ("v3", "beta", Reason::List));
    let d = p.decide(&get("/"), NONE).unwrap();
    assert_eq!((d.group, d.rule, d.reason), ("v1", "default", Reason::Default));
}

#[test]
fn mixed_conditions_give_reason_rule_and_unnamed_rules_get_their_index() {
    let p = with_route(
        r#"name = "app"
default = "v1"
[[routes.rules]]
when = { all = [{ header = "a", exists = true }, { cookie = "b", exists = true }] }
to = "v2"
"#,
    );
    let d = p.decide(&get("/").header("A", "1").cookie("b", "1"), NONE).unwrap();
    assert_eq!((d.rule, d.reason), ("rules[0]", Reason::Rule));
}

fn split_route(by: &str, weights: &str) -> String {
    let salt = if by == "request" { "" } else { "salt = \"s1\", " };
    format!(
        "name = \"app\"\ndefault = \"v1\"\n[[routes.rules]]\nname = \"canary\"\nsplit = {{ by = \"{by}\", {salt}weights = {weights} }}\n"
    )
}

#[test]
fn hash_splits_are_stable_per_key_for_every_key_kind() {
    for by in ["user", "ip", "header:x-device", "cookie:sid", "query:d"] {
        let p = with_route(&split_route(by, "{ v2 = 5000, v1 = 5000 }"));
        let mut groups = std::collections::HashSet::new();
        for i in 0..200 {
            let k = format!("k{i}");
            let req = get(&format!("/?d={k}"))
                .header("X-User-ID", &k)
                .header("X-Device", &k)
                .cookie("sid", &k)
                .ip(std::net::IpAddr::from([10, 0, (i / 256) as u8, (i % 256) as u8]));
            let a = p.decide(&req, NONE).unwrap();
            let b = p.decide(&req, NONE).unwrap();
            assert_eq!((a.group, a.bucket), (b.group, b.bucket), "{by}: same key, same group");
            assert_eq!(a.reason, Reason::Hash);
            assert!(a.bucket.unwrap() < 10_000);
            groups.insert(a.group);
        }
        assert_eq!(groups.len(), 2, "{by}: both groups get users");
    }
}

#[test]
fn a_hash_split_without_its_key_leaves_the_decision_to_the_next_rule() {
    let p = with_route(&split_route("user", "{ v2 = 10000, v1 = 0 }"));
    assert_eq!(p.decide(&get("/").header("X-User-ID", "9"), NONE).unwrap().group, "v2");
    let d = p.decide(&get("/"), NONE).unwrap();
    assert_eq!(
        (d.group, d.reason),
        ("v1", Reason::Default),
        "anonymous users stay on the default"
    );
}

#[test]
fn per_request_splits_hit_the_exact_ratio() {
    let p = with_route(&split_route("request", "{ v2 = 1000, v1 = 8000, v3 = 1000 }"));
    let mut count = std::collections::HashMap::new();
    for _ in 0..1000 {
        let d = p.decide(&get("/"), NONE).unwrap();
        assert_eq!(d.reason, Reason::Weight);
        *count.entry(d.group).or_insert(0) += 1;
    }
    assert_eq!((count["v1"], count["v2"], count["v3"]), (800, 100, 100));
}

#[test]
fn overrides_are_honoured_only_for_live_groups_of_the_route() {
    // v2 is live through the split, v3 through nothing: pins to v3 are stale.
    let p = with_route(&split_route("user", "{ v2 = 1000, v1 = 9000 }"));
    let req = get("/").header("X-User-ID", "u");
    let pin = |tag, sticky| p.decide(&req, Overrides { tag, sticky }).unwrap();
    assert_eq!(
        (pin(None, Some("v2")).group, pin(None, Some("v2")).reason),
        ("v2", Reason::Sticky)
    );
    assert_eq!(
        (pin(Some("v1"), Some("v2")).group, pin(Some("v1"), Some("v2")).reason),
        ("v1", Reason::Tag)
    );
    assert_ne!(pin(None, Some("v3")).reason, Reason::Sticky, "stale pin ignored");
    assert_ne!(pin(None, Some("nope")).reason, Reason::Sticky, "forged pin ignored");

    // Withdrawing the canary (weight 0) makes its pins stale: users go back.
    let p = with_route(&split_route("user", "{ v2 = 0, v1 = 10000 }"));
    let d = p
        .decide(
            &req,
            Overrides {
                tag: None,
                sticky: Some("v2"),
            },
        )
        .unwrap();
    assert_eq!((d.group, d.reason), ("v1", Reason::Hash));
}

#[test]
fn the_route_tells_what_it_needs_and_which_keys_to_fetch() {
    let p = with_route(
        r#"name = "app"
default = "v1"
fallback = "v3"
[[routes.rules]]
when = { lookup = "gray:{user}", equals = "1" }
to = "v2"
[[routes.rules]]
when = { form = "x", exists = true }
to = "v2"
"#,
    );
    let req = get("/").header("X-User-ID", "42");
    let route = p.route(&req).unwrap();
    assert!(route.needs().body && route.needs().lookup);
    assert_eq!(route.lookup_keys(&req), vec!["gray:42".to_owned()]);
    assert!(route.lookup_keys(&get("/")).is_empty(), "no user, no key");
    let (fid, fname) = route.fallback().unwrap();
    let d = route.decide(&req, NONE).fallback_to(fid, fname);
    assert_eq!((d.group, d.reason), ("v3", Reason::Fallback));
    assert!(
        !p.route(&req).unwrap().is_live("v3"),
        "a fallback alone is not a live target"
    );
}

#[test]
fn lookup_keys_put_the_user_wherever_the_template_names_it() {
    for (template, key) in [
        ("gray:{user}", "gray:42"),
        ("{user}", "42"),
        ("{user}:gray", "42:gray"),
        ("a{user}b{user}c", "a42b42c"),
        ("{user}{user}", "4242"),
        ("static-flag", "static-flag"),
    ] {
        let p = with_route(&format!(
            "name = \"app\"\ndefault = \"v1\"\n[[routes.rules]]\nwhen = {{ lookup = \"{template}\", equals = \"1\" }}\nto = \"v2\"\n"
        ));
        let req = get("/").header("X-User-ID", "42");
        assert_eq!(
            p.route(&req).unwrap().lookup_keys(&req),
            vec![key.to_owned()],
            "{template}"
        );
    }
}

#[test]
fn decisions_serialize_for_logs_and_explain() {
    let p = with_route(&split_route("user", "{ v2 = 10000, v1 = 0 }"));
    let d = p.decide(&get("/").header("X-User-ID", "1"), NONE).unwrap();
    let json = serde_json::to_value(d).unwrap();
    assert_eq!(json["route"], "app");
    assert_eq!(json["group"], "v2");
    assert_eq!(json["rule"], "canary");
    assert_eq!(json["reason"], "hash");
    assert_eq!(json["version"], 7);
}

#[test]
fn a_run_of_equality_rules_keeps_first_match_order() {
    // Four rules on one header are folded into one lookup; the result must be
    // exactly the rule-by-rule one, duplicates included.
    let p = with_route(
        r#"name = "app"
default = "v1"
[[routes.rules]]
name = "a"
when = { header = "x-t", equals = "a" }
to = "v2"
[[routes.rules]]
name = "a-or-b"
when = { header = "x-t", in = ["a", "b"] }
to = "v3"
[[routes.rules]]
name = "b"
when = { header = "x-t", equals = "b" }
to = "v1"
[[routes.rules]]
name = "c"
when = { header = "x-t", equals = "c" }
to = "v3"
[[routes.rules]]
name = "other"
when = { header = "x-u", equals = "z" }
to = "v2"
[[routes.rules]]
name = "d-later"
when = { header = "x-t", equals = "d" }
to = "v2"
"#,
    );
    let rule = |t: &str, u: &str| {
        p.decide(&get("/").header("X-T", t).header("X-U", u), NONE)
            .unwrap()
            .rule
    };
    assert_eq!(rule("a", ""), "a");
    assert_eq!(rule("b", ""), "a-or-b");
    assert_eq!(rule("c", ""), "c");
    assert_eq!(rule("d", "z"), "other", "a rule between runs keeps its place");
    assert_eq!(rule("d", ""), "d-later");
    assert_eq!(rule("zz", ""), "default");
    let d = p.decide(&get("/").header("X-T", "c"), NONE).unwrap();
    assert_eq!((d.group, d.reason), ("v3", Reason::Header));
}

#[test]
fn a_run_of_prefix_rules_keeps_first_match_order() {
    let p = with_route(
        r#"name = "app"
default = "v1"
[[routes.rules]]
name = "deep"
when = { attr = "path", prefix = "/svc/a/" }
to = "v2"
[[routes.rules]]
name = "svc"
when = { attr = "path", prefix = "/svc/" }
to = "v3"
[[routes.rules]]
name = "deeper"
when = { attr = "path", prefix = "/svc/a/b/" }
to = "v1"
[[routes.rules]]
name = "other"
when = { attr = "path", prefix = "/other" }
to = "v2"
"#,
    );
    let rule = |path: &str| p.decide(&get(path), NONE).unwrap().rule;
    assert_eq!(
        rule("/svc/a/b/c"),
        "deep",
        "an earlier, shorter prefix wins over a later, longer one"
    );
    assert_eq!(rule("/svc/x"), "svc");
    assert_eq!(rule("/other/1"), "other");
    assert_eq!(rule("/sv"), "default");
    assert_eq!(rule("/é"), "default", "non-ASCII paths cut at char boundaries");
}

#[test]
fn split_ranges_follow_the_order_written_not_the_alphabet() {
    // stable is written first, so it owns buckets 0..9000 even though
    // "canary" sorts before it.
    let p = with_route(&split_route("user", "{ v3 = 9000, v2 = 1000 }"));
    let salt = graygate_policy::hash::Salt::new("s1");
    for i in 0..300 {
        let user = format!("u{i}");
        let want = if salt.bucket(user.as_bytes()) < 9000 {
            "v3"
        } else {
            "v2"
        };
        assert_eq!(
            p.decide(&get("/").header("X-User-ID", &user), NONE).unwrap().group,
            want
        );
    }
}

#[test]
fn an_ipv4_client_hashes_the_same_through_an_ipv6_socket() {
    let p = with_route(&split_route("ip", "{ v2 = 5000, v1 = 5000 }"));
    for i in 0..50u8 {
        let v4 = std::net::Ipv4Addr::new(192, 0, 2, i);
        let a = p.decide(&get("/").ip(v4.into()), NONE).unwrap();
        let b = p.decide(&get("/").ip(v4.to_ipv6_mapped().into()), NONE).unwrap();
        assert_eq!(a.bucket, b.bucket);
    }
}

#[test]
fn an_empty_hash_key_is_no_key() {
    let p = with_route(&split_route("header:x-device", "{ v2 = 10000, v1 = 0 }"));
    assert_eq!(p.decide(&get("/").header("X-Device", "d1"), NONE).unwrap().group, "v2");
    assert_eq!(
        p.decide(&get("/").header("X-Device", ""), NONE).unwrap().reason,
        Reason::Default
    );
}

#[test]
fn an_unanswered_lookup_never_makes_a_rule_match_even_under_not() {
    let p = with_route(
        r#"name = "app"
default = "v1"
[[routes.rules]]
name = "not-opted-out"
when = { not = { lookup = "gray:{user}", equals = "0" } }
to = "v2"
[[routes.rules]]
name = "either"
when = { any = [{ lookup = "gray:{user}", equals = "1" }, { header = "x-gray", equals = "1" }] }
to = "v3"
"#,
    );
    let user = || get("/").header("X-User-ID", "7");
    assert_eq!(
        p.decide(&user(), NONE).unwrap().rule,
        "default",
        "store down: no rule matches"
    );
    assert_eq!(
        p.decide(&user().lookup_answer("gray:7", Some("1")), NONE).unwrap().rule,
        "not-opted-out"
    );
    assert_eq!(
        p.decide(&user().header("X-Gray", "1"), NONE).unwrap().rule,
        "either",
        "a true branch of `any` still wins"
    );
}

#[test]
fn non_ascii_hosts_are_rejected_in_policies_and_harmless_in_requests() {
    let src = format!("{PREAMBLE}\n[[routes]]\nname = \"a\"\nhost = \"é.example.com\"\ndefault = \"v1\"\n");
    assert!(compile_toml(&src, 1).unwrap_err().to_string().contains("invalid host"));
    let p = with_route("name = \"w\"\nhost = \"*.example.com\"\ndefault = \"v1\"");
    assert!(p.decide(&get("/").header("Host", "éexample.com"), NONE).is_none());
    assert!(p.decide(&get("/").header("Host", "a.éxample.com"), NONE).is_none());
}

#[test]
fn a_longer_wildcard_beats_a_shorter_one() {
    let src = format!(
        "{PREAMBLE}\n[[routes]]\nname = \"all\"\nhost = \"*.example.com\"\ndefault = \"v1\"\n[[routes]]\nname = \"eu\"\nhost = \"*.eu.example.com\"\ndefault = \"v2\"\n"
    );
    let p = compile_toml(&src, 1).unwrap();
    assert_eq!(p.decide(&get("http://a.eu.example.com/"), NONE).unwrap().route, "eu");
    assert_eq!(p.decide(&get("http://a.us.example.com/"), NONE).unwrap().route, "all");
}

#[test]
fn a_pin_replaces_chance_but_not_explicit_targeting() {
    let p = with_route(
        r#"name = "app"
default = "v1"
[[routes.rules]]
name = "force"
when = { header = "x-gray", equals = "1" }
to = "v3"
[[routes.rules]]
name = "beta"
when = { list = "beta" }
to = "v3"
[[routes.rules]]
name = "ten"
split = { weights = { v2 = 1000, v1 = 9000 } }
"#,
    );
    let pin = |req: &graygate_policy::RequestAttrs, g| {
        p.decide(
            req,
            Overrides {
                tag: None,
                sticky: Some(g),
            },
        )
        .unwrap()
    };
    // A pinned user stays on the pinned group whatever the split says …
    for i in 0..100 {
        let d = pin(&get("/").header("X-User-ID", &format!("u{i}")), "v2");
        assert_eq!((d.group, d.rule, d.reason), ("v2", "sticky", Reason::Sticky));
    }
    // … and an anonymous pinned user (default decision) too …
    assert_eq!(pin(&get("/"), "v2").reason, Reason::Sticky);
    // … but a tester's header and the beta list still move them.
    assert_eq!(pin(&get("/").header("X-Gray", "1"), "v2").rule, "force");
    assert_eq!(pin(&get("/").header("X-User-ID", "1001"), "v1").rule, "beta");
}
