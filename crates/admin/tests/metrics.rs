//! `/metrics` and `/api/v1/stats` serve what the gateway's `MetricsSource`
//! gives them, as reads: open on loopback, the token off it; 404 without a
//! source (metrics switched off).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use graygate_admin::{AdminState, router};
use graygate_metrics::{MetricsSource, Stats};
use graygate_store::{EmbeddedOptions, EmbeddedStore};
use http_body_util::BodyExt;
use std::collections::BTreeMap;
use std::sync::Arc;
use tower::ServiceExt;

#[derive(Debug)]
struct Fixed;

impl MetricsSource for Fixed {
    fn prometheus(&self) -> String {
        "# TYPE graygate_policy_version gauge\ngraygate_policy_version 7\n# EOF\n".to_owned()
    }

    fn stats(&self) -> Stats {
        Stats {
            version: 7,
            generated_at_ms: 1,
            windows: BTreeMap::from([("1m".to_owned(), 60)]),
            thresholds: Default::default(),
            alert_window: "1m".to_owned(),
            routes: Vec::new(),
            alerts: Vec::new(),
        }
    }
}

async fn app(metrics: Option<Arc<dyn MetricsSource>>, protect_reads: bool) -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions {
        history: 5,
        poll_interval: None,
    };
    let store = Arc::new(EmbeddedStore::open(dir.path(), options).await.unwrap());
    let state = AdminState {
        store,
        token: Some(Arc::from("tok")),
        protect_reads,
        lookup: None,
        applied: None,
        metrics,
    };
    (router(state), dir)
}

async fn get(app: &axum::Router, path: &str, token: Option<&str>) -> (StatusCode, String, String) {
    let mut req = Request::get(path);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, ct, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn metrics_and_stats_are_served_from_the_source() {
    let (app, _dir) = app(Some(Arc::new(Fixed)), false).await;
    let (status, ct, body) = get(&app, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    assert!(body.contains("graygate_policy_version 7"), "{body}");
    let (status, ct, body) = get(&app, "/api/v1/stats", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("application/json"), "{ct}");
    let stats: Stats = serde_json::from_str(&body).unwrap();
    assert_eq!(stats.version, 7);
}

#[tokio::test]
async fn off_loopback_both_need_the_token() {
    let (app, _dir) = app(Some(Arc::new(Fixed)), true).await;
    for path in ["/metrics", "/api/v1/stats"] {
        assert_eq!(get(&app, path, None).await.0, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(
            get(&app, path, Some("nope")).await.0,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_eq!(get(&app, path, Some("tok")).await.0, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn without_metrics_both_answer_404_in_json() {
    let (app, _dir) = app(None, false).await;
    for path in ["/metrics", "/api/v1/stats"] {
        let (status, _, body) = get(&app, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(v["error"].as_str().unwrap().contains("metrics are off"), "{body}");
    }
}
