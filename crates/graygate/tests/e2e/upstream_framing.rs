//! Issue 6: graygate's own HTTP/1.1 client on the upstream leg reads every
//! framing a server may use, and refuses what nginx refuses
//! (`docs/security.md`, Upstream responses). Each case is a raw scripted
//! server behind a gateway.

use super::harness::*;
use super::prom::parse;
use super::recorder::{Script, scripted};
use graygate_proxy::GatewayMetrics;
use http_body_util::BodyExt;
use std::net::SocketAddr;

pub(crate) async fn gateway_over(server: SocketAddr) -> Gw {
    let policy = format!(
        "[groups.g]\nservers = [{{ addr = \"{server}\" }}]\nmax_fails = 0\nread_timeout_ms = 2000\n[[routes]]\nname = \"web\"\ndefault = \"g\"\n"
    );
    start(&config("", &policy)).await
}

/// What a client gets through the gateway for one scripted answer.
async fn through(answer: &'static [u8]) -> Resp {
    let gw = gateway_over(scripted(Script::Answer(answer)).await).await;
    gw.get("/", &[]).await
}

#[tokio::test]
async fn chunked_close_delimited_and_interim_responses_arrive_whole() {
    let chunked = through(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
          HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Up: 1\r\n\r\n\
          5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    )
    .await;
    assert_eq!((chunked.status.as_u16(), chunked.body.as_str()), (200, "hello world"));
    assert_eq!(chunked.h("x-up"), "1");
    assert_eq!(chunked.h("x-trailer"), "", "trailers are dropped");

    let close = through(b"HTTP/1.0 200 OK\r\nX-Up: 2\r\n\r\nuntil the server closes").await;
    assert_eq!(
        (close.status.as_u16(), close.body.as_str()),
        (200, "until the server closes")
    );

    let dup = through(b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc").await;
    assert_eq!((dup.status.as_u16(), dup.body.as_str()), (201, "abc"));
}

#[tokio::test]
async fn ambiguous_or_unknown_response_framing_is_a_bad_gateway() {
    for bad in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX Bad: 1\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
        b"HTTP/2 200\r\n\r\n",
    ] {
        let r = through(bad).await;
        assert_eq!(r.status, 502, "{}", String::from_utf8_lossy(bad));
    }
    let huge: &'static [u8] = format!("HTTP/1.1 200 OK\r\nX-Big: {}\r\n\r\n", "a".repeat(70 * 1024))
        .into_bytes()
        .leak();
    assert_eq!(through(huge).await.status, 502, "a head over 64 KiB");
}

#[tokio::test]
async fn a_malformed_chunk_cuts_the_response_off_and_is_counted() {
    let gw = gateway_over(
        scripted(Script::Answer(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX",
        ))
        .await,
    )
    .await;
    let resp = gw
        .client
        .request(http::Request::get(gw.url("/")).body(TestBody::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the head had arrived");
    assert!(resp.into_body().collect().await.is_err(), "the client sees the cut");
    eventually("the cut is counted", || {
        let g = &gw;
        async move {
            let text = GatewayMetrics::of(&g.gateway).unwrap().prometheus();
            parse(&text).value("graygate_responses_cut_off_total", &[]) == 1.0
        }
    })
    .await;
}

/// Rule: the upstream's own header fields reach the client byte for byte
/// (name case, order, repeated fields), less the hop-by-hop ones; a decision
/// header graygate sets replaces the upstream's field of that name; a head
/// with bare-LF line ends is re-encoded with CRLF.
#[tokio::test]
async fn upstream_fields_are_forwarded_as_sent_less_hop_by_hop_and_replaced_decision_headers() {
    let answer: &'static [u8] = b"HTTP/1.1 200 OK\r\nX-Case:  Kept \r\nSet-Cookie: a=1\r\nConnection: keep-alive\r\n\
        Keep-Alive: timeout=5\r\nX-Graygate-Version: 999\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\nok";
    let get = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

    let gw = gateway_over(scripted(Script::Answer(answer)).await).await;
    let plain = raw(gw.addr, get, "\r\n\r\nok").await;
    assert!(
        plain.contains("\r\nX-Case:  Kept \r\nSet-Cookie: a=1\r\nX-Graygate-Version: 999\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n"),
        "{plain:?}"
    );
    assert!(
        !plain.contains("Keep-Alive") && !plain.contains("keep-alive"),
        "{plain:?}"
    );

    let server = scripted(Script::Answer(answer)).await;
    let policy = format!(
        "[groups.g]\nservers = [{{ addr = \"{server}\" }}]\nmax_fails = 0\n[[routes]]\nname = \"web\"\ndefault = \"g\"\n"
    );
    let gw = start(&config("decision_headers = true", &policy)).await;
    let decided = raw(gw.addr, get, "\r\n\r\nok").await;
    let lower = decided.to_ascii_lowercase();
    assert_eq!(lower.matches("x-graygate-version:").count(), 1, "{decided:?}");
    assert!(
        !decided.contains("999"),
        "graygate's version replaces the upstream's: {decided:?}"
    );
    assert!(lower.contains("x-graygate-group: g\r\n"), "{decided:?}");
    assert!(lower.contains("x-case: kept\r\n"), "{decided:?}");
    assert_eq!(lower.matches("set-cookie:").count(), 2, "{decided:?}");

    let bare: &'static [u8] = b"HTTP/1.1 200 OK\nX-Bare: 1\nContent-Length: 2\n\nok";
    let gw = gateway_over(scripted(Script::Answer(bare)).await).await;
    let fixed = raw(gw.addr, get, "\r\n\r\nok").await;
    assert!(fixed.contains("\r\nx-bare: 1\r\n"), "{fixed:?}");
    assert!(
        !fixed.replace("\r\n", "").contains('\n'),
        "no bare LF reaches the client: {fixed:?}"
    );
}
