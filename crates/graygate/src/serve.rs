//! `graygate serve`: the gateway, its policy store, the admin API and the
//! signals, wired together.
//!
//! The store is the source of truth for the policy (R10): the gateway serves
//! the store's latest version, compiled off the request path and swapped in
//! whole, in version order. The configuration file's policy *seeds* an empty
//! store, and a SIGHUP saves the file's policy as a new version when it
//! changed in the file (so "edit the file, reload" still works, audited).
//! While the store cannot be reached the gateway serves what it has: the
//! last version it applied, the local snapshot (Redis), or at first start
//! the file's policy (R20).

mod admin;
mod limits;
mod reload;
mod seed;

use graygate_policy::{CompiledPolicy, Policy};
use graygate_proxy::{Config, Gateway, Server};
use graygate_store::{PolicyStore, compiled};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A started gateway: listeners bound, store open, tasks running.
#[derive(Debug)]
pub struct Running {
    /// The gateway's state.
    pub gateway: Arc<Gateway>,
    /// The data-plane listener, not yet serving.
    pub server: Server,
    /// Where the admin API listens, when enabled.
    pub admin: Option<SocketAddr>,
    /// The policy store.
    pub store: Arc<dyn PolicyStore>,
    /// What SIGHUP re-reads, when started from a file.
    reloader: Option<reload::Reloader>,
}

impl Running {
    /// Serves until SIGTERM/SIGINT; SIGHUP re-reads the configuration file.
    pub async fn run(self) -> std::io::Result<()> {
        let reloader = self.reloader.map(Arc::new);
        graygate_proxy::run_with_signals(self.server, move || {
            let reloader = reloader.clone();
            async move {
                match reloader {
                    Some(r) => r.reload().await,
                    None => tracing::info!("SIGHUP ignored: no configuration file"),
                }
            }
        })
        .await
    }
}

/// Starts everything `config` (read from `path` when there is one)
/// describes; its policy, stamped version 0, serves only until the store
/// has a version. Must run inside a tokio runtime.
pub async fn start(config: Config, path: Option<&Path>) -> Result<Running, String> {
    let settings = config.settings;
    limits::raise_open_files(settings.raw.max_connections);
    let file_policy = file_policy(&config.policy);
    let opened = graygate_store::open(&settings.raw.store)
        .await
        .map_err(|e| format!("policy store: {e}"))?;
    let store = opened.store;
    let mut versions = compiled(opened.updates).await;
    let initial = versions.borrow_and_update().clone();
    let policy: Arc<CompiledPolicy> = match initial {
        Some(p) => {
            tracing::info!(version = p.version(), "serving the policy store's version");
            p
        }
        None => {
            if file_policy.is_some() {
                tracing::info!("the policy store has no version yet: serving the file's policy as version 0");
            } else {
                tracing::warn!("no policy yet: every request is answered `no_route_status` until one is applied");
            }
            Arc::new(config.policy)
        }
    };
    let lookup = settings
        .raw
        .lookup
        .open(&settings.raw.store)
        .map_err(|e| format!("lookups: {e}"))?
        .map(Arc::new);
    let admin_config = settings.raw.admin.clone();
    let gateway = Gateway::start(policy, settings, None).map_err(|e| e.to_string())?;
    if let Some(l) = &lookup {
        gateway.set_lookup(l.clone());
    }
    warn_unanswerable_lookups(&gateway);
    gateway.metrics().set_store(store.clone());
    record_apply_lag(&gateway, store.as_ref());
    tokio::spawn(apply(gateway.clone(), versions, store.clone()));
    let origin = path.map_or_else(|| "built-in configuration".to_owned(), |p| p.display().to_string());
    if let Some(policy) = &file_policy {
        let served = gateway.snapshot().policy.version();
        tokio::spawn(seed::seed(store.clone(), policy.clone(), origin.clone(), served));
    }
    let server = Server::bind(gateway.clone())
        .await
        .map_err(|e| format!("cannot listen: {e}"))?;
    let admin = match admin_config.enabled {
        true => Some(admin::start(&admin_config, store.clone(), lookup, &gateway).await?),
        false => None,
    };
    let reloader = path.map(|p| reload::Reloader::new(PathBuf::from(p), gateway.clone(), store.clone(), file_policy));
    Ok(Running {
        gateway,
        server,
        admin,
        store,
        reloader,
    })
}

/// The file's policy as the store would hold it; `None` when the file has
/// no groups and no routes (only `[gateway]` settings).
fn file_policy(compiled: &CompiledPolicy) -> Option<Policy> {
    let mut policy = compiled.policy().clone();
    policy.gateway = None;
    (!policy.groups.is_empty() || !policy.routes.is_empty()).then_some(policy)
}

/// Applies each newer compiled version, in order, as the store announces it.
async fn apply(
    gateway: Arc<Gateway>,
    mut versions: tokio::sync::watch::Receiver<graygate_store::Compiled>,
    store: Arc<dyn PolicyStore>,
) {
    while versions.changed().await.is_ok() {
        let Some(policy) = versions.borrow_and_update().clone() else {
            continue;
        };
        let version = policy.version();
        if gateway.swap_policy(policy) {
            tracing::info!(version, "policy applied");
            record_apply_lag(&gateway, store.as_ref());
            warn_unanswerable_lookups(&gateway);
        }
    }
}

/// For the metrics: how long after its save the version in force was
/// applied, when it is the store's latest (by the saver's clock).
fn record_apply_lag(gateway: &Gateway, store: &dyn PolicyStore) {
    let applied = gateway.snapshot().policy.version();
    let when_ms = store
        .watch()
        .borrow()
        .as_ref()
        .filter(|s| s.version() == applied)
        .map(|s| s.meta.when_ms);
    if let Some(when_ms) = when_ms {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        gateway
            .metrics()
            .apply_lag(std::time::Duration::from_millis(now_ms.saturating_sub(when_ms)));
    }
}

fn warn_unanswerable_lookups(gateway: &Gateway) {
    let snap = gateway.snapshot();
    if gateway.lookup().is_none() && snap.policy.needs().lookup {
        tracing::warn!(
            "the policy has lookup rules but no Redis is configured for them ([gateway.lookup] url or a redis store): they never match"
        );
    }
}
