//! Where the Redis is: one address, or the master that Redis Sentinels name.
//!
//! With Sentinel, the master is asked of the Sentinels when first needed and
//! again after a connection failure or a `READONLY` reply (the old master was
//! demoted), so a failover is followed without a restart.

use crate::error::StoreError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{Client, IntoConnectionInfo, RedisError, TlsMode};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// A Redis to talk to; cheap to clone.
#[derive(Clone)]
pub(crate) struct Endpoint(Arc<Kind>);

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Kind::Direct { .. } => f.write_str("Endpoint::Direct"),
            Kind::Sentinel { master, .. } => write!(f, "Endpoint::Sentinel({master})"),
        }
    }
}

enum Kind {
    Direct {
        client: Client,
        conn: ConnectionManager,
    },
    Sentinel {
        master: String,
        sentinel: Box<tokio::sync::Mutex<SentinelClient>>,
        current: Mutex<Option<(Client, ConnectionManager)>>,
        timeout: Duration,
    },
}

fn manager(client: Client, timeout: Duration) -> Result<ConnectionManager, StoreError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_secs(1));
    Ok(ConnectionManager::new_lazy_with_config(client, config)?)
}

impl Endpoint {
    /// The Redis at `url`; with `tls_ca_file`, TLS connections trust that CA
    /// instead of the system's roots. Connects lazily.
    pub(crate) fn direct(url: &str, tls_ca_file: Option<&Path>, timeout: Duration) -> Result<Self, StoreError> {
        let client = match tls_ca_file {
            None => Client::open(url),
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| StoreError::Config(format!("tls_ca_file {}: {e}", path.display())))?;
                let certs = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                };
                Client::build_with_tls(url, certs)
            }
        }
        .map_err(|e| StoreError::Config(format!("redis url: {e}")))?;
        let conn = manager(client.clone(), timeout)?;
        Ok(Endpoint(Arc::new(Kind::Direct { client, conn })))
    }

    /// The master named `master` by the Sentinels at `sentinels`
    /// (`host:port` each). `url`, when given, supplies the master's
    /// credentials, database and TLS (`rediss://`); its host is not used.
    pub(crate) fn sentinel(
        sentinels: &[String],
        master: &str,
        url: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let mut node = SentinelNodeConnectionInfo::default();
        if let Some(url) = url {
            let info = url
                .into_connection_info()
                .map_err(|e| StoreError::Config(format!("redis url: {e}")))?;
            node = node.set_redis_connection_info(info.redis_settings().clone());
            if url.starts_with("rediss://") {
                node = node.set_tls_mode(TlsMode::Secure);
            }
        }
        let addrs: Vec<String> = sentinels.iter().map(|s| format!("redis://{s}")).collect();
        let sentinel = SentinelClient::build(addrs, master, Some(node), SentinelServerType::Master)
            .map_err(|e| StoreError::Config(format!("sentinels: {e}")))?;
        Ok(Endpoint(Arc::new(Kind::Sentinel {
            master: master.to_owned(),
            sentinel: Box::new(tokio::sync::Mutex::new(sentinel)),
            current: Mutex::new(None),
            timeout,
        })))
    }

    /// A connection to the (current) master.
    pub(crate) async fn conn(&self) -> Result<ConnectionManager, StoreError> {
        match &*self.0 {
            Kind::Direct { conn, .. } => Ok(conn.clone()),
            Kind::Sentinel { .. } => match self.current() {
                Some((_, conn)) => Ok(conn),
                None => Ok(Box::pin(self.resolve()).await?.1),
            },
        }
    }

    /// A client of the (current) master, for dedicated connections (pub/sub).
    pub(crate) async fn client(&self) -> Result<Client, StoreError> {
        match &*self.0 {
            Kind::Direct { client, .. } => Ok(client.clone()),
            Kind::Sentinel { .. } => match self.current() {
                Some((client, _)) => Ok(client),
                None => Ok(Box::pin(self.resolve()).await?.0),
            },
        }
    }

    /// Notes a failed command: after a connection failure or a `READONLY`
    /// reply, the next call asks the Sentinels for the master again.
    pub(crate) fn failed(&self, error: &RedisError) {
        if let Kind::Sentinel { current, .. } = &*self.0 {
            let stale = error.is_io_error()
                || error.is_connection_dropped()
                || error.is_timeout()
                || error.to_string().contains("READONLY");
            if stale {
                *current.lock().unwrap_or_else(PoisonError::into_inner) = None;
            }
        }
    }

    /// Forgets the master (a session ended): the next call asks again.
    pub(crate) fn forget(&self) {
        if let Kind::Sentinel { current, .. } = &*self.0 {
            *current.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }

    fn current(&self) -> Option<(Client, ConnectionManager)> {
        match &*self.0 {
            Kind::Direct { .. } => None,
            Kind::Sentinel { current, .. } => current.lock().unwrap_or_else(PoisonError::into_inner).clone(),
        }
    }

    async fn resolve(&self) -> Result<(Client, ConnectionManager), StoreError> {
        let Kind::Sentinel {
            sentinel,
            current,
            timeout,
            master,
        } = &*self.0
        else {
            return Err(StoreError::Config("not a sentinel endpoint".into()));
        };
        let mut sentinel = sentinel.lock().await;
        // Another caller may have resolved it while we waited.
        if let Some(both) = self.current() {
            return Ok(both);
        }
        let client = match tokio::time::timeout(*timeout, sentinel.async_get_client()).await {
            Ok(r) => r.map_err(|e| StoreError::Unavailable(format!("sentinels for {master}: {e}")))?,
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "sentinels for {master} did not answer in time"
                )));
            }
        };
        let both = (client.clone(), manager(client, *timeout)?);
        *current.lock().unwrap_or_else(PoisonError::into_inner) = Some(both.clone());
        Ok(both)
    }
}
