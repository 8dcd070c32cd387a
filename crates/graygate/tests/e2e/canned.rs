//! Loopback servers with a scripted behaviour: a backend that is slow or
//! fails every n-th request, and a webhook receiver that keeps what it is sent.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// A backend answering `<name>\n` after `delay`, and 500 to every
/// `fail_every`-th request (0: never).
pub(crate) struct Scripted {
    pub addr: SocketAddr,
    pub served: Arc<AtomicU64>,
    pub failed: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Scripted {
    pub(crate) async fn start(name: &'static str, delay: Duration, fail_every: u64) -> Scripted {
        let (served, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (s, f) = (served.clone(), failed.clone());
        let (addr, task) = serve(move |_req| {
            let (s, f) = (s.clone(), f.clone());
            async move {
                let n = s.fetch_add(1, Relaxed) + 1;
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let status = if fail_every > 0 && n % fail_every == 0 {
                    f.fetch_add(1, Relaxed);
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                };
                let mut r = Response::new(Full::new(Bytes::from(format!("{name}\n"))));
                *r.status_mut() = status;
                r
            }
        })
        .await;
        Scripted {
            addr,
            served,
            failed,
            task,
        }
    }
}

/// A webhook receiver: answers 200 and keeps every body.
pub(crate) struct Hook {
    pub addr: SocketAddr,
    pub bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    task: JoinHandle<()>,
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Hook {
    pub(crate) async fn start() -> Hook {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let b = bodies.clone();
        let (addr, task) = serve(move |req: http::Request<Incoming>| {
            let b = b.clone();
            async move {
                let bytes = req
                    .into_body()
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .unwrap_or_default();
                if let Ok(v) = serde_json::from_slice(&bytes) {
                    b.lock().unwrap().push(v);
                }
                Response::new(Full::new(Bytes::new()))
            }
        })
        .await;
        Hook { addr, bodies, task }
    }
}

async fn serve<F, Fut>(handler: F) -> (SocketAddr, JoinHandle<()>)
where
    F: Fn(http::Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let h = handler.clone();
            conns.spawn(async move {
                let svc = service_fn(move |req| {
                    let h = h.clone();
                    async move { Ok::<_, Infallible>(h(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
            while conns.try_join_next().is_some() {}
        }
    });
    (addr, task)
}
