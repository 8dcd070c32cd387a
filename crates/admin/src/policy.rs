//! Reading, replacing and rolling back the whole policy; history; `/readyz`.

use crate::AdminState;
use crate::error::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use graygate_policy::Policy;
use graygate_store::{Change, StoredPolicy};
use serde::Deserialize;
use serde_json::{Value, json};

/// The version a write is based on, from `If-Match: "7"` (or `7`).
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .unwrap_or("")
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"');
    v.parse()
        .map(Some)
        .map_err(|_| ApiError::BadRequest(format!("If-Match: expected a policy version such as \"7\", got {v:?}")))
}

/// Who makes a change: the `X-Actor` header (printable ASCII, at most 128
/// characters kept), else `admin-api`.
fn actor(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(v) = headers.get("x-actor") else {
        return Ok("admin-api".to_owned());
    };
    let v = v
        .to_str()
        .map_err(|_| ApiError::BadRequest("X-Actor must be printable ASCII".to_owned()))?
        .trim();
    Ok(if v.is_empty() {
        "admin-api".to_owned()
    } else {
        v.chars().take(128).collect()
    })
}

fn etag(version: u64) -> [(header::HeaderName, HeaderValue); 1] {
    [(
        header::ETAG,
        HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\"")),
    )]
}

fn view(stored: &StoredPolicy) -> Result<Value, ApiError> {
    let policy: Value = serde_json::from_str(&stored.document).map_err(|e| {
        tracing::error!(error = %e, version = stored.meta.version, "stored document is not JSON");
        ApiError::Unavailable
    })?;
    let m = &stored.meta;
    Ok(json!({ "version": m.version, "who": m.who, "when_ms": m.when_ms, "summary": m.summary, "policy": policy }))
}

/// Applies `edit` to the current policy and saves the result as the next
/// version, based on `If-Match` or else the version just read. Every write of
/// the API goes through here.
pub(crate) async fn write(
    state: &AdminState,
    headers: &HeaderMap,
    edit: impl FnOnce(Option<Policy>) -> Result<(Policy, String), ApiError>,
) -> Result<Response, ApiError> {
    let current = state.store.load().await?;
    let at = current.as_ref().map_or(0, StoredPolicy::version);
    let expected = if_match(headers)?.unwrap_or(at);
    if expected != at {
        return Err(ApiError::Conflict { expected, current: at });
    }
    let old = match &current {
        Some(c) => Some(c.policy().map_err(|e| {
            tracing::error!(error = %e, "stored policy does not parse");
            ApiError::Unavailable
        })?),
        None => None,
    };
    let who = actor(headers)?;
    let (policy, summary) = edit(old)?;
    if current.as_ref().is_some_and(|c| c.holds(&policy)) {
        // Nothing to save: answer like a save would, without a new version.
        let body = json!({ "version": at, "summary": "no change", "changed": false });
        return Ok((StatusCode::OK, etag(at), Json(body)).into_response());
    }
    let saved = state
        .store
        .save(&policy, expected, Change::new(who, summary.clone()))
        .await?;
    tracing::info!(version = saved.version(), who = %saved.meta.who, %summary, "policy changed");
    let body = json!({ "version": saved.version(), "summary": summary, "changed": true });
    Ok((StatusCode::OK, etag(saved.version()), Json(body)).into_response())
}

pub(crate) async fn current(State(s): State<AdminState>) -> Result<Response, ApiError> {
    let stored = s
        .store
        .load()
        .await?
        .ok_or_else(|| ApiError::NotFound("no policy has been saved yet".into()))?;
    Ok((etag(stored.version()), Json(view(&stored)?)).into_response())
}

pub(crate) async fn replace(
    State(s): State<AdminState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let new = Policy::from_json(&body).map_err(ApiError::Invalid)?;
    write(&s, &headers, |old| {
        let summary = match &old {
            Some(old) => crate::ops::diff_summary(old, &new),
            None => "first policy".to_owned(),
        };
        Ok((new, summary))
    })
    .await
}

#[derive(Deserialize)]
pub(crate) struct Limit {
    limit: Option<usize>,
}

pub(crate) async fn history(State(s): State<AdminState>, Query(q): Query<Limit>) -> Result<Response, ApiError> {
    let entries = s.store.history(q.limit.unwrap_or(20).clamp(1, 1000)).await?;
    Ok(Json(json!({ "versions": entries })).into_response())
}

pub(crate) async fn version(State(s): State<AdminState>, Path(version): Path<u64>) -> Result<Response, ApiError> {
    let stored = s
        .store
        .get(version)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("version {version} is not in the history")))?;
    Ok((etag(stored.version()), Json(view(&stored)?)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rollback {
    version: u64,
}

pub(crate) async fn rollback(
    State(s): State<AdminState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Rollback { version } =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("expected {{\"version\": N}}: {e}")))?;
    let target = s
        .store
        .get(version)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("version {version} is not in the history")))?;
    let policy = target.policy().map_err(ApiError::Invalid)?;
    write(&s, &headers, |_| Ok((policy, format!("rollback to version {version}")))).await
}

/// Ready when the gateway serves a policy; the store's connection is
/// reported but does not decide readiness: a gateway keeps routing on its
/// last policy while the store is down (R20).
pub(crate) async fn readyz(State(s): State<AdminState>) -> Response {
    let status = s.store.status();
    let serving = match &s.applied {
        Some(applied) => applied(),
        None => status.version,
    };
    let body = json!({
        "policy_version": serving,
        "store": { "connected": status.is_connected(), "version": status.version, "last_error": status.last_error },
    });
    let code = if serving.is_some() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}
