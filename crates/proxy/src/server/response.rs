//! Responses to clients: the head written with the framing the body needs
//! (the way hyper and nginx frame it), then the body, streamed. Small
//! responses go out in one write: the head and every frame already there
//! are gathered, and written when the body has nothing more ready.

use crate::body::RespBody;
use crate::wire::{chunk_size_line, write_all};
use bytes::Bytes;
use http::header;
use http::{Response, StatusCode};
use http_body::Body;
use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::Poll;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;

/// Frames at least this large are written from where they are, not copied.
const BIG_FRAME: usize = 8 * 1024;
/// Gathered bytes are written once there are this many.
const FLUSH_AT: usize = 64 * 1024;

/// What the response must honour of its request.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ask {
    /// The request was a HEAD: no body, whatever the fields say.
    pub(super) head: bool,
    /// An HTTP/1.0 client: no chunked coding; keep-alive only if asked.
    pub(super) http10: bool,
    /// The connection may carry another request after this response.
    pub(super) keep_alive: bool,
}

/// How the body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    /// No body (HEAD, 1xx, 204, 304, or an empty one).
    None,
    /// As it is: its length is in the head.
    Length,
    Chunked,
    /// As it is, then the connection closes (HTTP/1.0, unknown length).
    Close,
}

/// The body failed after the head went out: the response is cut off.
#[derive(Debug, thiserror::Error)]
pub(super) enum WriteError {
    /// The client went away (or its socket failed).
    #[error("writing to the client failed: {0}")]
    Client(#[source] io::Error),
    /// The response body failed (the upstream closed, reset or went silent).
    #[error("response body failed: {0}")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Writes `resp`; whether the connection may carry another request.
pub(super) async fn write(
    io: &TcpStream,
    out: &mut Vec<u8>,
    resp: Response<RespBody>,
    ask: Ask,
) -> Result<bool, WriteError> {
    let (parts, body) = resp.into_parts();
    let (framing, keep_alive) = encode_head(&parts, &body, ask, out);
    if framing == Out::None {
        return flush(io, out).await.map(|()| keep_alive).map_err(WriteError::Client);
    }
    send_body(io, out, body, framing == Out::Chunked).await?;
    Ok(keep_alive)
}

/// Writes the head into `out`; the body's framing and the keep-alive.
fn encode_head(parts: &http::response::Parts, body: &RespBody, ask: Ask, out: &mut Vec<u8>) -> (Out, bool) {
    let status = parts.status;
    out.clear();
    if status == StatusCode::OK {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let (mut has_length, mut has_date) = (false, false);
    if let Some(raw) = body.raw_fields() {
        raw.runs().for_each(|run| out.extend_from_slice(run));
        (has_length, has_date) = (raw.length, raw.date);
    }
    for (name, value) in &parts.headers {
        has_length |= name == header::CONTENT_LENGTH;
        has_date |= name == header::DATE;
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let mut keep_alive = ask.keep_alive;
    let framing = if ask.head
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        Out::None
    } else if has_length {
        Out::Length
    } else if let Some(n) = body.size_hint().exact() {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa(n, &mut [0; 20]));
        out.extend_from_slice(b"\r\n");
        if n == 0 { Out::None } else { Out::Length }
    } else if !ask.http10 {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        Out::Chunked
    } else {
        keep_alive = false;
        Out::Close
    };
    if status == StatusCode::SWITCHING_PROTOCOLS {
        // The 101's own Connection and Upgrade fields are in the head.
    } else if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    } else if ask.http10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    if !has_date {
        out.extend_from_slice(b"date: ");
        DATE.with_borrow_mut(|d| out.extend_from_slice(d.now()));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    (framing, keep_alive)
}

/// A short answer graygate gives before any request could be read (a bad
/// or oversized head); the connection closes after it.
pub(super) async fn refuse(io: &TcpStream, out: &mut Vec<u8>, status: StatusCode) -> io::Result<()> {
    let resp = {
        let mut r = Response::new(RespBody::empty());
        *r.status_mut() = status;
        r
    };
    let ask = Ask {
        head: false,
        http10: false,
        keep_alive: false,
    };
    let (parts, body) = resp.into_parts();
    encode_head(&parts, &body, ask, out);
    flush(io, out).await
}

/// The next thing the body has, or that it has nothing ready.
enum Next {
    Data(Bytes),
    End,
    Wait,
}

async fn send_body(io: &TcpStream, out: &mut Vec<u8>, mut body: RespBody, chunked: bool) -> Result<(), WriteError> {
    loop {
        let next = std::future::poll_fn(|cx| match Pin::new(&mut body).poll_frame(cx) {
            Poll::Pending if out.is_empty() => Poll::Pending,
            Poll::Pending => Poll::Ready(Ok(Next::Wait)),
            Poll::Ready(None) => Poll::Ready(Ok(Next::End)),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Err(e)),
            // Trailers are dropped (hyper's server sent them only to a
            // client that asked with `TE: trailers`, rare on HTTP/1).
            Poll::Ready(Some(Ok(f))) => Poll::Ready(Ok(f.into_data().map_or(Next::Data(Bytes::new()), Next::Data))),
        })
        .await;
        match next {
            Ok(Next::Wait) => flush(io, out).await.map_err(WriteError::Client)?,
            Ok(Next::End) => {
                if chunked {
                    out.extend_from_slice(b"0\r\n\r\n");
                }
                return flush(io, out).await.map_err(WriteError::Client);
            }
            Ok(Next::Data(data)) if data.is_empty() => {}
            Ok(Next::Data(data)) => {
                if chunked {
                    out.extend_from_slice(chunk_size_line(data.len(), &mut [0; 18]));
                }
                let end: &[u8] = if chunked { b"\r\n" } else { b"" };
                if data.len() >= BIG_FRAME {
                    let mut bufs = [IoSlice::new(out), IoSlice::new(&data), IoSlice::new(end)];
                    write_all(io, &mut bufs).await.map_err(WriteError::Client)?;
                    out.clear();
                } else {
                    out.extend_from_slice(&data);
                    out.extend_from_slice(end);
                    if out.len() >= FLUSH_AT {
                        flush(io, out).await.map_err(WriteError::Client)?;
                    }
                }
            }
            Err(e) => {
                // What did arrive goes out first: the client sees the
                // response start, then the cut, as from nginx.
                let _ = flush(io, out).await;
                return Err(WriteError::Body(e));
            }
        }
    }
}

/// Writes what `out` gathered.
async fn flush(io: &TcpStream, out: &mut Vec<u8>) -> io::Result<()> {
    if !out.is_empty() {
        write_all(io, &mut [IoSlice::new(out)]).await?;
        out.clear();
    }
    Ok(())
}

/// `n` in decimal, in `buf`.
fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

thread_local! {
    static DATE: RefCell<CachedDate> = const { RefCell::new(CachedDate { secs: 0, text: [0; 29] }) };
}

/// The `Date` value, formatted once a second per thread.
struct CachedDate {
    secs: u64,
    text: [u8; 29],
}

impl CachedDate {
    fn now(&mut self) -> &[u8] {
        let now = SystemTime::now();
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if secs != self.secs {
            self.secs = secs;
            let text = httpdate::fmt_http_date(now);
            if let Some(t) = self.text.get_mut(..text.len()) {
                t.copy_from_slice(text.as_bytes());
            }
        }
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn head(resp: Response<RespBody>, ask: Ask) -> (String, Out, bool) {
        let mut out = Vec::new();
        let (parts, body) = resp.into_parts();
        let (framing, keep) = encode_head(&parts, &body, ask, &mut out);
        (String::from_utf8(out).unwrap(), framing, keep)
    }

    const KEEP: Ask = Ask {
        head: false,
        http10: false,
        keep_alive: true,
    };

    #[test]
    fn a_known_length_is_written_and_a_date_added() {
        let (text, framing, keep) = head(Response::new(RespBody::text("hello")), KEEP);
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\ncontent-length: 5\r\ndate: "),
            "{text}"
        );
        assert!(text.ends_with(" GMT\r\n\r\n"), "{text}");
        assert_eq!((framing, keep), (Out::Length, true));
        let mut r = Response::new(RespBody::empty());
        *r.status_mut() = StatusCode::NOT_FOUND;
        r.headers_mut().insert("date", HeaderValue::from_static("x"));
        let (text, framing, _) = head(r, KEEP);
        assert_eq!(text, "HTTP/1.1 404 Not Found\r\ndate: x\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(framing, Out::None);
    }

    #[test]
    fn http10_clients_get_no_chunks_and_keep_alive_only_when_asked() {
        let ask = Ask { http10: true, ..KEEP };
        let (text, _, keep) = head(Response::new(RespBody::text("x")), ask);
        assert!(text.contains("\r\nconnection: keep-alive\r\n") && keep, "{text}");
        let close = Ask {
            keep_alive: false,
            ..ask
        };
        let (text, _, keep) = head(Response::new(RespBody::text("x")), close);
        assert!(text.contains("\r\nconnection: close\r\n") && !keep, "{text}");
    }

    #[test]
    fn head_requests_and_bodiless_statuses_keep_their_fields_and_send_no_body() {
        let mut r = Response::new(RespBody::empty());
        r.headers_mut().insert("content-length", HeaderValue::from_static("42"));
        let (text, framing, _) = head(r, Ask { head: true, ..KEEP });
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\ncontent-length: 42\r\ndate: "),
            "{text}"
        );
        assert_eq!(framing, Out::None);
    }

    #[test]
    fn numbers_print_in_decimal() {
        assert_eq!(itoa(0, &mut [0; 20]), b"0");
        assert_eq!(itoa(65536, &mut [0; 20]), b"65536");
        assert_eq!(itoa(u64::MAX, &mut [0; 20]), b"18446744073709551615");
    }
}
