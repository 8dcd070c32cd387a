//! Compiled actions: a fixed group, a stable hash split, or an exact
//! per-request ratio.
//!
//! A hash split gives each group a contiguous range of the 10,000 buckets, in
//! the order the weights are written. With two groups, raising the second
//! group's weight only grows its range into the first one's: users move into
//! it and never out (the monotonic ramp, R5). A per-request split follows a
//! precomputed smooth weighted round-robin sequence, so any window of one
//! period carries the exact ratio.

use super::GroupId;
use crate::error::Errors;
use crate::hash::{BUCKETS, Salt};
use crate::model::Split;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a matching rule does.
#[derive(Debug)]
pub(crate) enum Action {
    To(GroupId),
    Hash(HashSplit),
    PerRequest(RequestSplit),
}

/// Which request value a hash split hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HashKey {
    User,
    Ip,
    Header(Box<str>),
    Cookie(Box<str>),
    Query(Box<str>),
}

#[derive(Debug)]
pub(crate) struct HashSplit {
    pub(crate) key: HashKey,
    salt: Salt,
    /// `(end, group)`: buckets below `end` (and at or above the previous end)
    /// go to `group`. Zero-weight groups have no range.
    ranges: Box<[(u16, GroupId)]>,
}

impl HashSplit {
    /// The bucket of `key`, and the group that owns it.
    pub(crate) fn pick(&self, key: &[u8]) -> (u16, GroupId) {
        let b = self.salt.bucket(key);
        let group = self
            .ranges
            .iter()
            .find(|(end, _)| b < *end)
            .or(self.ranges.last())
            .map(|r| r.1);
        (b, group.unwrap_or(GroupId(0)))
    }
}

#[derive(Debug)]
pub(crate) struct RequestSplit {
    sequence: Box<[GroupId]>,
    next: AtomicU64,
}

impl RequestSplit {
    pub(crate) fn pick(&self) -> GroupId {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let len = self.sequence.len() as u64;
        self.sequence
            .get((n % len.max(1)) as usize)
            .copied()
            .unwrap_or(GroupId(0))
    }
}

/// The groups a split can send traffic to (weight above zero).
pub(crate) fn live_groups(a: &Action) -> Vec<GroupId> {
    match a {
        Action::To(g) => vec![*g],
        Action::Hash(h) => h.ranges.iter().map(|r| r.1).collect(),
        Action::PerRequest(r) => {
            let mut v = r.sequence.to_vec();
            v.sort_unstable_by_key(|g| g.0);
            v.dedup();
            v
        }
    }
}

/// Compiles a split; `group` resolves a group name (recording an error when
/// it is unknown); `default_salt` is `<route>/<rule>`.
pub(crate) fn compile_split(
    s: &Split,
    default_salt: &str,
    group: &mut dyn FnMut(&str, &mut Errors) -> Option<GroupId>,
    e: &mut Errors,
) -> Option<Action> {
    let key = e.at("by", |e| parse_key(&s.by, e));
    let mut weights = Vec::with_capacity(s.weights.len());
    e.at("weights", |e| {
        if s.weights.is_empty() {
            e.here("must name at least one group");
        }
        for (name, w) in &s.weights {
            if *w > u32::from(BUCKETS) {
                e.field(name, format!("weight {w} is over 10000 basis points (100 %)"));
            }
            if let Some(g) = e.at(name, |e| group(name, e)) {
                weights.push((g, *w));
            }
        }
        let sum: u64 = s.weights.values().map(|w| u64::from(*w)).sum();
        if !s.weights.is_empty() && sum != u64::from(BUCKETS) {
            e.here(format!(
                "weights sum to {sum} basis points; they must sum to 10000 (100 %), e.g. {{ canary = 1000, stable = 9000 }} for 10 %"
            ));
        }
    });
    if weights.len() != s.weights.len() || weights.iter().map(|w| u64::from(w.1)).sum::<u64>() != u64::from(BUCKETS) {
        return None;
    }
    let key = key?;
    if key.is_none() && s.salt.is_some() {
        e.field(
            "salt",
            "a per-request split (`by = \"request\"`) hashes nothing; remove `salt`",
        );
        return None;
    }
    match key {
        None => Some(Action::PerRequest(RequestSplit {
            sequence: smooth_sequence(&weights),
            next: AtomicU64::new(0),
        })),
        Some(key) => {
            let mut end = 0u16;
            let mut ranges = Vec::new();
            for (g, w) in weights {
                if w > 0 {
                    end += w as u16;
                    ranges.push((end, g));
                }
            }
            let salt = Salt::new(s.salt.as_deref().unwrap_or(default_salt));
            Some(Action::Hash(HashSplit {
                key,
                salt,
                ranges: ranges.into(),
            }))
        }
    }
}

/// `Ok(None)` is the per-request split.
fn parse_key(by: &str, e: &mut Errors) -> Option<Option<HashKey>> {
    let key = match by.split_once(':') {
        None if by == "user" => Some(HashKey::User),
        None if by == "ip" => Some(HashKey::Ip),
        None if by == "request" => None,
        Some(("header", n)) if !n.is_empty() => Some(HashKey::Header(n.to_ascii_lowercase().into())),
        Some(("cookie", n)) if !n.is_empty() => Some(HashKey::Cookie(n.into())),
        Some(("query", n)) if !n.is_empty() => Some(HashKey::Query(n.into())),
        _ => {
            e.here(format!(
                "unknown split key {by:?}: use user, ip, request, header:NAME, cookie:NAME or query:NAME"
            ));
            return None;
        }
    };
    Some(key)
}

/// One period of smooth weighted round robin (nginx's algorithm) over the
/// weights reduced by their common divisor: 9000/1000 becomes a period of 10.
fn smooth_sequence(weights: &[(GroupId, u32)]) -> Box<[GroupId]> {
    let live: Vec<(GroupId, i64)> = weights
        .iter()
        .filter(|w| w.1 > 0)
        .map(|w| (w.0, i64::from(w.1)))
        .collect();
    let g = live.iter().fold(0, |acc, w| gcd(acc, w.1)).max(1);
    let live: Vec<(GroupId, i64)> = live.into_iter().map(|(id, w)| (id, w / g)).collect();
    let total: i64 = live.iter().map(|w| w.1).sum();
    let mut current = vec![0i64; live.len()];
    let mut seq = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (c, w) in current.iter_mut().zip(&live) {
            *c += w.1;
        }
        let Some((best, _)) = current
            .iter()
            .enumerate()
            .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))
        else {
            break;
        };
        current[best] -= total;
        seq.push(live[best].0);
    }
    seq.into()
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_sequence_has_the_exact_ratio_and_spreads_the_minority() {
        let seq = smooth_sequence(&[(GroupId(0), 9000), (GroupId(1), 1000)]);
        assert_eq!(seq.len(), 10);
        assert_eq!(seq.iter().filter(|g| g.0 == 1).count(), 1);
        let seq = smooth_sequence(&[(GroupId(0), 5000), (GroupId(1), 5000)]);
        assert_eq!(&*seq, &[GroupId(0), GroupId(1)], "alternates, never bursts");
    }

    #[test]
    fn zero_weight_groups_never_appear() {
        let seq = smooth_sequence(&[(GroupId(0), 10000), (GroupId(1), 0)]);
        assert!(seq.iter().all(|g| g.0 == 0));
    }
}
