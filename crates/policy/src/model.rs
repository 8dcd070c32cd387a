//! The policy document as operators write it (TOML) or send it (JSON).
//!
//! These types are the *input*: they may be wrong. [`crate::compile`] turns a
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
fn by_user() -> String {
    "user".to_owned()
}
