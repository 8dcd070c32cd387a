//! The admin API end to end over an embedded store in a temporary directory:
//! every call, its status and body, and what reaches the store's history.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use support::{TOKEN, policy_json, start};
use tower::ServiceExt;

#[tokio::test]
async fn replace_then_read_back_with_version_and_audit() {
    let api = start(Some(TOKEN), false).await;
    let (status, _) = api.call("GET", "/readyz", None, &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "no policy yet");
    let (status, _) = api.call("GET", "/api/v1/policy", None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = api.write("PUT", "/api/v1/policy", policy_json()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 1);

    let (status, body) = api.call("GET", "/api/v1/policy", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["version"], 1);
    assert_eq!(body["who"], "test");
    assert_eq!(body["policy"], policy_json());
    let (status, body) = api.call("GET", "/readyz", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["policy_version"], 1);
    assert_eq!(body["store"]["connected"], true);
}

#[tokio::test]
async fn a_bad_policy_names_every_bad_field_and_nothing_is_saved() {
    let api = start(Some(TOKEN), false).await;
    api.write("PUT", "/api/v1/policy", policy_json()).await;
    let mut bad = policy_json();
    bad["routes"][0]["default"] = json!("nope");
    bad["routes"][0]["rules"][1]["split"]["weights"]["canary"] = json!(600);
    bad["routes"][0]["rules"][0]["when"] = json!({ "ip": ["10.0.0/8"] });
    let (status, body) = api.write("PUT", "/api/v1/policy", bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let paths: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"routes[0].default"), "{paths:?}");
    assert!(
        paths.iter().any(|p| p.starts_with("routes[0].rules[1].split")),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.starts_with("routes[0].rules[0].when.ip")),
        "{paths:?}"
    );

    // A body that is not JSON at all, and one of the wrong shape.
    let auth = format!("Bearer {TOKEN}");
    let (status, body) = api
        .call("PUT", "/api/v1/policy", Some(json!("x")), &[("authorization", &auth)])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = api
        .write("PUT", "/api/v1/policy", json!({ "routes": [{ "nme": "x" }] }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("routes[0]"), "{body}");

    assert_eq!(api.versions().await, vec![1], "nothing was saved");
}

#[tokio::test]
async fn if_match_with_a_stale_version_is_a_conflict() {
    let api = start(Some(TOKEN), false).await;
    let mut next = policy_json();
    next["lists"]["beta"] = json!(["alice", "bob"]);
    api.write("PUT", "/api/v1/policy", policy_json()).await;
    api.write("PUT", "/api/v1/policy", next.clone()).await;
    let auth = format!("Bearer {TOKEN}");
    let stale = [("authorization", auth.as_str()), ("if-match", "\"1\"")];
    let (status, body) = api.call("PUT", "/api/v1/policy", Some(next), &stale).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["current_version"], 2);
    let fresh = [("authorization", auth.as_str()), ("if-match", "\"2\"")];
    let (status, body) = api.call("PUT", "/api/v1/policy", Some(policy_json()), &fresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let garbled = [("authorization", auth.as_str()), ("if-match", "latest")];
    let (status, _) = api.call("PUT", "/api/v1/policy", Some(policy_json()), &garbled).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(api.versions().await, vec![3, 2, 1]);
}

#[tokio::test]
async fn writes_need_the_token_and_reads_need_it_off_loopback() {
    let api = start(Some(TOKEN), false).await;
    let (status, _) = api.call("PUT", "/api/v1/policy", Some(policy_json()), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let wrong = [("authorization", "Bearer s3cret-tokem")];
    let (status, _) = api.call("PUT", "/api/v1/policy", Some(policy_json()), &wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api
        .call("POST", "/api/v1/lists/beta/add", Some(json!({ "ids": ["x"] })), &[])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(api.versions().await.is_empty());
    let (status, _) = api.call("GET", "/api/v1/policy/history", None, &[]).await;
    assert_eq!(status, StatusCode::OK, "reads are open on loopback");

    let guarded = start(Some(TOKEN), true).await;
    let (status, _) = guarded.call("GET", "/api/v1/policy/history", None, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = guarded.call("GET", "/healthz", None, &[]).await;
    assert_eq!(status, StatusCode::OK, "probes stay open");

    let tokenless = start(None, false).await;
    let (status, body) = tokenless.write("PUT", "/api/v1/policy", policy_json()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

#[tokio::test]
async fn history_and_rollback_make_a_new_audited_version() {
    let api = start(Some(TOKEN), false).await;
    api.write("PUT", "/api/v1/policy", policy_json()).await;
    let (status, body) = api
        .write(
            "PUT",
            "/api/v1/routes/shop/splits/ramp",
            json!({ "weights": { "canary": 2500, "stable": 7500 } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["summary"], "shop/ramp: stable 95% → 75%, canary 5% → 25%");

    let (status, body) = api
        .write("POST", "/api/v1/policy/rollback", json!({ "version": 1 }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 3);
    let (_, current) = api.call("GET", "/api/v1/policy", None, &[]).await;
    assert_eq!(current["policy"], policy_json());
    assert_eq!(current["summary"], "rollback to version 1");

    let (status, body) = api.call("GET", "/api/v1/policy/history?limit=10", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let summaries: Vec<&str> = body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["summary"].as_str().unwrap())
        .collect();
    assert_eq!(
        summaries,
        [
            "rollback to version 1",
            "shop/ramp: stable 95% → 75%, canary 5% → 25%",
            "first policy"
        ]
    );
    let (status, body) = api.call("GET", "/api/v1/policy/versions/2", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["policy"]["routes"][0]["rules"][1]["split"]["weights"]["canary"],
        2500
    );

    let (status, _) = api
        .write("POST", "/api/v1/policy/rollback", json!({ "version": 99 }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.call("GET", "/api/v1/policy/versions/99", None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn set_split_keeps_the_group_order_so_a_ramp_only_moves_users_in() {
    let api = start(Some(TOKEN), false).await;
    api.write("PUT", "/api/v1/policy", policy_json()).await;
    // The body lists canary first; the split must keep stable first.
    api.write(
        "PUT",
        "/api/v1/routes/shop/splits/ramp",
        json!({ "weights": { "canary": 1000, "stable": 9000 } }),
    )
    .await;
    let (_, body) = api.call("GET", "/api/v1/policy", None, &[]).await;
    let weights = body["policy"]["routes"][0]["rules"][1]["split"]["weights"]
        .as_object()
        .unwrap();
    let order: Vec<(&String, &Value)> = weights.iter().collect();
    assert_eq!(
        order,
        [
            (&"stable".to_owned(), &json!(9000)),
            (&"canary".to_owned(), &json!(1000))
        ]
    );

    // By index too; weights that do not sum to 10000 are refused with the path.
    let (status, body) = api
        .write(
            "PUT",
            "/api/v1/routes/shop/splits/1",
            json!({ "weights": { "canary": 2000 } }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["errors"][0]["path"]
            .as_str()
            .unwrap()
            .starts_with("routes[0].rules[1].split"),
        "{body}"
    );
    let (status, _) = api
        .write(
            "PUT",
            "/api/v1/routes/shop/splits/0",
            json!({ "weights": { "canary": 10000 } }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "rule 0 has no split");
    let (status, _) = api
        .write(
            "PUT",
            "/api/v1/routes/nope/splits/ramp",
            json!({ "weights": { "canary": 10000 } }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api
        .write(
            "PUT",
            "/api/v1/routes/shop/splits/ramp",
            json!({ "weight": { "canary": 10000 } }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(api.versions().await, vec![2, 1]);
}

#[tokio::test]
async fn a_hundred_thousand_ids_in_one_call() {
    let api = start(Some(TOKEN), false).await;
    api.write("PUT", "/api/v1/policy", policy_json()).await;
    let ids: Vec<String> = (0..100_000).map(|i| format!("user-{i}")).collect();
    let (status, body) = api.write("POST", "/api/v1/lists/beta/add", json!({ "ids": ids })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["summary"], "list beta: +100000 ids (100001 in all)");
    // Adding ids already there changes nothing: no new version. Removing
    // counts only the ids present.
    let (_, body) = api
        .write("POST", "/api/v1/lists/beta/add", json!({ "ids": ["alice", "user-7"] }))
        .await;
    assert_eq!(
        (&body["summary"], &body["version"]),
        (&json!("no change"), &json!(2)),
        "{body}"
    );
    let (_, body) = api
        .write(
            "POST",
            "/api/v1/lists/beta/remove",
            json!({ "ids": ["alice", "ghost"] }),
        )
        .await;
    assert_eq!(body["summary"], "list beta: -1 ids (100000 in all)");

    let (_, decision) = api
        .call(
            "POST",
            "/api/v1/explain",
            Some(json!({ "url": "/", "headers": { "x-user-id": "user-99999" } })),
            &[],
        )
        .await;
    assert_eq!(decision["rule"], "beta", "{decision}");
    assert_eq!(decision["group"], "canary");
    let (_, decision) = api
        .call(
            "POST",
            "/api/v1/explain",
            Some(json!({ "url": "/", "headers": { "x-user-id": "alice" } })),
            &[],
        )
        .await;
    assert_ne!(decision["rule"], "beta", "{decision}");

    let (status, _) = api
        .write("POST", "/api/v1/lists/nope/remove", json!({ "ids": ["x"] }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api
        .write("POST", "/api/v1/lists/beta/add", json!({ "ids": [""] }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn explain_reports_the_decision_of_the_stored_policy() {
    let api = start(Some(TOKEN), false).await;
    api.write("PUT", "/api/v1/policy", policy_json()).await;
    let (status, d) = api
        .call(
            "POST",
            "/api/v1/explain",
            Some(json!({ "url": "http://shop.example.com/cart", "headers": { "X-User-ID": "bob" } })),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["route"], "shop");
    assert_eq!(d["rule"], "ramp");
    assert_eq!(d["reason"], "hash");
    assert_eq!(d["version"], 1);
    let bucket = d["bucket"].as_u64().unwrap();
    assert_eq!(d["group"], if bucket < 9500 { "stable" } else { "canary" });
    let (status, _) = api
        .call("POST", "/api/v1/explain", Some(json!({ "path": "/" })), &[])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn every_error_is_json_and_no_op_writes_make_no_version() {
    let api = start(Some(TOKEN), false).await;
    api.write("PUT", "/api/v1/policy", policy_json()).await;
    for (method, uri) in [
        ("GET", "/api/v1/nope"),
        ("DELETE", "/api/v1/policy"),
        ("GET", "/api/v1/policy/versions/abc"),
        ("GET", "/api/v1/policy/history?limit=x"),
    ] {
        let (status, body) = api.call(method, uri, None, &[]).await;
        assert!(status.is_client_error(), "{method} {uri}: {status}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{method} {uri}: {body}"
        );
    }
    // The scheme is case-insensitive; a non-ASCII actor is refused.
    let lower = format!("bearer {TOKEN}");
    let (status, body) = api
        .call(
            "PUT",
            "/api/v1/policy",
            Some(policy_json()),
            &[("authorization", &lower)],
        )
        .await;
    assert_eq!((status, &body["changed"]), (StatusCode::OK, &json!(false)), "{body}");
    assert_eq!(body["version"], 1, "the same policy again is not a new version");
    let auth = format!("Bearer {TOKEN}");
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/lists/beta/add")
        .header("authorization", &auth)
        .header("x-actor", axum::http::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap())
        .body(Body::from(r#"{"ids":["zoe"]}"#))
        .unwrap();
    let resp = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let (_, body) = api
        .write("POST", "/api/v1/lists/beta/add", json!({ "ids": ["alice"] }))
        .await;
    assert_eq!(body["changed"], false, "{body}");
    assert_eq!(api.versions().await, vec![1]);
    let (_, d) = api
        .call(
            "POST",
            "/api/v1/explain",
            Some(json!({ "url": "http://other.example/" })),
            &[],
        )
        .await;
    assert!(d["notes"].is_array(), "{d}");
}
