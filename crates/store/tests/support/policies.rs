//! Valid policies for the tests.

use graygate_policy::Policy;

/// Groups `stable` and `canary`; users whose key `gray:{user}` is `1` go to
/// canary; `percent` % of the others too; `extra_users` ids in a user list
/// (to make documents large).
pub fn policy(percent: u16, extra_users: usize) -> Policy {
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
    let mut p = Policy::from_toml(&src).expect("test policy");
    if extra_users > 0 {
        p.lists.insert(
            "beta".into(),
            (0..extra_users).map(|i| format!("user-{i:08}")).collect(),
        );
    }
    p
}
