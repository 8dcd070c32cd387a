//! The watcher task of a [`super::RedisStore`]: SUBSCRIBE for prompt news,
//! poll for what pub/sub drops, reconnect with backoff.

use super::{Endpoint, Keys, read_head};
use crate::error::StoreError;
use crate::store::{Current, StatusCell, announce};
use futures_util::StreamExt;
use redis::AsyncCommands;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{MissedTickBehavior, timeout};

const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

pub(super) struct Watcher {
    pub(super) endpoint: Endpoint,
    pub(super) keys: Keys,
    pub(super) tx: Arc<watch::Sender<Current>>,
    pub(super) status: StatusCell,
    pub(super) poll_interval: Duration,
    pub(super) timeout: Duration,
}

impl Watcher {
    /// Runs until aborted (when the store is dropped).
    pub(super) async fn run(mut self) {
        let mut backoff = BACKOFF_MIN;
        loop {
            let (was_connected, error) = self.session().await;
            self.endpoint.forget();
            tracing::warn!(error = %error, "policy store watcher lost redis; retrying");
            self.status.failed(&error);
            if was_connected {
                backoff = BACKOFF_MIN;
            }
            tokio::time::sleep(jitter(backoff)).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// One subscription: subscribe, catch up, then follow messages and the
    /// poll timer until something fails. Returns whether it got connected and
    /// why it ended.
    async fn session(&mut self) -> (bool, StoreError) {
        let client = match self.endpoint.client().await {
            Ok(c) => c,
            Err(e) => return (false, e),
        };
        let mut pubsub = match timeout(self.timeout, client.get_async_pubsub()).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return (false, e.into()),
            Err(_) => return (false, StoreError::Unavailable("connecting to redis timed out".into())),
        };
        if let Err(e) = pubsub.subscribe(&self.keys.channel).await {
            return (false, e.into());
        }
        // Subscribed first, then read: a change made in between is either in
        // the read or announced on the channel.
        if let Err(e) = self.refresh().await {
            return (false, e);
        }
        self.status.connected();
        let mut messages = pubsub.on_message();
        let mut tick = tokio::time::interval(self.poll_interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tick.reset();
        loop {
            let result = tokio::select! {
                msg = messages.next() => match msg {
                    Some(_) => self.refresh().await,
                    None => Err(StoreError::Unavailable("redis subscription closed".into())),
                },
                _ = tick.tick() => self.refresh().await,
            };
            if let Err(e) = result {
                return (true, e);
            }
        }
    }

    /// Reads the head's version and, only when it is newer than the last
    /// announced, the document (so that polling costs one small read).
    async fn refresh(&mut self) -> Result<(), StoreError> {
        match self.try_refresh().await {
            // Someone wrote the keys by hand, badly: not a connection problem.
            Err(e @ StoreError::Corrupt(_)) => {
                self.status.error(e);
                Ok(())
            }
            r => r,
        }
    }

    async fn try_refresh(&mut self) -> Result<(), StoreError> {
        let mut conn = self.endpoint.conn().await?;
        let version: Option<String> = self.bounded(conn.hget(&self.keys.head, "version")).await?;
        let Some(version) = version else { return Ok(()) };
        let version: u64 = version
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("{} version {version:?}", self.keys.head)))?;
        let known = self.tx.borrow().as_ref().map(|c| c.version());
        match known {
            Some(k) if version == k => return Ok(()),
            Some(k) if version < k => {
                // Redis lost data (flushed, restarted without persistence):
                // never go backwards; keep the newer version and say why.
                self.status.error(format!(
                    "redis holds version {version} but version {k} was already applied; keeping it"
                ));
                return Ok(());
            }
            _ => {}
        }
        let read = timeout(self.timeout, read_head(&mut conn, &self.keys)).await;
        let head = read.map_err(|_| StoreError::Unavailable("redis did not answer in time".into()))??;
        // The head may have moved on since; announce() keeps only newer ones.
        if let Some(head) = head {
            self.status.version(head.version());
            announce(&self.tx, Arc::new(head));
        }
        Ok(())
    }

    async fn bounded<T>(&self, f: impl Future<Output = redis::RedisResult<T>>) -> Result<T, StoreError> {
        match timeout(self.timeout, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                self.endpoint.failed(&e);
                Err(e.into())
            }
            Err(_) => Err(StoreError::Unavailable("redis did not answer in time".into())),
        }
    }
}

/// `d` ± up to 25 %, so that many gateways do not reconnect in lockstep.
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    let quarter = d / 4;
    let spread = u32::try_from(quarter.as_micros()).unwrap_or(u32::MAX).max(1);
    d - quarter + Duration::from_micros(u64::from(nanos % (2 * spread)))
}
