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
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, watch};

/// Connections the kernel queues, handshake done, until they are accepted
/// (capped by `net.core.somaxconn`); std's and mio's 128 is soon full when
/// a thousand clients connect at once.
const BACKLOG: u32 = 1024;

/// A bound listener, ready to serve.
#[derive(Debug)]
pub struct Server {
    gateway: Arc<Gateway>,
    listener: TcpListener,
}

/// A listening socket on `addr`, with `SO_REUSEADDR` (as nginx: a restart
/// binds while old connections linger in `TIME_WAIT`) and `TCP_NODELAY`,
/// which the connections it accepts inherit on Linux: no `setsockopt` per
/// connection (see [`Server::serve`]).
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

impl Server {
    /// Binds the configured `listen` address.
    pub async fn bind(gateway: Arc<Gateway>) -> io::Result<Server> {
        let listener = listen(gateway.snapshot().settings.raw.listen)?;
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
        // Whether accepted connections come with the listener's
        // `TCP_NODELAY` (Linux); looked at once, on the first of them.
        let mut inherits_nodelay = None;
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
            if !*inherits_nodelay.get_or_insert_with(|| stream.nodelay().unwrap_or(false)) {
                let _ = stream.set_nodelay(true);
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_inherit_the_listeners_nodelay() {
        let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap());
        let (accepted, client) = tokio::join!(listener.accept(), client);
        let ((accepted, _), client) = (accepted.unwrap(), client.unwrap());
        // The client's own socket is untouched: the option is the listener's.
        assert!(!client.nodelay().unwrap());
        assert!(
            accepted.nodelay().unwrap(),
            "TCP_NODELAY not inherited from the listener"
        );
    }
}
