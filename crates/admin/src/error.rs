//! Every API error and its status, in one place. Bodies are JSON
//! `{"error": "...", …}`; internals (store messages) are logged, not sent.

use axum::Json;
use axum::http::StatusCode;
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
