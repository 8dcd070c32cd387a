//! The upstream's response body, read straight from its connection in the
//! task that writes it to the client. Read to its end, the connection goes
//! back to its server's pool; dropped early, the connection is closed.

use super::{Conn, Home, RawFields};
use crate::wire::chunked::{Chunk, Step, decode};
use crate::wire::take_length;
use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// Bytes asked of the socket per body read.
const READ_SIZE: usize = 16 * 1024;
/// Larger reads for long bodies of known length.
const BIG_READ_SIZE: usize = 64 * 1024;

/// A response body streamed from an upstream connection.
#[derive(Debug)]
pub struct UpstreamBody {
    /// `None` once the body is complete (or failed).
    conn: Option<Conn>,
    state: State,
    /// Where the connection goes when the body was read to its end; `None`
    /// when it may not carry another request.
    home: Option<Home>,
    /// A failure, reported on the next poll (see [`UpstreamBody::fail`]).
    error: Option<io::Error>,
    /// The response's header fields, when they are forwarded as they came
    /// (the response's `HeaderMap` then holds none of them).
    fields: Option<Box<RawFields>>,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Bytes still to come.
    Length(u64),
    Chunked(Chunk),
    /// Until the server closes.
    Close,
    /// A 101: the connection is the tunnel's, there is no body.
    Upgrade,
}

impl UpstreamBody {
    /// The body of a response framed by `framing`, on `conn`.
    pub(super) fn new(conn: Conn, framing: super::Framing, home: Option<Home>) -> UpstreamBody {
        use super::Framing;
        let state = match framing {
            Framing::Empty => State::Length(0),
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Chunked(Chunk::Size),
            Framing::Close => State::Close,
        };
        let mut body = UpstreamBody {
            conn: Some(conn),
            state,
            home,
            error: None,
            fields: None,
        };
        if matches!(body.state, State::Length(0)) {
            body.finish();
        }
        body
    }

    /// A 101 response: no body, the connection kept for the tunnel.
    pub(super) fn upgrade(conn: Conn) -> UpstreamBody {
        UpstreamBody {
            conn: Some(conn),
            state: State::Upgrade,
            home: None,
            error: None,
            fields: None,
        }
    }

    /// The body with the response's header fields to forward as they came.
    pub(super) fn with_fields(mut self, fields: Option<Box<RawFields>>) -> UpstreamBody {
        self.fields = fields;
        self
    }

    /// The response's header fields forwarded as they came, if they are.
    pub fn raw_fields(&self) -> Option<&RawFields> {
        self.fields.as_deref()
    }

    /// Takes the fields forwarded as they came, for a caller that puts them
    /// into the response's `HeaderMap`.
    pub fn take_raw_fields(&mut self) -> Option<Box<RawFields>> {
        self.fields.take()
    }

    /// The upgraded connection of a 101 response, with any bytes the server
    /// sent after its head.
    pub fn take_upgrade(&mut self) -> Option<(tokio::net::TcpStream, BytesMut)> {
        match self.state {
            State::Upgrade => self.conn.take().map(|c| (c.io, c.buf)),
            _ => None,
        }
    }

    /// The body is complete: the connection goes home, if it has one and the
    /// server sent nothing past the body.
    fn finish(&mut self) {
        let conn = self.conn.take();
        if let (Some(conn), Some(home)) = (conn, self.home.take())
            && conn.buf.is_empty()
        {
            home.server.pool.put(conn, home.max_idle);
        }
    }

    /// Fails the body one poll later, so that the server leg writes what it
    /// gathered (the head, the bytes that did arrive) while the body is
    /// pending, before the failure closes the connection: the client sees
    /// the response start, then the cut, as from nginx. (The server leg
    /// also writes what it has on a failure; the deferral keeps this body
    /// right for any writer, as it was under hyper's server, which did not.)
    fn fail(&mut self, cx: &mut Context<'_>, e: io::Error) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.conn = None;
        self.error = Some(e);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if let Some(e) = this.error.take() {
            return Poll::Ready(Some(Err(e)));
        }
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            let buf = &mut conn.buf;
            let want = match &mut this.state {
                State::Upgrade => return Poll::Ready(None),
                State::Length(left) => {
                    if !buf.is_empty() {
                        let data = take_length(left, buf);
                        if *left == 0 {
                            this.finish();
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    if *left >= BIG_READ_SIZE as u64 {
                        BIG_READ_SIZE
                    } else {
                        READ_SIZE
                    }
                }
                State::Chunked(chunk) => match decode(chunk, buf) {
                    Ok(Step::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(Step::End) => {
                        this.finish();
                        return Poll::Ready(None);
                    }
                    Ok(Step::More) => READ_SIZE,
                    Err(e) => return this.fail(cx, e),
                },
                State::Close => {
                    if !buf.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(buf.split().freeze()))));
                    }
                    READ_SIZE
                }
            };
            match ready!(conn.poll_fill(cx, want)) {
                Ok(0) if matches!(this.state, State::Close) => {
                    this.conn = None;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    return this.fail(
                        cx,
                        io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "upstream closed the connection before the end of the body",
                        ),
                    );
                }
                Ok(_) => {}
                Err(e) => return this.fail(cx, e),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.error.is_none() && (self.conn.is_none() || matches!(self.state, State::Length(0) | State::Upgrade))
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            _ if self.error.is_some() => SizeHint::default(),
            _ if self.conn.is_none() => SizeHint::with_exact(0),
            State::Length(n) => SizeHint::with_exact(n),
            State::Upgrade => SizeHint::with_exact(0),
            State::Chunked(_) | State::Close => SizeHint::default(),
        }
    }
}
