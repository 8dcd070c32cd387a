//! The gateway's state: the current [`Snapshot`] behind an `ArcSwap`, and what
//! outlives snapshots (server registry, access log).
//!
//! A request loads the snapshot once and decides, picks and forwards with
//! that one `Arc` (R10: one policy version per request). Reloads and, later,
//! the store build a whole new snapshot off the request path and swap it in
//! atomically; requests in flight finish on the snapshot they started with.

use crate::access_log::AccessLog;
use crate::config::{Config, Settings};
use crate::metrics::{self, Metrics, Table};
use crate::server::Connections;
use crate::sticky::StickyKey;
use crate::upstream::{Registry, Upstreams, spawn_health_checks};
use arc_swap::ArcSwap;
use graygate_policy::{CompiledPolicy, PolicyError};
use graygate_store::KeyLookup;
use http::HeaderValue;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

/// Everything a request reads, immutable once published.
#[derive(Debug)]
pub struct Snapshot {
    /// The compiled policy.
    pub policy: Arc<CompiledPolicy>,
    /// The gateway settings.
    pub settings: Settings,
    /// Upstream groups, indexed like the policy's groups.
    pub upstreams: Arc<Upstreams>,
    /// Signs and verifies stickiness cookies.
    pub sticky: StickyKey,
    /// Per route (by id): the stickiness cookie name, when sticky.
    pub(crate) cookie_names: Box<[Option<Box<str>>]>,
    /// Per group (by id): the group name as a header value.
    pub(crate) group_values: Box<[HeaderValue]>,
    /// The policy version as a header value.
    pub(crate) version_value: HeaderValue,
    /// The metric handles of this policy's routes and groups; `None` when
    /// metrics are off.
    pub(crate) metrics: Option<Table>,
}

impl Snapshot {
    fn build(
        policy: Arc<CompiledPolicy>,
        settings: Settings,
        sticky: StickyKey,
        registry: &Registry,
        metrics: &Metrics,
    ) -> Snapshot {
        let upstreams = Arc::new(Upstreams::build(&policy, &settings, registry));
        let table = metrics.enabled().then(|| Table::build(&policy, metrics));
        let cookie_names = policy
            .policy()
            .routes
            .iter()
            .map(|r| {
                r.sticky
                    .as_ref()
                    .map(|s| s.cookie.clone().unwrap_or_else(|| format!("gg_{}", r.name)).into())
            })
            .collect();
        let group_values = policy
            .groups()
            .iter()
            .map(|g| HeaderValue::from_str(&g.name).unwrap_or_else(|_| HeaderValue::from_static("invalid")))
            .collect();
        let version_value = HeaderValue::from(policy.version());
        Snapshot {
            policy,
            settings,
            upstreams,
            sticky,
            cookie_names,
            group_values,
            version_value,
            metrics: table,
        }
    }
}

/// The running gateway's shared state.
#[derive(Debug)]
pub struct Gateway {
    current: ArcSwap<Snapshot>,
    registry: Registry,
    pub(crate) access_log: AccessLog,
    pub(crate) metrics: Metrics,
    /// Client connections open and refused (`max_connections`).
    pub(crate) connections: Connections,
    versions: AtomicU64,
    /// Per-user key lookups, when configured.
    lookup: OnceLock<Arc<KeyLookup>>,
}

/// Why a gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error("invalid configuration:\n{0}")]
    Config(#[from] PolicyError),
    /// A file could not be read or written (stickiness secret, access log).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
}

impl Gateway {
    /// A gateway serving `config`, with the stickiness key from the config or
    /// its data directory. Must run inside a tokio runtime (health checks).
    pub fn new(config: Config) -> Result<Arc<Gateway>, StartError> {
        Gateway::start(Arc::new(config.policy), config.settings, None)
    }

    /// A gateway with the given stickiness key (tests, `demo`).
    pub fn with_key(config: Config, sticky: StickyKey) -> Result<Arc<Gateway>, StartError> {
        Gateway::start(Arc::new(config.policy), config.settings, Some(sticky))
    }

    /// A gateway serving `policy` (e.g. from a store) with `settings`; the
    /// stickiness key is `sticky`, else the configured or kept one.
    pub fn start(
        policy: Arc<CompiledPolicy>,
        settings: Settings,
        sticky: Option<StickyKey>,
    ) -> Result<Arc<Gateway>, StartError> {
        let raw = &settings.raw;
        let sticky = match sticky {
            Some(key) => key,
            None => StickyKey::load(raw.sticky_secret.as_deref(), &raw.data_dir).map_err(|source| StartError::Io {
                what: format!("stickiness secret in {}", raw.data_dir.display()),
                source,
            })?,
        };
        let access_log =
            AccessLog::new(raw.access_log, raw.access_log_path.as_deref()).map_err(|source| StartError::Io {
                what: "access log".to_owned(),
                source,
            })?;
        let registry = Registry::default();
        let metrics = Metrics::new(raw.metrics, raw.workers);
        let version = policy.version();
        let snapshot = Arc::new(Snapshot::build(policy, settings, sticky, &registry, &metrics));
        spawn_health_checks(&snapshot.upstreams);
        metrics.policy_applied();
        let gw = Arc::new(Gateway {
            current: ArcSwap::new(snapshot),
            registry,
            access_log,
            metrics,
            connections: Connections::default(),
            versions: AtomicU64::new(version),
            lookup: OnceLock::new(),
        });
        metrics::spawn_alerts(&gw);
        Ok(gw)
    }

    /// The metrics state (recording switch, store and apply-lag inputs).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Client connections: open now, refused since start.
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Replaces the policy, keeping the gateway settings; the new policy is
    /// served by every request that starts after this returns. Versions only
    /// move forward: a policy older than the one in force is refused
    /// (returns false).
    pub fn swap_policy(&self, policy: impl Into<Arc<CompiledPolicy>>) -> bool {
        let policy = policy.into();
        let old = self.snapshot();
        if policy.version() < old.policy.version() {
            tracing::warn!(
                version = policy.version(),
                current = old.policy.version(),
                "an older policy version was not applied"
            );
            return false;
        }
        self.versions.fetch_max(policy.version(), Relaxed);
        self.publish(Snapshot::build(
            policy,
            old.settings.clone(),
            old.sticky.clone(),
            &self.registry,
            &self.metrics,
        ));
        self.metrics.policy_applied();
        true
    }

    /// Replaces the settings, keeping the policy (a SIGHUP with a store: the
    /// policy comes from the store). Start-only settings are kept, with a
    /// warning when they changed.
    pub fn reload_settings(&self, settings: Settings) -> Result<(), StartError> {
        let old = self.snapshot();
        let sticky = self.sticky_for(&old, &settings)?;
        self.publish(Snapshot::build(
            old.policy.clone(),
            settings,
            sticky,
            &self.registry,
            &self.metrics,
        ));
        Ok(())
    }

    /// Per-user key lookups for rules that read them; set once, at start.
    pub fn set_lookup(&self, lookup: Arc<KeyLookup>) {
        let _ = self.lookup.set(lookup);
    }

    /// The lookup service, when configured.
    pub fn lookup(&self) -> Option<&Arc<KeyLookup>> {
        self.lookup.get()
    }

    /// Re-reads a whole configuration file's text: on success swaps it in as
    /// the next version and returns that version; on error changes nothing.
    /// Settings that only apply at start (listen, workers, access log) are
    /// kept, with a warning when they changed.
    pub fn reload(&self, src: &str) -> Result<u64, StartError> {
        let version = self.versions.load(Relaxed) + 1;
        let config = Config::from_toml(src, version)?;
        let old = self.snapshot();
        let sticky = self.sticky_for(&old, &config.settings)?;
        self.versions.fetch_max(version, Relaxed);
        self.publish(Snapshot::build(
            Arc::new(config.policy),
            config.settings,
            sticky,
            &self.registry,
            &self.metrics,
        ));
        self.metrics.policy_applied();
        Ok(version)
    }

    /// The stickiness key for new settings; warns about start-only changes.
    fn sticky_for(&self, old: &Snapshot, settings: &Settings) -> Result<StickyKey, StartError> {
        let (was, now) = (&old.settings.raw, &settings.raw);
        if was.listen != now.listen
            || was.workers != now.workers
            || was.access_log != now.access_log
            || was.access_log_path != now.access_log_path
            || was.store != now.store
            || was.lookup != now.lookup
            || was.admin != now.admin
            || was.metrics != now.metrics
        {
            tracing::warn!(
                "listen, workers, access_log, store, lookup, admin and metrics changes take effect at the next restart"
            );
        }
        if was.sticky_secret == now.sticky_secret && was.data_dir == now.data_dir {
            return Ok(old.sticky.clone());
        }
        StickyKey::load(now.sticky_secret.as_deref(), &now.data_dir).map_err(|source| StartError::Io {
            what: format!("stickiness secret in {}", now.data_dir.display()),
            source,
        })
    }

    fn publish(&self, snapshot: Snapshot) {
        let snapshot = Arc::new(snapshot);
        spawn_health_checks(&snapshot.upstreams);
        self.current.store(snapshot);
    }
}
