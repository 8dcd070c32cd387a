//! Building compiled conditions from the model, with every mistake recorded
//! at its field path: which combinations of subject and operator are legal,
//! and the parsing of regexes, CIDR ranges, versions and list names.

use super::{Cond, Op, Subject, Test};
use crate::cidr::{Cidr, CidrSet};
use crate::compile::Lists;
use crate::error::Errors;
use crate::model::{Attr, Condition, Text};
use crate::version::OwnedVersion;
use std::cmp::Ordering;

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
