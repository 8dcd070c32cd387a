//! The properties the targets assert, and the plain reference readings that
//! extraction is compared with.

use super::synth;
use graygate_policy::attrs::percent_decode;
use graygate_policy::hash::BUCKETS;
use graygate_policy::model::Route;
use graygate_policy::{
    Body, CompiledPolicy, Decision, Overrides, Policy, PolicyError, Reason, RequestAttrs, compile, compile_json,
};
use std::borrow::Cow;

/// Every invariant of one decision of `req` under `overrides`:
/// - a decision exists exactly when a route matches, and names that route;
/// - the group is one the route's document can send traffic to (its
///   default, a rule's `to`, a split group with a weight above zero);
/// - the rule is one of the route's rules, or `default`, `sticky`, `tag`,
///   matching the reason; a bucket is given exactly for a hash split, and is
///   below 10000; the version is the policy's;
/// - a tag naming a live group wins;
/// - deciding again decides the same (a per-request split may pick another
///   group, by design, but through the same rule);
/// - a route that reads no body (no lookups) decides the same without one.
pub(crate) fn decision(p: &CompiledPolicy, req: &RequestAttrs, overrides: Overrides<'_>) {
    let route = p.route(req);
    let d = p.decide(req, overrides);
    assert_eq!(
        route.map(|r| r.name()),
        d.map(|d| d.route),
        "decide() routes as route()"
    );
    let (Some(route), Some(d)) = (route, d) else { return };
    let _ = route.lookup_keys(req);
    if let Some((g, name)) = route.fallback() {
        assert_eq!(p.groups()[usize::from(g.0)].name.as_ref(), name);
        let fb = d.fallback_to(g, name);
        assert_eq!((fb.reason, fb.group), (Reason::Fallback, name));
    }

    let doc = p
        .policy()
        .routes
        .iter()
        .find(|r| r.name == d.route)
        .unwrap_or_else(|| panic!("route {:?} is not in the document", d.route));
    assert!(
        route_groups(doc).contains(&d.group),
        "{d:?}: group {:?} is not one of route {:?}'s groups",
        d.group,
        d.route
    );
    assert!(
        route.is_live(d.group),
        "{d:?}: the route cannot send traffic to its group"
    );
    assert_eq!(p.groups()[usize::from(d.group_id.0)].name.as_ref(), d.group);
    assert_eq!(d.version, p.version());
    match d.reason {
        Reason::Default => assert_eq!(d.rule, "default"),
        Reason::Sticky => assert_eq!((d.rule, Some(d.group)), ("sticky", overrides.sticky)),
        Reason::Tag => assert_eq!((d.rule, Some(d.group)), ("tag", overrides.tag)),
        _ => assert!(
            doc.rules
                .iter()
                .enumerate()
                .any(|(i, r)| r.name.clone().unwrap_or_else(|| format!("rules[{i}]")) == d.rule),
            "{d:?}: no rule {:?} in route {:?}",
            d.rule,
            d.route
        ),
    }
    assert_eq!(d.bucket.is_some(), d.reason == Reason::Hash, "{d:?}");
    assert!(d.bucket.is_none_or(|b| b < BUCKETS), "{d:?}");
    if let Some(tag) = overrides.tag.filter(|t| route.is_live(t)) {
        assert_eq!((d.group, d.reason), (tag, Reason::Tag));
    }

    let again = p.decide(req, overrides);
    assert!(
        again.is_some_and(|a| same(&a, &d)),
        "not deterministic: {d:?} then {again:?}"
    );
    let needs = route.needs();
    if !needs.body && req.body != Body::None {
        let mut without = req.clone();
        without.body = Body::None;
        let w = p.decide(&without, overrides);
        assert!(
            w.is_some_and(|w| same(&w, &d)),
            "{d:?} changed without an unread body: {w:?}"
        );
    }
    if !needs.lookup && !req.lookups.is_empty() {
        let mut without = req.clone();
        without.lookups.clear();
        let w = p.decide(&without, overrides);
        assert!(
            w.is_some_and(|w| same(&w, &d)),
            "{d:?} changed without unread lookups: {w:?}"
        );
    }
}

/// The same decision, except that a per-request split may pick another group.
fn same(a: &Decision<'_>, b: &Decision<'_>) -> bool {
    let group = a.group == b.group || a.reason == Reason::Weight;
    group && (a.route, a.rule, a.reason, a.bucket) == (b.route, b.rule, b.reason, b.bucket)
}

/// The groups a route's document can send traffic to.
fn route_groups(r: &Route) -> Vec<&str> {
    let mut groups = vec![r.default.as_str()];
    for rule in &r.rules {
        groups.extend(rule.to.as_deref());
        if let Some(s) = &rule.split {
            groups.extend(s.weights.iter().filter(|(_, w)| **w > 0).map(|(g, _)| g.as_str()));
        }
    }
    groups
}

/// A compiled policy decides the requests made from its own rules, with and
/// without overrides naming each group.
pub(crate) fn policy(p: &CompiledPolicy) {
    let groups: Vec<&str> = p.groups().iter().take(4).map(|g| &*g.name).collect();
    for req in synth::requests(p.policy()) {
        decision(p, &req, Overrides::default());
        for g in &groups {
            decision(
                p,
                &req,
                Overrides {
                    tag: None,
                    sticky: Some(g),
                },
            );
        }
        if let Some(g) = groups.last() {
            decision(
                p,
                &req,
                Overrides {
                    tag: Some(g),
                    sticky: None,
                },
            );
        }
    }
}

/// The JSON the store saves of a compiled policy reads back as the same
/// document, compiles, and decides every synthesized request the same.
pub(crate) fn json_round_trip(p: &CompiledPolicy) {
    let json = serde_json::to_vec(p.policy()).unwrap_or_else(|e| panic!("a compiled policy fails to serialize: {e}"));
    let back = compile_json(&json, p.version()).unwrap_or_else(|e| {
        panic!(
            "the JSON form of a compiled policy is rejected: {e}\n{}",
            String::from_utf8_lossy(&json)
        )
    });
    let strip = |doc: &Policy| Policy {
        gateway: None,
        ..doc.clone()
    };
    assert_eq!(
        strip(back.policy()),
        strip(p.policy()),
        "the JSON form reads back differently"
    );
    // Both compiled afresh and decided in lockstep, so that per-request split
    // counters stay in step.
    let fresh = compile(p.policy(), p.version()).unwrap_or_else(|e| panic!("a compiled document is rejected: {e}"));
    for req in synth::requests(p.policy()) {
        let (a, b) = (
            fresh.decide(&req, Overrides::default()),
            back.decide(&req, Overrides::default()),
        );
        assert_eq!(a, b, "the JSON form decides differently");
    }
}

/// A rejected policy has at least one error, each with a message and, when
/// read from TOML, a line inside the document.
pub(crate) fn error(e: &PolicyError, lines: Option<usize>) {
    assert!(!e.errors.is_empty(), "an error without problems");
    for fe in &e.errors {
        assert!(!fe.message.is_empty(), "an error without a message: {e:?}");
        if let (Some(line), Some(max)) = (fe.line, lines) {
            assert!((1..=max).contains(&line), "line {line} is outside the document: {e:?}");
        }
    }
    let _ = e.to_string();
}

/// Whether `part` lies inside `whole` (is a slice of it).
pub(crate) fn is_within(part: &str, whole: &str) -> bool {
    let (p, w) = (part.as_ptr() as usize, whole.as_ptr() as usize);
    part.is_empty() || (p >= w && p + part.len() <= w + whole.len())
}

/// A `Cookie` header read the plain way: split at `;`, then at the first `=`.
pub(crate) fn cookie_reference<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim_ascii() == name).then(|| {
            let v = v.trim_ascii();
            match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(inner) if v.len() >= 2 => inner,
                _ => v,
            }
        })
    })
}

/// Form data read as documented: split at `&`, then at the first `=`; the
/// first pair whose percent-decoded name is `name` gives its decoded value.
pub(crate) fn form_reference<'a>(data: &'a [u8], name: &str) -> Option<Cow<'a, str>> {
    data.split(|&b| b == b'&')
        .map(|pair| match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        })
        .find(|(k, _)| percent_decode(k).is_some_and(|k| k == name))
        .and_then(|(_, v)| percent_decode(v))
}

/// Decoding never lengthens, and borrows exactly when nothing is escaped.
pub(crate) fn percent_decoding(raw: &[u8]) {
    let escaped = raw.iter().any(|&b| b == b'%' || b == b'+');
    match percent_decode(raw) {
        Some(Cow::Borrowed(s)) => assert!(!escaped && s.as_bytes() == raw),
        Some(Cow::Owned(s)) => assert!(escaped && s.len() <= raw.len()),
        None => assert!(std::str::from_utf8(raw).is_err() || escaped),
    }
}

/// Any text, fully percent-encoded (spaces as `+`), decodes back to itself.
pub(crate) fn percent_round_trip(s: &str) {
    let encoded = synth::encode(s);
    assert_eq!(percent_decode(encoded.as_bytes()).as_deref(), Some(s), "{encoded}");
}
