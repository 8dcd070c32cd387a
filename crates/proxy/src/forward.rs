//! The request path, in phases (drawn in `docs/architecture.md`):
//!
//! 1. **resolve** the client address through trusted proxies;
//! 2. **route**: the one snapshot's policy picks the route;
//! 3. **read** a bounded body prefix, only when a rule of the route needs it;
//! 4. **decide** the group, honouring a trusted gray tag and a valid pin;
//! 5. **pick** a live server of the group — or of the fallback group — and
//!    **forward**, retrying a failed connect on another server;
//! 6. **respond**: hop-by-hop headers stripped, decision headers and
//!    stickiness cookie added, upgrades tunnelled, one access-log line.

mod send;

use crate::access_log::Entry;
use crate::body::{ReqBody, RespBody, read_bounded};
use crate::client_ip::{self, ClientIp};
use crate::error::{ErrorKind, ProxyError, Side};
use crate::gateway::{Gateway, Snapshot};
use crate::headers::{ip_value, strip_hop_by_hop, upgrade_request};
use crate::metrics::{self, InFlight};
use crate::server::{ClientBody, OnUpgrade};
use crate::upstream::h1::UpstreamBody;
use crate::view::View;
use graygate_policy::{Decision, Overrides, Reason, Request as _};
use graygate_store::{KeyLookup, LookupAnswers};
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A client connection's peer; its address as header text is made once per
/// connection, not twice per request.
#[derive(Debug, Clone)]
pub struct Peer {
    addr: SocketAddr,
    value: HeaderValue,
}

impl Peer {
    /// The peer at `addr`.
    pub fn new(addr: SocketAddr) -> Peer {
        Peer {
            addr,
            value: ip_value(addr.ip()),
        }
    }

    /// The peer's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Serves one request; never fails: every error becomes a response.
pub async fn handle(gw: &Gateway, peer: &Peer, req: Request<ClientBody>) -> Response<RespBody> {
    let start = Instant::now();
    let snap = gw.snapshot();
    let (mut parts, incoming) = req.into_parts();
    let client = client_ip::resolve(peer.addr.ip(), &parts.headers, &snap.settings.trusted);
    let seen = Seen {
        method: parts.method.clone(),
        uri: parts.uri.clone(),
        client,
        start,
    };

    // Phases 2–4 borrow the request head; they end with a decision that
    // borrows only the snapshot.
    let mut view = View::new(&parts, client.ip);
    let Some(route) = snap.policy.route(&view) else {
        drop(view);
        let resp = local(snap.settings.no_route_status, "no route\n");
        log(gw, &snap, &seen, resp.status(), None, None);
        return resp;
    };
    let body = if route.needs().body && wants_body(&parts, snap.settings.raw.body_limit) {
        let limit = snap.settings.raw.body_limit;
        match tokio::time::timeout(snap.settings.client_timeout, read_bounded(incoming, limit)).await {
            Ok(Ok(b)) => {
                if let Some(bytes) = &b.complete {
                    view.body = graygate_policy::Body::parse(view.header("content-type"), bytes);
                }
                b.body
            }
            Ok(Err(e)) => {
                drop(view);
                return fail(gw, &snap, &seen, None, ProxyError::new(ErrorKind::BadRequest, e));
            }
            Err(_) => {
                drop(view);
                return fail(gw, &snap, &seen, None, ProxyError::bare(ErrorKind::ClientTimeout));
            }
        }
    } else {
        ReqBody::stream(incoming)
    };
    let cookie_name = snap
        .cookie_names
        .get(usize::from(route.id().0))
        .and_then(Option::as_deref);
    let pinned = cookie_name
        .and_then(|n| view.cookie(n))
        .and_then(|v| snap.sticky.verify(route.name(), v));
    let tag = if client.trusted_peer {
        view.header(snap.settings.tag_header.as_str())
    } else {
        None
    };
    let overrides = Overrides { tag, sticky: pinned };
    // Per-user keys are fetched before deciding (bounded by the lookup
    // timeout); without a lookup service they stay unanswered and the rules
    // reading them do not match.
    let decision = match gw.lookup().filter(|_| route.needs().lookup) {
        Some(lookup) => {
            let answers = fetch(lookup, route.lookup_keys(&view)).await;
            route.decide(&answers.answering(&view), overrides)
        }
        None => route.decide(&view, overrides),
    };
    let already_pinned = pinned == Some(decision.group);
    drop(view);
    let _in_flight = InFlight::start(&snap, &decision);

    // Phase 5.
    let https = client.trusted_peer
        && parts
            .headers
            .get(&X_FORWARDED_PROTO)
            .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
    let upgrade = upgrade_request(&parts.headers);
    let client_upgrade = upgrade.as_ref().and_then(|_| parts.extensions.remove::<OnUpgrade>());
    let wants_upgrade = upgrade.is_some();
    let forwarding = prepare_upstream_request(&mut parts, peer, client, upgrade, &snap.settings.tag_header);
    let fallback = route.fallback().filter(|(id, _)| *id != decision.group_id);
    let sent = send::forward(&snap, decision, fallback, parts, forwarding, body, wants_upgrade).await;
    let (decision, server, resp) = match sent {
        Ok(s) => s,
        Err((decision, e)) => return fail(gw, &snap, &seen, Some(&decision), e),
    };
    let read_timeout = snap
        .upstreams
        .group(decision.group_id)
        .map_or(Duration::from_secs(30), |g| g.timeouts.read);

    // Phase 6.
    let pin = match (cookie_name, route.sticky()) {
        (Some(name), Some(sticky)) if !already_pinned => Some(Pin {
            name,
            max_age: sticky.max_age_secs,
            secure: https,
        }),
        _ => None,
    };
    let resp = respond(&snap, &decision, resp, client_upgrade, pin, read_timeout);
    log(gw, &snap, &seen, resp.status(), Some(&decision), Some(&server.addr));
    resp
}

/// The lookup, boxed: it only runs on routes with lookup rules, and keeps
/// its large future (Redis I/O through moka) out of every request's future.
fn fetch(lookup: &KeyLookup, keys: Vec<String>) -> std::pin::Pin<Box<dyn Future<Output = LookupAnswers> + Send + '_>> {
    Box::pin(lookup.get_all(keys))
}

/// A stickiness cookie to set.
struct Pin<'a> {
    name: &'a str,
    max_age: u64,
    /// The client reached a trusted TLS-terminating proxy: mark it `Secure`.
    secure: bool,
}

/// Phase 6: the upstream's response as the client gets it. `pin` is the
/// stickiness cookie to set when the client is not pinned to the decided
/// group yet.
fn respond(
    snap: &Snapshot,
    decision: &Decision<'_>,
    resp: Response<UpstreamBody>,
    client_upgrade: Option<OnUpgrade>,
    pin: Option<Pin<'_>>,
    read_timeout: Duration,
) -> Response<RespBody> {
    let (mut rp, mut rb) = resp.into_parts();
    // A 101 comes only to a request that asked for an upgrade (`h1::exchange`).
    // Other responses come without hop-by-hop fields (`h1::parse_response`).
    let server_upgrade = rb.take_upgrade();
    if server_upgrade.is_some() {
        let kept_upgrade = rp.headers.get(header::UPGRADE).cloned();
        strip_hop_by_hop(&mut rp.headers, kept_upgrade);
    }
    if let (Some(c), Some(s)) = (client_upgrade, server_upgrade) {
        tokio::spawn(tunnel(c, s));
    }
    // The decision headers replace the upstream's fields of their names:
    // those must be in the map for that, not forwarded as they came.
    let s = &snap.settings;
    if s.raw.decision_headers
        && rb
            .raw_fields()
            .is_some_and(|f| f.has(s.group_header.as_str()) || f.has(s.version_header.as_str()))
        && let Some(f) = rb.take_raw_fields()
    {
        f.extend_map(&mut rp.headers);
    }
    decorate(snap, decision, &mut rp.headers);
    // A fallback or a followed tag is not the client's own version: no pin.
    if let Some(pin) = pin
        && !matches!(decision.reason, Reason::Fallback | Reason::Tag)
    {
        let cookie = format!(
            "{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}",
            pin.name,
            snap.sticky.sign(decision.route, decision.group),
            pin.max_age,
            if pin.secure { "; Secure" } else { "" },
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            rp.headers.append(header::SET_COOKIE, v);
        }
    }
    Response::from_parts(rp, RespBody::upstream(rb, read_timeout))
}

/// Whether to read the body for a body rule: a form or JSON body not
/// declared larger than the limit. Anything else leaves body fields absent.
fn wants_body(parts: &http::request::Parts, limit: usize) -> bool {
    let ct = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ct = ct.split(';').next().unwrap_or("").trim();
    let readable = ct.eq_ignore_ascii_case("application/x-www-form-urlencoded")
        || ct.eq_ignore_ascii_case("application/json")
        || ct.ends_with("+json");
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    readable && declared.is_none_or(|n| n <= limit as u64)
}

/// The forwarding fields graygate sets on the upstream request. The head no
/// longer carries the client's fields of these names (nor its gray tag);
/// these are written after its own fields (`encode_request`).
struct Forwarding {
    xff: HeaderValue,
    real_ip: HeaderValue,
    /// `None`: a trusted proxy's own `X-Forwarded-Proto` stays.
    proto: Option<HeaderValue>,
}

impl Forwarding {
    fn fields(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        [(&X_FORWARDED_FOR, &self.xff), (&X_REAL_IP, &self.real_ip)]
            .into_iter()
            .chain(self.proto.as_ref().map(|p| (&X_FORWARDED_PROTO, p)))
    }
}

/// Rewrites the head for the upstream: origin-form target, HTTP/1.1,
/// hop-by-hop headers removed, and the client's forwarding fields and gray
/// tag taken out; returns graygate's forwarding fields. The gray tag is
/// added per attempt (it names the group actually serving).
fn prepare_upstream_request(
    parts: &mut http::request::Parts,
    peer: &Peer,
    client: ClientIp,
    upgrade: Option<HeaderValue>,
    tag_header: &HeaderName,
) -> Forwarding {
    if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
        // An absolute-form target's authority is the host (RFC 9112
        // §3.2.2, nginx's `$host`): the upstream gets it as `Host`, as the
        // policy routed by it (`View`), whatever `Host` the client sent.
        if let Some(a) = parts.uri.authority()
            && let Ok(v) = HeaderValue::from_str(without_userinfo(a))
        {
            parts.headers.insert(header::HOST, v);
        }
        let pq = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        if let Ok(uri) = pq.parse() {
            parts.uri = uri;
        }
    }
    parts.version = http::Version::HTTP_11;
    let h = &mut parts.headers;
    strip_hop_by_hop(h, upgrade);
    // One pass finds which of these the client sent (usually none): a
    // lookup of each would hash five names per request.
    let [xff, real_ip, proto, expect, tag] = present(
        h,
        [
            &X_FORWARDED_FOR,
            &X_REAL_IP,
            &X_FORWARDED_PROTO,
            &header::EXPECT,
            tag_header,
        ],
    );
    // graygate answers `Expect: 100-continue` itself when it first reads the body.
    if expect {
        h.remove(header::EXPECT);
    }
    if tag {
        h.remove(tag_header);
    }
    let peer_value = peer.value.clone();
    // A trusted proxy's chain is extended with the peer; anyone else's is
    // replaced, so that upstreams can apply the same trust rule.
    let chain = if client.trusted_peer && xff {
        let mut chain = Vec::with_capacity(64);
        for v in h.get_all(&X_FORWARDED_FOR) {
            chain.extend_from_slice(v.as_bytes());
            chain.extend_from_slice(b", ");
        }
        chain.extend_from_slice(peer_value.as_bytes());
        HeaderValue::from_bytes(&chain).unwrap_or_else(|_| peer_value.clone())
    } else {
        peer_value.clone()
    };
    if xff {
        h.remove(&X_FORWARDED_FOR);
    }
    if real_ip {
        h.remove(&X_REAL_IP);
    }
    let proto = if client.trusted_peer && proto {
        None
    } else {
        if proto {
            h.remove(&X_FORWARDED_PROTO);
        }
        Some(HeaderValue::from_static("http"))
    };
    Forwarding {
        xff: chain,
        real_ip: if client.ip == peer.addr.ip() {
            peer_value
        } else {
            ip_value(client.ip)
        },
        proto,
    }
}

/// An authority without its `user@` part.
fn without_userinfo(a: &http::uri::Authority) -> &str {
    a.as_str().rsplit_once('@').map_or(a.as_str(), |(_, host)| host)
}

/// Which of `names` the head carries, in one pass over its names.
fn present<const N: usize>(h: &http::HeaderMap, names: [&HeaderName; N]) -> [bool; N] {
    let mut found = [false; N];
    for name in h.keys() {
        for (f, n) in found.iter_mut().zip(names) {
            *f |= name == n;
        }
    }
    found
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Adds the decision headers, when enabled.
fn decorate(snap: &Snapshot, d: &Decision<'_>, headers: &mut http::HeaderMap) {
    if !snap.settings.raw.decision_headers {
        return;
    }
    if let Some(v) = snap.group_values.get(usize::from(d.group_id.0)) {
        headers.insert(snap.settings.group_header.clone(), v.clone());
    }
    headers.insert(snap.settings.version_header.clone(), snap.version_value.clone());
}

/// Joins the client's upgraded connection and the upstream's: first the
/// bytes each side sent right after the head (the server's after its 101,
/// the client's after its request), then both ways.
async fn tunnel(client: OnUpgrade, (mut server, early): (tokio::net::TcpStream, bytes::BytesMut)) {
    use tokio::io::AsyncWriteExt;
    let Some(mut client) = client.wait().await else {
        tracing::info!("upgrade failed: the client connection was not handed over");
        return;
    };
    let copied = async {
        client.io.write_all(&early).await?;
        server.write_all(&client.early).await?;
        tokio::io::copy_bidirectional(&mut client.io, &mut server).await
    };
    if let Err(e) = copied.await {
        tracing::debug!(error = %e, "upgraded connection ended with an error");
    }
}

/// What the log needs of the request, kept after the head went upstream.
struct Seen {
    method: http::Method,
    uri: http::Uri,
    client: ClientIp,
    start: Instant,
}

/// The request's end: one access-log line and the metrics, with the same latency.
fn log(
    gw: &Gateway,
    snap: &Snapshot,
    seen: &Seen,
    status: StatusCode,
    decision: Option<&Decision<'_>>,
    upstream: Option<&str>,
) {
    let end = Instant::now();
    let latency = end.saturating_duration_since(seen.start);
    metrics::record(gw, snap, decision, status.as_u16(), latency, end);
    gw.access_log.log(&Entry {
        client: seen.client.ip,
        method: seen.method.as_str(),
        path: seen.uri.path(),
        status: status.as_u16(),
        decision,
        upstream,
        latency,
    });
}

/// A response graygate answers itself.
fn local(status: StatusCode, text: &'static str) -> Response<RespBody> {
    let mut r = Response::new(RespBody::text(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Logs a failed request once, with its cause, and answers its status.
fn fail(
    gw: &Gateway,
    snap: &Snapshot,
    seen: &Seen,
    decision: Option<&Decision<'_>>,
    e: ProxyError,
) -> Response<RespBody> {
    let status = e.status();
    let route = decision.map_or("-", |d| d.route);
    let group = decision.map_or("-", |d| d.group);
    match e.side() {
        Side::Client => {
            tracing::info!(client = %seen.client.ip, route, group, status = status.as_u16(), error = %e, "request failed")
        }
        Side::Upstream => {
            tracing::warn!(client = %seen.client.ip, route, group, status = status.as_u16(), error = %e, "request failed")
        }
    }
    let text = match status {
        StatusCode::BAD_REQUEST => "bad request\n",
        StatusCode::REQUEST_TIMEOUT => "request timeout\n",
        StatusCode::GATEWAY_TIMEOUT => "upstream timed out\n",
        _ => "bad gateway\n",
    };
    let mut resp = local(status, text);
    if let Some(d) = decision {
        decorate(snap, d, resp.headers_mut());
    }
    log(gw, snap, seen, status, decision, None);
    resp
}
