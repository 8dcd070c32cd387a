//! Starting gateways and backends, and a small HTTP client.

use bytes::Bytes;
use graygate::demo::Backend;
use graygate_proxy::{Config, Gateway, Server, StickyKey};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::oneshot;

/// A gateway serving on a free loopback port; stops when dropped.
pub(crate) struct Gw {
    pub addr: SocketAddr,
    pub gateway: Arc<Gateway>,
    stop: Option<oneshot::Sender<()>>,
    pub client: Client<HttpConnector, TestBody>,
}

impl Drop for Gw {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The `[gateway]` table every test starts from, then `extra` lines.
pub(crate) fn config(extra: &str, policy: &str) -> String {
    // Quiet unless the test is about the access log.
    let log = if extra.contains("access_log =") {
        ""
    } else {
        "access_log = \"off\"\n"
    };
    format!(
        "[gateway]\nlisten = \"127.0.0.1:0\"\n{log}sticky_secret = \"e2e-secret-0123456789\"\nshutdown_timeout_secs = 1\n{extra}\n\n{policy}"
    )
}

/// Starts a gateway on `config` text (see [`config`]).
pub(crate) async fn start(src: &str) -> Gw {
    let cfg = Config::from_toml(src, 1).unwrap_or_else(|e| panic!("test config invalid:\n{e}\n{src}"));
    let gateway = Gateway::with_key(cfg, StickyKey::new(b"e2e-secret-0123456789")).unwrap();
    let server = Server::bind(gateway.clone()).await.unwrap();
    Gw::serving(server)
}

impl Gw {
    /// Serves `server` until the returned `Gw` is dropped or shut down.
    pub(crate) fn serving(server: Server) -> Gw {
        let addr = server.local_addr().unwrap();
        let gateway = server.gateway().clone();
        let (tx, rx) = oneshot::channel();
        tokio::spawn(server.serve(async {
            let _ = rx.await;
        }));
        Gw {
            addr,
            gateway,
            stop: Some(tx),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

/// Two backends named `v1` and `v2`.
pub(crate) async fn backends() -> (Backend, Backend) {
    (Backend::start("v1").await.unwrap(), Backend::start("v2").await.unwrap())
}

/// A policy with groups v1 and v2 (one server each) and one route `web`
/// with the given extra route keys and rules.
pub(crate) fn two_groups(v1: &Backend, v2: &Backend, route_extra: &str, rules: &str) -> String {
    format!(
        "[groups.v1]\nservers = [{{ addr = \"{}\" }}]\n[groups.v2]\nservers = [{{ addr = \"{}\" }}]\n\n[[routes]]\nname = \"web\"\ndefault = \"v1\"\n{route_extra}\n{rules}",
        v1.addr(),
        v2.addr()
    )
}

/// A response, fully read.
#[derive(Debug)]
pub(crate) struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    /// A header's value, or "".
    pub(crate) fn h(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    /// The backend that answered (its body), trimmed.
    pub(crate) fn backend(&self) -> &str {
        self.body.trim()
    }
}

impl Gw {
    /// Stops accepting and drains, like SIGTERM.
    pub(crate) fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends a request; `headers` as pairs.
    pub(crate) async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: TestBody) -> Resp {
        let mut b = Request::builder().method(method).uri(self.url(path));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = self.client.request(b.body(body).unwrap()).await.unwrap();
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub(crate) async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send("GET", path, headers, TestBody::empty()).await
    }
}

/// Polls `f` every 20 ms until it holds; panics with `what` after 10 s.
pub(crate) async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..500 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never happened: {what}");
}

/// A free loopback address nobody listens on (bound, then released).
pub(crate) fn dead_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Request bodies for tests.
#[derive(Debug)]
pub(crate) enum TestBody {
    /// Bytes with a known length (Content-Length).
    Full(Option<Bytes>),
    /// `n` bytes of a repeating pattern, sent in 64 KiB frames; `exact`
    /// false means no length is announced (chunked).
    Pattern { left: u64, exact: bool },
    /// `frames` frames of 1 KiB, one every `every` (a slow client).
    Slow {
        frames: u32,
        every: Duration,
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
    },
}

impl TestBody {
    pub(crate) fn empty() -> TestBody {
        TestBody::Full(None)
    }
    pub(crate) fn text(s: &str) -> TestBody {
        TestBody::Full(Some(Bytes::copy_from_slice(s.as_bytes())))
    }
}

/// The byte at `i` of [`TestBody::Pattern`].
pub(crate) fn pattern_byte(i: u64) -> u8 {
    (i % 251) as u8
}

/// 251 × 261 = 65511 bytes: whole periods, so every frame starts at phase 0.
static PATTERN: std::sync::LazyLock<&'static [u8]> =
    std::sync::LazyLock::new(|| (0..251 * 261).map(pattern_byte).collect::<Vec<u8>>().leak());

impl Body for TestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(match self.get_mut() {
            TestBody::Slow { frames: 0, .. } => None,
            TestBody::Slow { frames, every, timer } => {
                let t = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(*every)));
                if t.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                *timer = None;
                *frames -= 1;
                Some(Ok(Frame::data(Bytes::from_static(&PATTERN[..1024]))))
            }
            TestBody::Full(b) => b.take().map(|b| Ok(Frame::data(b))),
            TestBody::Pattern { left: 0, .. } => None,
            TestBody::Pattern { left, .. } => {
                let k = (*left).min(PATTERN.len() as u64);
                *left -= k;
                Some(Ok(Frame::data(Bytes::from_static(&PATTERN[..k as usize]))))
            }
        })
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            TestBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            TestBody::Pattern { left, exact: true } => SizeHint::with_exact(*left),
            TestBody::Pattern { .. } | TestBody::Slow { .. } => SizeHint::default(),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            TestBody::Full(b) => b.is_none(),
            TestBody::Pattern { left, .. } => *left == 0,
            TestBody::Slow { frames, .. } => *frames == 0,
        }
    }
}

/// The FNV-1a hash the backend reports for a pattern body of `n` bytes.
pub(crate) fn pattern_fnv(n: u64) -> u64 {
    graygate::demo::fnv1a((0..n).map(pattern_byte), graygate::demo::FNV_START)
}

/// Sends raw bytes on a new connection and reads until the server closes or
/// `until` appears in the answer.
pub(crate) async fn raw(addr: SocketAddr, request: &[u8], until: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                out.extend_from_slice(&buf[..n]);
                if String::from_utf8_lossy(&out).contains(until) {
                    break;
                }
            }
            Err(_) => panic!("no answer within 10 s; got {:?}", String::from_utf8_lossy(&out)),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
