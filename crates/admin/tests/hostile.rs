//! Hostile and broken admin calls (issue 7): each is refused with a precise
//! JSON error, and afterwards the history holds only the one good version and
//! the policy reads back unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::{Api, TOKEN, policy_json, start};

/// The error text of a refused call, which must exist and name `needle`.
fn refused(what: &str, (status, body): (StatusCode, Value), want: StatusCode, needle: &str) {
    assert_eq!(status, want, "{what}: {body}");
    let error = body["error"].as_str().unwrap_or_default();
    let all = body.to_string();
    assert!(!error.is_empty(), "{what}: no JSON error message: {body}");
    assert!(all.contains(needle), "{what}: the error should name {needle:?}: {body}");
}

async fn untouched(api: &Api) {
    assert_eq!(
        api.versions().await,
        vec![1],
        "only the first good version is in the history"
    );
    let (status, body) = api.call("GET", "/api/v1/policy", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["version"], 1);
    assert_eq!(body["policy"], policy_json(), "the policy reads back as it was");
}

#[tokio::test]
async fn malformed_and_wrongly_typed_policies_are_refused_with_their_place() {
    let api = start(Some(TOKEN), false).await;
    api.write("PUT", "/api/v1/policy", policy_json()).await;

    let text = serde_json::to_string(&policy_json()).unwrap();
    let truncated = text.as_bytes()[..text.len() / 2].to_vec();
    let r = api.raw("PUT", "/api/v1/policy", truncated).await;
    refused("truncated JSON", r, StatusCode::BAD_REQUEST, "EOF");
    let r = api.raw("PUT", "/api/v1/policy", Vec::new()).await;
    assert!(r.0.is_client_error(), "empty body: {r:?}");
    let r = api.raw("PUT", "/api/v1/policy", b"\xff\xfe{}".to_vec()).await;
    assert!(r.0.is_client_error(), "not UTF-8: {r:?}");
    let r = api.raw("PUT", "/api/v1/policy", b"[groups]\nx = 1\n".to_vec()).await;
    assert!(r.0.is_client_error(), "TOML sent as JSON: {r:?}");

    let mut wrong = policy_json();
    wrong["routes"][0]["default"] = json!(5);
    let r = api.write("PUT", "/api/v1/policy", wrong).await;
    refused("a number for a group name", r, StatusCode::BAD_REQUEST, "default");
    let mut wrong = policy_json();
    wrong["routes"][0]["rules"][1]["split"]["weights"]["canary"] = json!("500");
    let r = api.write("PUT", "/api/v1/policy", wrong).await;
    refused("a string for a weight", r, StatusCode::BAD_REQUEST, "weights");
    let mut unknown = policy_json();
    unknown["routez"] = json!([]);
    let r = api.write("PUT", "/api/v1/policy", unknown).await;
    refused("an unknown top-level field", r, StatusCode::BAD_REQUEST, "routez");
    let mut unknown = policy_json();
    unknown["groups"]["stable"]["servres"] = json!([]);
    let r = api.write("PUT", "/api/v1/policy", unknown).await;
    refused("an unknown field in a group", r, StatusCode::BAD_REQUEST, "servres");
    let mut deep = String::new();
    for _ in 0..10_000 {
        deep.push('[');
    }
    let r = api.raw("PUT", "/api/v1/policy", deep.into_bytes()).await;
    assert!(r.0.is_client_error(), "10,000 nested arrays: {r:?}");

    untouched(&api).await;
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_it_is_read_whole() {
    let api = start(Some(TOKEN), false).await;
    api.write("PUT", "/api/v1/policy", policy_json()).await;
    let mut big = b"{\"ids\": [".to_vec();
    while big.len() <= 33 * 1024 * 1024 {
        big.extend_from_slice(b"\"user-0123456789\",");
    }
    big.extend_from_slice(b"\"last\"]}");
    let (status, body) = api.raw("POST", "/api/v1/lists/beta/add", big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    untouched(&api).await;
}

#[tokio::test]
async fn bad_operations_name_what_is_wrong_and_change_nothing() {
    let api = start(Some(TOKEN), false).await;
    api.write("PUT", "/api/v1/policy", policy_json()).await;
    let split = "/api/v1/routes/shop/splits/ramp";

    let r = api
        .write("PUT", split, json!({ "weights": { "stable": 9000, "canary": 500 } }))
        .await;
    refused("weights not adding up", r, StatusCode::BAD_REQUEST, "10000");
    let r = api
        .write("PUT", split, json!({ "weights": { "stable": 10000, "ghost": 0 } }))
        .await;
    refused("an unknown group", r, StatusCode::BAD_REQUEST, "ghost");
    let r = api
        .write("PUT", split, json!({ "weights": { "stable": -1, "canary": 10001 } }))
        .await;
    assert_eq!(r.0, StatusCode::BAD_REQUEST, "a negative weight: {r:?}");
    let r = api.write("PUT", split, json!({ "wieghts": {} })).await;
    refused("a misspelt key", r, StatusCode::BAD_REQUEST, "wieghts");
    let r = api
        .write(
            "PUT",
            "/api/v1/routes/nope/splits/ramp",
            json!({ "weights": { "stable": 10000 } }),
        )
        .await;
    refused("an unknown route", r, StatusCode::NOT_FOUND, "nope");
    let r = api
        .write(
            "PUT",
            "/api/v1/routes/shop/splits/beta",
            json!({ "weights": { "stable": 10000 } }),
        )
        .await;
    assert!(r.0.is_client_error(), "a rule that is not a split: {r:?}");

    let r = api
        .write("POST", "/api/v1/lists/beta/add", json!({ "ids": [1, 2] }))
        .await;
    assert_eq!(r.0, StatusCode::BAD_REQUEST, "numbers for ids: {r:?}");
    let r = api
        .write("POST", "/api/v1/lists/beta/add", json!({ "ids": [""] }))
        .await;
    assert_eq!(r.0, StatusCode::BAD_REQUEST, "an empty id: {r:?}");

    let r = api
        .write("POST", "/api/v1/policy/rollback", json!({ "version": 99 }))
        .await;
    assert_eq!(
        r.0,
        StatusCode::NOT_FOUND,
        "rollback to a version that never was: {r:?}"
    );
    let r = api
        .write("POST", "/api/v1/policy/rollback", json!({ "version": "one" }))
        .await;
    assert_eq!(r.0, StatusCode::BAD_REQUEST, "a version that is not a number: {r:?}");

    untouched(&api).await;
}

#[tokio::test]
async fn stale_or_garbled_versions_and_bad_tokens_change_nothing() {
    let api = start(Some(TOKEN), false).await;
    api.write("PUT", "/api/v1/policy", policy_json()).await;
    let mut next = policy_json();
    next["routes"][0]["default"] = json!("canary");
    let body = Some(next);
    let auth = format!("Bearer {TOKEN}");

    let r = api
        .call(
            "PUT",
            "/api/v1/policy",
            body.clone(),
            &[("authorization", &auth), ("if-match", "\"0\"")],
        )
        .await;
    refused("a stale If-Match", r, StatusCode::CONFLICT, "current_version");
    let r = api
        .call(
            "PUT",
            "/api/v1/policy",
            body.clone(),
            &[("authorization", &auth), ("if-match", "banana")],
        )
        .await;
    assert!(r.0.is_client_error(), "a garbled If-Match: {r:?}");

    for (what, header) in [
        ("no token", None),
        ("an empty token", Some("Bearer ".to_owned())),
        ("a wrong token", Some("Bearer s3cret-tokeN".to_owned())),
        ("a token's prefix", Some("Bearer s3cret".to_owned())),
        ("a longer token", Some(format!("Bearer {TOKEN}x"))),
        ("another scheme", Some(format!("Basic {TOKEN}"))),
    ] {
        let headers: Vec<(&str, &str)> = header.as_deref().map(|h| ("authorization", h)).into_iter().collect();
        let (status, body) = api.call("PUT", "/api/v1/policy", body.clone(), &headers).await;
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
            "{what}: {status} {body}"
        );
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}: {body}");
    }

    untouched(&api).await;
}
