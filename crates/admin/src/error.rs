//! Every API error and its status, in one place. Bodies are JSON
//! `{"error": "...", …}`; internals (store messages) are logged, not sent.

use axum::Json;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use graygate_store::StoreError;
use serde_json::json;

/// An API error.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is malformed (not JSON, wrong shape).
    BadRequest(String),
    /// 400: the policy does not compile; every bad field with its path.
    Invalid(graygate_policy::PolicyError),
    /// 401: no or wrong token.
    Unauthorized(&'static str),
    /// 403: the operation is disabled.
    Forbidden(&'static str),
    /// 404: no such thing.
    NotFound(String),
    /// 409: `If-Match` names a version that is no longer current.
    Conflict {
        /// The version the client based its change on.
        expected: u64,
        /// The store's current version.
        current: u64,
    },
    /// 503: the store cannot be reached; nothing was changed.
    Unavailable,
    /// 500: graygate failed (the cause is logged where it happened).
    Internal,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(p) => ApiError::Invalid(p),
            StoreError::Conflict { expected, current } => ApiError::Conflict { expected, current },
            StoreError::UnknownVersion(v) => ApiError::NotFound(format!("version {v} is not in the history")),
            other => {
                tracing::warn!(error = %other, "admin API: store error");
                ApiError::Unavailable
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, json!({ "error": m })),
            ApiError::Invalid(e) => {
                let errors: Vec<_> = e
                    .errors
                    .iter()
                    .map(|f| json!({ "path": f.path.to_string(), "message": f.message }))
                    .collect();
                (
                    StatusCode::BAD_REQUEST,
                    json!({ "error": "invalid policy", "errors": errors }),
                )
            }
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, json!({ "error": m })),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, json!({ "error": m })),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, json!({ "error": m })),
            ApiError::Conflict { expected, current } => (
                StatusCode::CONFLICT,
                json!({ "error": format!("stale version: the change is based on {expected}, the policy is at {current}"),
                        "current_version": current }),
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "error": "the policy store is unavailable; nothing was changed" }),
            ),
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, json!({ "error": "internal error" })),
        };
        (status, Json(body)).into_response()
    }
}

/// Makes every error answer JSON, including the framework's own (a bad path
/// or query parameter, an oversized body, an unknown method): `{"error": …}`
/// with the text it would have sent.
pub(crate) async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let bytes = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_ascii_lowercase()
    } else {
        text
    };
    (status, Json(json!({ "error": message }))).into_response()
}
