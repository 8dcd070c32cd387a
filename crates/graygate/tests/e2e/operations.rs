//! Running a gateway: atomic reloads and graceful shutdown.

use super::harness::*;

#[tokio::test]
async fn a_reload_serves_the_next_request_under_the_new_version() {
    let (v1, v2) = backends().await;
    let gw = start(&config("decision_headers = true", &two_groups(&v1, &v2, "", ""))).await;
    let r = gw.get("/", &[]).await;
    assert_eq!((r.backend(), r.h("x-graygate-version")), ("v1", "1"));
    let next = two_groups(&v1, &v2, "", "").replace("default = \"v1\"", "default = \"v2\"");
    assert_eq!(gw.gateway.reload(&config("decision_headers = true", &next)).unwrap(), 2);
    let r = gw.get("/", &[]).await;
    assert_eq!((r.backend(), r.h("x-graygate-version")), ("v2", "2"));
}

#[tokio::test]
async fn a_bad_reload_changes_nothing() {
    let (v1, v2) = backends().await;
    let gw = start(&config("", &two_groups(&v1, &v2, "", ""))).await;
    let err = gw
        .gateway
        .reload("[[routes]]\nname = \"x\"\ndefault = \"nope\"\n")
        .unwrap_err();
    assert!(err.to_string().contains("routes[0].default"), "{err}");
    assert_eq!(gw.gateway.snapshot().policy.version(), 1);
    assert_eq!(gw.get("/", &[]).await.backend(), "v1");
}

#[tokio::test]
async fn versions_are_applied_in_order_never_backwards() {
    let (v1, v2) = backends().await;
    let gw = start(&config("decision_headers = true", &two_groups(&v1, &v2, "", ""))).await;
    let to_v2 = two_groups(&v1, &v2, "", "").replace("default = \"v1\"", "default = \"v2\"");
    let compile = |src: &str, version| graygate_policy::compile_toml(src, version).unwrap();
    assert!(gw.gateway.swap_policy(compile(&to_v2, 5)));
    let r = gw.get("/", &[]).await;
    assert_eq!((r.backend(), r.h("x-graygate-version")), ("v2", "5"));
    // A late, older version (a slow compile, a lagging store) is refused.
    assert!(!gw.gateway.swap_policy(compile(&two_groups(&v1, &v2, "", ""), 4)));
    let r = gw.get("/", &[]).await;
    assert_eq!((r.backend(), r.h("x-graygate-version")), ("v2", "5"));
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish_and_refuses_new_connections() {
    let (v1, v2) = backends().await;
    let mut gw = start(&config("", &two_groups(&v1, &v2, "", ""))).await;
    let url = gw.url("/_demo/sleep/300");
    let client = gw.client.clone();
    let slow = tokio::spawn(async move {
        let req = http::Request::get(url).body(TestBody::empty()).unwrap();
        client.request(req).await.map(|r| r.status())
    });
    eventually("the slow request reached the backend", || {
        let n = v1.requests();
        async move { n == 1 }
    })
    .await;
    gw.shutdown();
    assert_eq!(slow.await.unwrap().unwrap(), 200, "the request in flight completes");
    let addr = gw.addr;
    eventually("the listener is closed", || async move {
        tokio::net::TcpStream::connect(addr).await.is_err()
    })
    .await;
}

/// The access-log lines written so far to `path`.
async fn log_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn each_request_writes_one_access_log_line_with_its_decision() {
    let (v1, v2) = backends().await;
    let path = std::env::temp_dir().join(format!("graygate-access-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let rules = "[[routes.rules]]\nname = \"gray\"\nwhen = { header = \"X-Gray\", equals = \"1\" }\nto = \"v2\"\n";
    let extra = format!("access_log = \"plain\"\naccess_log_path = \"{}\"", path.display());
    let gw = start(&config(&extra, &two_groups(&v1, &v2, "", rules))).await;
    gw.get("/cart?secret=1", &[("X-Gray", "1")]).await;
    eventually("the line is written", || {
        let path = path.clone();
        async move { log_lines(&path).await.len() == 1 }
    })
    .await;
    let line = &log_lines(&path).await[0];
    let want = format!(
        "\"GET /cart\" 200 route=web group=v2 rule=gray reason=header version=1 upstream={} latency_ms=",
        v2.addr()
    );
    assert!(line.contains(&want), "{line}");
    assert!(!line.contains("secret"), "the query string is not logged: {line}");
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn the_json_access_log_has_the_same_fields() {
    let (v1, v2) = backends().await;
    let path = std::env::temp_dir().join(format!("graygate-access-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let extra = format!("access_log = \"json\"\naccess_log_path = \"{}\"", path.display());
    let gw = start(&config(&extra, &two_groups(&v1, &v2, "", ""))).await;
    gw.get("/", &[]).await;
    gw.get("/missing", &[("Host", "elsewhere")]).await;
    eventually("both lines are written", || {
        let path = path.clone();
        async move { log_lines(&path).await.len() == 2 }
    })
    .await;
    let lines = log_lines(&path).await;
    let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(first["route"], "web");
    assert_eq!(first["group"], "v1");
    assert_eq!(first["reason"], "default");
    assert_eq!(first["status"], 200);
    assert_eq!(first["upstream"], v1.addr().to_string());
    let _ = std::fs::remove_file(&path);
}
