//! The policy's view of a request: [`graygate_policy::Request`] answered from
//! hyper's parsed head without copying it.
//!
//! Only the host is normalised (port dropped, lower-cased — which allocates
//! only when the client sent upper case). Header values that are not visible
//! ASCII count as absent.

use graygate_policy::attrs::host_without_port;
use graygate_policy::{Body, Request};
use http::request::Parts;
use std::borrow::Cow;
use std::net::IpAddr;

/// A request as the policy engine reads it.
#[derive(Debug)]
pub struct View<'a> {
    parts: &'a Parts,
    host: Option<Cow<'a, str>>,
    client_ip: IpAddr,
    /// The body, when a rule needed it and it fit in the limit.
    pub body: Body,
}

impl<'a> View<'a> {
    /// A view of `parts` from client `client_ip`; the body is not read yet.
    pub fn new(parts: &'a Parts, client_ip: IpAddr) -> View<'a> {
        let authority = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()));
        let host = authority.map(host_without_port).map(|h| {
            if h.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(h.to_ascii_lowercase())
            } else {
                Cow::Borrowed(h)
            }
        });
        View {
            parts,
            host,
            client_ip,
            body: Body::None,
        }
    }
}

impl Request for View<'_> {
    fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }
    fn path(&self) -> &str {
        self.parts.uri.path()
    }
    fn method(&self) -> &str {
        self.parts.method.as_str()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.parts.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn query_string(&self) -> Option<&str> {
        self.parts.uri.query()
    }
    fn client_ip(&self) -> Option<IpAddr> {
        Some(self.client_ip)
    }
    fn form(&self, name: &str) -> Option<Cow<'_, str>> {
        self.body.form(name)
    }
    fn json(&self, pointer: &str) -> Option<Cow<'_, str>> {
        self.body.json(pointer)
    }
}
