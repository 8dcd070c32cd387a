//! graygate's HTTP/1.1 client for the upstream leg, driven in the request's
//! own task (pingora's choice, not a connection task per upstream
//! connection as with hyper's client): the request head goes out as one
//! `write`, the response head is parsed from the same buffer that then
//! carries the body, and nothing crosses a channel or wakes another task.
//!
//! A connection is either in its server's pool (idle, nothing unread) or
//! owned by one request until its response body is read to the end
//! ([`UpstreamBody`]). What a server sends is held to nginx's rules: one
//! unambiguous framing, `chunked` the only transfer coding, a bounded head.

mod body;
mod fields;
mod head;

pub use body::UpstreamBody;
pub use fields::RawFields;
pub use head::{Framing, Head, ReqFraming, encode_request};

use super::ServerState;
use crate::body::ReqBody;
use crate::deadline::Deadline;
use crate::error::{ErrorKind, ProxyError};
use bytes::BytesMut;
use http::{Method, Response, StatusCode};
use http_body_util::BodyExt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The first read of a response: head and, usually, the whole small body.
const HEAD_READ: usize = 8 * 1024;

/// One connection to an upstream server, with the bytes read and not yet
/// used.
#[derive(Debug)]
pub struct Conn {
    io: TcpStream,
    buf: BytesMut,
    /// The read timeout's timer, kept for the connection's life (see
    /// [`within`]).
    timer: Option<Deadline>,
}

/// Where a connection returns after a complete response.
#[derive(Debug, Clone)]
pub struct Home {
    /// The server whose pool takes it.
    pub server: Arc<ServerState>,
    /// The pool's size limit.
    pub max_idle: usize,
}

/// A request that got no response.
#[derive(Debug)]
pub struct Failed {
    /// What happened.
    pub error: ProxyError,
    /// The connection failed before a single byte of a response arrived
    /// (closed or reset): a request that is safe to repeat may be sent again.
    pub unanswered: bool,
}

impl Failed {
    fn answered(error: ProxyError) -> Failed {
        Failed {
            error,
            unanswered: false,
        }
    }
}

impl Conn {
    /// A new connection on `io` (already connected, `TCP_NODELAY` set).
    pub fn new(io: TcpStream) -> Conn {
        Conn {
            io,
            buf: BytesMut::new(),
            timer: None,
        }
    }

    /// Whether an idle connection may carry a request: the server has not
    /// closed it and sent nothing. Costs a syscall only when the runtime saw
    /// the socket readable since its last read.
    pub fn is_reusable(&self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match self.io.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => {
                let mut probe = [0u8; 1];
                matches!(self.io.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }

    /// Reads more bytes into the buffer (room for `want`); 0 at the end.
    fn poll_fill(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<usize>> {
        crate::wire::poll_fill(&self.io, cx, &mut self.buf, want)
    }
}

/// One request on one connection: the head already encoded in `head`, then
/// the body (if any), and the response head. The read timeout measures
/// silence: while the request body still moves it starts again.
pub async fn exchange(
    mut conn: Conn,
    head: &[u8],
    body: Option<(ReqBody, ReqFraming)>,
    method: &Method,
    read: Duration,
    upgrade: bool,
    home: Option<Home>,
) -> Result<Response<UpstreamBody>, Failed> {
    if let Err(e) = conn.io.write_all(head).await {
        return Err(Failed {
            error: ProxyError::new(ErrorKind::UpstreamReset, e),
            unanswered: true,
        });
    }
    let (head, body_sent) = match body {
        None => match within(&mut conn.timer, read, read_head(&mut conn.io, &mut conn.buf, method)).await {
            Some(r) => (r?, true),
            None => return Err(Failed::answered(timed_out(read))),
        },
        Some((body, framing)) => send_and_read(&mut conn, body, framing, method, read).await?,
    };
    if head.parts.status == StatusCode::SWITCHING_PROTOCOLS {
        if !upgrade {
            return Err(Failed::answered(ProxyError::new(
                ErrorKind::UpstreamReset,
                "101 Switching Protocols to a request that asked for no upgrade",
            )));
        }
        return Ok(Response::from_parts(head.parts, UpstreamBody::upgrade(conn)));
    }
    let home = home.filter(|_| head.keep_alive && body_sent);
    Ok(Response::from_parts(
        head.parts,
        UpstreamBody::new(conn, head.framing, home).with_fields(head.raw),
    ))
}

/// `fut`'s output, or `None` when `limit` passed first.
///
/// Measured on the connection's own [`Deadline`] rather than a new
/// `tokio::time::timeout` per request, which would register a timer in the
/// runtime's wheel and deregister it again (two locks, ~0.7k instructions
/// a request); moving the deadline later costs a store, and the wheel sees
/// the timer again only when its old deadline comes, about once per `limit`
/// on a busy connection. A timer that fires while the connection sits in the
/// pool wakes a task that has moved on, harmlessly.
async fn within<F: Future>(timer: &mut Option<Deadline>, limit: Duration, fut: F) -> Option<F::Output> {
    let deadline = tokio::time::Instant::now() + limit;
    let timer = match timer {
        Some(t) => {
            t.set(deadline);
            t
        }
        None => timer.insert(Deadline::new(deadline)),
    };
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        timer.poll_passed(cx).map(|()| None)
    })
    .await
}

fn timed_out(read: Duration) -> ProxyError {
    ProxyError::new(
        ErrorKind::UpstreamTimeout,
        format!("no response head within {} ms", read.as_millis()),
    )
}

/// Sends the body while waiting for the response head: a server may answer
/// (a 413, say) before the whole body arrived. Then the rest of the body is
/// not sent, and the connection is not reused. Returns whether the body was
/// sent whole.
async fn send_and_read(
    conn: &mut Conn,
    mut body: ReqBody,
    framing: ReqFraming,
    method: &Method,
    read: Duration,
) -> Result<(Head, bool), Failed> {
    let progress = body.track();
    let Conn { io, buf, timer } = conn;
    let (mut rd, mut wr) = io.split();
    let mut send = std::pin::pin!(send_body(&mut wr, &mut body, framing));
    let mut recv = std::pin::pin!(read_head(&mut rd, buf, method));
    let mut sent = false;
    let mut seen = progress.as_ref().map_or(0, |p| p.get());
    loop {
        let step = within(timer, read, async {
            tokio::select! {
                biased;
                h = &mut recv => Ok(h),
                s = &mut send, if !sent => Err(s),
            }
        })
        .await;
        match step {
            Some(Ok(head)) => return head.map(|h| (h, sent)),
            Some(Err(Ok(()))) => sent = true,
            Some(Err(Err(e))) => return Err(Failed::answered(e)),
            None => match &progress {
                Some(p) if !sent && p.get() != seen => seen = p.get(),
                _ => return Err(Failed::answered(timed_out(read))),
            },
        }
    }
}

/// Writes the body in its framing. A failure to read the client's body is
/// the client's (400); a failure to write is the server's.
async fn send_body<W: AsyncWrite + Unpin>(
    wr: &mut W,
    body: &mut ReqBody,
    framing: ReqFraming,
) -> Result<(), ProxyError> {
    let reset = |e: io::Error| ProxyError::new(ErrorKind::UpstreamReset, e);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ProxyError::new(ErrorKind::BadRequest, e))?;
        let Ok(data) = frame.into_data() else { continue };
        if data.is_empty() {
            continue;
        }
        if framing == ReqFraming::Chunked {
            let mut size = [0; 18];
            wr.write_all(crate::wire::chunk_size_line(data.len(), &mut size))
                .await
                .map_err(reset)?;
            wr.write_all(&data).await.map_err(reset)?;
            wr.write_all(b"\r\n").await.map_err(reset)?;
        } else {
            wr.write_all(&data).await.map_err(reset)?;
        }
    }
    if framing == ReqFraming::Chunked {
        wr.write_all(b"0\r\n\r\n").await.map_err(reset)?;
    }
    Ok(())
}

/// Reads until a final response head is complete; interim (1xx) heads
/// other than 101 are skipped.
async fn read_head<R: AsyncRead + Unpin>(rd: &mut R, buf: &mut BytesMut, method: &Method) -> Result<Head, Failed> {
    let mut received = !buf.is_empty();
    loop {
        if !buf.is_empty() {
            match head::parse_response(buf, method) {
                Ok(Some(h))
                    if h.parts.status.is_informational() && h.parts.status != StatusCode::SWITCHING_PROTOCOLS =>
                {
                    continue;
                }
                Ok(Some(h)) => return Ok(h),
                Ok(None) if buf.len() > head::MAX_HEAD => {
                    return Err(Failed::answered(ProxyError::new(
                        ErrorKind::UpstreamReset,
                        head::HeadError::TooLarge,
                    )));
                }
                Ok(None) => {}
                Err(e) => return Err(Failed::answered(ProxyError::new(ErrorKind::UpstreamReset, e))),
            }
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(HEAD_READ);
        }
        let failed = |error| Failed {
            error,
            unanswered: !received,
        };
        match rd.read_buf(buf).await {
            Ok(0) => {
                return Err(failed(ProxyError::new(
                    ErrorKind::UpstreamReset,
                    "connection closed before a response head",
                )));
            }
            Ok(_) => received = true,
            Err(e) => return Err(failed(ProxyError::new(ErrorKind::UpstreamReset, e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    const READ: Duration = Duration::from_millis(100);

    /// A server that answers its connection's first request and then stays
    /// silent, holding the connection open.
    async fn answers_once() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await
                .unwrap();
            let _ = s.read(&mut buf).await;
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        (addr, task)
    }

    /// Rule: the read timeout holds on a reused connection too — the timer
    /// the connection keeps from its first request is re-armed for the next,
    /// so a server silent on its second request is a 504 after `read`.
    #[tokio::test]
    async fn a_reused_connection_times_out_a_silent_server() {
        let (addr, server) = answers_once().await;
        let state = Arc::new(ServerState::new(&addr.to_string()));
        let home = || {
            Some(Home {
                server: state.clone(),
                max_idle: 4,
            })
        };
        let head = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";
        let conn = state.connect(Duration::from_secs(1)).await.unwrap();
        let resp = exchange(conn, head, None, &Method::GET, READ, false, home())
            .await
            .unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"ok");
        let conn = state
            .pool
            .take(Duration::from_secs(60))
            .expect("the connection went back to the pool");
        assert!(conn.timer.is_some(), "the first request armed the connection's timer");

        let started = std::time::Instant::now();
        let err = exchange(conn, head, None, &Method::GET, READ, false, home())
            .await
            .expect_err("a silent server gets no response");
        assert_eq!(err.error.kind, ErrorKind::UpstreamTimeout);
        assert!(started.elapsed() >= READ, "not before the read timeout");
        server.abort();
    }
}
