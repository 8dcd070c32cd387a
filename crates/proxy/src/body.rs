//! Bodies on both legs, streamed frame by frame.
//!
//! [`ReqBody`] goes upstream: the client's body as it arrives, or — when a
//! rule reads a body field — the bounded prefix read for the decision followed
//! by the rest, still streaming; its [`Progress`] lets the read timeout tell a
//! long upload from a stalled one. [`RespBody`] goes to the client: the
//! upstream's body, or a short body graygate answers itself. Both are plain
//! enums (no boxing) so that forwarding allocates nothing per frame.

use crate::server::ClientBody;
use crate::upstream::h1::UpstreamBody;
use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The request body sent upstream.
#[derive(Debug)]
pub struct ReqBody {
    kind: ReqKind,
    progress: Option<Arc<Progress>>,
}

#[derive(Debug)]
enum ReqKind {
    Stream(ClientBody),
    Prefixed {
        prefix: Option<Bytes>,
        rest: Option<ClientBody>,
    },
    Empty,
}

/// How far an upload has gone: frames sent so far. The read timeout watches
/// it so that it measures silence, not the total time of a long upload.
#[derive(Debug, Default)]
pub struct Progress(AtomicU64);

impl Progress {
    /// Frames sent so far (the end of the body counts as one).
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

impl ReqBody {
    /// The client's body, untouched.
    pub fn stream(body: ClientBody) -> ReqBody {
        ReqBody {
            kind: ReqKind::Stream(body),
            progress: None,
        }
    }

    /// Bytes already read, then what is left of the client's body (if any).
    pub fn prefixed(prefix: Option<Bytes>, rest: Option<ClientBody>) -> ReqBody {
        ReqBody {
            kind: ReqKind::Prefixed { prefix, rest },
            progress: None,
        }
    }

    /// No body.
    pub fn empty() -> ReqBody {
        ReqBody {
            kind: ReqKind::Empty,
            progress: None,
        }
    }

    /// Starts counting the frames sent; `None` for a body that is already
    /// complete (nothing to watch).
    pub fn track(&mut self) -> Option<Arc<Progress>> {
        if self.is_end_stream() {
            return None;
        }
        let p = Arc::new(Progress::default());
        self.progress = Some(p.clone());
        Some(p)
    }
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        let polled = match &mut this.kind {
            ReqKind::Stream(b) => Pin::new(b).poll_frame(cx),
            ReqKind::Prefixed { prefix, rest } => match prefix.take() {
                Some(p) => Poll::Ready(Some(Ok(Frame::data(p)))),
                None => match rest {
                    Some(r) => Pin::new(r).poll_frame(cx),
                    None => Poll::Ready(None),
                },
            },
            ReqKind::Empty => Poll::Ready(None),
        };
        if polled.is_ready()
            && let Some(p) = &this.progress
        {
            p.0.fetch_add(1, Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            ReqKind::Stream(b) => b.is_end_stream(),
            ReqKind::Prefixed { prefix, rest } => prefix.is_none() && rest.as_ref().is_none_or(|r| r.is_end_stream()),
            ReqKind::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            ReqKind::Stream(b) => b.size_hint(),
            ReqKind::Prefixed { prefix, rest } => {
                let p = prefix.as_ref().map_or(0, |p| p.len() as u64);
                let rest = rest.as_ref().map_or_else(|| SizeHint::with_exact(0), |r| r.size_hint());
                let mut h = SizeHint::new();
                // Upper first: `set_lower` checks against the upper bound.
                if let Some(u) = rest.upper() {
                    h.set_upper(u + p);
                }
                h.set_lower(rest.lower() + p);
                h
            }
            ReqKind::Empty => SizeHint::with_exact(0),
        }
    }
}

/// The response body sent to the client.
#[derive(Debug)]
pub enum RespBody {
    /// The upstream's body, streamed; fails when the upstream sends nothing
    /// for `idle` (the group's read timeout between two reads).
    Upstream {
        /// The upstream's body.
        body: UpstreamBody,
        /// Longest silence allowed between two frames.
        idle: Duration,
        /// Armed only once the body has to wait, so that a body already
        /// received costs no timer.
        timer: Option<Pin<Box<Sleep>>>,
    },
    /// A body graygate answers itself (errors, no route).
    Full(Option<Bytes>),
}

/// The upstream went silent for longer than the read timeout mid-body.
#[derive(Debug, thiserror::Error)]
#[error("upstream sent nothing for {0:?} while streaming the response body")]
pub struct BodyTimeout(pub Duration);

impl RespBody {
    /// The upstream's body, with the read timeout between frames.
    pub fn upstream(body: UpstreamBody, idle: Duration) -> RespBody {
        RespBody::Upstream {
            body,
            idle,
            timer: None,
        }
    }

    /// The upstream response's header fields forwarded as they came, if
    /// they are (see [`RawFields`](crate::upstream::h1::RawFields)).
    pub fn raw_fields(&self) -> Option<&crate::upstream::h1::RawFields> {
        match self {
            RespBody::Upstream { body, .. } => body.raw_fields(),
            RespBody::Full(_) => None,
        }
    }

    /// An empty body.
    pub fn empty() -> RespBody {
        RespBody::Full(None)
    }

    /// A short fixed body.
    pub fn text(s: &'static str) -> RespBody {
        RespBody::Full(Some(Bytes::from_static(s.as_bytes())))
    }
}

impl Body for RespBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            RespBody::Upstream { body, idle, timer } => match Pin::new(body).poll_frame(cx) {
                Poll::Ready(frame) => {
                    if let Some(t) = timer {
                        t.as_mut().reset(Instant::now() + *idle);
                    }
                    Poll::Ready(frame.map(|f| f.map_err(Into::into)))
                }
                Poll::Pending => {
                    let t = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(*idle)));
                    match t.as_mut().poll(cx) {
                        Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout(*idle).into()))),
                        Poll::Pending => Poll::Pending,
                    }
                }
            },
            RespBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RespBody::Upstream { body, .. } => body.is_end_stream(),
            RespBody::Full(b) => b.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RespBody::Upstream { body, .. } => body.size_hint(),
            RespBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}

/// The outcome of reading at most `limit` bytes of a body.
#[derive(Debug)]
pub struct Bounded {
    /// The whole body, when it fit in the limit.
    pub complete: Option<Bytes>,
    /// The body to send upstream: what was read, then the rest.
    pub body: ReqBody,
}

/// Reads `body` until it ends or exceeds `limit` bytes. Either way nothing is
/// lost: the returned [`ReqBody`] replays what was read and streams the rest.
/// Trailers of a body that fit are dropped (rare on requests).
pub async fn read_bounded(mut body: ClientBody, limit: usize) -> Result<Bounded, std::io::Error> {
    let mut buf = BytesMut::new();
    loop {
        let Some(frame) = body.frame().await else {
            let bytes = buf.freeze();
            return Ok(Bounded {
                complete: Some(bytes.clone()),
                body: ReqBody::prefixed((!bytes.is_empty()).then_some(bytes), None),
            });
        };
        let Ok(data) = frame?.into_data() else { continue };
        buf.extend_from_slice(&data);
        if buf.len() > limit {
            return Ok(Bounded {
                complete: None,
                body: ReqBody::prefixed(Some(buf.freeze()), Some(body)),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_alone_has_its_exact_length() {
        let b = ReqBody::prefixed(Some(Bytes::from_static(b"hello")), None);
        assert_eq!(b.size_hint().exact(), Some(5));
        assert!(!b.is_end_stream());
    }
}
