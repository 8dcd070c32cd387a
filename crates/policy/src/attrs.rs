//! Extracting attributes from raw request parts: cookies, query strings, form
//! and JSON bodies; and [`RequestAttrs`], an owned [`Request`] for tests,
//! `graygate explain` and the client SDK.
//!
//! These functions see hostile input first, so they never panic and allocate
//! only to percent-decode.

use crate::request::{Lookup, Request};
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

/// The value of cookie `name` in a `Cookie` header (`a=1; b=2`), without
/// surrounding double quotes.
pub fn cookie_value<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    let bytes = header.as_bytes();
    let mut start = 0;
    while start <= bytes.len() {
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b';')
            .map_or(bytes.len(), |i| start + i);
        // Split at ASCII bytes only, so every index is a char boundary.
        if let Some(eq) = bytes[start..end].iter().position(|&b| b == b'=').map(|i| start + i)
            && header[start..eq].trim_ascii() == name
        {
            let v = header[eq + 1..end].trim_ascii();
            let unquoted = v.len() >= 2 && v.starts_with('"') && v.ends_with('"');
            return Some(if unquoted { &v[1..v.len() - 1] } else { v });
        }
        start = end + 1;
    }
    None
}

/// The first value of `name` in `application/x-www-form-urlencoded` data (a
/// query string or a form body), percent-decoded, `+` read as a space. Names
/// are compared after decoding. Invalid UTF-8 makes the value absent.
pub fn form_value<'a>(data: &'a [u8], name: &str) -> Option<Cow<'a, str>> {
    let escaped = |s: &[u8]| s.iter().any(|&b| b == b'%' || b == b'+');
    // A key equal to the name byte for byte matches without decoding only when
    // nothing in it decodes: `a+b` is the name `a b`.
    let plain_name = !escaped(name.as_bytes());
    for pair in data.split(|&b| b == b'&') {
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        // Decoding never lengthens a key, so a shorter one cannot match.
        let key_matches = (plain_name && k == name.as_bytes())
            || (k.len() >= name.len() && escaped(k) && percent_decode(k).is_some_and(|k| k == name));
        if key_matches {
            return percent_decode(v);
        }
    }
    None
}

/// Percent-decodes `+`-as-space form data; borrows when nothing is escaped.
/// A `%` not followed by two hex digits is kept as is (like browsers do).
pub fn percent_decode(raw: &[u8]) -> Option<Cow<'_, str>> {
    if !raw.iter().any(|&b| b == b'%' || b == b'+') {
        return std::str::from_utf8(raw).ok().map(Cow::Borrowed);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                raw.get(i + 1).and_then(|&b| hex(b)),
                raw.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A JSON body field by JSON pointer (RFC 6901): strings as they are, numbers
/// and booleans as their text; `null`, objects and arrays count as absent.
pub fn json_value<'a>(body: &'a serde_json::Value, pointer: &str) -> Option<Cow<'a, str>> {
    match body.pointer(pointer)? {
        serde_json::Value::String(s) => Some(Cow::Borrowed(s)),
        serde_json::Value::Number(n) => Some(Cow::Owned(n.to_string())),
        serde_json::Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// A request body the policy may read.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Body {
    /// Not read (no rule needs it, or it was over the limit): body fields are absent.
    #[default]
    None,
    /// An `application/x-www-form-urlencoded` body.
    Form(Vec<u8>),
    /// A JSON body.
    Json(serde_json::Value),
}

impl Body {
    /// Reads `bytes` by content type: form, JSON, or nothing for any other
    /// type or a body that does not parse.
    pub fn parse(content_type: Option<&str>, bytes: &[u8]) -> Body {
        let ct = content_type.unwrap_or("").split(';').next().unwrap_or("").trim();
        if ct.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            Body::Form(bytes.to_vec())
        } else if ct.eq_ignore_ascii_case("application/json") || ct.ends_with("+json") {
            serde_json::from_slice(bytes).map(Body::Json).unwrap_or(Body::None)
        } else {
            Body::None
        }
    }

    /// A form field, when the body is a form.
    pub fn form(&self, name: &str) -> Option<Cow<'_, str>> {
        match self {
            Body::Form(b) => form_value(b, name),
            _ => None,
        }
    }

    /// A JSON field, when the body is JSON.
    pub fn json(&self, pointer: &str) -> Option<Cow<'_, str>> {
        match self {
            Body::Json(v) => json_value(v, pointer),
            _ => None,
        }
    }
}

/// An owned set of request attributes.
#[derive(Debug, Clone, Default)]
pub struct RequestAttrs {
    /// Method; default `GET`.
    pub method: String,
    /// Host without port, lower-case.
    pub host: Option<String>,
    /// Path; default `/`.
    pub path: String,
    /// Query string without `?`.
    pub query: Option<String>,
    /// Headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// Client IP.
    pub client_ip: Option<IpAddr>,
    /// Body, when read.
    pub body: Body,
    /// Answers to per-user key lookups; `None` means the key is missing; a key
    /// not in the map is unavailable.
    pub lookups: HashMap<String, Option<String>>,
}

impl RequestAttrs {
    /// A `GET` of `url` (`http://host:port/path?query`, or just `/path?query`).
    pub fn get(url: &str) -> Self {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let (authority, target) = if url.contains("://") {
            rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]))
        } else {
            ("", rest)
        };
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q.to_owned())),
            None => (target, None),
        };
        RequestAttrs {
            method: "GET".to_owned(),
            host: (!authority.is_empty()).then(|| host_without_port(authority).to_ascii_lowercase()),
            path: if path.is_empty() {
                "/".to_owned()
            } else {
                path.to_owned()
            },
            query,
            ..Default::default()
        }
    }

    /// Sets the method.
    pub fn method(mut self, m: &str) -> Self {
        self.method = m.to_ascii_uppercase();
        self
    }

    /// Adds a header (the name is lower-cased). A `Host` header sets the host.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = name.to_ascii_lowercase();
        if name == "host" {
            self.host = Some(host_without_port(value).to_ascii_lowercase());
        }
        self.headers.push((name, value.to_owned()));
        self
    }

    /// Adds a cookie to the `Cookie` header.
    pub fn cookie(mut self, name: &str, value: &str) -> Self {
        match self.headers.iter_mut().find(|(n, _)| n == "cookie") {
            Some((_, v)) => *v = format!("{v}; {name}={value}"),
            None => self.headers.push(("cookie".to_owned(), format!("{name}={value}"))),
        }
        self
    }

    /// Sets the client IP.
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.client_ip = Some(ip);
        self
    }

    /// Sets the body, read by the `Content-Type` header already set.
    pub fn body(mut self, bytes: &[u8]) -> Self {
        self.body = Body::parse(Request::header(&self, "content-type"), bytes);
        self
    }

    /// Records the answer for a per-user key (`None`: the key is missing).
    pub fn lookup_answer(mut self, key: &str, value: Option<&str>) -> Self {
        self.lookups.insert(key.to_owned(), value.map(str::to_owned));
        self
    }
}

/// `example.com:8080` → `example.com`; `[::1]:80` → `[::1]`.
pub fn host_without_port(authority: &str) -> &str {
    // Byte loops: hosts are short, and `str` pattern searches cost several
    // times more per request.
    let b = authority.as_bytes();
    let start = b.iter().rposition(|&c| c == b'@').map_or(0, |i| i + 1);
    let host = authority.get(start..).unwrap_or(authority);
    let hb = host.as_bytes();
    let end = if hb.first() == Some(&b'[') {
        hb.iter().position(|&c| c == b']').map_or(hb.len(), |i| i + 1)
    } else {
        hb.iter().position(|&c| c == b':').unwrap_or(hb.len())
    };
    host.get(..end).unwrap_or(host)
}

impl Request for RequestAttrs {
    fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn method(&self) -> &str {
        &self.method
    }
    fn header(&self, name: &str) -> Option<&str> {
        // The first byte settles most mismatches without a memcmp call.
        let first = name.as_bytes().first();
        self.headers
            .iter()
            .find(|(n, _)| n.as_bytes().first() == first && n == name)
            .map(|(_, v)| v.as_str())
    }
    fn query_string(&self) -> Option<&str> {
        self.query.as_deref()
    }
    fn client_ip(&self) -> Option<IpAddr> {
        self.client_ip
    }
    fn form(&self, name: &str) -> Option<Cow<'_, str>> {
        self.body.form(name)
    }
    fn json(&self, pointer: &str) -> Option<Cow<'_, str>> {
        self.body.json(pointer)
    }
    fn lookup(&self, key: &str) -> Lookup<'_> {
        match self.lookups.get(key) {
            Some(Some(v)) => Lookup::Found(v),
            Some(None) => Lookup::Missing,
            None => Lookup::Unavailable,
        }
    }
}

#[cfg(test)]
mod tests;
