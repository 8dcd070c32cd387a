//! The decision: which group serves a request, and why.
//!
//! `decide` reads one compiled policy and the request's attributes; it does no
//! I/O and, unless a rule reads a body field or a per-user key, allocates
//! nothing. The only state it touches is the counter of per-request splits.

use crate::compile::{Action, CompiledPolicy, CompiledRoute, GroupId, HashKey, HostMatch, Needs, RouteId, Step};
use crate::model::UserIdSource;
use crate::request::Request;
use serde::Serialize;
use std::borrow::Cow;
use std::cell::OnceCell;
use std::net::IpAddr;

/// Why a group was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A rule on a header matched.
    Header,
    /// A rule on a cookie matched.
    Cookie,
    /// A rule on a query parameter matched.
    Query,
    /// A rule on a form or JSON body field matched.
    Body,
    /// A rule on the client IP matched.
    Ip,
    /// A rule on the host matched.
    Host,
    /// A rule on the path matched.
    Path,
    /// A rule on the method matched.
    Method,
    /// A rule on the user id matched.
    User,
    /// The user (or another value) is in a named list.
    List,
    /// A per-user key lookup matched.
    Lookup,
    /// A rule mixing several kinds of condition matched.
    Rule,
    /// A stable hash split chose the group.
    Hash,
    /// A per-request weighted split chose the group.
    Weight,
    /// No rule matched: the route's default group.
    Default,
    /// The chosen group was down: the route's fallback group.
    Fallback,
    /// The request carried a valid stickiness pin.
    Sticky,
    /// The request carried a gray tag from a trusted proxy.
    Tag,
}

impl Reason {
    /// The lower-case name used in logs, headers and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Header => "header",
            Reason::Cookie => "cookie",
            Reason::Query => "query",
            Reason::Body => "body",
            Reason::Ip => "ip",
            Reason::Host => "host",
            Reason::Path => "path",
            Reason::Method => "method",
            Reason::User => "user",
            Reason::List => "list",
            Reason::Lookup => "lookup",
            Reason::Rule => "rule",
            Reason::Hash => "hash",
            Reason::Weight => "weight",
            Reason::Default => "default",
            Reason::Fallback => "fallback",
            Reason::Sticky => "sticky",
            Reason::Tag => "tag",
        }
    }
}

/// Groups the caller asks to honour: a gray tag propagated by a trusted proxy
/// (R16) comes before every rule; a stickiness pin (R12) replaces what a split
/// or the default would decide, while explicit `to` rules still apply. Each
/// is honoured only when it names a group the route can still send traffic to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides<'a> {
    /// The group named by an incoming gray tag.
    pub tag: Option<&'a str>,
    /// The group named by a valid stickiness cookie.
    pub sticky: Option<&'a str>,
}

/// Which route, group and rule serve a request, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Decision<'p> {
    /// The route's name.
    pub route: &'p str,
    /// The group's name.
    pub group: &'p str,
    /// The rule's name, or `default`, `sticky`, `tag`.
    pub rule: &'p str,
    /// Why.
    pub reason: Reason,
    /// The policy version that decided.
    pub version: u64,
    /// The hash bucket (0..10000) when a hash split decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<u16>,
    /// The route's id in the compiled policy.
    #[serde(skip)]
    pub route_id: RouteId,
    /// The group's id in the compiled policy.
    #[serde(skip)]
    pub group_id: GroupId,
}

/// A route matched by a request; what it needs before [`RouteRef::decide`].
#[derive(Debug, Clone, Copy)]
pub struct RouteRef<'p> {
    policy: &'p CompiledPolicy,
    id: RouteId,
    route: &'p CompiledRoute,
}

/// The per-evaluation context: the request, the policy, the user id read once.
pub(crate) struct Eval<'r, R: ?Sized> {
    pub(crate) req: &'r R,
    pub(crate) policy: &'r CompiledPolicy,
    user: OnceCell<Option<Cow<'r, str>>>,
}

impl<'r, R: Request + ?Sized> Eval<'r, R> {
    fn new(req: &'r R, policy: &'r CompiledPolicy) -> Self {
        Eval {
            req,
            policy,
            user: OnceCell::new(),
        }
    }

    /// The user id, from the first configured source that has one.
    pub(crate) fn user(&self) -> Option<&str> {
        self.user
            .get_or_init(|| {
                self.policy.user_id.iter().find_map(|s| {
                    let v = match s {
                        UserIdSource::Header(h) => self.req.header(h).map(Cow::Borrowed),
                        UserIdSource::Cookie(c) => self.req.cookie(c).map(Cow::Borrowed),
                        UserIdSource::Query(q) => self.req.query(q),
                    };
                    v.filter(|v| !v.is_empty())
                })
            })
            .as_deref()
    }

    /// The key of a lookup template for this request; `None` when it needs a
    /// user id and there is none.
    pub(crate) fn lookup_key(&self, template: &str) -> Option<String> {
        // Built in place with its final size: `str::replace` searched and
        // grew the string again, 1,000 instructions per request.
        let mut parts = template.split("{user}");
        let head = parts.next().unwrap_or_default();
        let Some(after_first) = parts.next() else {
            return Some(template.to_owned());
        };
        let user = self.user()?;
        let mut key = String::with_capacity(template.len() + user.len());
        key.push_str(head);
        for part in std::iter::once(after_first).chain(parts) {
            key.push_str(user);
            key.push_str(part);
        }
        Some(key)
    }
}

impl CompiledPolicy {
    /// The version this policy was compiled as.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The document it was compiled from.
    pub fn policy(&self) -> &crate::Policy {
        &self.policy
    }

    /// The groups, indexed by [`GroupId`].
    pub fn groups(&self) -> &[crate::CompiledGroup] {
        &self.groups
    }

    /// What any route's rules read beyond the request head (body, lookups).
    pub fn needs(&self) -> Needs {
        self.routes.iter().fold(Needs::default(), |a, r| Needs {
            body: a.body || r.needs.body,
            lookup: a.lookup || r.needs.lookup,
        })
    }

    /// A group's id by name.
    pub fn group_id(&self, name: &str) -> Option<GroupId> {
        self.group_ids.get(name).copied()
    }

    /// The route serving `req`, if any: the most specific host match, then the
    /// longest path prefix, then the order written.
    pub fn route<R: Request + ?Sized>(&self, req: &R) -> Option<RouteRef<'_>> {
        let host = req.host().unwrap_or("");
        let path = req.path();
        self.route_order.iter().find_map(|&i| {
            let r = &self.routes[i];
            let host_ok = match &r.host {
                HostMatch::Any => true,
                HostMatch::Exact(h) => host.eq_ignore_ascii_case(h),
                HostMatch::Suffix(s) => {
                    let (h, s) = (host.as_bytes(), s.as_bytes());
                    h.len() > s.len() && h[h.len() - s.len()..].eq_ignore_ascii_case(s)
                }
            };
            (host_ok && path.starts_with(&*r.path_prefix)).then_some(RouteRef {
                policy: self,
                id: RouteId(i as u16),
                route: r,
            })
        })
    }

    /// Routes `req` and decides; `None` when no route matches.
    pub fn decide<R: Request + ?Sized>(&self, req: &R, overrides: Overrides<'_>) -> Option<Decision<'_>> {
        Some(self.route(req)?.decide(req, overrides))
    }
}

impl<'p> RouteRef<'p> {
    /// The route's name.
    pub fn name(&self) -> &'p str {
        &self.route.name
    }

    /// Its id.
    pub fn id(&self) -> RouteId {
        self.id
    }

    /// Whether its rules read a body field or a per-user key.
    pub fn needs(&self) -> Needs {
        self.route.needs
    }

    /// The stickiness settings, if the route is sticky.
    pub fn sticky(&self) -> Option<&'p crate::model::Sticky> {
        self.route.sticky.as_ref()
    }

    /// The fallback group, if any.
    pub fn fallback(&self) -> Option<(GroupId, &'p str)> {
        self.route
            .fallback
            .map(|g| (g, &*self.policy.groups[usize::from(g.0)].name))
    }

    /// Whether the route can currently send traffic to `group`.
    pub fn is_live(&self, group: &str) -> bool {
        self.policy
            .group_id(group)
            .is_some_and(|g| self.route.live.get(usize::from(g.0)) == Some(&true))
    }

    /// The per-user keys the rules of this route may read for `req`, to fetch
    /// before deciding.
    pub fn lookup_keys<R: Request + ?Sized>(&self, req: &R) -> Vec<String> {
        let cx = Eval::new(req, self.policy);
        self.route
            .lookup_templates
            .iter()
            .filter_map(|t| cx.lookup_key(t))
            .collect()
    }

    /// Decides within this route.
    pub fn decide<R: Request + ?Sized>(&self, req: &R, overrides: Overrides<'_>) -> Decision<'p> {
        let decision = |group: GroupId, rule: &'p str, reason, bucket| Decision {
            route: &self.route.name,
            group: &self.policy.groups[usize::from(group.0)].name,
            rule,
            reason,
            version: self.policy.version,
            bucket,
            route_id: self.id,
            group_id: group,
        };
        let live = |name: Option<&str>| {
            name.and_then(|n| self.policy.group_id(n))
                .filter(|g| self.route.live[usize::from(g.0)])
        };
        if let Some(g) = live(overrides.tag) {
            return decision(g, "tag", Reason::Tag, None);
        }
        // A valid pin replaces what chance would decide — a split or the
        // default — but not an explicit rule: targeting a user (a header, a
        // list, a lookup) moves them even when pinned.
        let pinned = live(overrides.sticky).map(|g| decision(g, "sticky", Reason::Sticky, None));
        let cx = Eval::new(req, self.policy);
        for step in self.route.steps.iter() {
            let rule = match step {
                Step::Rule(i) => &self.route.rules[*i],
                Step::Exact { first, .. } | Step::Prefix { first, .. } => {
                    let subject = self.route.rules[*first].when.as_ref().and_then(|c| c.subject());
                    let value = subject.and_then(|s| s.value(&cx));
                    match value.and_then(|v| step.select(&v)) {
                        Some(i) => &self.route.rules[i],
                        None => continue,
                    }
                }
            };
            // A rule matches only when its condition is true: false and
            // unknown (a lookup that could not be answered) both skip it.
            if let Step::Rule(_) = step
                && rule.when.as_ref().is_some_and(|c| c.eval(&cx) != Some(true))
            {
                continue;
            }
            match &rule.action {
                Action::To(g) => return decision(*g, &rule.name, rule.reason, None),
                Action::PerRequest(s) => {
                    return pinned.unwrap_or_else(|| decision(s.pick(), &rule.name, rule.reason, None));
                }
                Action::Hash(h) => {
                    let picked = match &h.key {
                        HashKey::User => cx.user().map(|u| h.pick(u.as_bytes())),
                        // An IPv4 client seen through a dual-stack socket hashes as IPv4.
                        HashKey::Ip => req.client_ip().map(|ip| match ip.to_canonical() {
                            IpAddr::V4(v4) => h.pick(&v4.octets()),
                            IpAddr::V6(v6) => h.pick(&v6.octets()),
                        }),
                        HashKey::Header(n) => non_empty(req.header(n)).map(|v| h.pick(v.as_bytes())),
                        HashKey::Cookie(n) => non_empty(req.cookie(n)).map(|v| h.pick(v.as_bytes())),
                        HashKey::Query(n) => req.query(n).filter(|v| !v.is_empty()).map(|v| h.pick(v.as_bytes())),
                    };
                    // No key to hash (e.g. an anonymous user): the next rule decides.
                    if let Some((bucket, g)) = picked {
                        return pinned.unwrap_or_else(|| decision(g, &rule.name, rule.reason, Some(bucket)));
                    }
                }
            }
        }
        pinned.unwrap_or_else(|| decision(self.route.default, "default", Reason::Default, None))
    }
}

/// An empty value is no key: hashing it would put every such request in one bucket.
fn non_empty(v: Option<&str>) -> Option<&str> {
    v.filter(|v| !v.is_empty())
}

impl<'p> Decision<'p> {
    /// The same decision served by `group` because the chosen group is down.
    pub fn fallback_to(self, group: GroupId, name: &'p str) -> Decision<'p> {
        Decision {
            group: name,
            group_id: group,
            reason: Reason::Fallback,
            ..self
        }
    }
}
