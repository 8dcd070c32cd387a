//! What both HTTP/1 legs share on the wire: socket reads into a buffer, the
//! common field names, the framing and connection fields of a head
//! (`Content-Length`, `Transfer-Encoding`, `Connection`), chunked bodies.

pub(crate) mod chunked;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderName};
use std::io;
use std::task::{Context, Poll, ready};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Reads what the socket has into `buf`, with room for at least `want / 4`
/// more bytes (`want` reserved when less is left). `Ok(0)`: the peer closed.
///
/// A read that leaves room in `buf` has emptied the socket, so the socket's
/// readiness is cleared then and there, as tokio's own `poll_read` does on
/// epoll: the next read (the next request, the next response on a pooled
/// connection, [`is_reusable`](crate::upstream::h1::Conn::is_reusable)'s
/// probe) waits for the kernel's next readiness event instead of spending a
/// `recvfrom` on `EAGAIN` first. Clearing is tied to the readiness event the
/// read saw, so bytes that arrived since are never missed.
pub(crate) fn poll_fill(
    io: &TcpStream,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
    want: usize,
) -> Poll<io::Result<usize>> {
    if buf.capacity() - buf.len() < want / 4 {
        buf.reserve(want);
    }
    loop {
        ready!(io.poll_read_ready(cx))?;
        let room = buf.capacity() - buf.len();
        let mut read = None;
        let r = io.try_io(Interest::READABLE, || {
            let n = io.try_read_buf(buf)?;
            read = Some(n);
            if 0 < n && n < room {
                // `try_io` clears the readiness on `WouldBlock`; the bytes
                // read are returned from `read` below.
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(n)
        });
        match (read, r) {
            (Some(n), _) => return Poll::Ready(Ok(n)),
            (None, Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
            (None, r) => return Poll::Ready(r),
        }
    }
}

/// Writes all of `bufs` (in order) to a socket shared by reference.
pub(crate) async fn write_all(io: &TcpStream, bufs: &mut [io::IoSlice<'_>]) -> io::Result<()> {
    let mut bufs = &mut bufs[..];
    io::IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match io.try_write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => io::IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => io.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Takes what `buf` holds of a body that has `left` bytes to come, at most
/// that many, and counts them off.
pub(crate) fn take_length(left: &mut u64, buf: &mut BytesMut) -> Bytes {
    let n = usize::try_from(*left).map_or(buf.len(), |l| l.min(buf.len()));
    *left -= n as u64;
    buf.split_to(n).freeze()
}

/// A chunk's size line (`{size:x}\r\n`), written into `buf` rather than
/// allocated for each chunk.
pub(crate) fn chunk_size_line(mut size: usize, buf: &mut [u8; 18]) -> &[u8] {
    let mut i = buf.len() - 2;
    buf[i..].copy_from_slice(b"\r\n");
    loop {
        i -= 1;
        buf[i] = b"0123456789abcdef"[size & 0xf];
        size >>= 4;
        if size == 0 {
            return &buf[i..];
        }
    }
}

/// A field's name: the most common ones matched directly, without
/// `HeaderName::from_bytes`'s lower-cased copy and table search (about 100
/// instructions a field, four or more fields a message).
pub(crate) fn field_name(name: &[u8]) -> Result<HeaderName, header::InvalidHeaderName> {
    let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
    let common = match name.len() {
        4 if is("host") => header::HOST,
        4 if is("date") => header::DATE,
        4 if is("etag") => header::ETAG,
        4 if is("vary") => header::VARY,
        6 if is("accept") => header::ACCEPT,
        6 if is("cookie") => header::COOKIE,
        6 if is("server") => header::SERVER,
        7 if is("referer") => header::REFERER,
        10 if is("connection") => header::CONNECTION,
        10 if is("set-cookie") => header::SET_COOKIE,
        10 if is("user-agent") => header::USER_AGENT,
        12 if is("content-type") => header::CONTENT_TYPE,
        13 if is("authorization") => header::AUTHORIZATION,
        13 if is("cache-control") => header::CACHE_CONTROL,
        13 if is("last-modified") => header::LAST_MODIFIED,
        14 if is("content-length") => header::CONTENT_LENGTH,
        15 if is("accept-encoding") => header::ACCEPT_ENCODING,
        15 if is("accept-language") => header::ACCEPT_LANGUAGE,
        _ => return HeaderName::from_bytes(name),
    };
    Ok(common)
}

/// Which framing or connection field [`Fields::note`] took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    Length,
    Coding,
    Connection,
}

/// What a head's `Content-Length`, `Transfer-Encoding` and `Connection`
/// fields said, under the same rules on both legs; each leg decides the
/// framing from it.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    /// `Content-Length`: the value, once valid.
    pub(crate) length: Option<u64>,
    /// `Transfer-Encoding` fields seen, and whether the first said `chunked`.
    codings: u32,
    first_chunked: bool,
    /// `Connection` tokens.
    pub(crate) close: bool,
    pub(crate) keep_alive: bool,
    /// `Connection` names a field other than `close`, `keep-alive`, `upgrade`.
    pub(crate) names_others: bool,
}

impl Fields {
    /// Notes a field if it is one of the three; which one it was. Malformed
    /// or disagreeing lengths are refused here.
    pub(crate) fn note(&mut self, name: &[u8], value: &[u8]) -> Result<Option<Known>, &'static str> {
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        let known = match name.len() {
            14 if is("content-length") => {
                let n = parse_length(value).ok_or("an invalid Content-Length")?;
                if self.length.is_some_and(|l| l != n) {
                    return Err("disagreeing Content-Length values");
                }
                self.length = Some(n);
                Known::Length
            }
            17 if is("transfer-encoding") => {
                self.codings += 1;
                self.first_chunked |= self.codings == 1 && value.trim_ascii().eq_ignore_ascii_case(b"chunked");
                Known::Coding
            }
            10 if is("connection") => {
                for token in value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                    if token.eq_ignore_ascii_case(b"close") {
                        self.close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        self.keep_alive = true;
                    } else if !token.is_empty() && !token.eq_ignore_ascii_case(b"upgrade") {
                        self.names_others = true;
                    }
                }
                Known::Connection
            }
            _ => return Ok(None),
        };
        Ok(Some(known))
    }

    /// The head has a `Transfer-Encoding` field.
    pub(crate) fn has_codings(&self) -> bool {
        self.codings > 0
    }

    /// Its transfer coding is a single `chunked`, the only one accepted.
    pub(crate) fn chunked_alone(&self) -> bool {
        self.codings == 1 && self.first_chunked
    }
}

/// A `Content-Length` value: digits only (no sign, no list, no spaces
/// inside), at most `u64::MAX`.
fn parse_length(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 20 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter()
        .try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_field_names_are_the_names_from_bytes_gives() {
        for name in [
            "host",
            "date",
            "Date",
            "ETAG",
            "vary",
            "Accept",
            "cookie",
            "Server",
            "referer",
            "Connection",
            "set-cookie",
            "User-Agent",
            "Content-Type",
            "authorization",
            "cache-control",
            "Last-Modified",
            "CONTENT-LENGTH",
            "accept-encoding",
            "Accept-Language",
            "x-other",
            "dat3",
            "content-lengtx",
        ] {
            let fast = field_name(name.as_bytes()).unwrap();
            assert_eq!(fast, HeaderName::from_bytes(name.as_bytes()).unwrap(), "{name}");
        }
        assert!(field_name(b"bad name").is_err());
    }

    #[test]
    fn chunk_size_lines_are_lower_case_hex() {
        for n in [0usize, 1, 15, 16, 4096, 65536, usize::MAX] {
            assert_eq!(chunk_size_line(n, &mut [0; 18]), format!("{n:x}\r\n").as_bytes());
        }
    }

    #[test]
    fn lengths_are_plain_digits() {
        assert_eq!(parse_length(b" 42 "), Some(42));
        assert_eq!(parse_length(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b""[..],
            b"+4",
            b"-1",
            b"1, 2",
            b"4 4",
            b"18446744073709551616",
            b"0x10",
        ] {
            assert_eq!(parse_length(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
