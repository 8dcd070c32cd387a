//! The two changes operators make all day, each one call: set the weights of
//! one route's split, and add or remove ids of a user list. And the one-line
//! summary of a change that every audit record carries.

use crate::AdminState;
use crate::error::ApiError;
use crate::policy::write;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use graygate_policy::Policy;
use graygate_policy::model::{Route, Rule};
use indexmap::{IndexMap, IndexSet};
use serde::Deserialize;
use std::fmt::Write as _;

/// How many items a summary names before it says "and N more".
const SUMMARY_ITEMS: usize = 8;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetSplit {
    /// Group → basis points (10000 = 100 %).
    weights: IndexMap<String, u32>,
}

/// `PUT /api/v1/routes/{route}/splits/{rule}`: new weights for one split.
///
/// The split keeps the order of its groups (so a ramp of the last group only
/// moves users into it, R5); groups new to the split are appended; groups the
/// body leaves out get weight 0 and keep their place. `rule` is the rule's
/// name, or its index when it has none.
pub(crate) async fn set_split(
    State(s): State<AdminState>,
    Path((route, rule)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let SetSplit { weights } = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "expected {{\"weights\": {{\"<group>\": <basis points>, …}}}}: {e}"
        ))
    })?;
    write(&s, &headers, |old| {
        let mut policy = old.ok_or_else(|| ApiError::NotFound("no policy has been saved yet".into()))?;
        let r = find_route(&mut policy, &route)?;
        let (label, found) = find_rule(r, &rule)?;
        let split = found
            .split
            .as_mut()
            .ok_or_else(|| ApiError::BadRequest(format!("rule {label} of route {route} has no split")))?;
        let before = split.weights.clone();
        for w in split.weights.values_mut() {
            *w = 0;
        }
        for (group, w) in weights {
            split.weights.insert(group, w);
        }
        let summary = format!("{route}/{label}: {}", weights_change(&before, &split.weights));
        Ok((policy, summary))
    })
    .await
}

fn find_route<'p>(policy: &'p mut Policy, name: &str) -> Result<&'p mut Route, ApiError> {
    policy
        .routes
        .iter_mut()
        .find(|r| r.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("no route named {name:?}")))
}

/// A rule by name, or by index (`2` or `rules[2]`) when it has no name.
fn find_rule<'r>(route: &'r mut Route, key: &str) -> Result<(String, &'r mut Rule), ApiError> {
    let index = key
        .strip_prefix("rules[")
        .and_then(|k| k.strip_suffix(']'))
        .unwrap_or(key)
        .parse::<usize>()
        .ok();
    let route_name = route.name.clone();
    let position = route
        .rules
        .iter()
        .position(|r| r.name.as_deref() == Some(key))
        .or(index.filter(|i| *i < route.rules.len()));
    match position.and_then(|i| route.rules.get_mut(i).map(|r| (i, r))) {
        Some((i, rule)) => Ok((rule.name.clone().unwrap_or_else(|| format!("rules[{i}]")), rule)),
        None => Err(ApiError::NotFound(format!("route {route_name:?} has no rule {key:?}"))),
    }
}

/// `canary 5% → 10%, stable 95% → 90%`.
fn weights_change(before: &IndexMap<String, u32>, after: &IndexMap<String, u32>) -> String {
    let changed: Vec<String> = after
        .iter()
        .filter(|(g, w)| before.get(*g) != Some(w))
        .map(|(g, w)| format!("{g} {} → {}", percent(before.get(g).copied().unwrap_or(0)), percent(*w)))
        .collect();
    if changed.is_empty() {
        "weights unchanged".to_owned()
    } else {
        changed.join(", ")
    }
}

fn percent(bp: u32) -> String {
    if bp.is_multiple_of(100) {
        format!("{}%", bp / 100)
    } else {
        format!("{}.{:02}%", bp / 100, bp % 100)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListChange {
    ids: Vec<String>,
}

/// `POST /api/v1/lists/{list}/add`: adds ids (duplicates ignored); creates
/// the list when it does not exist.
pub(crate) async fn list_add(
    State(s): State<AdminState>,
    Path(list): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    change_list(&s, &headers, list, &body, true).await
}

/// `POST /api/v1/lists/{list}/remove`: removes ids (absent ones ignored).
pub(crate) async fn list_remove(
    State(s): State<AdminState>,
    Path(list): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    change_list(&s, &headers, list, &body, false).await
}

async fn change_list(
    s: &AdminState,
    headers: &HeaderMap,
    list: String,
    body: &[u8],
    add: bool,
) -> Result<Response, ApiError> {
    let ListChange { ids } = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("expected {{\"ids\": [\"<id>\", …]}}: {e}")))?;
    if let Some(bad) = ids.iter().position(|id| id.is_empty()) {
        return Err(ApiError::BadRequest(format!("ids[{bad}] is empty")));
    }
    write(s, headers, |old| {
        let mut policy = old.ok_or_else(|| ApiError::NotFound("no policy has been saved yet".into()))?;
        if !add && !policy.lists.contains_key(&list) {
            return Err(ApiError::NotFound(format!("no list named {list:?}")));
        }
        let current = policy.lists.entry(list.clone()).or_default();
        let mut set: IndexSet<String> = current.drain(..).collect();
        let before = set.len();
        if add {
            set.extend(ids);
        } else {
            for id in &ids {
                set.shift_remove(id);
            }
        }
        let after = set.len();
        *current = set.into_iter().collect();
        let summary = if add {
            format!("list {list}: +{} ids ({after} in all)", after - before)
        } else {
            format!("list {list}: -{} ids ({after} in all)", before - after)
        };
        Ok((policy, summary))
    })
    .await
}

/// A one-line description of what changed from `old` to `new`, for the audit
/// record: groups, lists (ids added and removed), routes, split weights.
pub fn diff_summary(old: &Policy, new: &Policy) -> String {
    let mut items = Vec::new();
    keyed(&mut items, "group", &old.groups, &new.groups);
    for (name, ids) in &new.lists {
        match old.lists.get(name) {
            None => items.push(format!("list {name} added ({} ids)", ids.len())),
            Some(was) if was != ids => {
                let was_set: IndexSet<&String> = was.iter().collect();
                let now_set: IndexSet<&String> = ids.iter().collect();
                let added = now_set.difference(&was_set).count();
                let removed = was_set.difference(&now_set).count();
                items.push(format!("list {name}: +{added} -{removed} ids"));
            }
            Some(_) => {}
        }
    }
    items.extend(
        old.lists
            .keys()
            .filter(|k| !new.lists.contains_key(*k))
            .map(|k| format!("list {k} removed")),
    );
    let old_routes: IndexMap<&String, &Route> = old.routes.iter().map(|r| (&r.name, r)).collect();
    let new_routes: IndexMap<&String, &Route> = new.routes.iter().map(|r| (&r.name, r)).collect();
    for (name, route) in &new_routes {
        match old_routes.get(name) {
            None => items.push(format!("route {name} added")),
            Some(was) if *was != *route => items.push(route_change(was, route)),
            Some(_) => {}
        }
    }
    items.extend(
        old_routes
            .keys()
            .filter(|k| !new_routes.contains_key(*k))
            .map(|k| format!("route {k} removed")),
    );
    if items.is_empty() && old.user_id != new.user_id {
        items.push("user id sources changed".to_owned());
    }
    if items.is_empty() {
        return "no change".to_owned();
    }
    let mut summary = items.iter().take(SUMMARY_ITEMS).cloned().collect::<Vec<_>>().join("; ");
    if items.len() > SUMMARY_ITEMS {
        let _ = write!(summary, "; and {} more", items.len() - SUMMARY_ITEMS);
    }
    summary
}

fn keyed<T: PartialEq>(items: &mut Vec<String>, what: &str, old: &IndexMap<String, T>, new: &IndexMap<String, T>) {
    for (name, v) in new {
        match old.get(name) {
            None => items.push(format!("{what} {name} added")),
            Some(was) if was != v => items.push(format!("{what} {name} changed")),
            Some(_) => {}
        }
    }
    items.extend(
        old.keys()
            .filter(|k| !new.contains_key(*k))
            .map(|k| format!("{what} {k} removed")),
    );
}

/// A changed route: its split weights when only they changed, else "changed".
fn route_change(old: &Route, new: &Route) -> String {
    let name = &new.name;
    let same_shape = old.rules.len() == new.rules.len()
        && old.rules.iter().zip(&new.rules).all(|(a, b)| {
            a.name == b.name
                && a.when == b.when
                && a.to == b.to
                && a.split.as_ref().map(|s| (&s.by, &s.salt)) == b.split.as_ref().map(|s| (&s.by, &s.salt))
        })
        && Route {
            rules: Vec::new(),
            ..old.clone()
        } == Route {
            rules: Vec::new(),
            ..new.clone()
        };
    if !same_shape {
        return format!("route {name} changed");
    }
    let splits: Vec<String> = old
        .rules
        .iter()
        .zip(&new.rules)
        .enumerate()
        .filter_map(|(i, (a, b))| {
            let (a, b) = (a.split.as_ref()?, b.split.as_ref()?);
            (a.weights != b.weights).then(|| {
                let label = new
                    .rules
                    .get(i)
                    .and_then(|r| r.name.clone())
                    .unwrap_or_else(|| format!("rules[{i}]"));
                format!("{name}/{label}: {}", weights_change(&a.weights, &b.weights))
            })
        })
        .collect();
    splits.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(toml: &str) -> Policy {
        graygate_policy::parse_toml(toml).unwrap()
    }

    const BASE: &str = r#"
        [groups.stable]
        servers = [{ addr = "127.0.0.1:1" }]
        [groups.canary]
        servers = [{ addr = "127.0.0.1:2" }]
        [lists]
        beta = ["a", "b"]
        [[routes]]
        name = "shop"
        default = "stable"
        [[routes.rules]]
        name = "ramp"
        split = { by = "user", weights = { stable = 9500, canary = 500 } }
    "#;

    #[test]
    fn a_weight_change_is_summarised_in_percent() {
        let old = policy(BASE);
        let new = policy(&BASE.replace("stable = 9500, canary = 500", "stable = 9000, canary = 1000"));
        assert_eq!(diff_summary(&old, &new), "shop/ramp: stable 95% → 90%, canary 5% → 10%");
    }

    #[test]
    fn lists_groups_and_routes_are_summarised() {
        let old = policy(BASE);
        let new = policy(
            &BASE
                .replace(r#"beta = ["a", "b"]"#, r#"beta = ["b", "c", "d"]"#)
                .replace(
                    "name = \"ramp\"",
                    "name = \"ramp\"\nwhen = { header = \"x\", exists = true }",
                ),
        );
        assert_eq!(diff_summary(&old, &new), "list beta: +2 -1 ids; route shop changed");
        assert_eq!(diff_summary(&old, &old), "no change");
    }

    #[test]
    fn percent_keeps_fractions() {
        assert_eq!(percent(50), "0.50%");
        assert_eq!(percent(1000), "10%");
        assert_eq!(percent(1234), "12.34%");
    }
}
