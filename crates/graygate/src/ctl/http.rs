//! The smallest client the admin API needs: one HTTP/1.1 request per
//! connection (hyper's connection-level API over a `TcpStream`), JSON in and
//! out, and every way it can fail turned into a message that says what to do.
//!
//! Plain `http://` only: the admin listener is meant for loopback or a
//! private network; a remote gateway is reached through TLS in front of it or
//! an SSH tunnel, and this client does not pretend otherwise.

use super::{CtlError, Global};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How long to wait for the TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one whole exchange may take (a list of 100,000 ids takes a second or two).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest answer read: a policy with millions of list ids, with room to spare.
const MAX_ANSWER: usize = 256 * 1024 * 1024;

/// A parsed `--admin` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Base {
    /// As the user wrote it, for messages.
    pub(crate) url: String,
    /// `host:port`, to connect to.
    connect: String,
    /// The `Host` header.
    authority: String,
    /// A path prefix without trailing slash (`""` for none), for an API behind a prefix.
    prefix: String,
}

impl Base {
    /// Parses `http://HOST[:PORT][/PREFIX]`.
    pub(crate) fn parse(url: &str) -> Result<Base, CtlError> {
        let invalid = |why: &str| CtlError::Local(format!("invalid --admin URL {url:?}: {why}"));
        let uri: http::Uri = url
            .parse()
            .map_err(|_| invalid("expected http://HOST[:PORT], e.g. http://127.0.0.1:9180"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(CtlError::Local(format!(
                    "{url}: https is not supported: graygate ctl speaks plain http to the admin listener; \
                     put TLS in front of it and reach it through a local port, or use an SSH tunnel \
                     (ssh -L 9180:127.0.0.1:9180 HOST, then --admin http://127.0.0.1:9180)"
                )));
            }
            _ => return Err(invalid("expected http://HOST[:PORT], e.g. http://127.0.0.1:9180")),
        }
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid(
                "user information is not supported; pass the token with --token",
            ));
        }
        if uri.query().is_some() {
            return Err(invalid("a query string is not expected"));
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let port = authority.port_u16().unwrap_or(80);
        Ok(Base {
            url: url.to_owned(),
            connect: format!("{host}:{port}"),
            authority: authority.as_str().to_owned(),
            prefix: uri.path().trim_end_matches('/').to_owned(),
        })
    }
}

/// An answer of the admin API: its status and JSON body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
}

/// The admin API of one gateway, and who is asking.
#[derive(Debug)]
pub(crate) struct Admin {
    base: Base,
    token: Option<String>,
    actor: HeaderValue,
}

impl Admin {
    /// From the global options: the URL checked, the token read.
    pub(crate) fn new(global: &Global) -> Result<Admin, CtlError> {
        let base = Base::parse(&global.admin)?;
        let token = match &global.token_file {
            Some(path) => Some(read_token(path)?),
            None => global.token.clone().filter(|t| !t.is_empty()),
        };
        if let Some(t) = &token
            && HeaderValue::from_str(&format!("Bearer {t}")).is_err()
        {
            return Err(CtlError::Local(
                "the token has characters that cannot go in an HTTP header".into(),
            ));
        }
        let actor = match &global.actor {
            // The admin API reads X-Actor only when it is printable ASCII.
            Some(a) => HeaderValue::from_str(a)
                .ok()
                .filter(|_| !a.is_empty() && a.chars().all(|c| c == ' ' || c.is_ascii_graphic()))
                .ok_or_else(|| CtlError::Local(format!("--actor {a:?}: expected printable ASCII")))?,
            None => HeaderValue::from_str(&default_actor()).unwrap_or(HeaderValue::from_static("graygate-ctl")),
        };
        Ok(Admin { base, token, actor })
    }

    /// The base URL, for messages.
    pub(crate) fn url(&self) -> &str {
        &self.base.url
    }

    /// A GET whose answer must be a success.
    pub(crate) async fn get(&self, path: &str) -> Result<Value, CtlError> {
        self.call(Method::GET, path, None, None).await
    }

    /// A request whose answer must be a success; its JSON body.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<u64>,
    ) -> Result<Value, CtlError> {
        let answer = self.send(method, path, body, if_match).await?;
        if answer.status.is_success() {
            Ok(answer.body)
        } else {
            Err(self.refusal(answer.status, &answer.body))
        }
    }

    /// A request; its answer whatever the status, as long as the body is JSON.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<u64>,
    ) -> Result<Answer, CtlError> {
        let write = method != Method::GET;
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base.prefix))
            .header(header::HOST, &self.base.authority)
            .header(header::USER_AGENT, concat!("graygate-ctl/", env!("CARGO_PKG_VERSION")))
            .header(header::ACCEPT, "application/json")
            .header("x-actor", self.actor.clone());
        if let Some(token) = &self.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(v) = if_match {
            req = req.header(header::IF_MATCH, format!("\"{v}\""));
        }
        let bytes = match body {
            Some(b) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                serde_json::to_vec(b).map_err(|e| CtlError::Local(format!("cannot encode the request: {e}")))?
            }
            None => Vec::new(),
        };
        let req = req
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| CtlError::Local(format!("invalid request {path:?}: {e}")))?;
        let (status, content) = match timeout(EXCHANGE_TIMEOUT, self.exchange(req, write)).await {
            Ok(r) => r?,
            Err(_) => return Err(self.broken(write, &format!("no answer within {EXCHANGE_TIMEOUT:?}"))),
        };
        let body = serde_json::from_slice(&content).map_err(|_| self.not_json(status, &content))?;
        Ok(Answer { status, body })
    }

    async fn exchange(&self, req: Request<Full<Bytes>>, write: bool) -> Result<(StatusCode, Bytes), CtlError> {
        let stream = match timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.base.connect)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(self.unreachable(&e.to_string())),
            Err(_) => return Err(self.unreachable(&format!("no connection within {CONNECT_TIMEOUT:?}"))),
        };
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.broken(write, &chain(&e)))?;
        // Drives the connection; ends with it, or with the runtime.
        tokio::spawn(conn);
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| self.broken(write, &chain(&e)))?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| self.broken(write, &format!("reading the answer: {e}")))?
            .to_bytes();
        Ok((status, body))
    }

    fn unreachable(&self, why: &str) -> CtlError {
        CtlError::Transport(format!(
            "cannot reach the admin API at {}: {why} (is `graygate serve` running with an admin listener? \
             set --admin or GRAYGATE_ADMIN)",
            self.base.url
        ))
    }

    fn broken(&self, write: bool, why: &str) -> CtlError {
        let after = if write {
            "; the change may or may not have been made: see `graygate ctl history`"
        } else {
            ""
        };
        CtlError::Transport(format!("the admin API at {} failed: {why}{after}", self.base.url))
    }

    fn not_json(&self, status: StatusCode, content: &[u8]) -> CtlError {
        let text = String::from_utf8_lossy(content);
        let mut snippet: String = text.trim().chars().take(200).collect();
        if snippet.is_empty() {
            snippet = "(an empty body)".into();
        }
        CtlError::Transport(format!(
            "{} answered {status} with something that is not JSON (is --admin the gateway's admin listener?): {snippet}",
            self.base.url
        ))
    }

    /// The message for an error answer: what happened and what to do.
    pub(crate) fn refusal(&self, status: StatusCode, body: &Value) -> CtlError {
        let said = body.get("error").and_then(Value::as_str).unwrap_or("").to_owned();
        let message = match status {
            StatusCode::BAD_REQUEST => match body.get("errors").and_then(Value::as_array) {
                Some(errors) => {
                    let mut m = "the admin API refused the policy; nothing was changed:".to_owned();
                    for e in errors {
                        let path = e.get("path").and_then(Value::as_str).unwrap_or("");
                        let msg = e.get("message").and_then(Value::as_str).unwrap_or("");
                        m.push_str(&if path.is_empty() {
                            format!("\n  {msg}")
                        } else {
                            format!("\n  {path}: {msg}")
                        });
                    }
                    m
                }
                None => format!("the admin API refused the request: {said}"),
            },
            StatusCode::UNAUTHORIZED if self.token.is_none() => format!(
                "the admin API needs a token for this and none was given: set --token, --token-file or \
                 GRAYGATE_TOKEN ({said})"
            ),
            StatusCode::UNAUTHORIZED => {
                "the admin API refused the token: wrong token (check --token, --token-file or GRAYGATE_TOKEN)"
                    .to_owned()
            }
            StatusCode::FORBIDDEN => format!("the admin API refuses this: {said}"),
            StatusCode::NOT_FOUND => said,
            StatusCode::CONFLICT => match body.get("current_version").and_then(Value::as_u64) {
                Some(v) => format!("the policy changed meanwhile: it is now at version {v}; re-read it and retry"),
                None => format!("conflict: {said}"),
            },
            StatusCode::SERVICE_UNAVAILABLE => format!("the admin API is unavailable: {said}"),
            _ => format!("the admin API answered {status}: {said}"),
        };
        CtlError::Api {
            status: status.as_u16(),
            message,
        }
    }
}

/// The error and its causes, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// The first line of the token file.
fn read_token(path: &std::path::Path) -> Result<String, CtlError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| CtlError::Local(format!("--token-file {}: {e}", path.display())))?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.is_empty() {
        return Err(CtlError::Local(format!(
            "--token-file {}: the file is empty",
            path.display()
        )));
    }
    Ok(token)
}

/// `$USER@hostname`, as far as they are known, in printable ASCII.
fn default_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|h| !h.is_empty());
    let actor = match host {
        Some(h) => format!("{user}@{h}"),
        None => user,
    };
    actor
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// `s` as one path segment: everything but unreserved characters percent-encoded.
pub(crate) fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_urls_are_plain_http_with_an_optional_prefix() {
        let b = Base::parse("http://127.0.0.1:9180").unwrap();
        assert_eq!((b.connect.as_str(), b.prefix.as_str()), ("127.0.0.1:9180", ""));
        let b = Base::parse("http://gw.internal/graygate/").unwrap();
        assert_eq!((b.connect.as_str(), b.prefix.as_str()), ("gw.internal:80", "/graygate"));
        let b = Base::parse("http://[::1]:9180").unwrap();
        assert_eq!(b.connect, "[::1]:9180");
        let https = Base::parse("https://gw:9180").unwrap_err().to_string();
        assert!(https.contains("SSH tunnel"), "{https}");
        for bad in ["127.0.0.1:9180", "ftp://x", "http://", "not a url", "http://a:b@h/"] {
            assert!(Base::parse(bad).is_err(), "{bad}");
        }
    }

    fn admin(token: Option<&str>, actor: Option<&str>) -> Result<Admin, CtlError> {
        Admin::new(&Global {
            admin: "http://127.0.0.1:9180".into(),
            token: token.map(Into::into),
            token_file: None,
            actor: actor.map(Into::into),
            json: false,
        })
    }

    #[test]
    fn every_error_answer_says_what_happened_and_what_to_do() {
        let a = admin(Some("t"), None).unwrap();
        let said = |status: u16, body: Value| a.refusal(StatusCode::from_u16(status).unwrap(), &body).to_string();
        let invalid = serde_json::json!({ "error": "invalid policy", "errors": [
            { "path": "routes[0].default", "message": "unknown group \"v3\"" },
            { "path": "", "message": "expected a table" },
        ]});
        assert_eq!(
            said(400, invalid),
            "the admin API refused the policy; nothing was changed:\n  routes[0].default: unknown group \"v3\"\n  \
             expected a table"
        );
        let bad = serde_json::json!({ "error": "expected {\"ids\": […]}" });
        assert_eq!(
            said(400, bad),
            "the admin API refused the request: expected {\"ids\": […]}"
        );
        let stale = serde_json::json!({ "error": "stale version", "current_version": 7 });
        assert_eq!(
            said(409, stale),
            "the policy changed meanwhile: it is now at version 7; re-read it and retry"
        );
        let down = serde_json::json!({ "error": "the policy store is unavailable; nothing was changed" });
        assert_eq!(
            said(503, down),
            "the admin API is unavailable: the policy store is unavailable; nothing was changed"
        );
        let odd = serde_json::json!({ "error": "teapot" });
        assert_eq!(said(418, odd), "the admin API answered 418 I'm a teapot: teapot");
        let tokenless = admin(None, None).unwrap();
        let m = tokenless.refusal(StatusCode::UNAUTHORIZED, &Value::Null).to_string();
        assert!(m.contains("none was given: set --token"), "{m}");
    }

    #[test]
    fn an_actor_must_fit_in_a_header() {
        assert!(admin(None, Some("alice@ops")).is_ok());
        assert!(admin(None, Some("zoë")).is_err());
        assert!(admin(None, Some("")).is_err());
        assert!(default_actor().chars().all(|c| c.is_ascii_graphic()));
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(segment("shop"), "shop");
        assert_eq!(segment("a b/c?"), "a%20b%2Fc%3F");
        assert_eq!(segment("é"), "%C3%A9");
    }
}
