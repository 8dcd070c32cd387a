//! The admin API's test harness: an embedded store in a temporary directory
//! behind the router, and calls with or without the token.
#![allow(dead_code, unreachable_pub)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use graygate_admin::{AdminState, router};
use graygate_policy::Policy;
use graygate_store::{EmbeddedOptions, EmbeddedStore, PolicyStore};
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

pub const TOKEN: &str = "s3cret-token";

pub const POLICY: &str = r#"
[groups.stable]
servers = [{ addr = "127.0.0.1:9001" }]
[groups.canary]
servers = [{ addr = "127.0.0.1:9002" }]

[lists]
beta = ["alice"]

[[routes]]
name = "shop"
default = "stable"

[[routes.rules]]
name = "beta"
when = { list = "beta" }
to = "canary"

[[routes.rules]]
name = "ramp"
split = { by = "user", salt = "shop/ramp", weights = { stable = 9500, canary = 500 } }
"#;

pub fn policy_json() -> Value {
    serde_json::to_value(Policy::from_toml(POLICY).unwrap()).unwrap()
}

pub struct Api {
    pub app: Router,
    pub store: Arc<EmbeddedStore>,
    _dir: tempfile::TempDir,
}

pub async fn start(token: Option<&str>, protect_reads: bool) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions {
        history: 20,
        poll_interval: None,
    };
    let store = Arc::new(EmbeddedStore::open(dir.path(), options).await.unwrap());
    let state = AdminState {
        store: store.clone(),
        token: token.map(Arc::from),
        protect_reads,
        lookup: None,
        applied: None,
        metrics: None,
    };
    Api {
        app: router(state),
        store,
        _dir: dir,
    }
}

impl Api {
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(serde_json::to_vec(&b).unwrap()));
        let resp = self.app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, value)
    }

    /// A call with a body of raw bytes, with the token.
    pub async fn raw(&self, method: &str, uri: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, value)
    }

    /// A write with the token.
    pub async fn write(&self, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
        let auth = format!("Bearer {TOKEN}");
        self.call(
            method,
            uri,
            Some(body),
            &[("authorization", &auth), ("x-actor", "test")],
        )
        .await
    }

    pub async fn versions(&self) -> Vec<u64> {
        self.store
            .history(100)
            .await
            .unwrap()
            .iter()
            .map(|m| m.version)
            .collect()
    }
}
