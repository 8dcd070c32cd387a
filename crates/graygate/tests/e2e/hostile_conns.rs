//! Issue 7, hostile clients at the connection level: slow heads, idle
//! keep-alive connections, more connections than `max_connections`, and
//! clients that abort mid-upload or mid-download. Waits are bounded polls.

use super::harness::*;
use super::hostile_clients::{gateway_to, until_closed};
use super::prom::parse;
use super::recorder::{Recorder, assert_unambiguous};
use graygate::demo::Backend;
use graygate_proxy::GatewayMetrics;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// Reads one response with a `Content-Length` body from `s`.
pub(crate) async fn read_response(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&out).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if out.len() >= end + 4 + len {
                return text;
            }
        }
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return text,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!("no complete answer within 10 s: {text:?}"),
        }
    }
}

/// Waits (at most 10 s) for the gateway to close `s`; returns what it sent.
pub(crate) async fn closed_by_gateway(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return String::from_utf8_lossy(&out).into_owned(),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the gateway kept the connection open"),
        }
    }
}

/// Rule: a head not complete within `client_timeout_ms` closes the
/// connection unanswered, however the bytes trickle; nothing is forwarded.
#[tokio::test]
async fn a_slow_head_is_closed_after_the_client_timeout() {
    let rec = Recorder::start("up").await;
    let gw = gateway_to(&rec, "client_timeout_ms = 300").await;
    let mut stalled = TcpStream::connect(gw.addr).await.unwrap();
    stalled.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    assert_eq!(closed_by_gateway(&mut stalled).await, "", "closed without an answer");

    // One byte every 50 ms: the bound is on the whole head, not per read.
    let trickle = TcpStream::connect(gw.addr).await.unwrap();
    let (mut rd, mut wr) = trickle.into_split();
    let writer = tokio::spawn(async move {
        for b in b"GET / HTTP/1.1\r\nX-Slow: ".iter().chain([b'a'; 1000].iter()) {
            if wr.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), rd.read(&mut buf))
        .await
        .expect("the trickling client was not cut off");
    assert!(matches!(n, Ok(0) | Err(_)), "closed without an answer: {n:?}");
    writer.abort();
    assert_eq!(gw.get("/", &[]).await.status, 200, "the gateway still serves");
    assert_eq!(rec.requests().len(), 1, "only the control request arrived");
}

/// Rule: a kept-alive connection with no next request is closed after
/// `idle_timeout_ms`, a knob separate from `client_timeout_ms`.
#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let rec = Recorder::start("up").await;
    let gw = gateway_to(&rec, "idle_timeout_ms = 300\nclient_timeout_ms = 600000").await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(GET).await.unwrap();
    assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200 "));
    assert_eq!(closed_by_gateway(&mut s).await, "");
}

/// Rule: the idle timeout covers only the wait for a next request: a longer
/// idle limit keeps the connection usable past `client_timeout_ms`, and once
/// a next request starts arriving its head has `client_timeout_ms`.
#[tokio::test]
async fn on_a_kept_alive_connection_the_head_timeout_starts_with_the_next_request() {
    let rec = Recorder::start("up").await;
    let gw = gateway_to(&rec, "idle_timeout_ms = 600000\nclient_timeout_ms = 300").await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(GET).await.unwrap();
    assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200 "));
    // Idle for longer than the head timeout (setup, not an assertion on time).
    tokio::time::sleep(Duration::from_millis(900)).await;
    s.write_all(GET).await.unwrap();
    assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200 "), "still open");
    s.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    assert_eq!(closed_by_gateway(&mut s).await, "", "a stalled next head is cut off");
    assert_eq!(rec.requests().len(), 2);
}

/// Rule: past `max_connections`, a connection is answered 503 with
/// `Connection: close` and closed, and counted; once others close, new
/// connections are served again.
#[tokio::test]
async fn connections_over_the_limit_are_answered_503_and_closed() {
    let rec = Recorder::start("up").await;
    let gw = gateway_to(&rec, "max_connections = 4").await;
    let mut open = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(gw.addr).await.unwrap();
        s.write_all(GET).await.unwrap();
        assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200 "));
        open.push(s);
    }
    for _ in 0..2 {
        let answer = until_closed(&gw, GET).await;
        assert!(answer.starts_with("HTTP/1.1 503 "), "{answer:?}");
        assert!(
            answer.to_ascii_lowercase().contains("\r\nconnection: close\r\n"),
            "{answer:?}"
        );
        assert!(answer.ends_with("\r\n\r\ntoo many connections\n"), "{answer:?}");
    }
    let metrics = GatewayMetrics::of(&gw.gateway).unwrap();
    let m = parse(&metrics.prometheus());
    assert_eq!(m.value("graygate_connections_refused_total", &[]), 2.0);
    assert_eq!(m.value("graygate_connections_open", &[]), 4.0);

    open.truncate(2);
    eventually("two connections are free again", || {
        let g = &gw;
        async move { g.gateway.connections().open() == 2 }
    })
    .await;
    assert_eq!(gw.get("/", &[]).await.status, 200, "served again");
    assert_eq!(rec.requests().len(), 5, "refused connections forwarded nothing");
}

/// Rule: a client that announces 100,000 bytes, sends 10 and leaves does
/// not hurt the gateway, and the upstream connection it used is not reused
/// half-written: the next requests arrive well framed.
#[tokio::test]
async fn a_client_aborting_mid_upload_leaves_no_broken_upstream_connection() {
    let rec = Recorder::start("up").await;
    let gw = gateway_to(&rec, "").await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789")
        .await
        .unwrap();
    eventually("the upload reached the upstream", || {
        let r = &rec;
        async move { r.received().contains("0123456789") }
    })
    .await;
    drop(s);
    for _ in 0..5 {
        assert_eq!(gw.get("/", &[]).await.status, 200);
    }
    let gets = rec.requests().iter().filter(|(m, p, _)| m == "GET" && p == "/").count();
    assert_eq!(gets, 5, "{:?}", rec.requests());
    let heads = rec.heads();
    heads.iter().for_each(|h| assert_unambiguous(h));
    assert_eq!(heads.len(), 6, "the upload, then five well-framed requests: {heads:?}");
}

/// Rule: a client that reads part of a large download and leaves does not
/// hurt the gateway; the half-read upstream connection is not reused.
#[tokio::test]
async fn a_client_aborting_mid_download_leaves_no_broken_upstream_connection() {
    let a = Backend::start("v1").await.unwrap();
    let policy = format!(
        "[groups.g]\nservers = [{{ addr = \"{}\" }}]\n[[routes]]\nname = \"web\"\ndefault = \"g\"\n",
        a.addr()
    );
    let gw = start(&config("", &policy)).await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"GET /_demo/bytes/50000000 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = 0;
    let mut buf = [0u8; 65536];
    while got < 200_000 {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the download ended early");
        got += n;
    }
    drop(s);
    for _ in 0..5 {
        let r = gw.get("/", &[]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.backend(), "v1");
    }
    let r = gw.get("/_demo/bytes/100000", &[]).await;
    assert_eq!(r.body.len(), 100_000, "a whole body after the aborted one");
}
