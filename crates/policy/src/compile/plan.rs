//! The evaluation plan of a route: its rules in order, with each run of
//! consecutive `equals` / `in` rules — or of `prefix` rules — on the same
//! subject folded into hash lookups.
//!
//! Generated policies often carry hundreds of such rules (one per tenant, per
//! flag value, per service path). Tried one by one, each would read and
//! compare the same header again; folded, the subject is read once and looked
//! up (for prefixes: once per distinct prefix length). The first rule of the
//! run that matches wins, exactly as if the rules were tried in order.

use super::condition::Subject;
use super::{Action, CompiledRule};

/// Runs shorter than this are tried rule by rule: a hash lookup costs about
/// as much as two string comparisons.
const MIN_RUN: usize = 3;

/// One step of a route's plan.
#[derive(Debug)]
pub(crate) enum Step {
    /// Try rule `i`.
    Rule(usize),
    /// Read the subject of rule `first` once; apply the first rule of the run
    /// that lists its value.
    Exact {
        first: usize,
        by_value: foldhash::HashMap<Box<str>, usize>,
    },
    /// Read the subject of rule `first` once; apply the first rule of the run
    /// whose prefix it starts with. `lengths` are the distinct prefix lengths.
    Prefix {
        first: usize,
        by_prefix: foldhash::HashMap<Box<str>, usize>,
        lengths: Box<[usize]>,
    },
}

impl Step {
    /// The rule of a folded run that `value` selects.
    pub(crate) fn select(&self, value: &str) -> Option<usize> {
        match self {
            Step::Rule(i) => Some(*i),
            Step::Exact { by_value, .. } => by_value.get(value).copied(),
            Step::Prefix { by_prefix, lengths, .. } => lengths
                .iter()
                .take_while(|&&l| l <= value.len())
                .filter_map(|&l| value.get(..l).and_then(|p| by_prefix.get(p)))
                .min()
                .copied(),
        }
    }
}

fn foldable(rule: &CompiledRule) -> Option<(&Subject, bool, Vec<&str>)> {
    match (&rule.action, &rule.when) {
        (Action::To(_), Some(c)) => c.foldable(),
        _ => None,
    }
}

/// Plans `rules`.
pub(crate) fn plan(rules: &[CompiledRule]) -> Box<[Step]> {
    let mut steps = Vec::with_capacity(rules.len());
    let mut i = 0;
    while i < rules.len() {
        let Some((subject, prefix, _)) = foldable(&rules[i]) else {
            steps.push(Step::Rule(i));
            i += 1;
            continue;
        };
        let mut end = i + 1;
        while end < rules.len() && foldable(&rules[end]).is_some_and(|(s, p, _)| s == subject && p == prefix) {
            end += 1;
        }
        if end - i < MIN_RUN {
            steps.extend((i..end).map(Step::Rule));
            i = end;
            continue;
        }
        let mut map: foldhash::HashMap<Box<str>, usize> = foldhash::HashMap::default();
        for (k, rule) in rules.iter().enumerate().take(end).skip(i) {
            for v in foldable(rule).map(|f| f.2).unwrap_or_default() {
                map.entry(v.into()).or_insert(k);
            }
        }
        steps.push(if prefix {
            let mut lengths: Vec<usize> = map.keys().map(|k| k.len()).collect();
            lengths.sort_unstable();
            lengths.dedup();
            Step::Prefix {
                first: i,
                by_prefix: map,
                lengths: lengths.into(),
            }
        } else {
            Step::Exact {
                first: i,
                by_value: map,
            }
        });
        i = end;
    }
    steps.into()
}
