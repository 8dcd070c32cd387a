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
