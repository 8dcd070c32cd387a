use super::*;

const POLICY: &str = r#"
[groups.v1]
servers = [{ addr = "127.0.0.1:9001" }]

[[routes]]
name = "web"
default = "v1"
"#;

#[test]
fn a_file_without_gateway_table_gets_the_defaults() {
    let c = Config::from_toml(POLICY, 1).unwrap();
    assert_eq!(c.settings.raw.listen.port(), 8080);
    assert_eq!(c.settings.raw.body_limit, 65536);
    assert_eq!(c.settings.tag_header.as_str(), "x-gray-tag");
}

#[test]
fn an_unknown_gateway_key_is_reported_with_its_line() {
    let src = format!("[gateway]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n{POLICY}");
    let e = Config::from_toml(&src, 1).unwrap_err().to_string();
    assert!(e.contains("line 3"), "{e}");
    assert!(e.contains("lisen"), "{e}");
}

#[test]
fn every_bad_gateway_value_is_reported_with_path_and_line() {
    let src = format!("[gateway]\ntrusted_proxies = [\"10.0.0.0/8\", \"10.0.0/8\"]\nno_route_status = 99\n{POLICY}");
    let e = Config::from_toml(&src, 1).unwrap_err();
    let text = e.to_string();
    assert_eq!(e.errors.len(), 2, "{text}");
    assert!(text.contains("line 2: gateway.trusted_proxies[1]"), "{text}");
    assert!(text.contains("line 3: gateway.no_route_status"), "{text}");
}

#[test]
fn policy_and_gateway_errors_are_reported_together() {
    let src = "[gateway]\nworkers = \"many\"\n[[routes]]\nname = \"x\"\ndefault = \"nope\"\n";
    let e = Config::from_toml(src, 1).unwrap_err();
    assert!(e.errors.len() >= 2, "{e}");
}

#[test]
fn group_upstream_settings_are_checked_with_path_and_line() {
    let src = r#"
[groups.v1]
servers = [{ addr = "127.0.0.1:9001" }]
connect_timeout_ms = 0
health_check = { path = "healthz", rise = 0 }

[[routes]]
name = "web"
default = "v1"
"#;
    let e = Config::from_toml(src, 1).unwrap_err().to_string();
    assert!(
        e.contains("line 4: groups.v1.connect_timeout_ms: must be at least 1"),
        "{e}"
    );
    assert!(e.contains("line 5: groups.v1.health_check.path"), "{e}");
    assert!(e.contains("groups.v1.health_check.rise"), "{e}");
}

#[test]
fn group_upstream_settings_default_to_the_gateway_ones() {
    let src = format!("[gateway]\nconnect_timeout_ms = 250\nmax_fails = 4\n{POLICY}");
    let c = Config::from_toml(&src, 1).unwrap();
    let up = crate::upstream::Upstreams::build(&c.policy, &c.settings, &Default::default());
    let g = &up.groups()[0];
    assert_eq!(g.timeouts.connect.as_millis(), 250);
    assert_eq!(g.timeouts.read.as_millis(), 30_000);
    assert_eq!(g.passive.max_fails, 4);
}

#[test]
fn alert_settings_are_checked_with_their_path() {
    let src = format!(
        "[gateway.alerts]\nwindow_secs = 5\np99_ratio = 0.5\nwebhooks = [\"https://hooks.example/x\"]\n{POLICY}"
    );
    let e = Config::from_toml(&src, 1).unwrap_err();
    let text = e.to_string();
    assert_eq!(e.errors.len(), 3, "{text}");
    assert!(text.contains("gateway.alerts.window_secs"), "{text}");
    assert!(text.contains("gateway.alerts.p99_ratio"), "{text}");
    assert!(text.contains("only http://"), "{text}");
    let ok =
        format!("[gateway]\nmetrics = false\n[gateway.alerts]\nwebhooks = [\"http://127.0.0.1:9/hook\"]\n{POLICY}");
    let c = Config::from_toml(&ok, 1).unwrap();
    assert!(!c.settings.raw.metrics);
    assert_eq!(c.settings.raw.alerts.p99_ratio, 1.5);
}

#[test]
fn connection_limits_are_checked_with_path_and_line() {
    let src = format!("[gateway]\nmax_connections = 0\nidle_timeout_ms = 0\n{POLICY}");
    let e = Config::from_toml(&src, 1).unwrap_err().to_string();
    assert!(
        e.contains("line 2: gateway.max_connections: must be between 1 and 1000000"),
        "{e}"
    );
    assert!(e.contains("line 3: gateway.idle_timeout_ms: must be at least 1"), "{e}");
    let c = Config::from_toml(POLICY, 1).unwrap();
    assert_eq!(c.settings.raw.max_connections, 10_000);
    assert_eq!(c.settings.idle_timeout, Duration::from_secs(60));
}
