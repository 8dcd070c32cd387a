//! Message heads on the upstream leg: the request head written as one buffer,
//! the response head parsed (httparse) into `http` types without copying its
//! values, and the response's framing decided the way nginx does.

use super::fields::RawFields;
use crate::wire::{Fields, Known, field_name};
use bytes::BytesMut;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};
use std::mem::MaybeUninit;

/// The most header fields a response head may carry (hyper's default).
const MAX_HEADERS: usize = 100;
/// The largest response head accepted, 64 KiB less a byte (hyper's client
/// allowed ~400 KiB, nginx 4–8 KiB by `proxy_buffer_size`); larger is a 502.
pub(super) const MAX_HEAD: usize = u16::MAX as usize;

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
/// headers as they are, then the `added` fields (graygate's forwarding
/// fields: written here rather than inserted into the map first, which would
/// hash each name once more per request), and the framing header the body
/// needs.
pub fn encode_request<'a>(
    req: &'a http::request::Parts,
    body_empty: bool,
    added: impl IntoIterator<Item = (&'a HeaderName, &'a HeaderValue)>,
    out: &mut Vec<u8>,
) -> ReqFraming {
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
    for (name, value) in headers.iter().chain(added) {
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
    /// Status and version, and the header fields when they are not `raw`.
    pub parts: http::response::Parts,
    /// The header fields to forward as they came (then `parts` has none);
    /// boxed, as a head and the response built from it are moved a few
    /// times on their way to the client.
    pub raw: Option<Box<RawFields>>,
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
///
/// The framing and connection headers are read while parsing, and left out
/// of the returned headers (they describe this hop only): except for a 101,
/// the headers come back free of hop-by-hop fields, ready to forward.
pub(super) fn parse_response(buf: &mut BytesMut, method: &Method) -> Result<Option<Head>, HeadError> {
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut res, buf, &mut fields)?;
    let len = match parsed {
        httparse::Status::Complete(len) if len > MAX_HEAD => return Err(HeadError::TooLarge),
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let status = StatusCode::from_u16(res.code.unwrap_or(0)).map_err(|_| HeadError::Parse(httparse::Error::Status))?;
    let version = if res.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    // Values become slices of the frozen head (no copy per field): their
    // offsets are noted while the parse borrows the buffer. Offsets fit in
    // u16 as a head is at most `MAX_HEAD` bytes.
    let base = buf.as_ptr() as usize;
    let offset = |p: *const u8| u16::try_from(p as usize - base).unwrap_or(u16::MAX);
    let mut spans = [(0u16, 0u16, 0u16, 0u16); MAX_HEADERS];
    let mut hop = Hop::default();
    let mut is_hop = [false; MAX_HEADERS];
    let mut date = false;
    for ((span, f), hop_field) in spans.iter_mut().zip(res.headers.iter()).zip(is_hop.iter_mut()) {
        *hop_field = hop.note(f.name.as_bytes(), f.value)?;
        date |= f.name.eq_ignore_ascii_case("date");
        let (n, v) = (offset(f.name.as_ptr()), offset(f.value.as_ptr()));
        *span = (
            n,
            n.saturating_add(f.name.len() as u16),
            v,
            v.saturating_add(f.value.len() as u16),
        );
    }
    let count = res.headers.len();
    // Connection naming other fields (rare), or a 101 (its Upgrade and
    // Connection are forwarded): keep everything; `strip_hop_by_hop` decides.
    let keep_hop = hop.fields.names_others || status == StatusCode::SWITCHING_PROTOCOLS;
    let plan = if keep_hop {
        None
    } else {
        let lines = spans.iter().zip(&is_hop).take(count).map(|(&(n0, ..), &h)| (n0, h));
        buf.get(..len).and_then(|h| RawFields::plan(h, lines))
    };
    let head = buf.split_to(len).freeze();
    let mut headers = HeaderMap::new();
    let raw = match plan {
        Some(plan) => Some(Box::new(RawFields::new(head, plan, hop.fields.length.is_some(), date))),
        None => {
            headers.reserve(count);
            for (&(n0, n1, v0, v1), _) in spans.iter().zip(is_hop).take(count).filter(|(_, h)| keep_hop || !h) {
                let name = head.get(usize::from(n0)..usize::from(n1)).unwrap_or_default();
                let name = field_name(name).map_err(|_| HeadError::Parse(httparse::Error::HeaderName))?;
                let value = HeaderValue::from_maybe_shared(head.slice(usize::from(v0)..usize::from(v1)))
                    .map_err(|_| HeadError::Parse(httparse::Error::HeaderValue))?;
                headers.append(name, value);
            }
            if hop.fields.names_others && status != StatusCode::SWITCHING_PROTOCOLS {
                crate::headers::strip_hop_by_hop(&mut headers, None);
            }
            None
        }
    };
    let framing = hop.framing(status, method)?;
    let keep_alive = framing != Framing::Close
        && if version == Version::HTTP_10 {
            hop.fields.keep_alive
        } else {
            !hop.fields.close
        };
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts.status = status;
    parts.version = version;
    parts.headers = headers;
    Ok(Some(Head {
        parts,
        raw,
        framing,
        keep_alive,
    }))
}

/// What the hop-by-hop and framing fields of a response said.
#[derive(Debug, Default)]
struct Hop {
    fields: Fields,
}

impl Hop {
    /// Notes one field; whether it is hop-by-hop (RFC 9110 §7.6.1).
    fn note(&mut self, name: &[u8], value: &[u8]) -> Result<bool, HeadError> {
        if let Some(known) = self.fields.note(name, value).map_err(HeadError::Framing)? {
            return Ok(known != Known::Length);
        }
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        Ok(match name.len() {
            10 => is("keep-alive"),
            16 => is("proxy-connection"),
            2 => is("te"),
            7 => is("trailer") || is("upgrade"),
            _ => false,
        })
    }

    /// The body's framing. Anything a request smuggler could play with is
    /// refused: `Content-Length` with `Transfer-Encoding`, a coding other
    /// than `chunked`, disagreeing or malformed lengths (checked in `note`).
    fn framing(&self, status: StatusCode, method: &Method) -> Result<Framing, HeadError> {
        if *method == Method::HEAD
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return Ok(Framing::Empty);
        }
        let f = &self.fields;
        if f.has_codings() {
            if f.length.is_some() {
                return Err(HeadError::Framing("both Content-Length and Transfer-Encoding"));
            }
            if !f.chunked_alone() {
                return Err(HeadError::Framing("a Transfer-Encoding other than chunked"));
            }
            return Ok(Framing::Chunked);
        }
        Ok(f.length.map_or(Framing::Close, Framing::Length))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, method: &Method) -> Result<Option<Head>, HeadError> {
        parse_response(&mut BytesMut::from(text), method)
    }

    /// The fields the client gets: those forwarded as they came, or the map.
    fn fields(text: &str) -> HeaderMap {
        let head = parse(text, &Method::GET).unwrap().unwrap();
        let mut map = head.parts.headers;
        if let Some(raw) = head.raw {
            assert!(map.is_empty(), "fields in the map and raw");
            raw.extend_map(&mut map);
        }
        map
    }

    #[test]
    fn a_head_is_parsed_and_the_body_stays_in_the_buffer() {
        let mut buf = BytesMut::from("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nX-A: 2\r\n\r\nhello");
        let head = parse_response(&mut buf, &Method::GET).unwrap().unwrap();
        assert_eq!(head.parts.status, StatusCode::OK);
        assert_eq!(head.framing, Framing::Length(5));
        assert!(head.keep_alive);
        let mut map = HeaderMap::new();
        head.raw.as_ref().unwrap().extend_map(&mut map);
        let xa: Vec<_> = map.get_all("x-a").iter().collect();
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
    fn hop_by_hop_fields_are_left_out_except_on_a_101() {
        let text =
            "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n";
        let h = fields(text);
        assert_eq!(
            h.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            ["x-a", "content-length"]
        );
        let named = "HTTP/1.1 200 OK\r\nConnection: X-Private\r\nX-Private: 1\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n";
        let h = fields(named);
        assert_eq!(
            h.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            ["x-a", "content-length"]
        );
        let up = "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
        let h = fields(up);
        assert_eq!(h["upgrade"], "websocket");
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
        assert_eq!(encode_request(&req, true, [], &mut out), ReqFraming::Empty);
        assert_eq!(out, b"POST /a?b=1 HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(encode_request(&req, false, [], &mut out), ReqFraming::Chunked);
        assert!(out.ends_with(b"transfer-encoding: chunked\r\n\r\n"));
        let get = http::Request::get("/")
            .header("content-length", "3")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert_eq!(encode_request(&get, false, [], &mut out), ReqFraming::Length);
        assert_eq!(out, b"GET / HTTP/1.1\r\ncontent-length: 3\r\n\r\n");
    }
}
