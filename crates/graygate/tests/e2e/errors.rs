//! Each error status, answered once, never a hung connection.

use super::harness::*;
use graygate::demo::Backend;

fn single(addr: impl std::fmt::Display, group_extra: &str) -> String {
    format!(
        "[groups.g]\nservers = [{{ addr = \"{addr}\" }}]\n{group_extra}\n[[routes]]\nname = \"web\"\ndefault = \"g\"\n"
    )
}

#[tokio::test]
async fn a_refused_connection_is_a_bad_gateway() {
    let gw = start(&config("", &single(dead_addr(), ""))).await;
    let r = gw.get("/", &[]).await;
    assert_eq!(r.status, 502);
}

#[tokio::test]
async fn an_upstream_that_resets_is_a_bad_gateway() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            drop(s);
        }
    });
    let gw = start(&config("", &single(addr, ""))).await;
    assert_eq!(gw.get("/", &[]).await.status, 502);
}

#[tokio::test]
async fn an_upstream_too_slow_is_a_gateway_timeout() {
    let a = Backend::start("slow").await.unwrap();
    let gw = start(&config("", &single(a.addr(), "read_timeout_ms = 100"))).await;
    assert_eq!(gw.get("/_demo/sleep/3000", &[]).await.status, 504);
    assert_eq!(
        gw.get("/", &[]).await.status,
        200,
        "a timeout does not poison the next request"
    );
}

#[tokio::test]
async fn a_malformed_request_is_a_bad_request() {
    let a = Backend::start("v1").await.unwrap();
    let gw = start(&config("", &single(a.addr(), ""))).await;
    let answer = raw(gw.addr, b"THIS IS NOT HTTP\r\n\r\n", "\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

#[tokio::test]
async fn headers_too_large_are_refused_with_431() {
    let a = Backend::start("v1").await.unwrap();
    let gw = start(&config("max_header_bytes = 8192", &single(a.addr(), ""))).await;
    let big = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(20_000));
    let answer = raw(gw.addr, big.as_bytes(), "\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
}

#[tokio::test]
async fn a_bad_gateway_carries_the_decision_headers() {
    let gw = start(&config("decision_headers = true", &single(dead_addr(), ""))).await;
    let r = gw.get("/", &[]).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.h("x-graygate-group"), "g");
}

#[tokio::test]
async fn an_upstream_silent_mid_body_is_cut_off_after_the_read_timeout() {
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello")
                    .await;
                // Hold the connection open, silent, far past the read timeout.
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            });
        }
    });
    let gw = start(&config("", &single(addr, "read_timeout_ms = 200"))).await;
    let req = http::Request::get(gw.url("/")).body(TestBody::empty()).unwrap();
    let resp = gw.client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200, "the head arrived in time");
    assert!(resp.into_body().collect().await.is_err(), "the body is cut, not hung");
}

#[tokio::test]
async fn a_slow_upload_that_keeps_moving_is_not_a_timeout() {
    let a = Backend::start("v1").await.unwrap();
    let gw = start(&config("", &single(a.addr(), "read_timeout_ms = 200"))).await;
    // Eight frames 100 ms apart: 800 ms in all, never 200 ms of silence.
    let body = TestBody::Slow {
        frames: 8,
        every: std::time::Duration::from_millis(100),
        timer: None,
    };
    let r = gw.send("POST", "/", &[], body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.h("x-body-bytes"), "8192");
}
