//! Chunked transfer coding (RFC 9112 §7.1), decoded from a connection's read
//! buffer: the same strict decoder for request bodies from clients and
//! response bodies from upstreams.

use bytes::{Buf, Bytes, BytesMut};
use std::io;

/// Longest chunk-size line (with extensions) or trailer section accepted.
const MAX_LINE: usize = 16 * 1024;

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

pub(crate) enum Step {
    Data(Bytes),
    More,
    End,
}

fn invalid(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Decodes what `buf` holds of a chunked body: the next piece of data, the
/// end, or a request for more bytes. Strict: CRLF line ends, hex sizes.
pub(crate) fn decode(chunk: &mut Chunk, buf: &mut BytesMut) -> io::Result<Step> {
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
