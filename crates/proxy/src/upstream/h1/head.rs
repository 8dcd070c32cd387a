//! Message heads on the upstream leg: the request head written as one buffer,
//! the response head parsed (httparse) into `http` types without copying its
//! values, and the response's framing decided the way nginx does.

use bytes::BytesMut;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};

/// The most header fields a response head may carry (hyper's default).
const MAX_HEADERS: usize = 100;
/// The largest response head accepted (hyper's client allowed ~400 KiB,
/// nginx 4–8 KiB by `proxy_buffer_size`); larger is a 502.
pub(super) const MAX_HEAD: usize = 64 * 1024;

/// How the request body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReqFraming {
    /// No body.
    Empty,
    /// `Content-Length` (the client's, kept as it was).
    Length,
    /// `Transfer-Encoding: chunked`, added by graygate.
    Chunked,
}

/// Writes the request head into `out`: origin-form target, HTTP/1.1, the
/// headers as they are, and the framing header the body needs.
pub fn encode_request(req: &http::request::Parts, body_empty: bool, out: &mut Vec<u8>) -> ReqFraming {
    let headers = &req.headers;
    let framing = if headers.contains_key(header::CONTENT_LENGTH) {
        ReqFraming::Length
    } else if body_empty {
        ReqFraming::Empty
    } else {
        ReqFraming::Chunked
    };
    out.clear();
    out.extend_from_slice(req.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.uri.path_and_query().map_or("/", |pq| pq.as_str()).as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        ReqFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        // Methods whose body means something get an explicit empty one
        // (as hyper did), so that the server does not wait for a body.
        ReqFraming::Empty if matches!(req.method, Method::POST | Method::PUT | Method::PATCH) => {
            out.extend_from_slice(b"content-length: 0\r\n");
        }
        _ => {}
    }
    out.extend_from_slice(b"\r\n");
    framing
}

/// How the response body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body: a response to HEAD, 1xx, 204, 304.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the server closes the connection.
    Close,
}

/// A parsed response head.
#[derive(Debug)]
pub struct Head {
    /// Status, version and headers.
    pub parts: http::response::Parts,
    /// The body's framing.
    pub framing: Framing,
    /// Whether the connection may carry another request after this response.
    pub keep_alive: bool,
}

/// Why a response head was refused: each one a 502, like nginx's "upstream
/// sent invalid header".
#[derive(Debug, thiserror::Error)]
pub(super) enum HeadError {
    /// Not HTTP/1.x, a bad status line or header field.
    #[error("malformed response head: {0}")]
    Parse(#[from] httparse::Error),
    /// Over [`MAX_HEAD`] bytes.
    #[error("response head larger than {MAX_HEAD} bytes")]
    TooLarge,
    /// Both `Content-Length` and `Transfer-Encoding`, or a bad value of either.
    #[error("ambiguous or invalid response framing: {0}")]
    Framing(&'static str),
}

/// Parses a complete response head at the start of `buf`, taking it out of
/// `buf` (what follows is the body). `None`: the head is not complete yet.
pub(super) fn parse_response(buf: &mut BytesMut, method: &Method) -> Result<Option<Head>, HeadError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut fields);
    let len = match res.parse(buf)? {
        httparse::Status::Complete(len) if len > MAX_HEAD => return Err(HeadError::TooLarge),
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let code = res.code.unwrap_or(0);
    let status = StatusCode::from_u16(code).map_err(|_| HeadError::Parse(httparse::Error::Status))?;
    let version = if res.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    // Values become slices of the frozen head: no copy per field.
    let base = buf.as_ptr() as usize;
    let mut spans = [(0usize, 0usize, 0usize, 0usize); MAX_HEADERS];
    let count = res.headers.len();
    for (span, f) in spans.iter_mut().zip(res.headers.iter()) {
        let name = f.name.as_ptr() as usize - base;
        let value = f.value.as_ptr() as usize - base;
        *span = (name, name + f.name.len(), value, value + f.value.len());
    }
    let head = buf.split_to(len).freeze();
    let mut headers = HeaderMap::with_capacity(count);
    for &(n0, n1, v0, v1) in spans.iter().take(count) {
        let name = HeaderName::from_bytes(head.get(n0..n1).unwrap_or_default())
            .map_err(|_| HeadError::Parse(httparse::Error::HeaderName))?;
        let value = HeaderValue::from_maybe_shared(head.slice(v0..v1))
            .map_err(|_| HeadError::Parse(httparse::Error::HeaderValue))?;
        headers.append(name, value);
    }
    let framing = framing(status, method, &headers)?;
    let keep_alive = framing != Framing::Close && persistent(version, &headers);
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts.status = status;
    parts.version = version;
    parts.headers = headers;
    Ok(Some(Head {
        parts,
        framing,
        keep_alive,
    }))
}

/// The body's framing. Anything a request smuggler could play with is
/// refused: `Content-Length` with `Transfer-Encoding`, a coding other than
/// `chunked`, disagreeing or malformed lengths.
fn framing(status: StatusCode, method: &Method, h: &HeaderMap) -> Result<Framing, HeadError> {
    if *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(Framing::Empty);
    }
    let te = h.get_all(header::TRANSFER_ENCODING);
    if te.iter().next().is_some() {
        if h.contains_key(header::CONTENT_LENGTH) {
            return Err(HeadError::Framing("both Content-Length and Transfer-Encoding"));
        }
        let mut values = te.iter();
        let chunked = values
            .next()
            .is_some_and(|v| v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"chunked"));
        if !chunked || values.next().is_some() {
            return Err(HeadError::Framing("a Transfer-Encoding other than chunked"));
        }
        return Ok(Framing::Chunked);
    }
    let mut length = None;
    for v in h.get_all(header::CONTENT_LENGTH) {
        let n = parse_length(v.as_bytes()).ok_or(HeadError::Framing("an invalid Content-Length"))?;
        if length.is_some_and(|l| l != n) {
            return Err(HeadError::Framing("disagreeing Content-Length values"));
        }
        length = Some(n);
    }
    Ok(length.map_or(Framing::Close, Framing::Length))
}

/// Digits only: no sign, no list, no spaces inside.
fn parse_length(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter()
        .try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

/// HTTP/1.1 keeps the connection unless told `close`; HTTP/1.0 only with
/// `keep-alive`.
fn persistent(version: Version, h: &HeaderMap) -> bool {
    let has = |token: &[u8]| {
        h.get_all(header::CONNECTION).iter().any(|v| {
            v.as_bytes()
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
        })
    };
    if version == Version::HTTP_10 {
        has(b"keep-alive")
    } else {
        !has(b"close")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, method: &Method) -> Result<Option<Head>, HeadError> {
        parse_response(&mut BytesMut::from(text), method)
    }

    #[test]
    fn a_head_is_parsed_and_the_body_stays_in_the_buffer() {
        let mut buf = BytesMut::from("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nX-A: 2\r\n\r\nhello");
        let head = parse_response(&mut buf, &Method::GET).unwrap().unwrap();
        assert_eq!(head.parts.status, StatusCode::OK);
        assert_eq!(head.framing, Framing::Length(5));
        assert!(head.keep_alive);
        let xa: Vec<_> = head.parts.headers.get_all("x-a").iter().collect();
        assert_eq!(xa, ["1", "2"]);
        assert_eq!(&buf[..], b"hello");
    }

    #[test]
    fn a_partial_head_waits_for_more() {
        assert!(parse("HTTP/1.1 200 OK\r\nContent-Len", &Method::GET).unwrap().is_none());
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let f = |t: &str, m: &Method| parse(t, m).unwrap().unwrap().framing;
        assert_eq!(
            f("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", &Method::HEAD),
            Framing::Empty
        );
        assert_eq!(f("HTTP/1.1 204 No Content\r\n\r\n", &Method::GET), Framing::Empty);
        assert_eq!(
            f("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", &Method::GET),
            Framing::Empty
        );
        assert_eq!(
            f("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n", &Method::GET),
            Framing::Chunked
        );
        assert_eq!(
            f(
                "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n",
                &Method::GET
            ),
            Framing::Length(7)
        );
        let close = parse("HTTP/1.1 200 OK\r\n\r\n", &Method::GET).unwrap().unwrap();
        assert_eq!(close.framing, Framing::Close);
        assert!(!close.keep_alive);
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n",
            "HTTP/2.0 200 OK\r\n\r\n",
            "garbage\r\n\r\n",
        ] {
            assert!(parse(bad, &Method::GET).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection() {
        let k = |t: &str| parse(t, &Method::GET).unwrap().unwrap().keep_alive;
        assert!(!k("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n"));
        assert!(!k("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(k(
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"
        ));
    }

    #[test]
    fn a_request_head_is_written_with_its_framing() {
        let mut out = Vec::new();
        let req = http::Request::post("http://x/a?b=1")
            .header("host", "x")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert_eq!(encode_request(&req, true, &mut out), ReqFraming::Empty);
        assert_eq!(out, b"POST /a?b=1 HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(encode_request(&req, false, &mut out), ReqFraming::Chunked);
        assert!(out.ends_with(b"transfer-encoding: chunked\r\n\r\n"));
        let get = http::Request::get("/")
            .header("content-length", "3")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert_eq!(encode_request(&get, false, &mut out), ReqFraming::Length);
        assert_eq!(out, b"GET / HTTP/1.1\r\ncontent-length: 3\r\n\r\n");
    }
}
