//! Phase 5: choosing a server and sending the request, with the retry and
//! fallback rules.
//!
//! Attempts go, in order: live servers of the chosen group (weighted, backups
//! last); then live servers of the route's fallback group (the decision's
//! reason becomes `fallback`); then, as a last resort when everything was
//! marked down, the chosen group's remaining servers regardless of health. A
//! request moves to the next server only when it never reached one (connect
//! failure); once sent, a failure is answered, never replayed.

use crate::body::ReqBody;
use crate::error::{ErrorKind, ProxyError, Side};
use crate::gateway::Snapshot;
use crate::upstream::{GroupUpstream, ServerState, Tried};
use graygate_policy::{Decision, GroupId};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use std::sync::Arc;
use std::time::Duration;

type Sent<'p> = (Decision<'p>, Arc<ServerState>, Response<Incoming>);

/// Sends `req` to a server of the decided group (or its fallback).
pub(super) async fn forward<'p>(
    snap: &'p Snapshot,
    decision: Decision<'p>,
    fallback: Option<(GroupId, &'p str)>,
    mut req: Request<ReqBody>,
) -> Result<Sent<'p>, (Decision<'p>, ProxyError)> {
    let Some(chosen) = snap.upstreams.group(decision.group_id) else {
        return Err((decision, ProxyError::bare(ErrorKind::NoLiveUpstream)));
    };
    let fallback = fallback.and_then(|(id, name)| Some((id, name, snap.upstreams.group(id)?)));
    // HTTP/1.1 needs a Host; a client without one (HTTP/1.0) gets the server's.
    let fill_host = !req.headers().contains_key(http::header::HOST);
    let mut tried_chosen = Tried::default();
    let mut last = None;
    let mut attempts = 0u32;
    for stage in [Stage::Chosen, Stage::Fallback, Stage::LastResort] {
        let (group, d, ignore_health, mut tried) = match stage {
            Stage::Chosen => (chosen, decision, false, tried_chosen),
            Stage::Fallback => match fallback {
                Some((id, name, g)) => (g, decision.fallback_to(id, name), false, Tried::default()),
                None => continue,
            },
            Stage::LastResort => (chosen, decision, true, tried_chosen),
        };
        if let Some(tag) = snap.group_values.get(usize::from(d.group_id.0)) {
            req.headers_mut().insert(snap.settings.tag_header.clone(), tag.clone());
        }
        while let Some(server) = group.pick(&mut tried, ignore_health) {
            if attempts > 0 {
                crate::metrics::retried(snap, &d);
            }
            attempts += 1;
            if fill_host && let Ok(host) = http::HeaderValue::from_str(&server.addr) {
                req.headers_mut().insert(http::header::HOST, host);
            }
            match send(server, group, req).await {
                Ok((resp, tx)) => {
                    server.record_success();
                    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
                        server.pool.put(tx, group.timeouts.max_idle);
                    }
                    return Ok((d, server.clone(), resp));
                }
                Err(Failure::Connect(e, back)) => {
                    tracing::info!(group = %group.name, server = %server.addr, error = %e, "connect failed; trying another server");
                    server.count_connect_failure();
                    server.record_failure(group.passive);
                    last = Some(e);
                    req = back;
                }
                Err(Failure::Sent(e)) => {
                    if e.side() == Side::Upstream {
                        server.record_failure(group.passive);
                    }
                    return Err((d, e));
                }
            }
        }
        if stage == Stage::Chosen {
            tried_chosen = tried;
        }
    }
    Err((
        decision,
        last.unwrap_or_else(|| ProxyError::bare(ErrorKind::NoLiveUpstream)),
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Chosen,
    Fallback,
    LastResort,
}

// The request travels by value between attempts; boxing it would allocate per request.
#[allow(clippy::large_enum_variant)]
enum Failure {
    /// The request never left: it may go to another server.
    Connect(ProxyError, Request<ReqBody>),
    /// The request was (at least partly) sent.
    Sent(ProxyError),
}

#[allow(clippy::large_enum_variant)]
enum Attempt {
    Unsent(Request<ReqBody>),
    Failed(ProxyError),
}

/// A pooled connection idle for longer than this may have been closed by the
/// server just as the request went out (its keep-alive timeout): a bodiless
/// idempotent request sent on it is kept for one replay on a new connection.
const REPLAY_AFTER_IDLE: Duration = Duration::from_millis(500);

/// One server: a pooled connection first, a new one if there is none or the
/// pooled one turned out closed.
async fn send(
    server: &ServerState,
    group: &GroupUpstream,
    mut req: Request<ReqBody>,
) -> Result<(Response<Incoming>, SendRequest<ReqBody>), Failure> {
    let t = group.timeouts;
    if let Some((mut tx, idle_for)) = server.pool.take(t.idle) {
        // Copying the head costs an allocation: only where the race is likely.
        let replay = (idle_for > REPLAY_AFTER_IDLE).then(|| replayable(&req)).flatten();
        match attempt(&mut tx, req, t.read).await {
            Ok(resp) => return Ok((resp, tx)),
            Err(Attempt::Unsent(back)) => req = back,
            Err(Attempt::Failed(e)) => match replay {
                Some(again) if e.kind == ErrorKind::UpstreamReset => {
                    tracing::debug!(server = %server.addr, error = %e, "stale keep-alive connection; replaying on a new one");
                    req = again;
                }
                _ => return Err(Failure::Sent(e)),
            },
        }
    }
    let mut tx = match server.connect(t.connect).await {
        Ok(tx) => tx,
        Err(e) => return Err(Failure::Connect(e, req)),
    };
    match attempt(&mut tx, req, t.read).await {
        Ok(resp) => Ok((resp, tx)),
        Err(Attempt::Unsent(back)) => Err(Failure::Connect(
            ProxyError::new(
                ErrorKind::ConnectFailed,
                "connection closed before the request was sent",
            ),
            back,
        )),
        Err(Attempt::Failed(e)) => Err(Failure::Sent(e)),
    }
}

/// Sends on one connection and waits for the response head. The read
/// timeout counts silence: while the request body is still moving it is
/// restarted, so a long upload is not mistaken for a dead server.
async fn attempt(
    tx: &mut SendRequest<ReqBody>,
    mut req: Request<ReqBody>,
    read: Duration,
) -> Result<Response<Incoming>, Attempt> {
    let progress = req.body_mut().track();
    let mut sent = std::pin::pin!(tx.try_send_request(req));
    let mut seen = progress.as_ref().map_or(0, |p| p.get());
    let result = loop {
        match tokio::time::timeout(read, sent.as_mut()).await {
            Ok(r) => break r,
            Err(_) => match &progress {
                Some(p) if p.get() != seen => seen = p.get(),
                _ => {
                    return Err(Attempt::Failed(ProxyError::new(
                        ErrorKind::UpstreamTimeout,
                        format!("no response head within {} ms", read.as_millis()),
                    )));
                }
            },
        }
    };
    match result {
        Ok(resp) => Ok(resp),
        Err(mut e) => match e.take_message() {
            Some(back) => Err(Attempt::Unsent(back)),
            None => Err(Attempt::Failed(classify(e.into_error()))),
        },
    }
}

/// A copy of a request that is safe to send twice: idempotent and bodiless.
fn replayable(req: &Request<ReqBody>) -> Option<Request<ReqBody>> {
    use http::Method;
    let idempotent = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !idempotent || !http_body::Body::is_end_stream(req.body()) {
        return None;
    }
    let mut copy = Request::new(ReqBody::empty());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    Some(copy)
}

fn classify(e: hyper::Error) -> ProxyError {
    // A failure reading the client's body while sending it is the client's.
    let kind = if e.is_user() {
        ErrorKind::BadRequest
    } else if e.is_timeout() {
        ErrorKind::UpstreamTimeout
    } else {
        ErrorKind::UpstreamReset
    };
    ProxyError::new(kind, e)
}
