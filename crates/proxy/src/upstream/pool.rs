//! Keep-alive connections to one server, and opening new ones.
//!
//! A connection goes back to the pool as soon as its response head arrives;
//! it is handed out again only once hyper reports it ready (the previous
//! response body fully read), and dropped when closed or idle too long. A
//! request is first tried on a pooled connection; if hyper hands it back
//! unsent (the server closed the connection meanwhile), it goes on a new one.

use super::ServerState;
use crate::body::ReqBody;
use crate::error::{ErrorKind, ProxyError};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Idle connections to one server.
#[derive(Debug, Default)]
pub struct Pool {
    idle: Mutex<Vec<(SendRequest<ReqBody>, Instant)>>,
}

impl Pool {
    /// A ready connection idle for less than `max_idle_time`, if any, with
    /// how long it was idle.
    pub fn take(&self, max_idle_time: Duration) -> Option<(SendRequest<ReqBody>, Duration)> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let mut i = idle.len();
        while i > 0 {
            i -= 1;
            let (tx, since) = &idle[i];
            let idle_for = since.elapsed();
            if tx.is_closed() || idle_for > max_idle_time {
                idle.swap_remove(i);
            } else if tx.is_ready() {
                return Some((idle.swap_remove(i).0, idle_for));
            }
        }
        None
    }

    /// Returns a connection for reuse; dropped when `max_idle` are kept already.
    pub fn put(&self, tx: SendRequest<ReqBody>, max_idle: usize) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < max_idle {
            idle.push((tx, Instant::now()));
        }
    }

    /// Idle and busy connections held.
    pub fn len(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no connection is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ServerState {
    /// Opens a new HTTP/1.1 connection (TCP_NODELAY) within `timeout`.
    pub async fn connect(&self, timeout: Duration) -> Result<SendRequest<ReqBody>, ProxyError> {
        let connect = async {
            let stream = match self.sock {
                Some(sa) => TcpStream::connect(sa).await,
                None => TcpStream::connect(&*self.addr).await,
            }
            .map_err(|e| ProxyError::new(ErrorKind::ConnectFailed, e))?;
            stream
                .set_nodelay(true)
                .map_err(|e| ProxyError::new(ErrorKind::ConnectFailed, e))?;
            // Requests are mostly a head alone: copied into one buffer and
            // sent with one `write`, they cost fewer instructions (user and
            // kernel) than a `writev` of their parts. Responses keep hyper's
            // vectored writes: their bodies can be large.
            hyper::client::conn::http1::Builder::new()
                .writev(false)
                .handshake(TokioIo::new(stream))
                .await
                .map_err(|e| ProxyError::new(ErrorKind::ConnectFailed, e))
        };
        let (tx, conn) = match tokio::time::timeout(timeout, connect).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(ProxyError::new(
                    ErrorKind::ConnectFailed,
                    format!("connect timed out after {} ms", timeout.as_millis()),
                ));
            }
        };
        let addr = self.addr.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(server = %addr, error = %e, "upstream connection ended with an error");
            }
        });
        Ok(tx)
    }
}
