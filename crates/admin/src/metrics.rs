//! `GET /metrics`: the gateway's metrics in the Prometheus (OpenMetrics)
//! text format. A read: open on a loopback listener, the bearer token
//! otherwise (Prometheus sends it with `authorization.credentials_file`).

use crate::AdminState;
use crate::error::ApiError;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The content type of the OpenMetrics text format.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub(crate) async fn metrics(State(s): State<AdminState>) -> Result<Response, ApiError> {
    let source = s.metrics.ok_or(ApiError::NotFound(OFF.to_owned()))?;
    // Encoding walks every series: keep it off the async workers.
    let text = tokio::task::spawn_blocking(move || source.prometheus())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "encoding the metrics failed");
            ApiError::Internal
        })?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS))], text).into_response())
}

/// Why there are no metrics.
pub(crate) const OFF: &str = "metrics are off (`[gateway] metrics = false`)";
