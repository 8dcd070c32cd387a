//! The policy as TOML written the way `examples/` and `docs/policy.md` write
//! it — `[groups.NAME]` with `servers = [{ addr = … }]`, `[[routes.rules]]`
//! with `when = { … }` and `split = { … }` inline — so that `get`, edit,
//! `apply` is a natural loop. The text is checked to parse back to the very
//! same policy, the order of a split's groups included.

use super::CtlError;
use super::format::version_line;
use graygate_policy::Policy;
use serde_json::Value;
use toml_edit::{Array, DocumentMut, Item, Table};

/// Field order of the tables whose fields are restyled, as in the model.
const GROUP_FIELDS: &[&str] = &["servers"];
const RULE_FIELDS: &[&str] = &["name", "when", "to", "split"];
/// An array longer than this on one line is written one element per line.
const LINE: usize = 80;

/// The policy of a `GET /api/v1/policy` answer as TOML, under a header
/// comment `# version N by WHO at TIME: SUMMARY`.
pub(crate) fn policy_toml(answer: &Value, policy: &Policy) -> Result<String, CtlError> {
    let plain =
        toml::to_string(policy).map_err(|e| CtlError::Local(format!("cannot write the policy as TOML: {e}")))?;
    // The restyled text when it round-trips, else serde's plain layout, which must.
    let text = match restyle(&plain) {
        Some(styled) if round_trips(&styled, policy) => styled,
        _ if round_trips(&plain, policy) => plain,
        _ => {
            return Err(CtlError::Local(
                "this policy does not survive a trip through TOML; use --format json".into(),
            ));
        }
    };
    let header: String = version_line(answer)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Ok(format!("# {header}\n\n{}", text.trim_start()))
}

/// Parses back to the same policy, split order included.
fn round_trips(text: &str, policy: &Policy) -> bool {
    Policy::from_toml(text).is_ok_and(|back| back.same_document(policy))
}

/// serde's layout (a table header for every nested table) made inline where
/// the examples are.
fn restyle(plain: &str) -> Option<String> {
    let mut doc: DocumentMut = plain.parse().ok()?;
    let root = doc.as_table_mut();
    inline(root, "user_id");
    if let Some(groups) = root.get_mut("groups").and_then(Item::as_table_mut) {
        for (_, group) in groups.iter_mut() {
            let Some(group) = group.as_table_mut() else { continue };
            group.set_implicit(false);
            inline(group, "servers");
            inline(group, "health_check");
            order(group, GROUP_FIELDS);
        }
    }
    if let Some(lists) = root.get_mut("lists").and_then(Item::as_table_mut) {
        for (_, ids) in lists.iter_mut() {
            if let Some(ids) = ids.as_array_mut() {
                wrap(ids);
            }
        }
    }
    if let Some(routes) = root.get_mut("routes").and_then(Item::as_array_of_tables_mut) {
        for route in routes.iter_mut() {
            inline(route, "sticky");
            let Some(rules) = route.get_mut("rules").and_then(Item::as_array_of_tables_mut) else {
                continue;
            };
            for rule in rules.iter_mut() {
                inline(rule, "when");
                inline(rule, "split");
                order(rule, RULE_FIELDS);
            }
        }
    }
    Some(doc.to_string())
}

/// Makes `table.key` (a table or an array of tables) an inline value.
fn inline(table: &mut Table, key: &str) {
    if let Some(item) = table.get_mut(key) {
        item.make_value();
        if let Some(array) = item.as_array_mut() {
            wrap(array);
        }
        // The spacing around `=`, which a key that headed a table lacks.
        table.fmt();
    }
}

/// One element per line when the array is too long for one.
fn wrap(array: &mut Array) {
    if array.to_string().len() <= LINE {
        return;
    }
    for v in array.iter_mut() {
        v.decor_mut().set_prefix("\n  ");
        v.decor_mut().set_suffix("");
    }
    array.set_trailing_comma(true);
    array.set_trailing("\n");
}

/// Puts `fields` first, in that order; the others keep theirs.
fn order(table: &mut Table, fields: &[&str]) {
    let rank = |k: &toml_edit::Key| fields.iter().position(|f| *f == k.get()).unwrap_or(fields.len());
    table.sort_values_by(|a, _, b, _| rank(a).cmp(&rank(b)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const POLICY: &str = r#"
        user_id = [{ header = "X-User-ID" }, { cookie = "uid" }]
        [groups.stable]
        servers = [{ addr = "10.0.1.1:8080", weight = 5 }, { addr = "10.0.1.2:8080", backup = true }]
        connect_timeout_ms = 500
        health_check = { path = "/healthz" }
        [groups.canary]
        servers = [{ addr = "10.0.2.1:8080" }]
        [lists]
        staff = ["7", "8"]
        [[routes]]
        name = "web"
        default = "stable"
        sticky = {}
        [[routes.rules]]
        name = "staff"
        when = { any = [{ list = "staff" }, { header = "X-Gray", equals = 1 }] }
        to = "canary"
        [[routes.rules]]
        split = { by = "user", weights = { stable = 9000, canary = 1000 } }
    "#;

    #[test]
    fn the_toml_looks_like_the_examples_and_parses_back() {
        let policy = Policy::from_toml(POLICY).unwrap();
        let answer = json!({ "version": 4, "who": "ops", "when_ms": 0, "summary": "route web added" });
        let text = policy_toml(&answer, &policy).unwrap();
        assert!(
            text.starts_with("# version 4 by ops at 1970-01-01T00:00:00Z: route web added\n\n"),
            "{text}"
        );
        for line in [
            "\n[groups.stable]\nservers = [\n  { addr = \"10.0.1.1:8080\", weight = 5 },\n",
            "\n[groups.canary]\nservers = [{ addr = \"10.0.2.1:8080\" }]\n",
            "health_check = { path = \"/healthz\", interval_ms = 2000, timeout_ms = 1000, rise = 2, fall = 3 }\n",
            "sticky = { max_age_secs = 86400 }\n",
            "name = \"staff\"\nwhen = { any = [{ list = \"staff\" }, { header = \"X-Gray\", equals = \"1\" }] }\nto = \"canary\"\n",
            "split = { by = \"user\", weights = { stable = 9000, canary = 1000 } }\n",
        ] {
            assert!(text.contains(line), "{line}\nnot in\n{text}");
        }
        assert!(round_trips(&text, &policy));
    }

    #[test]
    fn the_order_of_a_split_is_part_of_the_round_trip() {
        let policy = Policy::from_toml(POLICY).unwrap();
        let swapped =
            Policy::from_toml(&POLICY.replace("stable = 9000, canary = 1000", "canary = 1000, stable = 9000")).unwrap();
        assert_eq!(policy, swapped, "IndexMap equality ignores order");
        let text = toml::to_string(&swapped).unwrap();
        assert!(!round_trips(&text, &policy));
        assert!(round_trips(&text, &swapped));
    }
}
