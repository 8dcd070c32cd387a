//! The client-facing HTTP/1.1 leg, byte by byte: pipelining, HTTP/1.0,
//! `Connection: close`, request bodies in every framing and pace, responses
//! of unknown length, odd-but-valid heads, clients that leave early, and
//! graceful shutdown of idle connections. Each test speaks raw TCP, so it
//! pins what a client sees on the wire, whatever serves the connection.
//! (HEAD, `Expect`, upgrades and plain keep-alive are in `forwarding.rs`;
//! malformed input in `hostile_clients.rs`; timeouts and limits in
//! `hostile_conns.rs`.)

use super::forwarding::one_backend;
use super::harness::*;
use super::hostile_clients::{gateway_to, until_closed};
use super::hostile_conns::{closed_by_gateway, read_response};
use super::recorder::{Recorder, Script, assert_unambiguous, scripted};
use super::upstream_framing::gateway_over;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads from `s` until `done` holds for everything read; panics after 10 s
/// of silence or if the gateway closes first.
async fn read_until<R: AsyncRead + Unpin>(s: &mut R, what: &str, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    while !done(&out) {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => panic!("closed before {what}: {:?}", String::from_utf8_lossy(&out)),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!("no {what} within 10 s: {:?}", String::from_utf8_lossy(&out)),
        }
    }
    out
}

/// Reads one response that has a length (`Content-Length` or chunked; not
/// close-delimited) and returns its head, lower-cased, and its decoded body.
async fn read_framed(s: &mut TcpStream) -> (String, Vec<u8>) {
    let end_of_head = |b: &[u8]| b.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let mut out = read_until(s, "a response head", |b| end_of_head(b).is_some()).await;
    let start = end_of_head(&out).unwrap();
    let head = String::from_utf8_lossy(&out[..start]).to_ascii_lowercase();
    if head.contains("\r\ntransfer-encoding: chunked\r\n") {
        let rest = read_until(s, "the last chunk", |b| {
            [&out[start..], b].concat().ends_with(b"\r\n0\r\n\r\n")
        })
        .await;
        out.extend_from_slice(&rest);
        return (head, dechunk(&out[start..]));
    }
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap_or_else(|| panic!("neither chunked nor a length: {head:?}"))
        .trim()
        .parse()
        .unwrap();
    let rest = read_until(s, "the whole body", |b| out.len() - start + b.len() >= len).await;
    out.extend_from_slice(&rest);
    (head, out[start..start + len].to_vec())
}

/// The data of a chunked body (no trailers expected).
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").expect("a chunk-size line");
        let size = std::str::from_utf8(&b[..eol]).unwrap().split(';').next().unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return data;
        }
        data.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

/// The three groups `a`, `b`, `c`, each a recorder named so, routed by the
/// path prefixes `/a/`, `/b/`, `/c/`.
async fn three_recorders() -> (Gw, [Recorder; 3]) {
    let recs = [
        Recorder::start("a").await,
        Recorder::start("b").await,
        Recorder::start("c").await,
    ];
    let policy: String = ["a", "b", "c"]
        .iter()
        .zip(&recs)
        .map(|(n, r)| {
            format!(
                "[groups.{n}]\nservers = [{{ addr = \"{}\" }}]\n[[routes]]\nname = \"{n}\"\npath_prefix = \"/{n}/\"\ndefault = \"{n}\"\n",
                r.addr
            )
        })
        .collect();
    (start(&config("", &policy)).await, recs)
}

/// Rule: three requests written at once on one connection (pipelined) are
/// answered in order, each by its own upstream, and the connection stays
/// open for a fourth.
#[tokio::test]
async fn pipelined_requests_are_answered_in_order_on_a_connection_that_stays_open() {
    let (gw, recs) = three_recorders().await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(
        b"GET /c/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /a/2 HTTP/1.1\r\nHost: x\r\n\r\nGET /b/3 HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await
    .unwrap();
    let three = read_until(&mut s, "three answers", |b| {
        String::from_utf8_lossy(b).matches("\r\n\r\n").count() == 3 && b.ends_with(b"\r\n\r\nb\n")
    })
    .await;
    let text = String::from_utf8_lossy(&three);
    assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 3, "{text:?}");
    let at = |body: &str| text.find(&format!("\r\n\r\n{body}\n")).unwrap_or(usize::MAX);
    assert!(
        at("c") < at("a") && at("a") < at("b"),
        "answered out of order: {text:?}"
    );

    s.write_all(b"GET /a/4 HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let fourth = read_response(&mut s).await;
    assert!(
        fourth.starts_with("HTTP/1.1 200 ") && fourth.ends_with("\r\n\r\na\n"),
        "{fourth:?}"
    );
    let paths = |r: &Recorder| r.requests().into_iter().map(|(_, p, _)| p).collect::<Vec<_>>();
    assert_eq!(paths(&recs[0]), ["/a/2", "/a/4"]);
    assert_eq!(paths(&recs[1]), ["/b/3"]);
    assert_eq!(paths(&recs[2]), ["/c/1"]);
}

/// Rule: an HTTP/1.0 request is answered with graygate's own version,
/// `HTTP/1.1` (RFC 9110 §6.2, as nginx does). Without `Connection:
/// keep-alive` the answer says `connection: close` and the gateway closes;
/// with it, the answer carries `connection: keep-alive` and the connection
/// serves a next request.
#[tokio::test]
async fn http_1_0_closes_unless_the_client_asks_for_keep_alive() {
    let rec = Recorder::start("up").await;
    let gw = gateway_to(&rec, "").await;
    let answer = until_closed(&gw, b"GET /one HTTP/1.0\r\nHost: x\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
    assert!(answer.contains("\r\ncontent-length: 3\r\n"), "{answer:?}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer:?}");
    assert!(answer.ends_with("\r\n\r\nup\n"), "{answer:?}");

    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"GET /two HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        .await
        .unwrap();
    let kept = read_response(&mut s).await;
    assert!(kept.starts_with("HTTP/1.1 200 OK\r\n"), "{kept:?}");
    assert!(
        kept.to_ascii_lowercase().contains("\r\nconnection: keep-alive\r\n"),
        "{kept:?}"
    );
    // The next request, without keep-alive, is served on the same connection
    // and then the gateway closes it.
    s.write_all(b"GET /three HTTP/1.0\r\nHost: x\r\n\r\n").await.unwrap();
    let last = closed_by_gateway(&mut s).await;
    assert!(
        last.starts_with("HTTP/1.1 200 OK\r\n") && last.ends_with("\r\n\r\nup\n"),
        "{last:?}"
    );
    let paths: Vec<String> = rec.requests().into_iter().map(|(_, p, _)| p).collect();
    assert_eq!(paths, ["/one", "/two", "/three"]);
}

/// Rule: `Connection: close` from an HTTP/1.1 client is answered with
/// `connection: close` and the connection closed; a request pipelined
/// behind it is neither answered nor forwarded.
#[tokio::test]
async fn connection_close_is_answered_then_closed_and_nothing_behind_it_is_served() {
    let rec = Recorder::start("up").await;
    let gw = gateway_to(&rec, "").await;
    let answer = until_closed(
        &gw,
        b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /behind HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
    assert!(
        answer.to_ascii_lowercase().contains("\r\nconnection: close\r\n"),
        "{answer:?}"
    );
    assert!(answer.ends_with("\r\n\r\nup\n"), "one answer only: {answer:?}");
    assert_eq!(gw.get("/", &[]).await.status, 200, "the gateway still serves");
    let paths: Vec<String> = rec.requests().into_iter().map(|(_, p, _)| p).collect();
    assert_eq!(paths, ["/last", "/"]);
}

/// Rule: a chunked request body — several chunks, chunk extensions, a
/// trailer — reaches the upstream whole, byte for byte, and the connection
/// then serves a next request.
#[tokio::test]
async fn a_chunked_body_with_extensions_and_a_trailer_arrives_whole() {
    let (gw, _a) = one_backend().await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(
        b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;ext=1\r\nhello\r\n6\r\n world\r\n3;a=b;c=\"d e\"\r\n!!!\r\n0\r\nX-Trailer: t\r\n\r\n",
    )
    .await
    .unwrap();
    let answer = read_response(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");
    let fnv = graygate::demo::fnv1a(*b"hello world!!!", graygate::demo::FNV_START);
    assert!(answer.contains("\r\nx-body-bytes: 14\r\n"), "{answer:?}");
    assert!(answer.contains(&format!("\r\nx-body-fnv: {fnv}\r\n")), "{answer:?}");

    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let next = read_response(&mut s).await;
    assert!(
        next.starts_with("HTTP/1.1 200 ") && next.ends_with("\r\n\r\nv1\n"),
        "{next:?}"
    );
}

/// Rule: a request whose head and `Content-Length` body arrive in several
/// small writes with pauses between them reaches the upstream whole.
#[tokio::test]
async fn a_body_sent_in_small_pieces_arrives_whole() {
    let (gw, _a) = one_backend().await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    for piece in [
        &b"POST / HTTP/1.1\r\nHost: x\r\nCont"[..],
        b"ent-Length: 17\r\n\r\nhello",
        b" small",
        b" world",
    ] {
        s.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = read_response(&mut s).await;
    let fnv = graygate::demo::fnv1a(*b"hello small world", graygate::demo::FNV_START);
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");
    assert!(answer.contains("\r\nx-body-bytes: 17\r\n"), "{answer:?}");
    assert!(answer.contains(&format!("\r\nx-body-fnv: {fnv}\r\n")), "{answer:?}");
}

/// HTTP/1.1 answers whose length is not known from their head: chunked
/// (with a chunk extension), and delimited by the upstream closing.
const UNKNOWN_LENGTH: [(&str, &[u8]); 2] = [
    (
        "chunked",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    ),
    ("close-delimited", b"HTTP/1.1 200 OK\r\n\r\nhello world"),
];

/// Rule: an HTTP/1.1 upstream's answer of unknown length in advance —
/// chunked (with an extension), or delimited by the upstream closing —
/// reaches an HTTP/1.1 client framed by the gateway — chunked or with a
/// length (`read_framed` refuses anything else; today: re-chunked, chunk
/// extension dropped) — with the same bytes, and the client connection stays
/// open for a next request.
#[tokio::test]
async fn an_answer_of_unknown_length_is_framed_for_the_client_and_keeps_the_connection() {
    for (what, answer) in UNKNOWN_LENGTH {
        let up = scripted(Script::Answer(answer)).await;
        let gw = gateway_over(up).await;
        let mut s = TcpStream::connect(gw.addr).await.unwrap();
        for round in ["first", "second"] {
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            let (head, body) = read_framed(&mut s).await;
            assert!(head.starts_with("http/1.1 200 ok\r\n"), "{what}, {round}: {head:?}");
            assert!(!head.contains("\r\nconnection: close\r\n"), "{what}, {round}: {head:?}");
            assert_eq!(body, b"hello world", "{what}, {round}");
        }
    }
}

/// Rule: an answer of unknown length to an HTTP/1.0 client — which has no
/// chunked coding — has no length, the same bytes, and ends with the
/// gateway closing, even when the client asked for keep-alive: its head
/// says `connection: close`.
#[tokio::test]
async fn an_answer_of_unknown_length_to_http_1_0_is_close_delimited() {
    for (what, answer) in UNKNOWN_LENGTH {
        let gw = gateway_over(scripted(Script::Answer(answer)).await).await;
        for connection in ["", "Connection: keep-alive\r\n"] {
            let request = format!("GET / HTTP/1.0\r\nHost: x\r\n{connection}\r\n");
            let answer = until_closed(&gw, request.as_bytes()).await;
            assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{what}: {answer:?}");
            let head = answer.to_ascii_lowercase();
            assert!(head.contains("\r\nconnection: close\r\n"), "{what}: {answer:?}");
            assert!(
                !head.contains("\r\ncontent-length:") && !head.contains("\r\ntransfer-encoding:"),
                "{what}: {answer:?}"
            );
            assert!(answer.ends_with("\r\n\r\nhello world"), "{what}: {answer:?}");
        }
    }
}

/// Rule: an HTTP/1.0 upstream's close-delimited answer reaches an
/// HTTP/1.1 client with graygate's own version (RFC 9110 §6.2), re-chunked,
/// and the client connection stays open for a next request.
#[tokio::test]
async fn an_http_1_0_upstreams_close_delimited_answer_is_re_chunked_for_the_client() {
    let up = scripted(Script::Answer(b"HTTP/1.0 200 OK\r\n\r\nuntil the server closes")).await;
    let gw = gateway_over(up).await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    for round in ["first", "second"] {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let (head, body) = read_framed(&mut s).await;
        assert!(head.starts_with("http/1.1 200 ok\r\n"), "{round}: {head:?}");
        assert!(head.contains("\r\ntransfer-encoding: chunked\r\n"), "{round}: {head:?}");
        assert_eq!(body, b"until the server closes", "{round}");
    }
}

/// Rule: header names are matched in any case, values lose the spaces and
/// tabs around them, and an absolute-form target reaches the upstream in
/// origin form with its query.
#[tokio::test]
async fn odd_but_valid_heads_are_read_as_their_plain_forms() {
    let rec = Recorder::start("up").await;
    let gw = gateway_to(&rec, "").await;
    let answer = until_closed(
        &gw,
        b"GET http://abs.example/p?q=1 HTTP/1.1\r\nhost: abs.example\r\nx-padded: \t padded value \t\r\n\r\n\
          POST /two HTTP/1.1\r\nHOST: x\r\ncOnTeNt-LeNgTh: 4\r\n\r\nabcd\
          POST /three HTTP/1.1\r\nhost: x\r\ntransfer-encoding: Chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n\
          GET /four HTTP/1.1\r\nhost: x\r\nCONNECTION: CLOSE\r\n\r\n",
    )
    .await;
    assert_eq!(answer.matches("HTTP/1.1 200 OK\r\n").count(), 4, "{answer:?}");
    let seen = rec.requests();
    let want = [
        ("GET", "/p", 0),
        ("POST", "/two", 4),
        ("POST", "/three", 3),
        ("GET", "/four", 0),
    ];
    assert_eq!(seen.len(), want.len(), "{seen:?}");
    for ((m, p, n), (wm, wp, wn)) in seen.iter().zip(want) {
        assert_eq!((m.as_str(), p.as_str(), *n), (wm, wp, wn), "{seen:?}");
    }
    let heads = rec.heads();
    assert!(heads[0].starts_with("get /p?q=1 http/1.1\n"), "{heads:?}");
    assert!(heads[0].contains("\nhost: abs.example\n"), "{heads:?}");
    assert!(heads[0].contains("\nx-padded: padded value\n"), "{heads:?}");
    heads.iter().for_each(|h| assert_unambiguous(h));
}

/// Rule: an absolute-form target's authority is the request's host (RFC
/// 9112 §3.2.2, nginx's `$host`): the upstream gets it as `Host`, without
/// its `user@` part, in place of the `Host` the client sent.
#[tokio::test]
async fn an_absolute_form_targets_authority_replaces_the_host_field() {
    let rec = Recorder::start("up").await;
    let gw = gateway_to(&rec, "").await;
    let request = b"GET http://u@abs.example:8080/p?q=1 HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n";
    let answer = until_closed(&gw, request).await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");
    let heads = rec.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(heads[0].contains("\nhost: abs.example:8080\n"), "{heads:?}");
    assert!(!heads[0].contains("other.example"), "{heads:?}");
    assert_eq!(rec.requests()[0].1, "/p");
}

/// Rule: clients that leave mid-head, right after a whole request (before
/// the answer), or half-close after one, do not disturb the gateway: the
/// partial head is never forwarded, the half-closed connection gets its
/// answer (as from nginx) and is closed, and afterwards requests are served
/// well framed.
#[tokio::test]
async fn clients_leaving_early_do_not_disturb_the_gateway() {
    let rec = Recorder::start("up").await;
    let gw = gateway_to(&rec, "").await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"GET /partial HTTP/1.1\r\nHost: x\r\nX-A: ").await.unwrap();
    drop(s);
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"POST /abandoned HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab")
        .await
        .unwrap();
    drop(s);
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"GET /half HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    s.shutdown().await.unwrap();
    let half = closed_by_gateway(&mut s).await;
    assert!(half.starts_with("HTTP/1.1 200 ") && half.ends_with("up\n"), "{half:?}");

    for _ in 0..3 {
        let answer = until_closed(&gw, b"GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        assert!(
            answer.starts_with("HTTP/1.1 200 ") && answer.ends_with("up\n"),
            "{answer:?}"
        );
    }
    let seen = rec.requests();
    assert!(seen.iter().all(|(_, p, _)| p != "/partial"), "{seen:?}");
    assert_eq!(seen.iter().filter(|(_, p, _)| p == "/after").count(), 3, "{seen:?}");
    rec.heads().iter().for_each(|h| assert_unambiguous(h));
}

/// Rule: empty lines before a request line are ignored (RFC 9112 §2.2): one
/// CRLF, two, a bare LF, and a CRLF after a body (before the next request
/// on the connection) all leave the requests served in order.
#[tokio::test]
async fn empty_lines_before_a_request_line_are_ignored() {
    let rec = Recorder::start("up").await;
    let gw = gateway_to(&rec, "").await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    for request in [
        &b"\r\nGET /one HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\nGET /three HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /four HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab\r\n",
        b"GET /five HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        s.write_all(request).await.unwrap();
        let answer = read_response(&mut s).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
    }
    let seen: Vec<(String, usize)> = rec.requests().into_iter().map(|(_, p, n)| (p, n)).collect();
    let want = [("/one", 0), ("/two", 0), ("/three", 0), ("/four", 2), ("/five", 0)];
    assert_eq!(seen, want.map(|(p, n)| (p.to_owned(), n)));
}

/// Rule: on graceful shutdown an idle keep-alive connection, and one that
/// has not sent a byte yet, are closed promptly — not left to the idle or
/// head timeouts, set far away here.
#[tokio::test]
async fn graceful_shutdown_closes_idle_connections() {
    let rec = Recorder::start("up").await;
    let mut gw = gateway_to(&rec, "idle_timeout_ms = 600000\nclient_timeout_ms = 600000").await;
    let mut idle = TcpStream::connect(gw.addr).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert!(read_response(&mut idle).await.starts_with("HTTP/1.1 200 "));
    let mut silent = TcpStream::connect(gw.addr).await.unwrap();
    eventually("both connections are accepted", || {
        let g = &gw;
        async move { g.gateway.connections().open() == 2 }
    })
    .await;
    gw.shutdown();
    assert_eq!(closed_by_gateway(&mut idle).await, "", "the idle connection");
    assert_eq!(closed_by_gateway(&mut silent).await, "", "the silent connection");
}

/// Rule: when the upstream answers without reading the request body, a
/// client that sent all of a 100,000-byte body gets that answer, and the
/// gateway serves new connections afterwards. (Whether the client's
/// connection is kept is not asserted. The upstream says `Connection:
/// close` and holds its connection open unread, so it is never reused.)
#[tokio::test]
async fn an_answer_before_the_body_is_read_reaches_the_client() {
    let up = scripted(Script::AnswerAndHold(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nearly",
    ))
    .await;
    let gw = gateway_over(up).await;
    let mut request = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".to_vec();
    request.extend(std::iter::repeat_n(b'z', 100_000));
    let (mut rd, mut wr) = TcpStream::connect(gw.addr).await.unwrap().into_split();
    // Written beside the read: a gateway that stops reading the body must
    // not keep the answer from being read.
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&request).await;
        wr
    });
    let answer = read_until(&mut rd, "the early answer", |b| b.ends_with(b"early")).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");
    for _ in 0..2 {
        let mut fresh = TcpStream::connect(gw.addr).await.unwrap();
        fresh.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let next = read_response(&mut fresh).await;
        assert!(
            next.starts_with("HTTP/1.1 200 ") && next.ends_with("\r\n\r\nearly"),
            "{next:?}"
        );
    }
    writer.abort();
}
