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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use hyper::service::service_fn;
    use std::convert::Infallible;

    /// A loopback receiver answering 503 to the first `fail_first` POSTs,
    /// then 200; counts the POSTs and keeps the last body.
    async fn receiver(fail_first: u64) -> (String, Arc<AtomicU64>, Arc<std::sync::Mutex<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (posts, body) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(std::sync::Mutex::new(String::new())),
        );
        let (p, b) = (posts.clone(), body.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (p, b) = (p.clone(), b.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (p, b) = (p.clone(), b.clone());
                        async move {
                            use http_body_util::BodyExt;
                            let n = p.fetch_add(1, Relaxed) + 1;
                            let bytes = req.into_body().collect().await.unwrap().to_bytes();
                            *b.lock().unwrap() = String::from_utf8_lossy(&bytes).into_owned();
                            let status = if n <= fail_first { 503 } else { 200 };
                            let mut r = http::Response::new(Full::new(Bytes::new()));
                            *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
                            Ok::<_, Infallible>(r)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        (url, posts, body)
    }

    async fn until(what: &str, f: impl Fn() -> bool) {
        for _ in 0..500 {
            if f() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("never happened: {what}");
    }

    #[tokio::test]
    async fn a_failed_delivery_is_retried_until_it_is_accepted() {
        let (url, posts, body) = receiver(2).await;
        let failures = Arc::new(AtomicU64::new(0));
        spawn_post(
            url,
            "{\"status\":\"firing\"}".into(),
            Duration::from_secs(2),
            3,
            failures.clone(),
        );
        until("the third attempt is accepted", || posts.load(Relaxed) == 3).await;
        assert_eq!(*body.lock().unwrap(), "{\"status\":\"firing\"}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(posts.load(Relaxed), 3, "no attempt after the accepted one");
        assert_eq!(failures.load(Relaxed), 0);
    }

    #[tokio::test]
    async fn a_delivery_failing_every_attempt_is_counted() {
        let (url, posts, _) = receiver(u64::MAX).await;
        let failures = Arc::new(AtomicU64::new(0));
        spawn_post(url, "{}".into(), Duration::from_secs(2), 1, failures.clone());
        until("two attempts, then a counted failure", || failures.load(Relaxed) == 1).await;
        assert_eq!(posts.load(Relaxed), 2);
    }
}
