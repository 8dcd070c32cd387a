//! Active health checks: one background task per group that has a
//! `health_check`, like `pingora-load-balancing`'s background service.
//!
//! A task holds only a weak reference to its [`Upstreams`]: when a reload
//! replaces the snapshot and the last request using the old one finishes, the
//! task ends by itself. Results land in the shared [`ServerState`], so a
//! server's state survives the reload.

use super::h1::{self, encode_request};
use super::{ServerState, Upstreams};
use graygate_policy::model::HealthCheck;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Starts the health-check tasks of `upstreams` on the current tokio runtime.
pub fn spawn_health_checks(upstreams: &Arc<Upstreams>) {
    for (i, g) in upstreams.groups().iter().enumerate() {
        if g.health_check.is_some() {
            tokio::spawn(run(Arc::downgrade(upstreams), i));
        }
    }
}

async fn run(upstreams: Weak<Upstreams>, group: usize) {
    loop {
        let Some(up) = upstreams.upgrade() else { return };
        let Some(g) = up.groups().get(group) else { return };
        let Some(hc) = g.health_check.clone() else { return };
        let servers: Vec<Arc<ServerState>> = g.servers().cloned().collect();
        let name = g.name.clone();
        drop(up);
        for s in servers {
            let ok = check(&s, &hc).await;
            if let Some(up) = s.record_check(ok, &hc) {
                if up {
                    tracing::info!(group = %name, server = %s.addr, "health check passed: server back up");
                } else {
                    tracing::warn!(group = %name, server = %s.addr, "health check failed: server marked down");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(hc.interval_ms)).await;
    }
}

/// One `GET` of the check path on a fresh connection.
async fn check(s: &ServerState, hc: &HealthCheck) -> bool {
    let timeout = Duration::from_millis(hc.timeout_ms);
    let probe = async {
        let conn = s.connect(timeout).await.ok()?;
        let (parts, ()) = http::Request::get(&hc.path)
            .header(http::header::HOST, &*s.addr)
            .header(http::header::USER_AGENT, "graygate-health-check")
            .header(http::header::CONNECTION, "close")
            .body(())
            .ok()?
            .into_parts();
        let mut head = Vec::with_capacity(128);
        encode_request(&parts, true, [], &mut head);
        let resp = h1::exchange(conn, &head, None, &parts.method, timeout, false, None)
            .await
            .ok()?;
        Some(resp.status())
    };
    match tokio::time::timeout(timeout, probe).await {
        Ok(Some(status)) => match hc.expect_status {
            Some(want) => status.as_u16() == want,
            None => status.is_success(),
        },
        _ => false,
    }
}
