//! The connection limit (`[gateway] max_connections`): connections over it
//! are told so — a canned `503` with `Connection: close` — and closed, and the
//! refusals are counted and logged at most once a second.
//!
//! The count is one atomic, held by a [`Slot`] for the life of a connection;
//! it is also the open-connections gauge. A refusal costs a short task that
//! writes the answer and reads what the client sent (so that closing does not
//! reset the connection before the client read the answer); at most
//! [`MAX_REFUSING`] run at once, beyond that a connection is just closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The answer to a connection over the limit, in the style of graygate's
/// other canned answers (`text/plain`, one short line).
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: text/plain; charset=utf-8\r\n\
content-length: 21\r\n\
connection: close\r\n\
retry-after: 1\r\n\
\r\n\
too many connections\n";

/// Refusals being written at once; past this a connection is closed unanswered.
const MAX_REFUSING: usize = 64;

/// How long a refused connection is read from after the answer, at most.
const LINGER: Duration = Duration::from_secs(1);

/// Client connections: open now, and refused since start.
#[derive(Debug, Default)]
pub struct Connections {
    open: Arc<AtomicUsize>,
    refused: AtomicU64,
    refusing: Arc<AtomicUsize>,
    cut_off: AtomicU64,
}

impl Connections {
    /// Client connections being served.
    pub fn open(&self) -> usize {
        self.open.load(Relaxed)
    }

    /// Client connections refused over `max_connections`, since start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Relaxed)
    }

    /// Responses cut off after their head because the upstream body
    /// failed (the connection is closed so the client sees the truncation).
    pub fn responses_cut_off(&self) -> u64 {
        self.cut_off.load(Relaxed)
    }

    pub(super) fn cut_off(&self) {
        self.cut_off.fetch_add(1, Relaxed);
    }

    /// A slot for one more connection, unless `limit` are open.
    pub(super) fn admit(&self, limit: usize) -> Option<Slot> {
        if self.open.fetch_add(1, Relaxed) >= limit {
            self.open.fetch_sub(1, Relaxed);
            return None;
        }
        Some(Slot(self.open.clone()))
    }

    /// Answers `stream` 503 and closes it, in the background.
    pub(super) fn refuse(&self, stream: TcpStream) {
        self.refused.fetch_add(1, Relaxed);
        if self.refusing.fetch_add(1, Relaxed) >= MAX_REFUSING {
            self.refusing.fetch_sub(1, Relaxed);
            return;
        }
        let refusing = self.refusing.clone();
        tokio::spawn(async move {
            answer(stream).await;
            refusing.fetch_sub(1, Relaxed);
        });
    }
}

/// One open connection; frees its place when dropped.
#[derive(Debug)]
pub(super) struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

async fn answer(mut stream: TcpStream) {
    let _ = tokio::time::timeout(LINGER, async {
        stream.write_all(REFUSAL).await?;
        stream.shutdown().await?;
        // Read (and drop) what the client sends until it closes: closing
        // with unread data would reset the connection, and the client could
        // lose the answer.
        let mut buf = [0u8; 4096];
        while stream.read(&mut buf).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// Logs refusals at most once a second, with how many there were.
#[derive(Debug, Default)]
pub(super) struct RefusalLog {
    last: Option<Instant>,
    unlogged: u64,
}

impl RefusalLog {
    pub(super) fn refused(&mut self, peer: SocketAddr, limit: usize) {
        self.unlogged += 1;
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        tracing::warn!(
            refused = self.unlogged,
            max_connections = limit,
            last_client = %peer,
            "connection limit reached: refusing connections (count since the last such line)"
        );
        self.last = Some(now);
        self.unlogged = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rule: the canned answer is well framed: its length is its body's.
    #[test]
    fn the_refusal_is_well_framed() {
        let text = std::str::from_utf8(REFUSAL).unwrap_or_default();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
        assert!(head.contains(&format!("content-length: {}", body.len())), "{text}");
        assert!(head.starts_with("HTTP/1.1 503 "));
    }

    /// Rule: a slot frees its place; no more than the limit are admitted.
    #[test]
    fn slots_count_open_connections_up_to_the_limit() {
        let c = Connections::default();
        let a = c.admit(2);
        let b = c.admit(2);
        assert!(a.is_some() && b.is_some());
        assert!(c.admit(2).is_none());
        assert_eq!(c.open(), 2);
        drop(a);
        assert_eq!(c.open(), 1);
        assert!(c.admit(2).is_some());
    }
}
