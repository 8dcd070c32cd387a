//! Upstream groups (R6): each version's servers, their weights and backups,
//! their health, and how one is chosen for a request.
//!
//! [`Upstreams`] is built from a compiled policy next to it in the snapshot,
//! indexed by [`GroupId`]. The per-server state — connection pool, passive and
//! active health — lives in [`ServerState`], shared by address across
//! snapshots through a [`Registry`], so a reload keeps warm connections and
//! does not forget that a server is down.

pub mod h1;
mod health;
mod pool;

pub use health::spawn_health_checks;
pub use pool::Pool;

use crate::config::Settings;
use graygate_policy::model::HealthCheck;
use graygate_policy::{CompiledPolicy, GroupId};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Milliseconds since the process's first call; the clock of health state.
pub(crate) fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    // Start at 1 so that 0 can mean "never".
    epoch.elapsed().as_millis() as u64 + 1
}

/// One upstream server: its address, connection pool and health.
#[derive(Debug)]
pub struct ServerState {
    /// `host:port` as configured.
    pub addr: Box<str>,
    /// The address when `addr` is a literal IP; names are resolved per connection.
    sock: Option<SocketAddr>,
    /// Idle keep-alive connections.
    pub pool: Pool,
    fails: AtomicU32,
    window_start: AtomicU64,
    down_until: AtomicU64,
    active_down: AtomicBool,
    streak: AtomicU32,
    connect_failures: AtomicU64,
    ejections: AtomicU64,
}

impl ServerState {
    fn new(addr: &str) -> ServerState {
        ServerState {
            addr: addr.into(),
            sock: addr.parse().ok(),
            pool: Pool::default(),
            fails: AtomicU32::new(0),
            window_start: AtomicU64::new(0),
            down_until: AtomicU64::new(0),
            active_down: AtomicBool::new(false),
            streak: AtomicU32::new(0),
            connect_failures: AtomicU64::new(0),
            ejections: AtomicU64::new(0),
        }
    }

    /// Whether the server may take requests: not ejected by passive health
    /// and not failed by active checks.
    pub fn is_up(&self) -> bool {
        !self.active_down.load(Relaxed) && !self.passively_down()
    }

    /// Counts a connection that could not be opened.
    pub fn count_connect_failure(&self) {
        self.connect_failures.fetch_add(1, Relaxed);
    }

    /// Connections that could not be opened, since the server was first used.
    pub fn connect_failures(&self) -> u64 {
        self.connect_failures.load(Relaxed)
    }

    /// Times the server was taken out, by passive health or active checks.
    pub fn ejections(&self) -> u64 {
        self.ejections.load(Relaxed)
    }

    fn passively_down(&self) -> bool {
        let until = self.down_until.load(Relaxed);
        until != 0 && now_ms() < until
    }

    /// Records a failed request (connect error, reset, timeout): after
    /// `max_fails` within `fail_timeout` the server is out for `fail_timeout`.
    pub fn record_failure(&self, p: Passive) {
        if p.max_fails == 0 {
            return;
        }
        let now = now_ms();
        let window = p.fail_timeout.as_millis() as u64;
        let fails = if now.saturating_sub(self.window_start.load(Relaxed)) > window {
            self.window_start.store(now, Relaxed);
            self.fails.store(1, Relaxed);
            1
        } else {
            self.fails.fetch_add(1, Relaxed) + 1
        };
        if fails >= p.max_fails {
            self.fails.store(0, Relaxed);
            self.down_until.store(now + window, Relaxed);
            self.ejections.fetch_add(1, Relaxed);
            tracing::warn!(server = %self.addr, fails, cooldown_secs = p.fail_timeout.as_secs(), "upstream server marked down");
        }
    }

    /// Records a request that reached the server and got a response.
    pub fn record_success(&self) {
        if self.fails.load(Relaxed) != 0 {
            self.fails.store(0, Relaxed);
        }
    }

    /// Applies the result of one active check; returns the new up/down state
    /// when it changed.
    fn record_check(&self, ok: bool, hc: &HealthCheck) -> Option<bool> {
        let down = self.active_down.load(Relaxed);
        if ok != down {
            self.streak.store(0, Relaxed);
            return None;
        }
        // A result against the current state: count it towards rise / fall.
        let streak = self.streak.fetch_add(1, Relaxed) + 1;
        let needed = if down { hc.rise } else { hc.fall };
        if streak < needed {
            return None;
        }
        self.streak.store(0, Relaxed);
        self.active_down.store(!down, Relaxed);
        if down {
            // Coming back up: forget passive failures too.
            self.down_until.store(0, Relaxed);
            self.fails.store(0, Relaxed);
        } else {
            // The checks take the server out.
            self.ejections.fetch_add(1, Relaxed);
        }
        Some(down)
    }
}

/// Servers shared by address across snapshots.
#[derive(Debug, Default)]
pub struct Registry {
    servers: Mutex<HashMap<Box<str>, Weak<ServerState>>>,
}

impl Registry {
    fn get(&self, addr: &str) -> Arc<ServerState> {
        let mut map = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = map.get(addr).and_then(Weak::upgrade) {
            return s;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let s = Arc::new(ServerState::new(addr));
        map.insert(addr.into(), Arc::downgrade(&s));
        s
    }
}

/// Passive health settings of a group.
#[derive(Debug, Clone, Copy)]
pub struct Passive {
    /// Failures that eject a server; 0 disables.
    pub max_fails: u32,
    /// Window for counting failures, and the ejection time.
    pub fail_timeout: Duration,
}

/// Connection settings of a group.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// To open a connection.
    pub connect: Duration,
    /// From sending the request to the response head.
    pub read: Duration,
    /// Idle pooled connections older than this are closed.
    pub idle: Duration,
    /// Idle connections kept per server.
    pub max_idle: usize,
}

#[derive(Debug)]
struct Member {
    weight: u32,
    server: Arc<ServerState>,
}

/// One group's servers and settings.
#[derive(Debug)]
pub struct GroupUpstream {
    /// The group's name.
    pub name: Box<str>,
    primaries: Box<[Member]>,
    backups: Box<[Member]>,
    total_weight: u32,
    cursor: AtomicUsize,
    /// Timeouts and pool settings.
    pub timeouts: Timeouts,
    /// Passive health settings.
    pub passive: Passive,
    /// Active health checking, if configured.
    pub health_check: Option<HealthCheck>,
}

/// Servers already tried for a request (by position in the group), so that a
/// retry goes elsewhere. Groups of more than 64 servers retry among the first 64.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tried(u64);

impl Tried {
    fn has(&self, i: usize) -> bool {
        i < 64 && self.0 & (1 << i) != 0
    }
    fn set(&mut self, i: usize) {
        if i < 64 {
            self.0 |= 1 << i;
        }
    }
}

impl GroupUpstream {
    /// Whether at least one server may take requests.
    pub fn has_live_server(&self) -> bool {
        self.primaries
            .iter()
            .chain(self.backups.iter())
            .any(|m| m.server.is_up())
    }

    /// The next server to try: a live primary by weighted round robin, then a
    /// live backup; with `ignore_health`, any server not tried yet (a last
    /// resort when everything is marked down). Never returns a server twice
    /// for the same `tried`.
    pub fn pick(&self, tried: &mut Tried, ignore_health: bool) -> Option<&Arc<ServerState>> {
        let usable = |m: &Member| ignore_health || m.server.is_up();
        let n = self.primaries.len();
        if n > 0 && self.total_weight > 0 {
            let ticket = (self.cursor.fetch_add(1, Relaxed) % self.total_weight as usize) as u32;
            let mut acc = 0u32;
            let start = self
                .primaries
                .iter()
                .position(|m| {
                    acc = acc.saturating_add(m.weight);
                    ticket < acc
                })
                .unwrap_or(0);
            for k in 0..n {
                let i = (start + k) % n;
                if !tried.has(i) && usable(&self.primaries[i]) {
                    tried.set(i);
                    return Some(&self.primaries[i].server);
                }
            }
        }
        for (j, m) in self.backups.iter().enumerate() {
            if !tried.has(n + j) && usable(m) {
                tried.set(n + j);
                return Some(&m.server);
            }
        }
        None
    }

    /// Every server, primaries first.
    pub fn servers(&self) -> impl Iterator<Item = &Arc<ServerState>> {
        self.primaries.iter().chain(self.backups.iter()).map(|m| &m.server)
    }
}

/// Every group's upstream, indexed by [`GroupId`].
#[derive(Debug)]
pub struct Upstreams {
    groups: Box<[GroupUpstream]>,
}

impl Upstreams {
    /// Builds the upstreams of `policy`, reusing servers known to `registry`.
    pub fn build(policy: &CompiledPolicy, settings: &Settings, registry: &Registry) -> Upstreams {
        let raw = &settings.raw;
        let groups = policy
            .groups()
            .iter()
            .map(|g| {
                let spec = &g.spec;
                let member = |s: &graygate_policy::model::Server| Member {
                    weight: s.weight,
                    server: registry.get(&s.addr),
                };
                let primaries: Box<[Member]> = spec.servers.iter().filter(|s| !s.backup).map(member).collect();
                let backups: Box<[Member]> = spec.servers.iter().filter(|s| s.backup).map(member).collect();
                GroupUpstream {
                    name: g.name.clone(),
                    // Saturating: absurd weights must not overflow on the request path.
                    total_weight: primaries.iter().fold(0u32, |t, m| t.saturating_add(m.weight)),
                    primaries,
                    backups,
                    cursor: AtomicUsize::new(0),
                    timeouts: Timeouts {
                        connect: Duration::from_millis(spec.connect_timeout_ms.unwrap_or(raw.connect_timeout_ms)),
                        read: Duration::from_millis(spec.read_timeout_ms.unwrap_or(raw.read_timeout_ms)),
                        idle: Duration::from_secs(raw.upstream_idle_timeout_secs),
                        max_idle: raw.upstream_max_idle,
                    },
                    passive: Passive {
                        max_fails: spec.max_fails.unwrap_or(raw.max_fails),
                        fail_timeout: Duration::from_secs(spec.fail_timeout_secs.unwrap_or(raw.fail_timeout_secs)),
                    },
                    health_check: spec.health_check.clone(),
                }
            })
            .collect();
        Upstreams { groups }
    }

    /// The upstream of a group of the policy this was built from.
    pub fn group(&self, id: GroupId) -> Option<&GroupUpstream> {
        self.groups.get(usize::from(id.0))
    }

    /// All groups.
    pub fn groups(&self) -> &[GroupUpstream] {
        &self.groups
    }
}

#[cfg(test)]
mod tests;
