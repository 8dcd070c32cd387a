//! POSTing an alert as JSON to a webhook, in the background, with retries:
//! an attempt that fails (no connection, timeout, a non-2xx answer) is
//! repeated after 0.5 s, then 1 s, 2 s, … up to `retries` more times. A
//! delivery that fails every attempt is logged and counted.

use crate::config::webhook_target;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Sends `body` to `url` on a background task.
pub(super) fn spawn_post(url: String, body: String, timeout: Duration, retries: u32, failures: Arc<AtomicU64>) {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(500);
        let mut last = String::new();
        for attempt in 0..=retries {
            if attempt > 0 {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            match tokio::time::timeout(timeout, post(&url, Bytes::from(body.clone()))).await {
                Ok(Ok(())) => return,
                Ok(Err(e)) => last = e,
                Err(_) => last = format!("no answer within {} ms", timeout.as_millis()),
            }
            tracing::debug!(%url, attempt, error = %last, "alert webhook attempt failed");
        }
        failures.fetch_add(1, Relaxed);
        tracing::warn!(%url, attempts = retries + 1, error = %last, "alert webhook failed");
    });
}

/// One attempt: a new connection, one POST, a 2xx answer.
async fn post(url: &str, body: Bytes) -> Result<(), String> {
    let (host, path) = webhook_target(url)?;
    let stream = tokio::net::TcpStream::connect(host.as_str())
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = http::Request::post(path)
        .header(http::header::HOST, host)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, "graygate-alerts")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let resp = tx.send_request(req).await.map_err(|e| e.to_string())?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", resp.status()))
    }
}
