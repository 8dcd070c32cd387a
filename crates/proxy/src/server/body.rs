//! A client's request body, read straight from its connection by whoever
//! forwards it; and a connection handed over after a 101 (an upgrade).
//!
//! The connection's read buffer travels with the body: read to its end, the
//! body sends the buffer (holding whatever the client pipelined after it)
//! back to the connection, which goes on with the next request. A body
//! dropped unfinished never sends it back, and the connection is closed
//! after the response: its next bytes cannot be found.

use super::request::Framing;
use crate::wire::chunked::{Chunk, Step, decode};
use crate::wire::{poll_fill, take_length};
use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Bytes asked of the socket per body read.
const READ_SIZE: usize = 16 * 1024;
/// The interim response to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// A request body from a client connection (empty for most requests).
#[derive(Debug, Default)]
pub struct ClientBody(Option<Box<Reading>>);

#[derive(Debug)]
struct Reading {
    io: Arc<TcpStream>,
    buf: BytesMut,
    left: Left,
    /// How much of the 100 Continue is written, while the client waits for it.
    continued: Option<usize>,
    /// Where the buffer goes once the body is read to its end.
    back: Option<oneshot::Sender<BytesMut>>,
}

#[derive(Debug, Clone, Copy)]
enum Left {
    Length(u64),
    Chunked(Chunk),
}

/// The connection's buffer, back from a body read to its end; `Err` when
/// the body was dropped unfinished (or failed).
pub(super) type Returned = oneshot::Receiver<BytesMut>;

impl ClientBody {
    /// The body of a request framed by `framing`; what `buf` holds past the
    /// head is its start. `None` with the body: the framing says there is none.
    pub(super) fn new(
        io: &Arc<TcpStream>,
        buf: &mut BytesMut,
        framing: Framing,
        expect_continue: bool,
    ) -> (ClientBody, Option<Returned>) {
        let left = match framing {
            Framing::Empty => return (ClientBody(None), None),
            Framing::Length(n) => Left::Length(n),
            Framing::Chunked => Left::Chunked(Chunk::Size),
        };
        let (tx, rx) = oneshot::channel();
        let reading = Reading {
            io: io.clone(),
            buf: std::mem::take(buf),
            left,
            continued: expect_continue.then_some(0),
            back: Some(tx),
        };
        (ClientBody(Some(Box::new(reading))), Some(rx))
    }

    /// The body is complete: the buffer goes back to the connection.
    fn finish(&mut self) {
        if let Some(mut r) = self.0.take()
            && let Some(back) = r.back.take()
        {
            let _ = back.send(std::mem::take(&mut r.buf));
        }
    }
}

impl Reading {
    /// Writes the 100 Continue the client waits for, before the first read.
    fn poll_continue(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(at) = self.continued {
            let Some(rest) = CONTINUE.get(at..).filter(|r| !r.is_empty()) else {
                self.continued = None;
                break;
            };
            ready!(self.io.poll_write_ready(cx))?;
            match self.io.try_write(rest) {
                Ok(n) => self.continued = Some(at + n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            let Some(r) = this.0.as_mut() else {
                return Poll::Ready(None);
            };
            let buf = &mut r.buf;
            match &mut r.left {
                Left::Length(left) => {
                    if !buf.is_empty() {
                        let data = take_length(left, buf);
                        if *left == 0 {
                            this.finish();
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                Left::Chunked(chunk) => match decode(chunk, buf) {
                    Ok(Step::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(Step::End) => {
                        this.finish();
                        return Poll::Ready(None);
                    }
                    Ok(Step::More) => {}
                    Err(e) => {
                        this.0 = None;
                        return Poll::Ready(Some(Err(e)));
                    }
                },
            }
            let read = match ready!(r.poll_continue(cx)) {
                Ok(()) => ready!(poll_fill(&r.io, cx, &mut r.buf, READ_SIZE)),
                Err(e) => Err(e),
            };
            match read {
                Ok(0) => {
                    this.0 = None;
                    let e = io::Error::new(io::ErrorKind::UnexpectedEof, "the client closed mid-body");
                    return Poll::Ready(Some(Err(e)));
                }
                Ok(_) => {}
                Err(e) => {
                    this.0 = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.0.as_deref().map(|r| r.left) {
            None => SizeHint::with_exact(0),
            Some(Left::Length(n)) => SizeHint::with_exact(n),
            Some(Left::Chunked(_)) => SizeHint::default(),
        }
    }
}

/// A client connection after a 101: the socket, and the bytes the client
/// sent after its request head.
#[derive(Debug)]
pub struct Upgraded {
    /// The client's connection, now the tunnel's.
    pub io: TcpStream,
    /// Sent by the client past its request head, before the 101.
    pub early: BytesMut,
}

/// The client connection of a request asking for an upgrade, handed over
/// once its 101 is written (`None` when the upgrade did not happen). Found
/// in the request's extensions (which need it `Clone`: a clone shares it,
/// and only one of them gets the connection).
#[derive(Debug, Clone)]
pub struct OnUpgrade(Arc<Mutex<Option<oneshot::Receiver<Upgraded>>>>);

impl OnUpgrade {
    /// The receiving end of `rx`.
    pub(super) fn new(rx: oneshot::Receiver<Upgraded>) -> OnUpgrade {
        OnUpgrade(Arc::new(Mutex::new(Some(rx))))
    }

    /// Waits for the connection.
    pub async fn wait(self) -> Option<Upgraded> {
        let rx = self.0.lock().unwrap_or_else(PoisonError::into_inner).take()?;
        rx.await.ok()
    }
}
