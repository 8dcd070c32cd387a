//! Requests made from a policy's own rules, so that a fuzzed policy is
//! decided on requests that reach its routes and satisfy (some of) its
//! conditions, not only on requests that match nothing.

use graygate_policy::model::{Attr, Condition, Route, UserIdSource};
use graygate_policy::{Body, Policy, RequestAttrs};
use serde_json::{Map, Value};
use std::net::IpAddr;

/// At most this many routes, and rules per route, get requests of their own.
const MAX_ROUTES: usize = 8;
const MAX_RULES: usize = 16;

/// For each of the first routes: a bare request to it, and one per rule whose
/// condition's subjects carry values that satisfy its operators (in `all`,
/// `any` and `not` alike, so some are meant to fail); a split's hash key is
/// given a value too.
pub(crate) fn requests(p: &Policy) -> Vec<RequestAttrs> {
    let mut out = Vec::new();
    for route in p.routes.iter().take(MAX_ROUTES) {
        let base = Draft::for_route(route);
        out.push(base.clone().build(p));
        for rule in route.rules.iter().take(MAX_RULES) {
            let mut d = base.clone();
            if let Some(c) = &rule.when {
                d.satisfy(c, p, 0);
            }
            if let Some(s) = &rule.split {
                d.key(&s.by);
            }
            out.push(d.build(p));
        }
    }
    out
}

/// A request being made; `build` turns it into [`RequestAttrs`].
#[derive(Debug, Clone, Default)]
struct Draft {
    host: Option<String>,
    path: String,
    method: Option<String>,
    headers: Vec<(String, String)>,
    cookies: Vec<(String, String)>,
    query: Vec<(String, String)>,
    form: Vec<(String, String)>,
    json: Option<Value>,
    ip: Option<IpAddr>,
    user: Option<String>,
    lookups: Vec<(String, String)>,
}

impl Draft {
    fn for_route(r: &Route) -> Draft {
        let host = r.host.as_deref().map(|h| match h.strip_prefix('*') {
            Some(suffix) => format!("w{suffix}"),
            None => h.to_owned(),
        });
        Draft {
            host,
            path: format!("{}x", r.path_prefix),
            ..Draft::default()
        }
    }

    /// Gives the condition's subjects values that make its tests true.
    fn satisfy(&mut self, c: &Condition, p: &Policy, depth: usize) {
        if depth > 8 {
            return;
        }
        for sub in c.all.iter().chain(&c.any).flatten().chain(c.not.as_deref()) {
            self.satisfy(sub, p, depth + 1);
        }
        let v = witness(c, p);
        let set = |v: Option<String>| v.unwrap_or_else(|| "1".to_owned());
        if let Some(h) = &c.header {
            self.headers.push((h.clone(), set(v)));
        } else if let Some(n) = &c.cookie {
            self.cookies.push((n.clone(), set(v)));
        } else if let Some(n) = &c.query {
            self.query.push((n.clone(), set(v)));
        } else if let Some(n) = &c.form {
            self.form.push((n.clone(), set(v)));
        } else if let Some(ptr) = &c.json {
            let json = self.json.get_or_insert_with(|| Value::Object(Map::new()));
            put(json, ptr, Value::String(set(v)));
        } else if let Some(t) = &c.lookup {
            let user = self.user.get_or_insert_with(|| "u1".to_owned()).clone();
            self.lookups.push((t.replace("{user}", &user), set(v)));
        } else if let Some(ranges) = &c.ip {
            self.ip = ranges.first().and_then(|r| address(r));
        } else if let Some(list) = &c.list {
            self.user = p.lists.get(list).and_then(|ids| ids.first()).cloned();
        } else if let Some(attr) = c.attr {
            match attr {
                Attr::Host => self.host = v,
                Attr::Path => self.path = set(v),
                Attr::Method => self.method = v,
                Attr::User => self.user = v,
                Attr::Ip => self.ip = v.as_deref().and_then(address),
            }
        }
    }

    /// Gives a split's hash key a value.
    fn key(&mut self, by: &str) {
        match by.split_once(':') {
            Some(("header", n)) => self.headers.push((n.to_owned(), "k".to_owned())),
            Some(("cookie", n)) => self.cookies.push((n.to_owned(), "k".to_owned())),
            Some(("query", n)) => self.query.push((n.to_owned(), "k".to_owned())),
            _ if by == "ip" => self.ip = Some(IpAddr::from([192, 0, 2, 1])),
            _ => {
                self.user.get_or_insert_with(|| "u2".to_owned());
            }
        }
    }

    fn build(mut self, p: &Policy) -> RequestAttrs {
        if let Some(user) = self.user.take() {
            match p.user_id.first() {
                None => self.headers.push(("x-user-id".to_owned(), user)),
                Some(UserIdSource::Header(h)) => self.headers.push((h.clone(), user)),
                Some(UserIdSource::Cookie(c)) => self.cookies.push((c.clone(), user)),
                Some(UserIdSource::Query(q)) => self.query.push((q.clone(), user)),
            }
        }
        let mut r = RequestAttrs::get("/");
        r.host = self.host.map(|h| h.to_ascii_lowercase());
        r.path = self.path;
        if let Some(m) = self.method {
            r = r.method(&m);
        }
        for (n, v) in &self.headers {
            r = r.header(n, v);
        }
        for (n, v) in &self.cookies {
            r = r.cookie(n, v);
        }
        if !self.query.is_empty() {
            r.query = Some(form_data(&self.query));
        }
        r.body = match (self.json, self.form.is_empty()) {
            (Some(v), _) => Body::Json(v),
            (None, false) => Body::Form(form_data(&self.form).into_bytes()),
            (None, true) => Body::None,
        };
        r.client_ip = self.ip;
        for (k, v) in &self.lookups {
            r = r.lookup_answer(k, Some(v));
        }
        r
    }
}

/// A value that makes the condition's operator true, when there is one.
fn witness(c: &Condition, p: &Policy) -> Option<String> {
    let num = |n: f64| Some(format!("{n}"));
    if let Some(t) = c.equals.as_ref().or(c.in_set.as_ref().and_then(|s| s.first())) {
        return Some(t.0.clone());
    }
    if let Some(t) = &c.not_equals {
        return Some(format!("{}x", t.0));
    }
    if let Some(l) = &c.in_list {
        return p.lists.get(l).and_then(|ids| ids.first()).cloned();
    }
    if let Some(s) = c.prefix.as_ref().or(c.suffix.as_ref()).or(c.contains.as_ref()) {
        return Some(s.clone());
    }
    let versions = [
        &c.version_gt,
        &c.version_ge,
        &c.version_lt,
        &c.version_le,
        &c.version_eq,
    ];
    if let Some(v) = versions.into_iter().flatten().next() {
        return Some(v.clone());
    }
    match (c.gt, c.ge, c.lt, c.le) {
        (Some(n), ..) => return num(n + 1.0),
        (_, Some(n), ..) | (.., Some(n)) => return num(n),
        (_, _, Some(n), _) => return num(n - 1.0),
        _ => {}
    }
    if let Some(r) = c.cidr.as_ref().and_then(|rs| rs.first()) {
        return r.split('/').next().map(str::to_owned);
    }
    c.exists.map(|_| "1".to_owned())
}

fn address(range: &str) -> Option<IpAddr> {
    range.trim().split('/').next()?.parse().ok()
}

/// Puts `v` at JSON pointer `ptr` in `doc`, making objects on the way.
fn put(doc: &mut Value, ptr: &str, v: Value) {
    let Some(rest) = ptr.strip_prefix('/') else {
        *doc = v;
        return;
    };
    let mut at = doc;
    let tokens: Vec<String> = rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    if tokens.len() > 16 {
        return;
    }
    for t in tokens {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        let Value::Object(map) = at else { return };
        at = map.entry(t).or_insert(Value::Null);
    }
    *at = v;
}

/// `k=v&…`, every name and value percent-encoded.
fn form_data(pairs: &[(String, String)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    parts.join("&")
}

/// Percent-encodes all but unreserved characters; a space becomes `+`.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s.as_bytes() {
        match b {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(b)),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
