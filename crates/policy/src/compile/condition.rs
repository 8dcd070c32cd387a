//! Compiled conditions: checked once, evaluated without allocation.
//!
//! A model [`Condition`] is a flat table; here it becomes either a combinator
//! or one [`Test`] of a [`Subject`] by an [`Op`]. Regexes are compiled, CIDR
//! ranges go into a trie, sets into hash sets, versions are parsed — so the
//! request path never parses or validates anything it could have done here.

use super::Lists;
use crate::Reason;
use crate::cidr::{Cidr, CidrSet};
use crate::decide::Eval;
use crate::error::Errors;
use crate::model::{Attr, Condition, Text};
use crate::request::{Lookup, Request};
use crate::version::{OwnedVersion, Version};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::net::IpAddr;

/// A compiled condition.
#[derive(Debug)]
pub(crate) enum Cond {
    All(Box<[Cond]>),
    Any(Box<[Cond]>),
    Not(Box<Cond>),
    Test(Test),
}

#[derive(Debug)]
pub(crate) struct Test {
    subject: Subject,
    op: Op,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Subject {
    Header(Box<str>),
    Cookie(Box<str>),
    Query(Box<str>),
    Form(Box<str>),
    Json(Box<str>),
    Host,
    Path,
    Method,
    Ip,
    User,
    Lookup(Box<str>),
}

#[derive(Debug)]
enum Op {
    Exists(bool),
    Equals(Box<str>),
    NotEquals(Box<str>),
    In(foldhash::HashSet<Box<str>>),
    InList(usize),
    Prefix(Box<str>),
    Suffix(Box<str>),
    Contains(Box<str>),
    Regex(regex::Regex),
    Num(Ordering, bool, f64),
    Version(Ordering, bool, OwnedVersion),
    Cidr(CidrSet),
}

/// What a route needs before its rules can be evaluated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// A rule reads a form or JSON body field.
    pub body: bool,
    /// A rule reads a per-user key.
    pub lookup: bool,
}

impl Cond {
    /// Compiles `c`; on any error records it (with its path) and returns `None`.
    pub(crate) fn compile(c: &Condition, lists: &Lists, e: &mut Errors) -> Option<Cond> {
        let combinators = [c.all.is_some(), c.any.is_some(), c.not.is_some()];
        let n_comb = combinators.iter().filter(|b| **b).count();
        if n_comb > 0 {
            if n_comb > 1 || subjects(c).next().is_some() || operators(c).next().is_some() {
                e.here("a condition is either `all`, `any` or `not`, or one subject with one operator");
                return None;
            }
            if let Some(not) = &c.not {
                return e
                    .at("not", |e| Cond::compile(not, lists, e))
                    .map(|c| Cond::Not(Box::new(c)));
            }
            let (key, list, any) = match (&c.all, &c.any) {
                (Some(l), _) => ("all", l, false),
                (_, Some(l)) => ("any", l, true),
                _ => return None,
            };
            if list.is_empty() {
                e.field(key, "must list at least one condition");
                return None;
            }
            let compiled: Vec<Option<Cond>> = e.at(key, |e| {
                list.iter()
                    .enumerate()
                    .map(|(i, c)| e.index(i, |e| Cond::compile(c, lists, e)))
                    .collect()
            });
            let compiled: Option<Vec<Cond>> = compiled.into_iter().collect();
            let compiled = compiled?.into_boxed_slice();
            return Some(if any { Cond::Any(compiled) } else { Cond::All(compiled) });
        }
        Test::compile(c, lists, e).map(Cond::Test)
    }

    /// Evaluates against a request in three-valued logic: `None` is unknown
    /// (a per-user key lookup that could not be answered). Unknown stays
    /// unknown through `not`, so a rule never matches because the store was
    /// down; `any` with a true member is true, `all` with a false one is false.
    /// Allocates only for percent-decoded values, JSON numbers and lookups.
    pub(crate) fn eval<R: Request + ?Sized>(&self, cx: &Eval<'_, R>) -> Option<bool> {
        match self {
            Cond::All(cs) => {
                let mut unknown = false;
                for c in cs.iter() {
                    match c.eval(cx) {
                        Some(false) => return Some(false),
                        None => unknown = true,
                        Some(true) => {}
                    }
                }
                (!unknown).then_some(true)
            }
            Cond::Any(cs) => {
                let mut unknown = false;
                for c in cs.iter() {
                    match c.eval(cx) {
                        Some(true) => return Some(true),
                        None => unknown = true,
                        Some(false) => {}
                    }
                }
                (!unknown).then_some(false)
            }
            Cond::Not(c) => c.eval(cx).map(|b| !b),
            Cond::Test(t) => t.eval(cx),
        }
    }

    /// The reason a match of this condition gives: the kind of its tests when
    /// they agree, `rule` when they are mixed.
    pub(crate) fn reason(&self) -> Reason {
        match self {
            Cond::Test(t) => t.reason(),
            Cond::Not(c) => c.reason(),
            Cond::All(cs) | Cond::Any(cs) => {
                let mut rs = cs.iter().map(Cond::reason);
                let first = rs.next().unwrap_or(Reason::Rule);
                if rs.all(|r| r == first) { first } else { Reason::Rule }
            }
        }
    }

    /// Adds what evaluating this condition needs, and its lookup templates.
    pub(crate) fn needs<'a>(&'a self, needs: &mut Needs, templates: &mut Vec<&'a str>) {
        match self {
            Cond::All(cs) | Cond::Any(cs) => cs.iter().for_each(|c| c.needs(needs, templates)),
            Cond::Not(c) => c.needs(needs, templates),
            Cond::Test(t) => match &t.subject {
                Subject::Form(_) | Subject::Json(_) => needs.body = true,
                Subject::Lookup(tpl) => {
                    needs.lookup = true;
                    templates.push(tpl);
                }
                _ => {}
            },
        }
    }
}

fn subjects(c: &Condition) -> impl Iterator<Item = &'static str> + '_ {
    [
        ("header", c.header.is_some()),
        ("cookie", c.cookie.is_some()),
        ("query", c.query.is_some()),
        ("form", c.form.is_some()),
        ("json", c.json.is_some()),
        ("attr", c.attr.is_some()),
        ("lookup", c.lookup.is_some()),
        ("ip", c.ip.is_some()),
        ("list", c.list.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
}

fn operators(c: &Condition) -> impl Iterator<Item = &'static str> + '_ {
    [
        ("exists", c.exists.is_some()),
        ("equals", c.equals.is_some()),
        ("not_equals", c.not_equals.is_some()),
        ("in", c.in_set.is_some()),
        ("in_list", c.in_list.is_some()),
        ("prefix", c.prefix.is_some()),
        ("suffix", c.suffix.is_some()),
        ("contains", c.contains.is_some()),
        ("regex", c.regex.is_some()),
        ("gt", c.gt.is_some()),
        ("ge", c.ge.is_some()),
        ("lt", c.lt.is_some()),
        ("le", c.le.is_some()),
        ("version_gt", c.version_gt.is_some()),
        ("version_ge", c.version_ge.is_some()),
        ("version_lt", c.version_lt.is_some()),
        ("version_le", c.version_le.is_some()),
        ("version_eq", c.version_eq.is_some()),
        ("cidr", c.cidr.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
}

const OPERATORS: &str = "exists, equals, not_equals, in, in_list, prefix, suffix, contains, regex, \
gt, ge, lt, le, version_gt, version_ge, version_lt, version_le, version_eq, cidr";

impl Test {
    fn compile(c: &Condition, lists: &Lists, e: &mut Errors) -> Option<Test> {
        let subs: Vec<&str> = subjects(c).collect();
        let ops: Vec<&str> = operators(c).collect();
        match subs.as_slice() {
            [] => {
                e.here("a condition needs a subject (header, cookie, query, form, json, attr, lookup, ip or list) or all/any/not");
                return None;
            }
            [_] => {}
            many => {
                e.here(format!("a condition has one subject, found {}", many.join(", ")));
                return None;
            }
        }
        // The shorthands carry their own operator.
        if let Some(ranges) = &c.ip {
            if !ops.is_empty() {
                e.field(
                    "ip",
                    format!("`ip` takes its ranges directly; remove {}", ops.join(", ")),
                );
                return None;
            }
            let set = e.at("ip", |e| cidr_set(ranges, e))?;
            return Some(Test {
                subject: Subject::Ip,
                op: Op::Cidr(set),
            });
        }
        if let Some(list) = &c.list {
            if !ops.is_empty() {
                e.field(
                    "list",
                    format!("`list` takes a list name directly; remove {}", ops.join(", ")),
                );
                return None;
            }
            let id = e.at("list", |e| list_id(list, lists, e))?;
            return Some(Test {
                subject: Subject::User,
                op: Op::InList(id),
            });
        }
        let subject = subject(c, e)?;
        let op = match ops.as_slice() {
            [op] => *op,
            [] => {
                e.here(format!("a condition needs one operator: {OPERATORS}"));
                return None;
            }
            many => {
                e.here(format!("a condition has one operator, found {}", many.join(", ")));
                return None;
            }
        };
        let op = e.at(op, |e| operator(c, lists, e))?;
        if matches!(subject, Subject::Ip) && !matches!(op, Op::Cidr(_) | Op::Exists(_)) {
            e.field("attr", "the client IP can be tested only with `cidr` or `exists`");
            return None;
        }
        Some(Test { subject, op })
    }

    fn eval<R: Request + ?Sized>(&self, cx: &Eval<'_, R>) -> Option<bool> {
        Some(match &self.subject {
            Subject::Ip => match (&self.op, cx.req.client_ip()) {
                (Op::Exists(want), ip) => ip.is_some() == *want,
                (Op::Cidr(set), Some(ip)) => set.contains(ip),
                _ => false,
            },
            Subject::Lookup(tpl) => {
                let Some(key) = cx.lookup_key(tpl) else {
                    return Some(matches!(self.op, Op::Exists(false)));
                };
                match cx.req.lookup(&key) {
                    Lookup::Found(v) => self.op.test(Some(v), cx),
                    Lookup::Missing => self.op.test(None, cx),
                    Lookup::Unavailable => return None,
                }
            }
            subject => self.op.test(subject.value(cx).as_deref(), cx),
        })
    }

    fn reason(&self) -> Reason {
        if matches!(self.op, Op::InList(_)) {
            return Reason::List;
        }
        match self.subject {
            Subject::Header(_) => Reason::Header,
            Subject::Cookie(_) => Reason::Cookie,
            Subject::Query(_) => Reason::Query,
            Subject::Form(_) | Subject::Json(_) => Reason::Body,
            Subject::Host => Reason::Host,
            Subject::Path => Reason::Path,
            Subject::Method => Reason::Method,
            Subject::Ip => Reason::Ip,
            Subject::User => Reason::User,
            Subject::Lookup(_) => Reason::Lookup,
        }
    }
}

impl Subject {
    /// The subject's text in `cx`'s request; `None` when absent. The client IP
    /// and lookups are not text subjects and read as absent here.
    pub(crate) fn value<'r, R: Request + ?Sized>(&self, cx: &'r Eval<'_, R>) -> Option<Cow<'r, str>> {
        let req = cx.req;
        match self {
            Subject::Header(n) => req.header(n).map(Cow::Borrowed),
            Subject::Cookie(n) => req.cookie(n).map(Cow::Borrowed),
            Subject::Query(n) => req.query(n),
            Subject::Form(n) => req.form(n),
            Subject::Json(p) => req.json(p),
            Subject::Host => req.host().map(Cow::Borrowed),
            Subject::Path => Some(Cow::Borrowed(req.path())),
            Subject::Method => Some(Cow::Borrowed(req.method())),
            Subject::User => cx.user().map(Cow::Borrowed),
            Subject::Ip | Subject::Lookup(_) => None,
        }
    }
}

impl Cond {
    /// The subject of a single test.
    pub(crate) fn subject(&self) -> Option<&Subject> {
        match self {
            Cond::Test(t) => Some(&t.subject),
            _ => None,
        }
    }

    /// For `subject equals v`, `subject in [v…]` (exact) and `subject prefix p`
    /// on a text subject: the subject, whether it is a prefix test, and the
    /// values that make it true. Runs of such rules are looked up by value.
    pub(crate) fn foldable(&self) -> Option<(&Subject, bool, Vec<&str>)> {
        let Cond::Test(Test { subject, op }) = self else {
            return None;
        };
        if matches!(subject, Subject::Ip | Subject::Lookup(_)) {
            return None;
        }
        match op {
            Op::Equals(v) => Some((subject, false, vec![&**v])),
            Op::In(set) => Some((subject, false, set.iter().map(|v| &**v).collect())),
            Op::Prefix(p) => Some((subject, true, vec![&**p])),
            _ => None,
        }
    }
}

impl Op {
    /// Tests a present (`Some`) or absent (`None`) value. An absent value
    /// satisfies only `exists = false`.
    fn test<R: Request + ?Sized>(&self, v: Option<&str>, cx: &Eval<'_, R>) -> bool {
        let Some(v) = v else {
            return matches!(self, Op::Exists(false));
        };
        match self {
            Op::Exists(want) => *want,
            Op::Equals(x) => v == &**x,
            Op::NotEquals(x) => v != &**x,
            Op::In(set) => set.contains(v),
            Op::InList(id) => cx.policy.lists.contains(*id, v),
            Op::Prefix(x) => v.starts_with(&**x),
            Op::Suffix(x) => v.ends_with(&**x),
            Op::Contains(x) => v.contains(&**x),
            Op::Regex(re) => re.is_match(v),
            Op::Num(ord, or_eq, x) => v
                .trim()
                .parse::<f64>()
                .is_ok_and(|n| cmp_matches(n.partial_cmp(x), *ord, *or_eq)),
            Op::Version(ord, or_eq, x) => {
                Version::parse(v).is_some_and(|n| cmp_matches(Some(n.cmp(&x.as_version())), *ord, *or_eq))
            }
            Op::Cidr(set) => v.trim().parse::<IpAddr>().is_ok_and(|ip| set.contains(ip)),
        }
    }
}

fn cmp_matches(got: Option<Ordering>, want: Ordering, or_equal: bool) -> bool {
    got.is_some_and(|g| g == want || (or_equal && g == Ordering::Equal))
}

fn subject(c: &Condition, e: &mut Errors) -> Option<Subject> {
    let named = |key: &str, v: &str, e: &mut Errors| -> Option<Box<str>> {
        if v.is_empty() {
            e.field(key, "must not be empty");
            return None;
        }
        Some(v.into())
    };
    Some(if let Some(h) = &c.header {
        if !h
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            e.field("header", format!("invalid header name {h:?}"));
            return None;
        }
        Subject::Header(named("header", &h.to_ascii_lowercase(), e)?)
    } else if let Some(n) = &c.cookie {
        Subject::Cookie(named("cookie", n, e)?)
    } else if let Some(n) = &c.query {
        Subject::Query(named("query", n, e)?)
    } else if let Some(n) = &c.form {
        Subject::Form(named("form", n, e)?)
    } else if let Some(p) = &c.json {
        if !(p.is_empty() || p.starts_with('/')) {
            e.field(
                "json",
                format!("invalid JSON pointer {p:?}: it starts with `/`, e.g. \"/user/tier\""),
            );
            return None;
        }
        Subject::Json(p.as_str().into())
    } else if let Some(t) = &c.lookup {
        let rest = t.replace("{user}", "");
        if rest.contains('{') || rest.contains('}') {
            e.field(
                "lookup",
                format!("invalid key template {t:?}: the only placeholder is {{user}}"),
            );
            return None;
        }
        Subject::Lookup(named("lookup", t, e)?)
    } else {
        match c.attr? {
            Attr::Host => Subject::Host,
            Attr::Path => Subject::Path,
            Attr::Method => Subject::Method,
            Attr::Ip => Subject::Ip,
            Attr::User => Subject::User,
        }
    })
}

fn operator(c: &Condition, lists: &Lists, e: &mut Errors) -> Option<Op> {
    let text = |t: &Text| -> Box<str> { t.0.as_str().into() };
    let version = |v: &str, e: &mut Errors| match OwnedVersion::parse(v) {
        Some(v) => Some(v),
        None => {
            e.here(format!(
                "invalid version {v:?}: expected numbers separated by dots, e.g. \"5.2.0\""
            ));
            None
        }
    };
    let num = |n: f64, e: &mut Errors| {
        if n.is_finite() {
            Some(n)
        } else {
            e.here("must be a finite number");
            None
        }
    };
    use Ordering::{Equal, Greater, Less};
    Some(match c {
        Condition { exists: Some(b), .. } => Op::Exists(*b),
        Condition { equals: Some(t), .. } => Op::Equals(text(t)),
        Condition {
            not_equals: Some(t), ..
        } => Op::NotEquals(text(t)),
        Condition { in_set: Some(ts), .. } if ts.is_empty() => {
            e.here("must list at least one value");
            return None;
        }
        Condition { in_set: Some(ts), .. } => Op::In(ts.iter().map(text).collect()),
        Condition { in_list: Some(l), .. } => Op::InList(list_id(l, lists, e)?),
        Condition { prefix: Some(s), .. } => Op::Prefix(s.as_str().into()),
        Condition { suffix: Some(s), .. } => Op::Suffix(s.as_str().into()),
        Condition { contains: Some(s), .. } => Op::Contains(s.as_str().into()),
        Condition { regex: Some(r), .. } => match regex::Regex::new(r) {
            Ok(re) => Op::Regex(re),
            Err(err) => {
                let msg = err.to_string();
                let last = msg.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid");
                e.here(format!(
                    "invalid regex {r:?}: {}",
                    last.trim().trim_start_matches("error: ")
                ));
                return None;
            }
        },
        Condition { gt: Some(n), .. } => Op::Num(Greater, false, num(*n, e)?),
        Condition { ge: Some(n), .. } => Op::Num(Greater, true, num(*n, e)?),
        Condition { lt: Some(n), .. } => Op::Num(Less, false, num(*n, e)?),
        Condition { le: Some(n), .. } => Op::Num(Less, true, num(*n, e)?),
        Condition {
            version_gt: Some(v), ..
        } => Op::Version(Greater, false, version(v, e)?),
        Condition {
            version_ge: Some(v), ..
        } => Op::Version(Greater, true, version(v, e)?),
        Condition {
            version_lt: Some(v), ..
        } => Op::Version(Less, false, version(v, e)?),
        Condition {
            version_le: Some(v), ..
        } => Op::Version(Less, true, version(v, e)?),
        Condition {
            version_eq: Some(v), ..
        } => Op::Version(Equal, true, version(v, e)?),
        Condition { cidr: Some(rs), .. } => Op::Cidr(cidr_set(rs, e)?),
        _ => return None,
    })
}

fn cidr_set(ranges: &[String], e: &mut Errors) -> Option<CidrSet> {
    if ranges.is_empty() {
        e.here("must list at least one CIDR range");
        return None;
    }
    let mut set = CidrSet::default();
    let mut ok = true;
    for r in ranges {
        match Cidr::parse(r.trim()) {
            Ok(c) => set.insert(c),
            Err(msg) => {
                // One message per bad range, all at the field's path.
                e.here(msg);
                ok = false;
            }
        }
    }
    ok.then_some(set)
}

fn list_id(name: &str, lists: &Lists, e: &mut Errors) -> Option<usize> {
    let id = lists.id(name);
    if id.is_none() {
        e.here(format!("unknown list {name:?}"));
    }
    id
}
