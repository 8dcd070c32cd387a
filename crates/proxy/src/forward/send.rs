//! Phase 5: choosing a server and sending the request, with the retry and
//! fallback rules.
//!
//! Attempts go, in order: live servers of the chosen group (weighted, backups
//! last); then live servers of the route's fallback group (the decision's
//! reason becomes `fallback`); then, as a last resort when everything was
//! marked down, the chosen group's remaining servers regardless of health.
//!
//! A request moves to the next server when it never reached one (connect
//! failure) or — if it is safe to repeat (`GET`, `HEAD`, `OPTIONS` without a
//! body) — when the server closed or reset the connection before answering
//! a single byte: nginx's default `proxy_next_upstream error`. Anything else
//! is answered, never replayed. The request head is encoded once per attempt
//! into one buffer, so a repeat costs no copy of the request.

use super::Forwarding;
use crate::body::ReqBody;
use crate::error::{ErrorKind, ProxyError, Side};
use crate::gateway::Snapshot;
use crate::upstream::h1::{self, Home, ReqFraming, UpstreamBody, encode_request};
use crate::upstream::{GroupUpstream, ServerState, Tried};
use graygate_policy::{Decision, GroupId};
use http::request::Parts;
use http::{Method, Response};
use http_body::Body as _;
use std::sync::Arc;

type Sent<'p> = (Decision<'p>, Arc<ServerState>, Response<UpstreamBody>);

/// Sends the request (`parts`, `body`) to a server of the decided group (or
/// its fallback). `upgrade`: the client asked for a protocol switch.
pub(super) async fn forward<'p>(
    snap: &'p Snapshot,
    decision: Decision<'p>,
    fallback: Option<(GroupId, &'p str)>,
    mut parts: Parts,
    forwarding: Forwarding,
    body: ReqBody,
    upgrade: bool,
) -> Result<Sent<'p>, (Decision<'p>, ProxyError)> {
    let Some(chosen) = snap.upstreams.group(decision.group_id) else {
        return Err((decision, ProxyError::bare(ErrorKind::NoLiveUpstream)));
    };
    let fallback = fallback.and_then(|(id, name)| Some((id, name, snap.upstreams.group(id)?)));
    // HTTP/1.1 needs a Host; a client without one (HTTP/1.0) gets the server's.
    let fill_host = !parts.headers.contains_key(http::header::HOST);
    let mut body = (!body.is_end_stream()).then_some(body);
    let mut head = Vec::with_capacity(1024);
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
        // The gray tag names the group actually serving this stage.
        let tag = snap.group_values.get(usize::from(d.group_id.0));
        while let Some(server) = group.pick(&mut tried, ignore_health) {
            if attempts > 0 {
                crate::metrics::retried(snap, &d);
            }
            attempts += 1;
            if fill_host && let Ok(host) = http::HeaderValue::from_str(&server.addr) {
                parts.headers.insert(http::header::HOST, host);
            }
            let added = forwarding.fields().chain(tag.map(|t| (&snap.settings.tag_header, t)));
            let framing = encode_request(&parts, body.is_none(), added, &mut head);
            let attempt = Attempt {
                head: &head,
                framing,
                method: &parts.method,
                upgrade,
            };
            match send(server, group, &attempt, &mut body).await {
                Ok(resp) => {
                    server.record_success();
                    return Ok((d, server.clone(), resp));
                }
                Err(Failure::Unsent(e)) => {
                    tracing::info!(group = %group.name, server = %server.addr, error = %e, "connect failed; trying another server");
                    server.count_connect_failure();
                    server.record_failure(group.passive);
                    last = Some(e);
                }
                Err(Failure::Unanswered(e)) => {
                    tracing::info!(group = %group.name, server = %server.addr, error = %e, "no response; repeating the request on another server");
                    server.record_failure(group.passive);
                    last = Some(e);
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

/// One attempt's request, encoded.
struct Attempt<'a> {
    head: &'a [u8],
    framing: ReqFraming,
    method: &'a Method,
    upgrade: bool,
}

enum Failure {
    /// The request never left: it may go to another server.
    Unsent(ProxyError),
    /// The request is safe to repeat and the server answered nothing.
    Unanswered(ProxyError),
    /// Anything else: answered to the client.
    Sent(ProxyError),
}

/// One server: a pooled connection first, a new one if there is none or the
/// pooled one turned out closed (the server's keep-alive timeout may close
/// it just as the request goes out; a request safe to repeat is then sent
/// again on a new connection).
async fn send(
    server: &Arc<ServerState>,
    group: &GroupUpstream,
    a: &Attempt<'_>,
    body: &mut Option<ReqBody>,
) -> Result<Response<UpstreamBody>, Failure> {
    let t = group.timeouts;
    let repeatable = body.is_none() && matches!(*a.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let home = || {
        Some(Home {
            server: server.clone(),
            max_idle: t.max_idle,
        })
    };
    if let Some(conn) = server.pool.take(t.idle) {
        let sent = body.take().map(|b| (b, a.framing));
        match h1::exchange(conn, a.head, sent, a.method, t.read, a.upgrade, home()).await {
            Ok(resp) => return Ok(resp),
            Err(f) if f.unanswered && repeatable => {
                tracing::debug!(server = %server.addr, error = %f.error, "stale keep-alive connection; sending again on a new one");
            }
            Err(f) => return Err(Failure::Sent(f.error)),
        }
    }
    let conn = server.connect(t.connect).await.map_err(Failure::Unsent)?;
    let sent = body.take().map(|b| (b, a.framing));
    match h1::exchange(conn, a.head, sent, a.method, t.read, a.upgrade, home()).await {
        Ok(resp) => Ok(resp),
        Err(f) if f.unanswered && repeatable => Err(Failure::Unanswered(f.error)),
        Err(f) => Err(Failure::Sent(f.error)),
    }
}
