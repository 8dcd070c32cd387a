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
