//! The upstream's response body, read straight from its connection in the
//! task that writes it to the client. Read to its end, the connection goes
//! back to its server's pool; dropped early, the connection is closed.

use super::{Conn, Home};
use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// Longest chunk-size line (with extensions) or trailer section accepted.
const MAX_LINE: usize = 16 * 1024;
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

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

enum Step {
    Data(Bytes),
    More,
    End,
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
        }
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

    /// Fails the body one poll later: hyper's server writes what it has
    /// buffered (the head, the bytes that did arrive) when a body is
    /// pending, but drops it when the body fails in the same poll. The
    /// client sees the response start, then the cut, as from nginx.
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
                        let n = usize::try_from(*left).map_or(buf.len(), |l| l.min(buf.len()));
                        *left -= n as u64;
                        let data = buf.split_to(n).freeze();
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

fn invalid(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Decodes what `buf` holds of a chunked body: the next piece of data, the
/// end, or a request for more bytes. Strict: CRLF line ends, hex sizes.
fn decode(chunk: &mut Chunk, buf: &mut BytesMut) -> io::Result<Step> {
    loop {
        match *chunk {
            Chunk::Size => {
                if buf.first().is_some_and(|b| !b.is_ascii_hexdigit()) {
                    return Err(invalid("invalid chunk size"));
                }
                match httparse::parse_chunk_size(buf) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        buf.advance(used);
                        *chunk = if size == 0 { Chunk::Trailers } else { Chunk::Data(size) };
                    }
                    Ok(httparse::Status::Partial) if buf.len() > MAX_LINE => {
                        return Err(invalid("chunk size line too long"));
                    }
                    Ok(httparse::Status::Partial) => return Ok(Step::More),
                    Err(_) => return Err(invalid("invalid chunk size")),
                }
            }
            Chunk::Data(left) => {
                if buf.is_empty() {
                    return Ok(Step::More);
                }
                let n = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
                *chunk = if n as u64 == left {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left - n as u64)
                };
                return Ok(Step::Data(buf.split_to(n).freeze()));
            }
            Chunk::DataEnd => match buf.get(..2) {
                None => return Ok(Step::More),
                Some(b"\r\n") => {
                    buf.advance(2);
                    *chunk = Chunk::Size;
                }
                Some(_) => return Err(invalid("chunk data not followed by CRLF")),
            },
            // Trailer fields are read and dropped: hyper's server would only
            // send them to clients that asked (`TE: trailers`), rare on HTTP/1.
            Chunk::Trailers => match buf.windows(2).position(|w| w == b"\r\n") {
                None if buf.len() > MAX_LINE => return Err(invalid("trailer section too long")),
                None => return Ok(Step::More),
                Some(0) => {
                    buf.advance(2);
                    return Ok(Step::End);
                }
                Some(i) => buf.advance(i + 2),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` in pieces of `step` bytes; the data and whether it ended.
    fn run(wire: &[u8], step: usize) -> io::Result<(Vec<u8>, bool, usize)> {
        let mut chunk = Chunk::Size;
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in wire.chunks(step) {
            buf.extend_from_slice(piece);
            loop {
                match decode(&mut chunk, &mut buf)? {
                    Step::Data(d) => out.extend_from_slice(&d),
                    Step::More => break,
                    Step::End => return Ok((out, true, buf.len())),
                }
            }
        }
        Ok((out, false, buf.len()))
    }

    #[test]
    fn chunked_bodies_decode_however_they_are_split() {
        let wire = b"5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for step in 1..wire.len() {
            let (data, ended, left) = run(wire, step).unwrap();
            assert_eq!(data, b"hello world!", "step {step}");
            assert!(ended);
            // The bytes after the body stay (they make the connection unusable).
            assert!(left <= 4);
        }
    }

    #[test]
    fn malformed_chunks_are_errors() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"5\nhello\r\n",
            b"fffffffffffffffff\r\n",
            b"-5\r\n",
        ] {
            assert!(run(bad, bad.len()).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let long = [b'1'; 1]
            .iter()
            .chain(std::iter::repeat_n(&b';', MAX_LINE + 1))
            .copied()
            .collect::<Vec<_>>();
        assert!(run(&long, long.len()).is_err());
    }

    #[test]
    fn an_unfinished_body_asks_for_more() {
        let (data, ended, _) = run(b"5\r\nhel", 64).unwrap();
        assert_eq!(data, b"hel");
        assert!(!ended);
    }
}
