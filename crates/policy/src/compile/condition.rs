//! Compiled conditions: checked once, evaluated without allocation.
//!
//! A model [`Condition`](crate::model::Condition) is a flat table; here it becomes either a combinator
//! or one [`Test`] of a [`Subject`] by an [`Op`]. Regexes are compiled, CIDR
//! ranges go into a trie, sets into hash sets, versions are parsed — so the
//! request path never parses or validates anything it could have done here.

use crate::Reason;
use crate::cidr::CidrSet;
use crate::decide::Eval;
use crate::request::{Lookup, Request};
use crate::version::{OwnedVersion, Version};

mod build;
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

impl Test {
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
