//! The gateway's state: the current [`Snapshot`] behind an `ArcSwap`, and what
//! outlives snapshots (server registry, access log).
//!
//! A request loads the snapshot once and decides, picks and forwards with
//! that one `Arc` (R10: one policy version per request). Reloads and, later,
//! the store build a whole new snapshot off the request path and swap it in
//! atomically; requests in flight finish on the snapshot they started with.

use crate::access_log::AccessLog;
use crate::config::{Config, Settings};
use crate::sticky::StickyKey;
use crate::upstream::{Registry, Upstreams, spawn_health_checks};
use arc_swap::ArcSwap;
use graygate_policy::{CompiledPolicy, PolicyError};
use http::HeaderValue;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Everything a request reads, immutable once published.
#[derive(Debug)]
pub struct Snapshot {
    /// The compiled policy.
    pub policy: CompiledPolicy,
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
}

impl Snapshot {
    fn build(policy: CompiledPolicy, settings: Settings, sticky: StickyKey, registry: &Registry) -> Snapshot {
        let upstreams = Arc::new(Upstreams::build(&policy, &settings, registry));
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
        }
    }
}

/// The running gateway's shared state.
#[derive(Debug)]
pub struct Gateway {
    current: ArcSwap<Snapshot>,
    registry: Registry,
    pub(crate) access_log: AccessLog,
    versions: AtomicU64,
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
        let raw = &config.settings.raw;
        let sticky = StickyKey::load(raw.sticky_secret.as_deref(), &raw.data_dir).map_err(|source| StartError::Io {
            what: format!("stickiness secret in {}", raw.data_dir.display()),
            source,
        })?;
        Gateway::with_key(config, sticky)
    }

    /// A gateway with the given stickiness key (tests, `demo`).
    pub fn with_key(config: Config, sticky: StickyKey) -> Result<Arc<Gateway>, StartError> {
        let raw = &config.settings.raw;
        let access_log =
            AccessLog::new(raw.access_log, raw.access_log_path.as_deref()).map_err(|source| StartError::Io {
                what: "access log".to_owned(),
                source,
            })?;
        let registry = Registry::default();
        let version = config.policy.version();
        let snapshot = Arc::new(Snapshot::build(config.policy, config.settings, sticky, &registry));
        spawn_health_checks(&snapshot.upstreams);
        Ok(Arc::new(Gateway {
            current: ArcSwap::new(snapshot),
            registry,
            access_log,
            versions: AtomicU64::new(version),
        }))
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Replaces the policy, keeping the gateway settings; the new policy is
    /// served by every request that starts after this returns.
    pub fn swap_policy(&self, policy: CompiledPolicy) {
        let old = self.snapshot();
        self.versions.fetch_max(policy.version(), Relaxed);
        self.publish(Snapshot::build(
            policy,
            old.settings.clone(),
            old.sticky.clone(),
            &self.registry,
        ));
    }

    /// Re-reads a whole configuration file's text: on success swaps it in as
    /// the next version and returns that version; on error changes nothing.
    /// Settings that only apply at start (listen, workers, access log) are
    /// kept, with a warning when they changed.
    pub fn reload(&self, src: &str) -> Result<u64, StartError> {
        let version = self.versions.load(Relaxed) + 1;
        let config = Config::from_toml(src, version)?;
        let old = self.snapshot();
        let (was, now) = (&old.settings.raw, &config.settings.raw);
        if was.listen != now.listen
            || was.workers != now.workers
            || was.access_log != now.access_log
            || was.access_log_path != now.access_log_path
        {
            tracing::warn!("listen, workers and access_log changes take effect at the next restart");
        }
        let sticky = if was.sticky_secret == now.sticky_secret && was.data_dir == now.data_dir {
            old.sticky.clone()
        } else {
            StickyKey::load(now.sticky_secret.as_deref(), &now.data_dir).map_err(|source| StartError::Io {
                what: format!("stickiness secret in {}", now.data_dir.display()),
                source,
            })?
        };
        self.versions.fetch_max(version, Relaxed);
        self.publish(Snapshot::build(config.policy, config.settings, sticky, &self.registry));
        Ok(version)
    }

    fn publish(&self, snapshot: Snapshot) {
        let snapshot = Arc::new(snapshot);
        spawn_health_checks(&snapshot.upstreams);
        self.current.store(snapshot);
    }
}
