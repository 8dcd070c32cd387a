//! The policy's view of a request: [`graygate_policy::Request`] answered from
//! the parsed head without copying it.
//!
//! Only the host is normalised (port dropped, lower-cased — which allocates
//! only when the client sent upper case). Header values that are not visible
//! ASCII count as absent.

use graygate_policy::attrs::host_without_port;
use graygate_policy::{Body, Request};
use http::request::Parts;
use std::borrow::Cow;
use std::net::IpAddr;

/// Up to this many fields, a field is found by a scan (see `header`).
const SCAN_FIELDS: usize = 16;

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
        // An absolute-form target's host wins over `Host` (RFC 9112
        // §3.2.2, nginx's `$host`); `forward` sends it upstream as `Host`.
        let authority = parts
            .uri
            .host()
            .or_else(|| parts.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()));
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
        let headers = &self.parts.headers;
        // A request has a handful of fields: comparing their lengths (then
        // bytes) is cheaper than parsing and hashing `name` for the map's
        // lookup, done for each field a rule reads. The first match is the
        // first value, as `get` gives.
        let value = if headers.len() <= SCAN_FIELDS {
            headers
                .iter()
                .find(|(n, _)| n.as_str().len() == name.len() && n.as_str().eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        } else {
            headers.get(name)
        };
        value.and_then(|v| v.to_str().ok())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(fields: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::get("/");
        for (n, v) in fields {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn a_field_is_its_first_value_in_any_case_however_many_fields() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        let few = parts(&[("x-user-id", "u1"), ("X-User-Id", "u2"), ("x-other", "o")]);
        let mut many: Vec<(String, String)> = (0..20).map(|i| (format!("x-f{i}"), i.to_string())).collect();
        many.extend([
            ("x-user-id".to_owned(), "u1".to_owned()),
            ("x-user-id".to_owned(), "u2".to_owned()),
        ]);
        let many = parts(&many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect::<Vec<_>>());
        for p in [&few, &many] {
            let view = View::new(p, ip);
            assert_eq!(view.header("x-user-id"), Some("u1"));
            assert_eq!(view.header("X-USER-ID"), Some("u1"));
            assert_eq!(view.header("x-user-i"), None);
            assert_eq!(view.header("x-missing"), None);
        }
        assert!(many.headers.len() > SCAN_FIELDS, "the map's lookup is used too");
    }

    #[test]
    fn an_absolute_form_targets_host_wins_over_the_host_field() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        let mut abs = parts(&[("host", "other.example")]);
        abs.uri = "http://user@Abs.Example:8080/p".parse().unwrap();
        assert_eq!(View::new(&abs, ip).host(), Some("abs.example"));
        let origin = parts(&[("host", "Other.Example:80")]);
        assert_eq!(View::new(&origin, ip).host(), Some("other.example"));
    }
}
