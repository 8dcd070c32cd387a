//! What the engine reads from a request.
//!
//! The engine is generic over [`Request`], so the proxy can answer from
//! hyper's parsed head without copying, while tests, `graygate explain` and the
//! client SDK use the owned [`crate::RequestAttrs`]. Every accessor returns a
//! borrow where it can; only percent-decoding and non-string JSON values
//! allocate.

use crate::attrs;
use std::borrow::Cow;
use std::net::IpAddr;

/// The answer to a per-user key lookup (`lookup = "gray:{user}"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// The key holds this value.
    Found(&'a str),
    /// The key does not exist: the subject is absent.
    Missing,
    /// The lookup could not be answered (store down, timeout): the condition
    /// does not match, whatever its operator.
    Unavailable,
}

/// Request attributes, as the policy sees them.
pub trait Request {
    /// The host without port, lower-case; `None` when the request has none.
    fn host(&self) -> Option<&str>;
    /// The path, without the query string.
    fn path(&self) -> &str;
    /// The method, e.g. `GET`.
    fn method(&self) -> &str;
    /// The first value of a header; `name` is lower-case.
    fn header(&self, name: &str) -> Option<&str>;
    /// The raw query string (after `?`), if any.
    fn query_string(&self) -> Option<&str>;
    /// The client IP, already resolved through trusted proxies.
    fn client_ip(&self) -> Option<IpAddr>;

    /// A cookie's value, from the `Cookie` header.
    fn cookie(&self, name: &str) -> Option<&str> {
        attrs::cookie_value(self.header("cookie")?, name)
    }
    /// A query parameter, percent-decoded.
    fn query(&self, name: &str) -> Option<Cow<'_, str>> {
        attrs::form_value(self.query_string()?.as_bytes(), name)
    }
    /// A field of a form body; `None` when the body was not read.
    fn form(&self, _name: &str) -> Option<Cow<'_, str>> {
        None
    }
    /// A field of a JSON body by JSON pointer; `None` when the body was not read.
    fn json(&self, _pointer: &str) -> Option<Cow<'_, str>> {
        None
    }
    /// The answer for a per-user key. Default: [`Lookup::Unavailable`].
    fn lookup(&self, _key: &str) -> Lookup<'_> {
        Lookup::Unavailable
    }
}
