//! `POST /api/v1/explain`: the decision the current policy makes for a
//! described request, from the same engine the gateway runs; nothing is sent.

use crate::AdminState;
use crate::error::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use graygate_policy::{Overrides, RequestAttrs};
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::json;
use std::net::IpAddr;

/// A request as `curl` would describe it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Described {
    /// `http://host/path?query` or `/path?query`.
    url: String,
    /// Default `GET`, or `POST` with a body.
    method: Option<String>,
    #[serde(default)]
    headers: IndexMap<String, String>,
    #[serde(default)]
    cookies: IndexMap<String, String>,
    /// The client address after trusted-proxy resolution.
    ip: Option<IpAddr>,
    /// The body as text; a form unless a `content-type` header says otherwise.
    body: Option<String>,
    /// Answers for per-user keys (`null`: the key is missing). Keys left out
    /// are asked of the gateway's lookup cache when it has one.
    lookups: Option<IndexMap<String, Option<String>>>,
}

pub(crate) async fn explain(State(s): State<AdminState>, body: Bytes) -> Result<Response, ApiError> {
    let d: Described = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "expected {{\"url\": \"/path\", \"headers\": {{…}}, \"cookies\": {{…}}, \"ip\": \"…\", \"body\": \"…\"}}: {e}"
        ))
    })?;
    let stored = s
        .store
        .load()
        .await?
        .ok_or_else(|| ApiError::NotFound("no policy has been saved yet".into()))?;
    let policy = stored.compile().map_err(ApiError::Invalid)?;
    let mut req = attrs(&d);
    let Some(route) = policy.route(&req) else {
        return Ok(
            Json(json!({ "route": null, "version": policy.version(), "note": "no route matches" })).into_response(),
        );
    };
    let mut unanswered = Vec::new();
    for key in route.lookup_keys(&req) {
        if req.lookups.contains_key(&key) {
            continue;
        }
        match &s.lookup {
            Some(lookup) => {
                let answer = lookup.get(&key).await;
                match answer.as_lookup() {
                    graygate_policy::Lookup::Found(v) => req.lookups.insert(key, Some(v.to_owned())),
                    graygate_policy::Lookup::Missing => req.lookups.insert(key, None),
                    graygate_policy::Lookup::Unavailable => {
                        unanswered.push(key);
                        None
                    }
                };
            }
            None => unanswered.push(key),
        }
    }
    let decision = route.decide(&req, Overrides::default());
    let mut notes = Vec::new();
    if route.needs().body && d.body.is_none() {
        notes.push("a rule of this route reads the body; pass it as \"body\"".to_owned());
    }
    if route.sticky().is_some() {
        notes.push("this route is sticky: a client already pinned keeps its group".to_owned());
    }
    if !unanswered.is_empty() {
        notes.push(format!(
            "lookups not answered (rules reading them do not match): {}",
            unanswered.join(", ")
        ));
    }
    let fallback = route
        .fallback()
        .filter(|(id, _)| *id != decision.group_id)
        .map(|(_, name)| name);
    Ok(Json(json!({
        "route": decision.route,
        "group": decision.group,
        "rule": decision.rule,
        "reason": decision.reason,
        "version": decision.version,
        "bucket": decision.bucket,
        "fallback": fallback,
        "lookups": req.lookups,
        "notes": notes,
    }))
    .into_response())
}

fn attrs(d: &Described) -> RequestAttrs {
    let method = d
        .method
        .clone()
        .unwrap_or_else(|| if d.body.is_some() { "POST" } else { "GET" }.to_owned());
    let mut req = RequestAttrs::get(&d.url).method(&method);
    for (name, value) in &d.headers {
        req = req.header(name, value);
    }
    for (name, value) in &d.cookies {
        req = req.cookie(name, value);
    }
    if let Some(ip) = d.ip {
        req = req.ip(ip);
    }
    if let Some(body) = &d.body {
        if graygate_policy::Request::header(&req, "content-type").is_none() {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        req = req.body(body.as_bytes());
    }
    for (key, value) in d.lookups.iter().flatten() {
        req = req.lookup_answer(key, value.as_deref());
    }
    req
}
