//! Bodies on both legs, streamed frame by frame.
//!
//! [`ReqBody`] goes upstream: the client's body as it arrives, or — when a
//! rule reads a body field — the bounded prefix read for the decision followed
//! by the rest, still streaming. [`RespBody`] goes to the client: the
//! upstream's body, or a short body graygate answers itself. Both are plain
//! enums (no boxing) so that forwarding allocates nothing per frame.

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The request body sent upstream.
#[derive(Debug)]
pub enum ReqBody {
    /// The client's body, untouched.
    Stream(Incoming),
    /// A prefix already read, then the rest of the client's body (if any).
    Prefixed {
        /// Bytes read for the decision, sent first.
        prefix: Option<Bytes>,
        /// What is left of the client's body.
        rest: Option<Incoming>,
    },
    /// No body (health checks).
    Empty,
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ReqBody::Stream(b) => Pin::new(b).poll_frame(cx),
            ReqBody::Prefixed { prefix, rest } => {
                if let Some(p) = prefix.take() {
                    return Poll::Ready(Some(Ok(Frame::data(p))));
                }
                match rest {
                    Some(r) => Pin::new(r).poll_frame(cx),
                    None => Poll::Ready(None),
                }
            }
            ReqBody::Empty => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Stream(b) => b.is_end_stream(),
            ReqBody::Prefixed { prefix, rest } => prefix.is_none() && rest.as_ref().is_none_or(|r| r.is_end_stream()),
            ReqBody::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Stream(b) => b.size_hint(),
            ReqBody::Prefixed { prefix, rest } => {
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
            ReqBody::Empty => SizeHint::with_exact(0),
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
        body: Incoming,
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
    pub fn upstream(body: Incoming, idle: Duration) -> RespBody {
        RespBody::Upstream {
            body,
            idle,
            timer: None,
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
pub async fn read_bounded(mut body: Incoming, limit: usize) -> Result<Bounded, hyper::Error> {
    let mut buf = BytesMut::new();
    loop {
        let Some(frame) = body.frame().await else {
            let bytes = buf.freeze();
            return Ok(Bounded {
                complete: Some(bytes.clone()),
                body: ReqBody::Prefixed {
                    prefix: (!bytes.is_empty()).then_some(bytes),
                    rest: None,
                },
            });
        };
        let Ok(data) = frame?.into_data() else { continue };
        buf.extend_from_slice(&data);
        if buf.len() > limit {
            return Ok(Bounded {
                complete: None,
                body: ReqBody::Prefixed {
                    prefix: Some(buf.freeze()),
                    rest: Some(body),
                },
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_alone_has_its_exact_length() {
        let b = ReqBody::Prefixed {
            prefix: Some(Bytes::from_static(b"hello")),
            rest: None,
        };
        assert_eq!(b.size_hint().exact(), Some(5));
        assert!(!b.is_end_stream());
    }
}
