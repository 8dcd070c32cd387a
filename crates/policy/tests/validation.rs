//! Bad policies are rejected with every error, its field path and its line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use graygate_policy::{FieldError, compile_json, compile_toml};

fn errors(src: &str) -> Vec<FieldError> {
    match compile_toml(src, 1) {
        Ok(_) => panic!("accepted:\n{src}"),
        Err(e) => e.errors,
    }
}

fn rendered(src: &str) -> Vec<String> {
    errors(src).iter().map(ToString::to_string).collect()
}

const GROUPS: &str = r#"[groups.stable]
servers = [{ addr = "10.0.0.1:8080" }]

[groups.canary]
servers = [{ addr = "10.0.0.2:8080" }]
"#;

#[test]
fn every_semantic_error_is_reported_at_once_with_path_and_line() {
    let src = format!(
        r#"{GROUPS}
[[routes]]
name = "web"
default = "stable"

[[routes]]
name = "api"
path_prefix = "/api"
default = "ghost"

[[routes.rules]]
name = "office"
when = {{ ip = "10.0.0/8" }}
to = "canary"

[[routes.rules]]
name = "ua"
when = {{ header = "user-agent", regex = "(unclosed" }}
to = "canary"

[[routes.rules]]
name = "ten"
split = {{ weights = {{ canary = 1000, stable = 8000 }} }}

[[routes.rules]]
name = "ten"
to = "nowhere"
"#
    );
    let got = rendered(&src);
    let want_prefixes = [
        "line 14: routes[1].default: unknown group \"ghost\"",
        "line 18: routes[1].rules[0].when.ip: invalid CIDR \"10.0.0/8\"",
        "line 23: routes[1].rules[1].when.regex: invalid regex \"(unclosed\"",
        "line 28: routes[1].rules[2].split.weights: weights sum to 9000 basis points",
        "line 31: routes[1].rules[3].name: duplicate rule name \"ten\"",
        "line 32: routes[1].rules[3].to: unknown group \"nowhere\"",
    ];
    assert_eq!(got.len(), want_prefixes.len(), "{got:#?}");
    for (g, w) in got.iter().zip(want_prefixes) {
        assert!(g.starts_with(w), "got  {g}\nwant {w}…");
    }
}

#[test]
fn structural_mistakes_name_their_field() {
    let cases: &[(&str, &str)] = &[
        (
            "[[routes]]\nname = \"a\"\ndefault = \"\"",
            "routes[0].default: empty route",
        ),
        (
            "[[routes]]\nname = \"a\"\ndefault = \"stable\"\n[[routes]]\nname = \"a\"\ndefault = \"stable\"\npath_prefix = \"/x\"",
            "routes[1].name: duplicate route name \"a\"",
        ),
        (
            "[[routes]]\nname = \"a\"\ndefault = \"stable\"\n[[routes]]\nname = \"b\"\ndefault = \"stable\"",
            "routes[1]: duplicate route",
        ),
        (
            "[[routes]]\nname = \"a\"\ndefault = \"stable\"\npath_prefix = \"api\"",
            "routes[0].path_prefix: invalid path prefix",
        ),
        (
            "[[routes]]\nname = \"a b\"\ndefault = \"stable\"",
            "routes[0].name: invalid route name",
        ),
        (
            "[[routes]]\nname = \"a\"\ndefault = \"stable\"\nhost = \"a.*.com\"",
            "routes[0].host: invalid host",
        ),
        (
            "[[routes]]\nname = \"a\"\ndefault = \"stable\"\n[[routes.rules]]\nto = \"canary\"\nsplit = { weights = { canary = 10000 } }",
            "routes[0].rules[0]: a rule has exactly one action",
        ),
        (
            "[[routes]]\nname = \"a\"\ndefault = \"stable\"\n[[routes.rules]]\nsplit = { by = \"device\", weights = { canary = 10000 } }",
            "routes[0].rules[0].split.by: unknown split key \"device\"",
        ),
        (
            "[[routes]]\nname = \"a\"\ndefault = \"stable\"\n[[routes.rules]]\nsplit = { weights = { canary = 20000, stable = 0 } }",
            "routes[0].rules[0].split.weights.canary: weight 20000 is over 10000",
        ),
        (
            "[[routes]]\nname = \"a\"\ndefault = \"stable\"\n[[routes.rules]]\nwhen = { header = \"x\" }\nto = \"canary\"",
            "routes[0].rules[0].when: a condition needs one operator",
        ),
        (
            "[[routes]]\nname = \"a\"\ndefault = \"stable\"\n[[routes.rules]]\nwhen = { header = \"x\", cookie = \"y\", exists = true }\nto = \"canary\"",
            "routes[0].rules[0].when: a condition has one subject, found header, cookie",
        ),
        (
            "[[routes]]\nname = \"a\"\ndefault = \"stable\"\n[[routes.rules]]\nwhen = { header = \"x\", equals = \"1\", prefix = \"2\" }\nto = \"canary\"",
            "a condition has one operator, found equals, prefix",
        ),
        (
            "[[routes]]\nname = \"a\"\ndefault = \"stable\"\n[[routes.rules]]\nwhen = { all = [] }\nto = \"canary\"",
            "routes[0].rules[0].when.all: must list at least one condition",
        ),
        (
            "[[routes]]\nname = \"a\"\ndefault = \"stable\"\n[[routes.rules]]\nwhen = { list = \"vip\" }\nto = \"canary\"",
            "routes[0].rules[0].when.list: unknown list \"vip\"",
        ),
        (
            "[[routes]]\nname = \"a\"\ndefault = \"stable\"\n[[routes.rules]]\nwhen = { attr = \"ip\", equals = \"1.2.3.4\" }\nto = \"canary\"",
            "routes[0].rules[0].when.attr: the client IP can be tested only with `cidr` or `exists`",
        ),
        (
            "[[routes]]\nname = \"a\"\ndefault = \"stable\"\n[[routes.rules]]\nwhen = { header = \"v\", version_ge = \"five\" }\nto = \"canary\"",
            "routes[0].rules[0].when.version_ge: invalid version \"five\"",
        ),
        (
            "[[routes]]\nname = \"a\"\ndefault = \"stable\"\n[[routes.rules]]\nwhen = { json = \"user.tier\", exists = true }\nto = \"canary\"",
            "routes[0].rules[0].when.json: invalid JSON pointer",
        ),
        (
            "[[routes]]\nname = \"a\"\ndefault = \"stable\"\n[[routes.rules]]\nwhen = { lookup = \"gray:{uid}\", equals = \"1\" }\nto = \"canary\"",
            "routes[0].rules[0].when.lookup: invalid key template",
        ),
        (
            "[[routes]]\nname = \"a\"\ndefault = \"stable\"\n[[routes.rules]]\nwhen = { any = [{ header = \"a\", exists = true }, { ip = [\"1.2.3.4/33\"] }] }\nto = \"canary\"",
            "routes[0].rules[0].when.any[1].ip: invalid CIDR \"1.2.3.4/33\"",
        ),
        (
            "[[routes]]\nname = \"a\"\ndefault = \"stable\"\n[[routes.rules]]\nname = \"default\"\nto = \"canary\"",
            "routes[0].rules[0].name: \"default\" is reserved",
        ),
        (
            "[[routes]]\nname = \"a\"\ndefault = \"stable\"\n[[routes.rules]]\nwhen = { header = \"x\", in = [] }\nto = \"canary\"",
            "routes[0].rules[0].when.in: must list at least one value",
        ),
        (
            "[[routes]]\nname = \"a\"\ndefault = \"stable\"\n[[routes.rules]]\nsplit = { by = \"request\", salt = \"x\", weights = { canary = 10000 } }",
            "routes[0].rules[0].split.salt: a per-request split",
        ),
        (
            "[[routes]]\nname = \"a\"\nhost = \"API.example.com\"\ndefault = \"stable\"\n[[routes]]\nname = \"b\"\nhost = \"api.example.com\"\ndefault = \"stable\"",
            "routes[1]: duplicate route",
        ),
    ];
    for (routes, want) in cases {
        let got = rendered(&format!("{GROUPS}\n{routes}\n"));
        assert!(got.iter().any(|g| g.contains(want)), "want {want:?} in {got:#?}");
    }
}

#[test]
fn group_mistakes_name_their_field() {
    let src = r#"[groups.stable]
servers = []
[groups.canary]
servers = [{ addr = "10.0.0.2" }, { addr = "10.0.0.3:80", weight = 0 }]
[groups.backup-only]
servers = [{ addr = "10.0.0.4:80", backup = true }]
[[routes]]
name = "a"
default = "stable"
"#;
    let got = rendered(src);
    for want in [
        "line 2: groups.stable.servers: a group needs at least one server",
        "line 4: groups.canary.servers[0].addr: invalid address \"10.0.0.2\"",
        "line 4: groups.canary.servers[1].weight: must be at least 1",
        "groups.backup-only.servers: a group needs at least one server that is not a backup",
    ] {
        assert!(got.iter().any(|g| g.contains(want)), "want {want:?} in {got:#?}");
    }
    let groups: Vec<&str> = got.iter().map(|g| g.split(": ").nth(1).unwrap_or("")).collect();
    assert!(
        groups[0].starts_with("groups.stable"),
        "errors come in document order: {got:#?}"
    );
}

#[test]
fn an_empty_policy_says_what_is_missing() {
    let got = rendered("");
    assert!(
        got.iter().any(|g| g.starts_with("groups: define at least one group")),
        "{got:#?}"
    );
    assert!(
        got.iter().any(|g| g.starts_with("routes: define at least one route")),
        "{got:#?}"
    );
}

#[test]
fn type_errors_and_unknown_fields_carry_path_and_line() {
    let src =
        format!("{GROUPS}\n[[routes]]\nname = \"a\"\ndefault = \"stable\"\n\n[[routes.rules]]\ntoo = \"canary\"\n");
    let got = rendered(&src);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got[0].starts_with("line 12: "), "{got:#?}");
    assert!(got[0].contains("unknown field `too`"), "{got:#?}");

    let src = format!("{GROUPS}\n[[routes]]\nname = \"a\"\ndefault = 3\n");
    let got = rendered(&src);
    assert!(
        got[0].contains("line 9") && got[0].contains("routes[0].default"),
        "{got:#?}"
    );

    let got = rendered("[groups.a\n");
    assert!(got[0].starts_with("line 1: "), "{got:#?}");
}

#[test]
fn json_policies_get_the_same_checks() {
    let err = compile_json(
        br#"{"groups": {"s": {"servers": [{"addr": "h:1"}]}}, "routes": [{"name": "r", "default": "x"}]}"#,
        1,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "routes[0].default: unknown group \"x\"");
    let err = compile_json(br#"{"routes": [{"name": 5}]}"#, 1).unwrap_err();
    assert!(err.to_string().starts_with("routes[0].name: invalid type"), "{err}");
    let err = compile_json(br#"{"groups": {}, "bogus": 1}"#, 1).unwrap_err();
    assert!(err.to_string().contains("unknown field `bogus`"), "{err}");
}

#[test]
fn a_gateway_table_is_left_to_the_gateway() {
    let src = format!(
        "[gateway]\nlisten = \"127.0.0.1:8080\"\nanything = {{ goes = true }}\n\n{GROUPS}\n[[routes]]\nname = \"a\"\ndefault = \"stable\"\n"
    );
    assert!(compile_toml(&src, 1).is_ok());
}
