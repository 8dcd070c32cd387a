//! One client connection, served HTTP/1.1 by graygate itself: heads read
//! under two timeouts, each request handed to [`forward::handle`] and its
//! response written, keep-alive, pipelining, `Expect: 100-continue`,
//! upgrades, and a graceful close.
//!
//! Timeouts are nginx's pair (`client_header_timeout`, `keepalive_timeout`):
//! the first head of a connection must be complete within `client_timeout`
//! of the accept; between requests the connection may stay idle for
//! `idle_timeout`, and from the first byte of the next request its head has
//! `client_timeout`. A connection keeps one timer for its life and moves its
//! deadline for each wait ([`Deadline`]: a later deadline costs a store).
//! When a timeout fires the connection is closed unanswered.

use super::body::{ClientBody, OnUpgrade, Returned, Upgraded};
use super::request::{self, HeadError};
use super::response::{self, Ask, WriteError};
use crate::deadline::Deadline;
use crate::forward::{self, Peer};
use crate::gateway::Gateway;
use crate::wire::poll_fill;
use bytes::BytesMut;
use http::{Method, Request, StatusCode, Version};
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// Bytes asked of the socket per head read.
const HEAD_READ: usize = 4 * 1024;
/// How long an unfinished request body is drained after its answer, so
/// that closing does not reset the connection before the client read it
/// (nginx's `lingering_timeout`).
const LINGER: Duration = Duration::from_secs(2);
/// At most this much of it is read.
const LINGER_BYTES: usize = 1 << 20;

/// What ended the wait for a head.
#[derive(Debug)]
enum Ended {
    /// The client closed (or its socket failed).
    Closed,
    /// No head began within `idle_timeout` of the last response.
    Idle,
    /// A head did not complete within `client_timeout`.
    Slow,
    /// Shutdown, while the connection was idle.
    Stopped,
    Bad(HeadError),
}

/// One connection's socket, buffers and timer.
struct Conn {
    io: Arc<TcpStream>,
    /// Read, not yet parsed: a partial head, or what was pipelined.
    buf: BytesMut,
    /// Response bytes gathered for the next write.
    out: Vec<u8>,
    timer: Deadline,
    spans: request::Spans,
    head_timeout: Duration,
    idle_timeout: Duration,
    max_head: usize,
}

/// Serves `stream` until the client closes, a timeout fires, a request
/// asks to close, or `stop` turns while the connection is idle.
pub(super) async fn serve(gw: Arc<Gateway>, stream: TcpStream, peer: SocketAddr, stop: watch::Receiver<bool>) {
    let settings = &gw.snapshot().settings;
    let mut conn = Conn {
        io: Arc::new(stream),
        buf: BytesMut::new(),
        out: Vec::new(),
        timer: Deadline::new(Instant::now() + settings.client_timeout),
        spans: Vec::new(),
        head_timeout: settings.client_timeout,
        idle_timeout: settings.idle_timeout,
        max_head: settings.raw.max_header_bytes,
    };
    let peer = Peer::new(peer);
    let mut idle_stop = stop.clone();
    let mut stopped = pin!(idle_stop.changed());
    let mut first = true;
    loop {
        let head = match conn.read_head(first, stopped.as_mut()).await {
            Ok(head) => head,
            Err(ended) => return conn.ended(&peer, ended).await,
        };
        first = false;
        let request::Head {
            mut parts,
            framing,
            keep_alive,
            expect_continue,
            upgrade,
        } = head;
        let (body, returned) = ClientBody::new(&conn.io, &mut conn.buf, framing, expect_continue);
        let upgraded = upgrade.then(|| {
            let (tx, rx) = oneshot::channel();
            parts.extensions.insert(OnUpgrade::new(rx));
            tx
        });
        let ask = Ask {
            head: parts.method == Method::HEAD,
            http10: parts.version == Version::HTTP_10,
            keep_alive,
        };
        let resp = forward::handle(&gw, &peer, Request::from_parts(parts, body)).await;
        let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
        let body_read = conn.take_back(returned);
        let ask = Ask {
            keep_alive: ask.keep_alive && body_read && !stop.has_changed().unwrap_or(true),
            ..ask
        };
        match response::write(&conn.io, &mut conn.out, resp, ask).await {
            Ok(_) if switching => return conn.hand_over(upgraded),
            Ok(true) => {}
            Ok(false) if body_read => return,
            Ok(false) => return conn.linger().await,
            Err(WriteError::Client(e)) => {
                tracing::debug!(client = %peer.addr(), error = %e, "client connection ended while writing a response");
                return;
            }
            Err(e @ WriteError::Body(_)) => {
                gw.connections.cut_off();
                tracing::warn!(client = %peer.addr(), error = %e, "response cut off: the upstream failed mid-body");
                return;
            }
        }
    }
}

impl Conn {
    /// Waits for the next complete head.
    async fn read_head<S: Future>(&mut self, first: bool, mut stopped: Pin<&mut S>) -> Result<request::Head, Ended> {
        // The first head's deadline was set at the accept; a later wait
        // starts idle unless the client pipelined its next request.
        let mut idle = !first && self.buf.is_empty();
        if !first {
            let wait = if idle { self.idle_timeout } else { self.head_timeout };
            self.timer.set(Instant::now() + wait);
        }
        loop {
            if !self.buf.is_empty() {
                if let Some(head) = request::parse(&mut self.buf, self.max_head, &mut self.spans).map_err(Ended::Bad)? {
                    return Ok(head);
                }
                if idle {
                    idle = false;
                    self.timer.set(Instant::now() + self.head_timeout);
                }
            }
            let Conn { io, buf, timer, .. } = self;
            let event = poll_fn(|cx| {
                if let Poll::Ready(r) = poll_fill(io, cx, buf, HEAD_READ) {
                    return Poll::Ready(
                        r.map_or(Err(Ended::Closed), |n| if n == 0 { Err(Ended::Closed) } else { Ok(()) }),
                    );
                }
                if timer.poll_passed(cx).is_ready() {
                    return Poll::Ready(Err(if idle { Ended::Idle } else { Ended::Slow }));
                }
                // Only a connection between requests closes at once on
                // shutdown; a request under way is answered first.
                if buf.is_empty() && stopped.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(Ended::Stopped));
                }
                Poll::Pending
            })
            .await;
            event?;
        }
    }

    /// The connection's buffer back from the request body, if it was read
    /// to its end (always, for a request without a body).
    fn take_back(&mut self, returned: Option<Returned>) -> bool {
        match returned.map(|mut r| r.try_recv()) {
            None => true,
            Some(Ok(buf)) => {
                self.buf = buf;
                true
            }
            Some(Err(_)) => false,
        }
    }

    /// Logs how the wait for a head ended, answering a bad head.
    async fn ended(mut self, peer: &Peer, ended: Ended) {
        match ended {
            Ended::Closed | Ended::Stopped => {}
            Ended::Idle => tracing::debug!(client = %peer.addr(), "idle keep-alive connection closed"),
            Ended::Slow => tracing::info!(
                client = %peer.addr(),
                timeout_ms = self.head_timeout.as_millis() as u64,
                "client too slow sending a request head: connection closed"
            ),
            Ended::Bad(e) => {
                tracing::info!(client = %peer.addr(), error = %e, "malformed request");
                if response::refuse(&self.io, &mut self.out, e.status()).await.is_ok() {
                    self.linger().await;
                }
            }
        }
    }

    /// Hands the connection to the tunnel after its 101.
    fn hand_over(self, upgraded: Option<oneshot::Sender<Upgraded>>) {
        if let (Some(tx), Ok(io)) = (upgraded, Arc::try_unwrap(self.io)) {
            let _ = tx.send(Upgraded { io, early: self.buf });
        }
    }

    /// Closes after an answer the client may still be sending a body to:
    /// the write side first, then what arrives is read and dropped until the
    /// client closes, for at most [`LINGER`] (without this, closing a socket
    /// with unread bytes resets the connection, and the client may lose the
    /// answer).
    async fn linger(self) {
        let Ok(mut io) = Arc::try_unwrap(self.io) else {
            return;
        };
        if io.shutdown().await.is_err() {
            return;
        }
        let mut sink = vec![0u8; 16 * 1024];
        let drain = async {
            let mut total = 0;
            while total < LINGER_BYTES {
                match io.read(&mut sink).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => total += n,
                }
            }
        };
        let _ = tokio::time::timeout(LINGER, drain).await;
    }
}
