//! One typed error for the request path: what failed, who failed (client,
//! upstream or graygate), whether another server may be tried, and the cause.
//!
//! Each error becomes exactly one status code ([`ProxyError::status`]) and one
//! log line; the client sees only the status and a short reason phrase, never
//! the cause.

use http::StatusCode;
use std::fmt;

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request could not be read (bad framing, reset while reading its body).
    BadRequest,
    /// The client took longer than `client_timeout_ms` to send a bounded body.
    ClientTimeout,
    /// No server of the chosen group (nor of the fallback) could be connected to.
    ConnectFailed,
    /// Every server of the group (and of the fallback) is marked down.
    NoLiveUpstream,
    /// The upstream closed or reset the connection, or sent a malformed response.
    UpstreamReset,
    /// The upstream did not answer within `read_timeout_ms`.
    UpstreamTimeout,
}

/// Which side of the proxy failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The downstream client.
    Client,
    /// The upstream server.
    Upstream,
}

/// A failed request, with its cause.
#[derive(Debug)]
pub struct ProxyError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The underlying error, for the log.
    pub cause: Option<Cause>,
}

impl ProxyError {
    /// An error of `kind` caused by `cause`.
    pub fn new(kind: ErrorKind, cause: impl Into<Cause>) -> ProxyError {
        ProxyError {
            kind,
            cause: Some(cause.into()),
        }
    }

    /// An error of `kind` with no further cause.
    pub fn bare(kind: ErrorKind) -> ProxyError {
        ProxyError { kind, cause: None }
    }

    /// The status answered to the client.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::ClientTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::ConnectFailed | ErrorKind::NoLiveUpstream | ErrorKind::UpstreamReset => StatusCode::BAD_GATEWAY,
            ErrorKind::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// Who failed.
    pub fn side(&self) -> Side {
        match self.kind {
            ErrorKind::BadRequest | ErrorKind::ClientTimeout => Side::Client,
            _ => Side::Upstream,
        }
    }

    /// Whether the request may be sent to another server: only when it never
    /// reached one.
    pub fn retryable(&self) -> bool {
        self.kind == ErrorKind::ConnectFailed
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ErrorKind::BadRequest => "malformed request",
            ErrorKind::ClientTimeout => "client too slow sending the body",
            ErrorKind::ConnectFailed => "could not connect to any upstream server",
            ErrorKind::NoLiveUpstream => "no live upstream server",
            ErrorKind::UpstreamReset => "upstream closed the connection",
            ErrorKind::UpstreamTimeout => "upstream timed out",
        };
        f.write_str(what)?;
        if let Some(c) = &self.cause {
            write!(f, ": {c}")?;
            let mut src = c.source();
            while let Some(s) = src {
                write!(f, ": {s}")?;
                src = s.source();
            }
        }
        Ok(())
    }
}

impl std::error::Error for ProxyError {}
