//! Policies for unit tests.

use graygate_policy::Policy;

/// A small valid policy: groups `stable` and `canary`, one route.
pub(crate) fn policy() -> Policy {
    policy_with_canary(0)
}

/// The same policy with `percent` % of users on `canary`.
pub(crate) fn policy_with_canary(percent: u16) -> Policy {
    let bp = percent * 100;
    let src = format!(
        r#"
[groups.stable]
servers = [{{ addr = "127.0.0.1:8081" }}]
[groups.canary]
servers = [{{ addr = "127.0.0.1:8082" }}]
[[routes]]
name = "all"
default = "stable"
[[routes.rules]]
name = "gray-users"
when = {{ lookup = "gray:{{user}}", equals = "1" }}
to = "canary"
[[routes.rules]]
name = "share"
split = {{ by = "user", weights = {{ stable = {}, canary = {} }} }}
"#,
        10000 - bp,
        bp
    );
    match Policy::from_toml(&src) {
        Ok(p) => p,
        Err(e) => panic!("test policy: {e}"),
    }
}
