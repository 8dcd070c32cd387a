//! Issue 7, hostile clients: malformed and ambiguous requests. Each is
//! answered with a clear status and never reaches the upstream as anything
//! but a well-framed request; afterwards the gateway still serves.
//! (Connection-level abuse — slow heads, idle, limits, aborts — is in
//! `hostile_conns.rs`.)

use super::harness::*;
use super::recorder::{Recorder, assert_unambiguous};

/// A gateway whose only group is the recorder.
pub(crate) async fn gateway_to(rec: &Recorder, extra: &str) -> Gw {
    let policy = format!(
        "[groups.g]\nservers = [{{ addr = \"{}\" }}]\n[[routes]]\nname = \"web\"\ndefault = \"g\"\n",
        rec.addr
    );
    start(&config(extra, &policy)).await
}

/// Writes `request` on a new connection and reads until the gateway closes it.
pub(crate) async fn until_closed(gw: &Gw, request: &[u8]) -> String {
    raw(gw.addr, request, "\0never\0").await
}

/// Rule: every framing a front and a back end could read differently is
/// refused with 400 before anything is forwarded, and the connection closed.
#[tokio::test]
async fn ambiguous_framing_is_refused_and_never_forwarded() {
    let rec = Recorder::start("up").await;
    let gw = gateway_to(&rec, "").await;
    let cases: &[(&str, &str)] = &[
        (
            "two different Content-Lengths",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        ),
        (
            "a Content-Length list",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\nab",
        ),
        (
            "a signed Content-Length",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\nabcd",
        ),
        (
            "an overflowing Content-Length",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\nab",
        ),
        (
            "chunked not the last coding",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        ),
        (
            "an unknown coding",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "whitespace before the colon",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "an obs-fold continuation",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "Transfer-Encoding on HTTP/1.0",
            "POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
    ];
    for (what, request) in cases {
        let answer = until_closed(&gw, request.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 400 "), "{what}: {answer:?}");
        assert_eq!(gw.get("/", &[]).await.status, 200, "{what}: the gateway still serves");
    }
    let seen = rec.requests();
    assert_eq!(seen.len(), cases.len(), "only the control requests arrived: {seen:?}");
    assert!(seen.iter().all(|(m, p, _)| m == "GET" && p == "/"), "{seen:?}");
}

/// Rule: with both `Content-Length` and `Transfer-Encoding: chunked` (either
/// order), the chunked framing wins (RFC 9112 §6.3) and the upstream gets
/// one request framed by the gateway alone — never both headers.
#[tokio::test]
async fn content_length_beside_chunked_reaches_the_upstream_as_chunked_alone() {
    let rec = Recorder::start("up").await;
    let gw = gateway_to(&rec, "").await;
    let body = "5\r\nhello\r\n0\r\n\r\n";
    for (path, framing) in [
        ("/cl-first", "Content-Length: 4\r\nTransfer-Encoding: chunked"),
        ("/te-first", "Transfer-Encoding: chunked\r\nContent-Length: 4"),
    ] {
        // No `Connection: close`: the gateway closes after answering such a
        // request itself (RFC 9112 §6.1), or `until_closed` fails.
        let request = format!("POST {path} HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n{body}");
        let answer = until_closed(&gw, request.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 200 "), "{path}: {answer:?}");
    }
    let seen = rec.requests();
    assert_eq!(
        seen,
        [
            ("POST".to_owned(), "/cl-first".to_owned(), 5),
            ("POST".to_owned(), "/te-first".to_owned(), 5)
        ]
    );
    let heads = rec.heads();
    assert_eq!(heads.len(), 2, "{heads:?}");
    heads.iter().for_each(|h| assert_unambiguous(h));
}

/// Rule: a request hidden behind a chunked body's end is not smuggled inside
/// the first one: it is the client's next request, decided and forwarded on
/// its own, each re-framed by the gateway.
#[tokio::test]
async fn a_request_behind_a_chunked_body_is_a_separate_request() {
    let rec = Recorder::start("up").await;
    let gw = gateway_to(&rec, "").await;
    let request = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let answer = until_closed(&gw, request).await;
    assert_eq!(answer.matches("HTTP/1.1 200 ").count(), 2, "{answer:?}");
    let seen = rec.requests();
    assert_eq!(
        seen,
        [
            ("POST".to_owned(), "/".to_owned(), 0),
            ("GET".to_owned(), "/admin".to_owned(), 0)
        ]
    );
    let heads = rec.heads();
    assert_eq!(heads.len(), 2, "{heads:?}");
    heads.iter().for_each(|h| assert_unambiguous(h));
}

/// Rule: invalid methods, header bytes and request lines, and an HTTP/1.1
/// head without exactly one `Host` (RFC 9112 §3.2, as nginx), are answered
/// 400 (oversized URIs and too many fields 431) and nothing is forwarded.
#[tokio::test]
async fn invalid_bytes_and_oversized_heads_are_refused_and_never_forwarded() {
    let rec = Recorder::start("up").await;
    let gw = gateway_to(&rec, "max_header_bytes = 8192").await;
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(20_000));
    let many: String = (0..101).map(|i| format!("X-F{i}: 1\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a method that is not a token",
            b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            "400",
        ),
        (
            "a NUL in a value",
            b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n".to_vec(),
            "400",
        ),
        (
            "a bare CR in a value",
            b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n".to_vec(),
            "400",
        ),
        (
            "a name that is not a token",
            b"GET / HTTP/1.1\r\nHost: x\r\nX(A): b\r\n\r\n".to_vec(),
            "400",
        ),
        (
            "a space in the target",
            b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            "400",
        ),
        (
            "an HTTP/1.1 request without Host",
            b"GET / HTTP/1.1\r\nX-A: 1\r\n\r\n".to_vec(),
            "400",
        ),
        (
            "two Host fields",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
            "400",
        ),
        (
            "an unknown version",
            b"GET / HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(),
            "400",
        ),
        (
            "TLS on the plain port",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
            "400",
        ),
        ("a URI over the head limit", long_uri.into_bytes(), "431"),
        ("101 header fields", many.into_bytes(), "431"),
    ];
    for (what, request, status) in &cases {
        let answer = until_closed(&gw, request).await;
        assert!(answer.starts_with(&format!("HTTP/1.1 {status} ")), "{what}: {answer:?}");
        assert_eq!(gw.get("/", &[]).await.status, 200, "{what}: the gateway still serves");
    }
    assert_eq!(rec.requests().len(), cases.len(), "only the control requests arrived");
}
