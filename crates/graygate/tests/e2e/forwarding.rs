//! HTTP forwarding done right: headers, HEAD, Expect, upgrades.

use super::harness::*;
use futures_util::{SinkExt, StreamExt};
use graygate::demo::Backend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

pub(crate) async fn one_backend() -> (Gw, Backend) {
    let a = Backend::start("v1").await.unwrap();
    let policy = format!(
        "[groups.v1]\nservers = [{{ addr = \"{}\" }}]\n[[routes]]\nname = \"web\"\ndefault = \"v1\"\n",
        a.addr()
    );
    (start(&config("", &policy)).await, a)
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_and_forwarding_headers_set() {
    let (gw, _a) = one_backend().await;
    let r = gw
        .get(
            "/",
            &[
                ("Connection", "keep-alive, X-Secret"),
                ("X-Secret", "1"),
                ("Keep-Alive", "timeout=5"),
                ("Proxy-Connection", "keep-alive"),
                ("TE", "trailers"),
                ("X-Kept", "1"),
                ("Host", "shop.example:8443"),
            ],
        )
        .await;
    let seen: Vec<&str> = r.h("x-seen-headers").split(',').collect();
    for gone in ["connection", "x-secret", "keep-alive", "proxy-connection", "te"] {
        assert!(!seen.contains(&gone), "{gone} was forwarded: {seen:?}");
    }
    assert!(seen.contains(&"x-kept"), "{seen:?}");
    assert_eq!(r.h("x-seen-host"), "shop.example:8443", "Host is passed through");
    assert_eq!(r.h("x-seen-x-forwarded-proto"), "http");
    assert_eq!(r.h("x-seen-x-forwarded-for"), "127.0.0.1");
    assert_eq!(r.h("x-seen-x-real-ip"), "127.0.0.1");
}

#[tokio::test]
async fn head_answers_carry_the_length_but_no_body() {
    let (gw, _a) = one_backend().await;
    let r = gw.send("HEAD", "/_demo/bytes/12345", &[], TestBody::empty()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.h("content-length"), "12345");
    assert!(r.body.is_empty());
    // The connection is still usable afterwards.
    assert_eq!(gw.get("/", &[]).await.backend(), "v1");
}

#[tokio::test]
async fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let (gw, _a) = one_backend().await;
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(head.starts_with("HTTP/1.1 100 Continue"), "{head}");
    s.write_all(b"hello").await.unwrap();
    let mut out = String::new();
    while !out.contains("v1\n") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed early: {out}");
        out.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.to_ascii_lowercase().contains("x-body-bytes: 5"), "{out}");
}

#[tokio::test]
async fn keep_alive_serves_many_requests_on_one_client_connection() {
    let (gw, _a) = one_backend().await;
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let mut buf = vec![0u8; 4096];
    for _ in 0..5 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut out = String::new();
        while !out.ends_with("v1\n") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "the gateway closed a keep-alive connection: {out}");
            out.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
}

#[tokio::test]
async fn a_websocket_is_tunnelled_both_ways() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ws_addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
                while let Some(Ok(m)) = ws.next().await {
                    if m.is_text() || m.is_binary() {
                        ws.send(m).await.unwrap();
                    }
                }
            });
        }
    });
    let policy =
        format!("[groups.ws]\nservers = [{{ addr = \"{ws_addr}\" }}]\n[[routes]]\nname = \"ws\"\ndefault = \"ws\"\n");
    let gw = start(&config("", &policy)).await;
    let (mut ws, resp) = tokio_tungstenite::connect_async(format!("ws://{}/chat", gw.addr))
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);
    for i in 0..3 {
        ws.send(Message::text(format!("hello {i}"))).await.unwrap();
        let echoed = ws.next().await.unwrap().unwrap();
        assert_eq!(echoed.into_text().unwrap().as_str(), format!("hello {i}"));
    }
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn an_http_1_0_request_without_host_gets_the_servers_address() {
    let (gw, a) = one_backend().await;
    let answer = raw(gw.addr, b"GET / HTTP/1.0\r\n\r\n", "v1\n").await;
    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
    assert!(
        answer
            .to_ascii_lowercase()
            .contains(&format!("x-seen-host: {}", a.addr())),
        "{answer}"
    );
}
