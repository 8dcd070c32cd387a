//! Keep-alive connections to one server, and opening new ones.
//!
//! A connection comes back to the pool when its response body was read to
//! the end (see [`h1::UpstreamBody`](super::h1::UpstreamBody)), and is handed
//! out again, newest first, only while idle for less than the idle timeout
//! and neither closed by the server nor holding unexpected bytes.

use super::ServerState;
use super::h1::Conn;
use crate::error::{ErrorKind, ProxyError};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Idle connections to one server.
#[derive(Debug, Default)]
pub struct Pool {
    idle: Mutex<Vec<(Conn, Instant)>>,
}

impl Pool {
    /// The newest usable connection idle for less than `max_idle_time`;
    /// older or dead ones met on the way are closed.
    pub fn take(&self, max_idle_time: Duration) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((conn, since)) = idle.pop() {
            if since.elapsed() <= max_idle_time && conn.is_reusable() {
                return Some(conn);
            }
        }
        None
    }

    /// Returns a connection for reuse; dropped when `max_idle` are kept already.
    pub fn put(&self, conn: Conn, max_idle: usize) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < max_idle {
            idle.push((conn, Instant::now()));
        }
    }

    /// Idle connections held.
    pub fn len(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no connection is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ServerState {
    /// Opens a new connection (`TCP_NODELAY`) within `timeout`.
    pub async fn connect(&self, timeout: Duration) -> Result<Conn, ProxyError> {
        let connect = async {
            let stream = match self.sock {
                Some(sa) => TcpStream::connect(sa).await,
                None => TcpStream::connect(&*self.addr).await,
            }?;
            stream.set_nodelay(true)?;
            Ok::<_, std::io::Error>(Conn::new(stream))
        };
        match tokio::time::timeout(timeout, connect).await {
            Ok(r) => r.map_err(|e| ProxyError::new(ErrorKind::ConnectFailed, e)),
            Err(_) => Err(ProxyError::new(
                ErrorKind::ConnectFailed,
                format!("connect timed out after {} ms", timeout.as_millis()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// A pooled connection and the server's end of it.
    async fn pooled() -> (Pool, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        let pool = Pool::default();
        pool.put(Conn::new(c), 4);
        (pool, s)
    }

    /// Takes (and puts back) until the pool hands nothing out; false if it
    /// kept handing the connection out for a second.
    async fn dropped_eventually(pool: &Pool) -> bool {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            match pool.take(Duration::from_secs(60)) {
                Some(c) => pool.put(c, 4),
                None => return true,
            }
        }
        false
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_not_handed_out() {
        let (pool, s) = pooled().await;
        let c = pool
            .take(Duration::from_secs(60))
            .expect("a live connection is handed out");
        pool.put(c, 4);
        drop(s);
        assert!(dropped_eventually(&pool).await);
        assert!(pool.is_empty());
    }

    #[tokio::test]
    async fn a_connection_with_unexpected_bytes_is_not_handed_out() {
        let (pool, mut s) = pooled().await;
        s.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        assert!(dropped_eventually(&pool).await);
        drop(s);
    }

    #[tokio::test]
    async fn connections_idle_too_long_are_closed() {
        let (pool, _s) = pooled().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(pool.take(Duration::from_millis(1)).is_none());
        assert!(pool.is_empty());
    }
}
