//! `GET /api/v1/stats`: per route and group, the last minute and five —
//! rate, success and error rate, p50/p95/p99/max latency, observed against
//! target share — every group beside the route's default group, and the
//! canary alerts firing now. The shape is `graygate_metrics::Stats`.

use crate::AdminState;
use crate::error::ApiError;
use crate::metrics::OFF;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

pub(crate) async fn stats(State(s): State<AdminState>) -> Result<Response, ApiError> {
    let source = s.metrics.ok_or(ApiError::NotFound(OFF.to_owned()))?;
    let stats = tokio::task::spawn_blocking(move || source.stats()).await.map_err(|e| {
        tracing::error!(error = %e, "computing the stats failed");
        ApiError::Internal
    })?;
    Ok(Json(stats).into_response())
}
