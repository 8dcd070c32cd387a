//! The admin API (R14): JSON under `/api/v1/`, over any [`PolicyStore`].
//!
//! Every write goes through the store's compare-and-set, so a change is one
//! atomic, versioned, audited step; a policy that does not compile is
//! answered 400 with the path of every bad field and never saved; a write
//! based on a stale version (`If-Match`) is answered 409. Writes need the
//! bearer token; when the admin listener is not on loopback, reads need it
//! too. Errors map to statuses in one place ([`error`]) and never leak
//! internals. See `docs/operations.md`.
//!
//! `GET /metrics` (Prometheus text) and `GET /api/v1/stats` (live per-group
//! windows, canary comparison, alerts) read the gateway's metrics through a
//! [`MetricsSource`]; they are reads like any other (open on loopback, the
//! token off it). See `docs/observability.md`.

mod auth;
pub mod error;
mod explain;
mod metrics;
mod ops;
mod policy;
mod stats;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use graygate_metrics::MetricsSource;
use graygate_store::{KeyLookup, PolicyStore};
use std::sync::Arc;

/// The policy version the gateway serves now (`None`: it serves none).
pub type Applied = Arc<dyn Fn() -> Option<u64> + Send + Sync>;

/// What the handlers share.
#[derive(Clone)]
pub struct AdminState {
    /// Where the policy lives.
    pub store: Arc<dyn PolicyStore>,
    /// The bearer token; `None` refuses every write.
    pub token: Option<Arc<str>>,
    /// Require the token for reads too (set when not listening on loopback).
    pub protect_reads: bool,
    /// The gateway's per-user key cache, for `explain` to answer lookups.
    pub lookup: Option<Arc<KeyLookup>>,
    /// The gateway's applied version, for `/readyz`; without it `/readyz`
    /// reports the store's latest version.
    pub applied: Option<Applied>,
    /// The gateway's metrics, for `/metrics` and `/api/v1/stats`; without
    /// them both answer 404.
    pub metrics: Option<Arc<dyn MetricsSource>>,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState")
            .field("store", &self.store)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("protect_reads", &self.protect_reads)
            .field("lookup", &self.lookup.is_some())
            .field("metrics", &self.metrics.is_some())
            .finish_non_exhaustive()
    }
}

pub use ops::diff_summary;

/// Largest request body: a list change of 100,000 ids fits many times over.
const BODY_LIMIT: usize = 32 * 1024 * 1024;

/// The API's routes.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(policy::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/stats", get(stats::stats))
        .route("/api/v1/policy", get(policy::current).put(policy::replace))
        .route("/api/v1/policy/history", get(policy::history))
        .route("/api/v1/policy/versions/{version}", get(policy::version))
        .route("/api/v1/policy/rollback", post(policy::rollback))
        .route("/api/v1/routes/{route}/splits/{rule}", put(ops::set_split))
        .route("/api/v1/lists/{list}/add", post(ops::list_add))
        .route("/api/v1/lists/{list}/remove", post(ops::list_remove))
        .route("/api/v1/explain", post(explain::explain))
        .fallback(|uri: axum::http::Uri| async move {
            error::ApiError::NotFound(format!("no such endpoint: {}", uri.path()))
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::guard))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(error::json_errors))
        .with_state(state)
}
