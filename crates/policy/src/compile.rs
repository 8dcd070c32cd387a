//! Validation and compilation: a [`Policy`] becomes a [`CompiledPolicy`], or
//! every problem is reported with its path.
//!
//! One pass does both jobs, so that what is checked is exactly what is built:
//! a compiled policy holds group ids instead of names, parsed CIDR tries,
//! compiled regexes and hash sets, and cannot refer to anything that does not
//! exist.

mod condition;
mod plan;
mod split;

pub(crate) use condition::Cond;
pub use condition::Needs;
pub(crate) use plan::Step;
pub(crate) use split::{Action, HashKey};

use crate::Reason;
use crate::error::{Errors, PolicyError};
use crate::model::{Group, Policy, Rule, Sticky, UserIdSource};
use std::collections::HashMap;

/// Index of a group in [`CompiledPolicy::groups`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub u16);

/// Index of a route in the compiled policy, in the order written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteId(pub u16);

/// A validated, compiled policy: the snapshot the request path reads.
#[derive(Debug)]
pub struct CompiledPolicy {
    pub(crate) version: u64,
    pub(crate) policy: Policy,
    pub(crate) groups: Box<[CompiledGroup]>,
    pub(crate) group_ids: foldhash::HashMap<Box<str>, GroupId>,
    pub(crate) lists: Lists,
    pub(crate) user_id: Box<[UserIdSource]>,
    pub(crate) routes: Box<[CompiledRoute]>,
    /// Route indexes, most specific first.
    pub(crate) route_order: Box<[usize]>,
}

/// A group of a compiled policy.
#[derive(Debug)]
pub struct CompiledGroup {
    /// Its name.
    pub name: Box<str>,
    /// Its definition (servers).
    pub spec: Group,
}

#[derive(Debug)]
pub(crate) enum HostMatch {
    Any,
    Exact(Box<str>),
    /// `*.example.com` stored as `.example.com`.
    Suffix(Box<str>),
}

/// A route of a compiled policy.
#[derive(Debug)]
pub struct CompiledRoute {
    pub(crate) name: Box<str>,
    pub(crate) host: HostMatch,
    pub(crate) path_prefix: Box<str>,
    pub(crate) default: GroupId,
    pub(crate) fallback: Option<GroupId>,
    pub(crate) sticky: Option<Sticky>,
    pub(crate) rules: Box<[CompiledRule]>,
    pub(crate) steps: Box<[Step]>,
    /// Indexed by group id: may this route send traffic to the group now?
    pub(crate) live: Box<[bool]>,
    pub(crate) needs: Needs,
    pub(crate) lookup_templates: Box<[Box<str>]>,
}

#[derive(Debug)]
pub(crate) struct CompiledRule {
    pub(crate) name: Box<str>,
    pub(crate) when: Option<Cond>,
    pub(crate) action: Action,
    pub(crate) reason: Reason,
}

/// Named id sets, for `list = …` and `in_list = …`.
#[derive(Debug, Default)]
pub(crate) struct Lists {
    ids: HashMap<String, usize>,
    sets: Vec<foldhash::HashSet<Box<str>>>,
}

impl Lists {
    pub(crate) fn id(&self, name: &str) -> Option<usize> {
        self.ids.get(name).copied()
    }
    pub(crate) fn contains(&self, id: usize, v: &str) -> bool {
        self.sets.get(id).is_some_and(|s| s.contains(v))
    }
}

fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= 64 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Values of [`crate::Decision::rule`] that are not rules.
const RESERVED_RULE_NAMES: [&str; 4] = ["default", "sticky", "tag", "fallback"];

const NAME_RULE: &str = "names are 1-64 characters of letters, digits, `-`, `_` and `.`";

/// Validates `policy` and compiles it as `version`; all problems at once.
pub fn compile(policy: &Policy, version: u64) -> Result<CompiledPolicy, PolicyError> {
    let mut e = Errors::default();

    let mut groups = Vec::new();
    let mut group_ids = foldhash::HashMap::default();
    e.at("groups", |e| {
        if policy.groups.is_empty() {
            e.here("define at least one group, e.g. [groups.stable] servers = [{ addr = \"10.0.0.1:8080\" }]");
        }
        for (name, g) in &policy.groups {
            e.at(name, |e| check_group(name, g, e));
            group_ids.insert(name.as_str().into(), GroupId(groups.len() as u16));
            groups.push(CompiledGroup {
                name: name.as_str().into(),
                spec: g.clone(),
            });
        }
        if groups.len() > usize::from(u16::MAX) {
            e.here("too many groups (at most 65535)");
        }
    });

    let mut lists = Lists::default();
    e.at("lists", |e| {
        for (name, ids) in &policy.lists {
            if !valid_name(name) {
                e.field(name, format!("invalid list name {name:?}: {NAME_RULE}"));
            }
            lists.ids.insert(name.clone(), lists.sets.len());
            lists.sets.push(ids.iter().map(|id| id.as_str().into()).collect());
        }
    });

    e.at("user_id", |e| {
        for (i, s) in policy.user_id.iter().enumerate() {
            let (UserIdSource::Header(n) | UserIdSource::Cookie(n) | UserIdSource::Query(n)) = s;
            if n.is_empty() {
                e.index(i, |e| e.here("must name a header, cookie or query parameter"));
            }
        }
    });
    let user_id: Box<[UserIdSource]> = if policy.user_id.is_empty() {
        Box::new([UserIdSource::Header("x-user-id".to_owned())])
    } else {
        policy
            .user_id
            .iter()
            .map(|s| match s {
                UserIdSource::Header(h) => UserIdSource::Header(h.to_ascii_lowercase()),
                other => other.clone(),
            })
            .collect()
    };

    let mut routes = Vec::new();
    e.at("routes", |e| {
        if policy.routes.is_empty() {
            e.here("define at least one route");
        }
        let mut seen: HashMap<(&str, &str, &str), usize> = HashMap::new();
        let mut seen_match: HashMap<(String, &str), usize> = HashMap::new();
        for (i, r) in policy.routes.iter().enumerate() {
            e.index(i, |e| {
                if let Some(first) = seen.insert(("name", &r.name, ""), i) {
                    e.field(
                        "name",
                        format!("duplicate route name {:?} (also routes[{first}])", r.name),
                    );
                }
                let host = r.host.as_deref().unwrap_or("").to_ascii_lowercase();
                if let Some(first) = seen_match.insert((host, r.path_prefix.as_str()), i) {
                    e.here(format!(
                        "duplicate route: routes[{first}] has the same host and path_prefix, so this one never matches"
                    ));
                }
                let route = compile_route(r, &group_ids, groups.len(), &lists, e);
                routes.extend(route);
            });
        }
    });

    if !e.is_empty() {
        return Err(PolicyError { errors: e.found });
    }
    let mut route_order: Vec<usize> = (0..routes.len()).collect();
    route_order.sort_by_key(|&i| {
        let r: &CompiledRoute = &routes[i];
        // Exact hosts first, then wildcards (longer suffix first), then any host.
        let host_rank = match &r.host {
            HostMatch::Exact(_) => (0, 0),
            HostMatch::Suffix(s) => (1, usize::MAX - s.len()),
            HostMatch::Any => (2, 0),
        };
        (host_rank, std::cmp::Reverse(r.path_prefix.len()), i)
    });
    Ok(CompiledPolicy {
        version,
        policy: policy.clone(),
        groups: groups.into(),
        group_ids,
        lists,
        user_id,
        routes: routes.into(),
        route_order: route_order.into(),
    })
}

fn check_group(name: &str, g: &Group, e: &mut Errors) {
    if !valid_name(name) {
        e.here(format!("invalid group name {name:?}: {NAME_RULE}"));
    }
    if g.servers.is_empty() {
        e.field("servers", "a group needs at least one server");
    }
    if !g.servers.is_empty() && g.servers.iter().all(|s| s.backup) {
        e.field("servers", "a group needs at least one server that is not a backup");
    }
    e.at("servers", |e| {
        for (i, s) in g.servers.iter().enumerate() {
            e.index(i, |e| {
                let port = s.addr.rsplit_once(':').and_then(|(h, p)| (!h.is_empty()).then_some(p));
                if port.and_then(|p| p.parse::<u16>().ok()).is_none_or(|p| p == 0) {
                    e.field(
                        "addr",
                        format!(
                            "invalid address {:?}: expected host:port, e.g. \"10.0.0.1:8080\"",
                            s.addr
                        ),
                    );
                }
                if s.weight == 0 {
                    e.field("weight", "must be at least 1");
                }
            });
        }
    });
    for (key, v) in [
        ("connect_timeout_ms", g.connect_timeout_ms),
        ("read_timeout_ms", g.read_timeout_ms),
        ("fail_timeout_secs", g.fail_timeout_secs),
    ] {
        if v == Some(0) {
            e.field(key, "must be at least 1");
        }
    }
    if let Some(hc) = &g.health_check {
        e.at("health_check", |e| {
            if !hc.path.starts_with('/') || hc.path.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
                e.field(
                    "path",
                    format!("invalid path {:?}: expected e.g. \"/healthz\"", hc.path),
                );
            }
            for (key, v) in [("interval_ms", hc.interval_ms), ("timeout_ms", hc.timeout_ms)] {
                if v == 0 {
                    e.field(key, "must be at least 1");
                }
            }
            for (key, v) in [("rise", hc.rise), ("fall", hc.fall)] {
                if v == 0 {
                    e.field(key, "must be at least 1");
                }
            }
            if hc.expect_status.is_some_and(|s| !(100..=599).contains(&s)) {
                e.field("expect_status", "must be an HTTP status between 100 and 599");
            }
        });
    }
}

fn compile_route(
    r: &crate::model::Route,
    group_ids: &foldhash::HashMap<Box<str>, GroupId>,
    n_groups: usize,
    lists: &Lists,
    e: &mut Errors,
) -> Option<CompiledRoute> {
    let errors_before = e.found.len();
    if !valid_name(&r.name) {
        e.field("name", format!("invalid route name {:?}: {NAME_RULE}", r.name));
    }
    let mut group = |name: &str, e: &mut Errors| -> Option<GroupId> {
        let id = group_ids.get(name).copied();
        if id.is_none() {
            e.here(format!("unknown group {name:?}"));
        }
        id
    };
    let default = if r.default.is_empty() {
        e.field(
            "default",
            "empty route: name the group that serves requests no rule takes",
        );
        None
    } else {
        e.at("default", |e| group(&r.default, e))
    };
    let fallback = r.fallback.as_ref().and_then(|f| e.at("fallback", |e| group(f, e)));
    let host = match r.host.as_deref().map(str::to_ascii_lowercase) {
        None => HostMatch::Any,
        Some(h)
            if h.is_empty() || !h.is_ascii() || h.contains(['/', ' ', ':']) || h.rfind('*').is_some_and(|i| i > 0) =>
        {
            e.field(
                "host",
                format!("invalid host {h:?}: expected an ASCII (punycode) name like api.example.com or *.example.com"),
            );
            HostMatch::Any
        }
        Some(h) => match h.strip_prefix('*') {
            Some(suffix) if suffix.starts_with('.') => HostMatch::Suffix(suffix.into()),
            Some(_) => {
                e.field(
                    "host",
                    format!("invalid host {h:?}: a wildcard is written *.example.com"),
                );
                HostMatch::Any
            }
            None => HostMatch::Exact(h.into()),
        },
    };
    if !r.path_prefix.starts_with('/') {
        e.field(
            "path_prefix",
            format!("invalid path prefix {:?}: it starts with `/`", r.path_prefix),
        );
    }
    if let Some(s) = &r.sticky
        && s.cookie
            .as_deref()
            .is_some_and(|c| c.is_empty() || c.contains([';', '=', ' ', ',']))
    {
        e.at("sticky", |e| e.field("cookie", "invalid cookie name"));
    }
    let mut rules = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    e.at("rules", |e| {
        for (i, rule) in r.rules.iter().enumerate() {
            e.index(i, |e| {
                let name = rule.name.clone().unwrap_or_else(|| format!("rules[{i}]"));
                if let Some(first) = names.insert(name.clone(), i) {
                    e.field("name", format!("duplicate rule name {name:?} (also rules[{first}])"));
                }
                rules.extend(compile_rule(rule, name, &r.name, &mut group, lists, e));
            });
        }
    });
    if e.found.len() > errors_before {
        return None;
    }
    let default = default?;
    let mut live = vec![false; n_groups];
    live[usize::from(default.0)] = true;
    for rule in &rules {
        for g in split::live_groups(&rule.action) {
            live[usize::from(g.0)] = true;
        }
    }
    let mut needs = Needs::default();
    let mut templates = Vec::new();
    for rule in &rules {
        if let Some(c) = &rule.when {
            c.needs(&mut needs, &mut templates);
        }
    }
    templates.sort_unstable();
    templates.dedup();
    let lookup_templates = templates.into_iter().map(Into::into).collect();
    Some(CompiledRoute {
        name: r.name.as_str().into(),
        host,
        path_prefix: r.path_prefix.as_str().into(),
        default,
        fallback,
        sticky: r.sticky.clone(),
        steps: plan::plan(&rules),
        rules: rules.into(),
        live: live.into(),
        needs,
        lookup_templates,
    })
}

fn compile_rule(
    rule: &Rule,
    name: String,
    route: &str,
    group: &mut dyn FnMut(&str, &mut Errors) -> Option<GroupId>,
    lists: &Lists,
    e: &mut Errors,
) -> Option<CompiledRule> {
    if rule.name.as_deref().is_some_and(|n| !valid_name(n)) {
        e.field("name", format!("invalid rule name {name:?}: {NAME_RULE}"));
    }
    if RESERVED_RULE_NAMES.contains(&name.as_str()) {
        e.field(
            "name",
            format!("{name:?} is reserved: decisions use it for no rule, a pin or a tag"),
        );
    }
    let when = rule.when.as_ref().map(|c| e.at("when", |e| Cond::compile(c, lists, e)));
    let action = match (&rule.to, &rule.split) {
        (Some(to), None) => e.at("to", |e| group(to, e)).map(Action::To),
        (None, Some(s)) => e.at("split", |e| {
            split::compile_split(s, &format!("{route}/{name}"), group, e)
        }),
        _ => {
            e.here("a rule has exactly one action: `to = \"group\"` or `split = { … }`");
            None
        }
    };
    let when = match when {
        None => None,
        Some(None) => return None,
        Some(Some(c)) => Some(c),
    };
    let action = action?;
    let reason = match &action {
        Action::Hash(_) => Reason::Hash,
        Action::PerRequest(_) => Reason::Weight,
        Action::To(_) => when.as_ref().map_or(Reason::Rule, Cond::reason),
    };
    Some(CompiledRule {
        name: name.into(),
        when,
        action,
        reason,
    })
}
