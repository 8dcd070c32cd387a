//! The policy document as operators write it (TOML) or send it (JSON).
//!
//! These types are the *input*: they may be wrong. [`compile()`](crate::compile()) turns a
//! [`Policy`] into a [`crate::CompiledPolicy`] that cannot be, reporting every
//! bad field with its path. Field order matters in two places: routes and rules
//! are tried in the order written, and a split's groups take consecutive bucket
//! ranges in the order written (see `docs/policy.md`).

mod condition;

pub use condition::{Attr, Condition, Text};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// A whole policy: upstream groups (versions), user lists and routes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Where the user id comes from, tried in order; the first source with a
    /// value wins. Default: the `X-User-ID` header.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_id: Vec<UserIdSource>,
    /// Upstream groups, one per version of the service, by name.
    #[serde(default)]
    pub groups: IndexMap<String, Group>,
    /// Named sets of ids ("gray users"), used by `list = "name"` and `in_list`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub lists: IndexMap<String, Vec<String>>,
    /// Routes, most specific match wins (see [`Route`]).
    #[serde(default)]
    pub routes: Vec<Route>,
    /// A configuration file may carry the gateway's own settings in a
    /// `[gateway]` table; they are not part of the policy and are skipped here.
    #[serde(default, skip_serializing)]
    pub gateway: Option<serde::de::IgnoredAny>,
}

/// One source of the user id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum UserIdSource {
    /// A request header, e.g. `X-User-ID`.
    Header(String),
    /// A cookie, e.g. `uid`.
    Cookie(String),
    /// A query parameter, e.g. `uid`.
    Query(String),
}

/// An upstream group: the servers of one version of the service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// The servers; at least one.
    #[serde(default)]
    pub servers: Vec<Server>,
    /// Time allowed to open a connection to a server, in milliseconds; a
    /// server that does not answer in time counts as failed and the next one
    /// is tried. Default: the gateway's `connect_timeout_ms` (1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout_ms: Option<u64>,
    /// Longest silence allowed from a server, in milliseconds: no response
    /// head this long after the request body last moved answers 504; no
    /// response body data this long cuts the response off (nginx
    /// `proxy_read_timeout`). Default: the gateway's `read_timeout_ms` (30000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_timeout_ms: Option<u64>,
    /// Passive health: this many failures (connect error, reset, timeout)
    /// within `fail_timeout_secs` take a server out for `fail_timeout_secs`
    /// (nginx `max_fails`); 0 disables. Default: the gateway's `max_fails` (1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fails: Option<u32>,
    /// The window and the cooldown of passive health, in seconds (nginx
    /// `fail_timeout`). Default: the gateway's `fail_timeout_secs` (10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_timeout_secs: Option<u64>,
    /// Active HTTP health checks, run by the gateway in the background.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
}

/// Active health checking of a group's servers: a `GET` of `path` on every
/// server each `interval_ms`; `fall` failures in a row take a server out,
/// `rise` successes in a row bring it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// Path (and query) to request, starting with `/`. Default `/healthz`.
    #[serde(default = "healthz")]
    pub path: String,
    /// Time between two checks of a server, in milliseconds. Default 2000.
    #[serde(default = "two_seconds")]
    pub interval_ms: u64,
    /// Time allowed for one check, in milliseconds. Default 1000.
    #[serde(default = "one_second")]
    pub timeout_ms: u64,
    /// The status a healthy server answers; none means any 2xx. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<u16>,
    /// Successes in a row that bring a server back. Default 2.
    #[serde(default = "two")]
    pub rise: u32,
    /// Failures in a row that take a server out. Default 3.
    #[serde(default = "three")]
    pub fall: u32,
}

/// One server of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// `host:port` (an IP address or a name).
    pub addr: String,
    /// Share of the group's traffic relative to the other primaries (nginx `weight=`).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub weight: u32,
    /// Used only when every primary server of the group is down (nginx `backup`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub backup: bool,
}

/// A route: which requests it takes (host and path prefix), its rules and its
/// default group.
///
/// The route serving a request is the most specific one: an exact host beats a
/// wildcard host (`*.example.com`), which beats no host; then the longest path
/// prefix; then the order written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Unique name, used in decisions, logs and metrics.
    pub name: String,
    /// `api.example.com` or `*.example.com`; none matches every host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Plain string prefix of the path, like nginx `location /api`. Default `/`.
    #[serde(default = "root", skip_serializing_if = "is_root")]
    pub path_prefix: String,
    /// The group that serves a request no rule takes (the stable version).
    pub default: String,
    /// The group that serves when every server of the chosen group is down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Pin each client to the group that first served it (signed cookie).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky: Option<Sticky>,
    /// Tried in order; the first rule that matches decides.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// Stickiness settings of a route; the gateway sets and checks the cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sticky {
    /// Cookie name. Default `gg_<route>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
    /// Cookie lifetime in seconds. Default one day.
    #[serde(default = "one_day")]
    pub max_age_secs: u64,
}

/// A rule: a condition and what to do when it holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Name shown in decisions; default `rules[N]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The condition; none means the rule always matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    /// Send matching requests to this group. Exactly one of `to` and `split`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Split matching requests between groups by weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Split>,
}

/// A weighted split between groups.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// What to hash: `user` (default), `ip`, `header:NAME`, `cookie:NAME`; or
    /// `request` for an exact ratio over requests with no stickiness.
    #[serde(default = "by_user")]
    pub by: String,
    /// Hash salt; default `<route>/<rule>`. Two splits with different salts
    /// choose independent sets of users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// Weight of each group in basis points (1 = 0.01 %); they sum to 10000.
    pub weights: IndexMap<String, u32>,
}

fn one() -> u32 {
    1
}
fn is_one(w: &u32) -> bool {
    *w == 1
}
fn is_false(b: &bool) -> bool {
    !*b
}
fn root() -> String {
    "/".to_owned()
}
fn is_root(p: &str) -> bool {
    p == "/"
}
fn one_day() -> u64 {
    86_400
}
fn healthz() -> String {
    "/healthz".to_owned()
}
fn two_seconds() -> u64 {
    2_000
}
fn one_second() -> u64 {
    1_000
}
fn two() -> u32 {
    2
}
fn three() -> u32 {
    3
}
fn by_user() -> String {
    "user".to_owned()
}
