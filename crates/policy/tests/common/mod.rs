//! Shared helpers: a two-group policy around one rule, and requests.
#![allow(dead_code, unreachable_pub)]

use graygate_policy::{CompiledPolicy, Overrides, RequestAttrs, compile_toml};

pub const PREAMBLE: &str = r#"
user_id = [{ header = "X-User-ID" }, { cookie = "uid" }]

[groups.v1]
servers = [{ addr = "127.0.0.1:9001" }]

[groups.v2]
servers = [{ addr = "127.0.0.1:9002" }]

[groups.v3]
servers = [{ addr = "127.0.0.1:9003" }]

[lists]
beta = ["1001", "1002"]
devices = ["dev-a"]
"#;

/// A policy whose only route sends requests matching `when` to v2, else v1.
pub fn with_condition(when: &str) -> CompiledPolicy {
    let src = format!(
        "{PREAMBLE}\n[[routes]]\nname = \"app\"\ndefault = \"v1\"\n\n[[routes.rules]]\nname = \"r\"\nwhen = {when}\nto = \"v2\"\n"
    );
    compile_toml(&src, 7).unwrap_or_else(|e| panic!("{when}: {e}"))
}

/// A policy with the given route body (after `[[routes]]`).
pub fn with_route(route: &str) -> CompiledPolicy {
    let src = format!("{PREAMBLE}\n[[routes]]\n{route}\n");
    compile_toml(&src, 7).unwrap_or_else(|e| panic!("{e}"))
}

/// Whether `when` sends `req` to v2.
pub fn matches(when: &str, req: &RequestAttrs) -> bool {
    let p = with_condition(when);
    let d = p.decide(req, Overrides::default()).expect("a route");
    d.group == "v2"
}

pub fn get(url: &str) -> RequestAttrs {
    RequestAttrs::get(url)
}
