//! A demo backend: a small HTTP/1.1 server on loopback that says which
//! version it is, reports what the gateway sent it, and has a few endpoints
//! for tests (slow answers, large downloads, a health switch).
//!
//! | path | answer |
//! |---|---|
//! | any | `<name>\n`; headers `x-backend`, `x-seen-*` (tag, forwarding headers, host; `x-seen-headers` lists every header name received), `x-body-bytes` and `x-body-fnv` of the request body (streamed, not stored) |
//! | `/healthz` | 200, or 503 after [`Backend::set_healthy`]`(false)` |
//! | `/_demo/sleep/<ms>` | the normal answer after `ms` milliseconds |
//! | `/_demo/bytes/<n>` | `n` zero bytes, streamed |
//! | `/_demo/status/<code>` | an empty answer with that status |

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// A running demo backend; stops (closing every connection) when dropped.
#[derive(Debug)]
pub struct Backend {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct State {
    name: String,
    healthy: AtomicBool,
    requests: AtomicU64,
    connections: AtomicU64,
}

impl Backend {
    /// Starts a backend named `name` on a free loopback port.
    pub async fn start(name: &str) -> io::Result<Backend> {
        Backend::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), name).await
    }

    /// Starts a backend named `name` on `addr`.
    pub async fn start_on(addr: SocketAddr, name: &str) -> io::Result<Backend> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            name: name.to_owned(),
            healthy: AtomicBool::new(true),
            requests: AtomicU64::new(0),
            connections: AtomicU64::new(0),
        });
        let st = state.clone();
        let task = tokio::spawn(async move {
            // Dropping the set when this task is aborted aborts every connection.
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                st.connections.fetch_add(1, Relaxed);
                let st = st.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req| handle(st.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades()
                        .await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(Backend { addr, state, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its name, the body of its answers.
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// Makes `/healthz` answer 200 (true) or 503 (false).
    pub fn set_healthy(&self, healthy: bool) {
        self.state.healthy.store(healthy, Relaxed);
    }

    /// Requests served so far (health checks excluded).
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Relaxed)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Relaxed)
    }

    /// Stops listening and closes every connection.
    pub async fn stop(self) {
        self.task.abort();
        let _ = (&mut { self }.task).await;
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(st: Arc<State>, req: Request<Incoming>) -> Result<Response<DemoBody>, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/healthz" {
        let status = if st.healthy.load(Relaxed) {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return Ok(with_status(status, DemoBody::text("health\n")));
    }
    st.requests.fetch_add(1, Relaxed);
    if let Some(n) = path.strip_prefix("/_demo/bytes/").and_then(|n| n.parse().ok()) {
        return Ok(Response::new(DemoBody::Zeros(n)));
    }
    if let Some(code) = path.strip_prefix("/_demo/status/").and_then(|c| c.parse::<u16>().ok()) {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Ok(with_status(status, DemoBody::text("")));
    }
    if let Some(ms) = path.strip_prefix("/_demo/sleep/").and_then(|m| m.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let seen: Vec<(String, http::HeaderValue)> = [
        "x-gray-tag",
        "x-forwarded-for",
        "x-real-ip",
        "x-forwarded-proto",
        "host",
    ]
    .iter()
    .filter_map(|h| Some((format!("x-seen-{h}"), req.headers().get(*h)?.clone())))
    .collect();
    let names: Vec<&str> = req.headers().keys().map(|k| k.as_str()).collect();
    let names = http::HeaderValue::from_str(&names.join(",")).ok();
    // Count and hash the body as it streams, without keeping it.
    let mut body = req.into_body();
    let (mut len, mut fnv) = (0u64, 0xcbf2_9ce4_8422_2325u64);
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Ok(data) = frame.into_data() {
            len += data.len() as u64;
            for b in data.iter() {
                fnv = (fnv ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
            }
        }
    }
    let mut resp = Response::new(DemoBody::Text(Some(Bytes::from(format!("{}\n", st.name)))));
    let h = resp.headers_mut();
    if let Ok(v) = st.name.parse() {
        h.insert("x-backend", v);
    }
    for (k, v) in seen {
        if let Ok(k) = http::HeaderName::from_bytes(k.as_bytes()) {
            h.insert(k, v);
        }
    }
    if let Some(names) = names {
        h.insert("x-seen-headers", names);
    }
    h.insert("x-body-bytes", len.into());
    h.insert("x-body-fnv", fnv.into());
    Ok(resp)
}

fn with_status(status: StatusCode, body: DemoBody) -> Response<DemoBody> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r
}

/// FNV-1a 64 of `data`, as the backend reports it in `x-body-fnv`.
pub fn fnv1a(data: impl IntoIterator<Item = u8>, mut h: u64) -> u64 {
    for b in data {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// The FNV-1a 64 offset basis.
pub const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// A demo answer body.
#[derive(Debug)]
pub enum DemoBody {
    /// A short text.
    Text(Option<Bytes>),
    /// This many zero bytes, streamed in 64 KiB frames.
    Zeros(u64),
}

impl DemoBody {
    fn text(s: &'static str) -> DemoBody {
        DemoBody::Text(Some(Bytes::from_static(s.as_bytes())))
    }
}

impl Body for DemoBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(match self.get_mut() {
            DemoBody::Text(t) => t.take().map(|t| Ok(Frame::data(t))),
            DemoBody::Zeros(0) => None,
            DemoBody::Zeros(n) => {
                let k = (*n).min(ZEROS.len() as u64);
                *n -= k;
                Some(Ok(Frame::data(Bytes::from_static(&ZEROS[..k as usize]))))
            }
        })
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            DemoBody::Text(t) => SizeHint::with_exact(t.as_ref().map_or(0, |t| t.len() as u64)),
            DemoBody::Zeros(n) => SizeHint::with_exact(*n),
        }
    }
}
