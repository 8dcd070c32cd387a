//! Request heads from clients: parsed (httparse) into `http` types without
//! copying the values, and framed strictly (RFC 9112 §6). Whatever a front
//! and a back end could read differently is refused with 400 before
//! anything is forwarded; a head over the limit is a 431.

use crate::wire::{Fields, field_name};
use bytes::BytesMut;
use http::header::HeaderValue;
use http::{HeaderMap, Method, StatusCode, Uri, Version};
use std::mem::MaybeUninit;

/// The most header fields a request head may carry (hyper's and nginx's
/// order of magnitude); one more is a 431.
const MAX_FIELDS: usize = 100;

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body.
    Empty,
    /// Exactly this many bytes (more than zero).
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// A parsed request head.
#[derive(Debug)]
pub(super) struct Head {
    /// Method, target, version and fields, as they came.
    pub(super) parts: http::request::Parts,
    pub(super) framing: Framing,
    /// The client lets the connection carry another request after this one.
    pub(super) keep_alive: bool,
    /// `Expect: 100-continue`: the client waits for a 100 before its body.
    pub(super) expect_continue: bool,
    /// The head has an `Upgrade` field: the connection may be handed over.
    pub(super) upgrade: bool,
}

/// Why a request head was refused.
#[derive(Debug, thiserror::Error)]
pub(super) enum HeadError {
    /// Not an HTTP/1.x request line, or a bad field.
    #[error("malformed request head: {0}")]
    Parse(#[from] httparse::Error),
    /// A target `http::Uri` does not accept.
    #[error("invalid request target")]
    Target,
    /// A target longer than `http::Uri` holds (65,534 bytes).
    #[error("request target longer than 65534 bytes")]
    TargetTooLong,
    /// Longer than `max_header_bytes`.
    #[error("request head larger than {0} bytes")]
    TooLarge(usize),
    /// Ambiguous or invalid `Content-Length` or `Transfer-Encoding`.
    #[error("ambiguous or invalid request framing: {0}")]
    Framing(&'static str),
    /// No `Host` on HTTP/1.1, or more than one (RFC 9112 §3.2).
    #[error("{0}")]
    Host(&'static str),
}

impl HeadError {
    /// The status the client is answered with.
    pub(super) fn status(&self) -> StatusCode {
        match self {
            HeadError::TooLarge(_) | HeadError::Parse(httparse::Error::TooManyHeaders) => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            HeadError::TargetTooLong => StatusCode::URI_TOO_LONG,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// Where a field's name and value are in the head: kept by the connection
/// between requests, so that no array of [`MAX_FIELDS`] is zeroed for each.
pub(super) type Spans = Vec<[usize; 4]>;

/// Parses a complete request head at the start of `buf`, taking it out of
/// `buf` (what follows is the body, or the next request). `None`: the head
/// is not complete yet. Leading empty lines are skipped (RFC 9112 §2.2).
pub(super) fn parse(buf: &mut BytesMut, max: usize, spans: &mut Spans) -> Result<Option<Head>, HeadError> {
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
    let mut req = httparse::Request::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut req, buf, &mut fields)? {
        httparse::Status::Complete(len) if len > max => return Err(HeadError::TooLarge(max)),
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial if buf.len() >= max => return Err(HeadError::TooLarge(max)),
        httparse::Status::Partial => return Ok(None),
    };
    let method = Method::from_bytes(req.method.unwrap_or("").as_bytes()).map_err(|_| httparse::Error::Token)?;
    let version = if req.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    // Values become slices of the frozen head (no copy per field): their
    // offsets are noted while the parse borrows the buffer.
    let base = buf.as_ptr() as usize;
    let span = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        (start, start + s.len())
    };
    let target = span(req.path.unwrap_or("").as_bytes());
    let mut hop = Hop::default();
    spans.clear();
    for f in req.headers.iter() {
        hop.note(f.name.as_bytes(), f.value)?;
        let ((n0, n1), (v0, v1)) = (span(f.name.as_bytes()), span(f.value));
        spans.push([n0, n1, v0, v1]);
    }
    let (framing, keep_alive) = hop.framing(version)?;
    match hop.hosts {
        0 if version == Version::HTTP_11 => return Err(HeadError::Host("an HTTP/1.1 request without Host")),
        0 | 1 => {}
        _ => return Err(HeadError::Host("more than one Host field")),
    }
    let head = buf.split_to(len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(target.0..target.1)).map_err(|_| {
        if target.1 - target.0 >= usize::from(u16::MAX) {
            HeadError::TargetTooLong
        } else {
            HeadError::Target
        }
    })?;
    let mut headers = HeaderMap::with_capacity(spans.len());
    for &[n0, n1, v0, v1] in spans.iter() {
        let name = head.get(n0..n1).unwrap_or_default();
        if hop.dropped(name) {
            continue;
        }
        let name = field_name(name).map_err(|_| httparse::Error::HeaderName)?;
        let value = HeaderValue::from_maybe_shared(head.slice(v0..v1)).map_err(|_| httparse::Error::HeaderValue)?;
        headers.append(name, value);
    }
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.version = version;
    parts.headers = headers;
    Ok(Some(Head {
        parts,
        framing,
        keep_alive,
        expect_continue: hop.expect_continue && version == Version::HTTP_11,
        upgrade: hop.upgrade,
    }))
}

/// What the framing and connection fields of a request said.
#[derive(Debug, Default)]
struct Hop {
    fields: Fields,
    expect_continue: bool,
    upgrade: bool,
    /// `Host` fields seen.
    hosts: u32,
}

impl Hop {
    /// Notes one field.
    fn note(&mut self, name: &[u8], value: &[u8]) -> Result<(), HeadError> {
        if self.fields.note(name, value).map_err(HeadError::Framing)?.is_some() {
            return Ok(());
        }
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        match name.len() {
            6 if is("expect") => self.expect_continue = value.trim_ascii().eq_ignore_ascii_case(b"100-continue"),
            7 if is("upgrade") => self.upgrade = true,
            4 if is("host") => self.hosts += 1,
            _ => {}
        }
        Ok(())
    }

    /// The body's framing and whether the connection stays open after.
    fn framing(&self, version: Version) -> Result<(Framing, bool), HeadError> {
        let f = &self.fields;
        let mut keep_alive = if version == Version::HTTP_10 {
            f.keep_alive && !f.close
        } else {
            !f.close
        };
        let framing = if f.has_codings() {
            if version == Version::HTTP_10 {
                return Err(HeadError::Framing("Transfer-Encoding on HTTP/1.0"));
            }
            if !f.chunked_alone() {
                return Err(HeadError::Framing("a Transfer-Encoding other than chunked"));
            }
            // Chunked wins over a Content-Length (RFC 9112 §6.3), which is
            // dropped; what the client sends after is not trusted (§6.1).
            if f.length.is_some() {
                keep_alive = false;
            }
            Framing::Chunked
        } else {
            match f.length {
                None | Some(0) => Framing::Empty,
                Some(n) => Framing::Length(n),
            }
        };
        Ok((framing, keep_alive))
    }

    /// Whether a field is the `Content-Length` the chunked coding overrides.
    fn dropped(&self, name: &[u8]) -> bool {
        self.fields.has_codings() && name.len() == 14 && name.eq_ignore_ascii_case(b"content-length")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `text` with a `Host` field added after an HTTP/1.1 request line.
    fn parse_str(text: &str) -> Result<Option<Head>, HeadError> {
        let text = match text.split_once(" HTTP/1.1\r\n") {
            Some((line, rest)) => format!("{line} HTTP/1.1\r\nHost: x\r\n{rest}"),
            None => text.to_owned(),
        };
        parse(&mut BytesMut::from(text.as_str()), 8192, &mut Vec::new())
    }

    #[test]
    fn a_head_is_parsed_and_the_rest_stays_in_the_buffer() {
        let mut buf = BytesMut::from("\r\nGET /a?b=1 HTTP/1.1\r\nhost: x\r\nX-A: 1\r\nX-A: 2\r\n\r\nGET /next");
        let head = parse(&mut buf, 8192, &mut Vec::new()).unwrap().unwrap();
        assert_eq!(head.parts.method, Method::GET);
        assert_eq!(head.parts.uri, "/a?b=1");
        assert_eq!(head.parts.headers["host"], "x");
        let xa: Vec<_> = head.parts.headers.get_all("x-a").iter().collect();
        assert_eq!(xa, ["1", "2"]);
        assert_eq!(head.framing, Framing::Empty);
        assert!(head.keep_alive && !head.expect_continue && !head.upgrade);
        assert_eq!(&buf[..], b"GET /next");
    }

    #[test]
    fn a_partial_head_waits_and_an_oversized_one_is_431() {
        assert!(parse_str("GET / HTTP/1.1\r\nHost: x").unwrap().is_none());
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(9000));
        assert_eq!(parse_str(&long).unwrap_err().status(), 431);
        let many: String = (0..101).map(|i| format!("X-F{i}: 1\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(parse_str(&many).unwrap_err().status(), 431);
        let huge = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
        let e = parse(&mut BytesMut::from(huge.as_str()), 128 * 1024, &mut Vec::new()).unwrap_err();
        assert_eq!(e.status(), 414, "{e}");
    }

    #[test]
    fn framing_and_keep_alive_follow_rfc_9112() {
        let h = |t: &str| parse_str(t).unwrap().unwrap();
        let post = h("POST / HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
        assert_eq!(post.framing, Framing::Length(5));
        assert!(post.expect_continue);
        assert_eq!(
            h("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").framing,
            Framing::Empty
        );
        let both = h("POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert_eq!(both.framing, Framing::Chunked);
        assert!(!both.keep_alive, "closed after a Content-Length beside chunked");
        assert!(both.parts.headers.get("content-length").is_none());
        assert!(!h("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!h("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(h("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(h("GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n").upgrade);
    }

    #[test]
    fn ambiguous_or_invalid_heads_are_400() {
        for bad in [
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: +4\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n",
            "G@T / HTTP/1.1\r\n\r\n",
            "GET / HTTP/9.9\r\n\r\n",
            "GET /a b HTTP/1.1\r\n\r\n",
            "\u{16}\u{3}\u{1}\u{2}\0\u{1}\0\u{1}\r\n\r\n",
        ] {
            let e = parse_str(bad).unwrap_err();
            assert_eq!(e.status(), 400, "{bad:?}: {e}");
            assert!(
                !matches!(e, HeadError::Host(_)),
                "{bad:?} is refused for its own reason: {e}"
            );
        }
    }

    #[test]
    fn http11_needs_exactly_one_host_and_http10_none() {
        let p = |t: &str| parse(&mut BytesMut::from(t), 8192, &mut Vec::new());
        assert!(matches!(p("GET / HTTP/1.1\r\n\r\n"), Err(HeadError::Host(_))));
        assert!(matches!(
            p("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"),
            Err(HeadError::Host(_))
        ));
        assert!(p("GET / HTTP/1.0\r\n\r\n").unwrap().is_some());
        assert!(p("GET / HTTP/1.1\r\nHOST: a\r\n\r\n").unwrap().is_some());
    }
}
