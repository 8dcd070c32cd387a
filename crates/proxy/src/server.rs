//! The listener: accepting connections, serving HTTP/1.1 with keep-alive and
//! upgrades, graceful shutdown, and the signals of a running gateway.
//!
//! Each connection is served by graygate's own HTTP/1.1 server (`conn`):
//! request heads parsed into `http` types (`request`), bodies read from the
//! connection by whoever forwards them (`body`), responses framed and
//! written (`response`). At most `max_connections` are served at once; one
//! more is answered 503 and closed (`limit`). Idle keep-alive connections are
//! closed after `idle_timeout_ms`, slow request heads after
//! `client_timeout_ms`.
//!
//! Shutdown stops accepting, asks every connection to finish its current
//! request and close, and waits for them up to a deadline. What SIGHUP does
//! is the caller's (`graygate serve` re-reads its file).

mod body;
mod conn;
mod limit;
mod request;
mod response;

pub use body::{ClientBody, OnUpgrade, Upgraded};
pub use limit::Connections;

use crate::gateway::Gateway;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

/// A bound listener, ready to serve.
#[derive(Debug)]
pub struct Server {
    gateway: Arc<Gateway>,
    listener: TcpListener,
}

impl Server {
    /// Binds the configured `listen` address.
    pub async fn bind(gateway: Arc<Gateway>) -> io::Result<Server> {
        let addr = gateway.snapshot().settings.raw.listen;
        let listener = TcpListener::bind(addr).await?;
        Ok(Server { gateway, listener })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The gateway this server serves.
    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// Serves until `shutdown` completes, then drains in-flight requests for
    /// at most `shutdown_timeout_secs`.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
        let mut shutdown = std::pin::pin!(shutdown);
        let mut refusals = limit::RefusalLog::default();
        loop {
            let (stream, peer) = tokio::select! {
                r = self.listener.accept() => match r {
                    Ok(s) => s,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let limit = self.gateway.snapshot().settings.raw.max_connections;
            let Some(slot) = self.gateway.connections.admit(limit) else {
                self.gateway.connections.refuse(stream);
                refusals.refused(peer, limit);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let gw = self.gateway.clone();
            let stop = stop_rx.clone();
            let alive = alive_tx.clone();
            // Boxed before the spawn: the connection's future is about
            // 5 KiB, and a spawn passes its future by value through several
            // calls into the task's cell; the box is moved instead of it.
            let served = Box::pin(conn::serve(gw, stream, peer, stop));
            tokio::spawn(async move {
                served.await;
                drop(slot);
                drop(alive);
            });
        }
        drop(self.listener);
        let deadline = Duration::from_secs(self.gateway.snapshot().settings.raw.shutdown_timeout_secs);
        tracing::info!(
            deadline_secs = deadline.as_secs(),
            "shutting down: draining connections"
        );
        let _ = stop_tx.send(true);
        drop(alive_tx);
        match tokio::time::timeout(deadline, alive_rx.recv()).await {
            Ok(_) => tracing::info!("all connections drained"),
            Err(_) => tracing::warn!("shutdown deadline reached; closing remaining connections"),
        }
    }
}

/// Serves `server` until SIGTERM or SIGINT, then drains; on SIGHUP awaits
/// `on_hup` (which re-reads the configuration, or does nothing).
pub async fn run_with_signals<F, Fut>(server: Server, mut on_hup: F) -> io::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let reloader = async move {
        while hup.recv().await.is_some() {
            on_hup().await;
        }
    };
    let shutdown = async {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    };
    tokio::select! {
        () = server.serve(shutdown) => {}
        () = reloader => {}
    }
    Ok(())
}
