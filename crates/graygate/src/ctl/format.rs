//! The admin API's answers as text for a person: the history as a table, a
//! decision like the offline `graygate explain` prints it, times in UTC (the
//! policy as TOML is [`super::policy_toml`]).

use super::CtlError;
use graygate_policy::Policy;
use serde_json::Value;
use std::fmt::Write as _;

/// How `get` prints the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// TOML, with a header comment naming the version.
    Toml,
    /// The policy as JSON, alone.
    Json,
}

/// The policy of a `GET /api/v1/policy` answer as pretty JSON.
pub(crate) fn policy_json(policy: &Policy) -> Result<String, CtlError> {
    let mut text = serde_json::to_string_pretty(policy)
        .map_err(|e| CtlError::Local(format!("cannot write the policy as JSON: {e}")))?;
    text.push('\n');
    Ok(text)
}

/// The policy of a `GET /api/v1/policy` answer.
pub(crate) fn policy_of(answer: &Value) -> Result<Policy, CtlError> {
    let doc = answer.get("policy").cloned().unwrap_or(Value::Null);
    serde_json::from_value(doc).map_err(|e| {
        CtlError::Transport(format!(
            "the admin API sent a policy this graygate ctl cannot read (a different graygate version?): {e}"
        ))
    })
}

/// `version N by WHO at TIME: SUMMARY` of an answer or history entry.
pub(crate) fn version_line(v: &Value) -> String {
    format!(
        "version {} by {} at {}: {}",
        v.get("version").and_then(Value::as_u64).unwrap_or(0),
        str_of(v, "who"),
        v.get("when_ms").and_then(Value::as_u64).map_or_else(|| "?".into(), utc),
        str_of(v, "summary"),
    )
}

/// `applied version N: SUMMARY`, for every write; `no change: …` when the
/// write changed nothing and so made no version.
pub(crate) fn applied(answer: &Value) -> String {
    if answer.get("changed") == Some(&Value::Bool(false)) {
        return format!(
            "no change: the policy is already so at version {}\n",
            answer.get("version").and_then(Value::as_u64).unwrap_or(0)
        );
    }
    format!(
        "applied version {}: {}\n",
        answer.get("version").and_then(Value::as_u64).unwrap_or(0),
        one_line(str_of(answer, "summary")),
    )
}

/// The history as a table, newest first.
pub(crate) fn history(answer: &Value) -> String {
    let entries = answer
        .get("versions")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if entries.is_empty() {
        return "no policy has been saved yet\n".into();
    }
    let rows: Vec<[String; 4]> = entries
        .iter()
        .map(|e| {
            [
                e.get("version").and_then(Value::as_u64).unwrap_or(0).to_string(),
                e.get("when_ms").and_then(Value::as_u64).map_or_else(|| "?".into(), utc),
                one_line(str_of(e, "who")),
                one_line(str_of(e, "summary")),
            ]
        })
        .collect();
    let header = ["VERSION", "WHEN (UTC)", "WHO", "SUMMARY"];
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let (w0, w1, w2) = (width(0), width(1), width(2));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>w0$}  {:<w1$}  {:<w2$}  {}",
        header[0], header[1], header[2], header[3]
    );
    for r in &rows {
        let _ = writeln!(out, "{:>w0$}  {:<w1$}  {:<w2$}  {}", r[0], r[1], r[2], r[3]);
    }
    out
}

/// `status`: readiness, the store, the latest change.
pub(crate) fn status(url: &str, ready: &Value, latest: Option<&Value>) -> String {
    let mut out = format!("admin API: {url}\n");
    match ready.get("policy_version").and_then(Value::as_u64) {
        Some(v) => {
            let _ = writeln!(out, "policy:    version {v}");
        }
        None => {
            out.push_str("policy:    none yet: the gateway is not ready (apply one with `graygate ctl apply FILE`)\n")
        }
    }
    let store = ready.get("store");
    let connected = store.and_then(|s| s.get("connected")).and_then(Value::as_bool);
    let last_error = store.and_then(|s| s.get("last_error")).and_then(Value::as_str);
    match (connected, last_error) {
        (Some(true), _) => out.push_str("store:     connected\n"),
        (_, Some(e)) => {
            let _ = writeln!(
                out,
                "store:     NOT connected (the gateway routes on its last policy): {}",
                one_line(e)
            );
        }
        _ => out.push_str("store:     NOT connected (the gateway routes on its last policy)\n"),
    }
    if let Some(l) = latest {
        let _ = writeln!(out, "latest:    {}", one_line(&version_line(l)));
    }
    out
}

/// A decision of `POST /api/v1/explain`, laid out like the offline `graygate explain`.
pub(crate) fn decision(d: &Value) -> String {
    let version = d.get("version").and_then(Value::as_u64).unwrap_or(0);
    if d.get("route").is_none_or(Value::is_null) {
        return format!(
            "no route matches (policy version {version}): the gateway answers `no_route_status` (404 unless configured)\n"
        );
    }
    let mut out = String::new();
    for (label, key) in [
        ("route", "route"),
        ("group", "group"),
        ("rule", "rule"),
        ("reason", "reason"),
    ] {
        let _ = writeln!(out, "{label}:{:pad$}{}", "", str_of(d, key), pad = 8 - label.len());
    }
    let _ = writeln!(out, "version: {version}");
    if let Some(b) = d.get("bucket").and_then(Value::as_u64) {
        let _ = writeln!(out, "bucket:  {b} of 10000");
    }
    if let Some(fb) = d.get("fallback").and_then(Value::as_str) {
        let _ = writeln!(
            out,
            "fallback: {fb} (when every server of {} is down)",
            str_of(d, "group")
        );
    }
    if let Some(lookups) = d.get("lookups").and_then(Value::as_object) {
        for (key, v) in lookups {
            match v.as_str() {
                Some(s) => {
                    let _ = writeln!(out, "lookup:  {key} = {s:?}");
                }
                None => {
                    let _ = writeln!(out, "lookup:  {key} is missing");
                }
            }
        }
    }
    for note in d.get("notes").and_then(Value::as_array).into_iter().flatten() {
        let _ = writeln!(out, "note: {}", note.as_str().unwrap_or(""));
    }
    out
}

fn str_of<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Control characters (a newline in a summary) would break a line-based layout.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Milliseconds since the Unix epoch as `2024-05-01T12:34:56Z`.
pub(crate) fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 as (year, month, day), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`).
fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_are_utc_calendar_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_700_000_000_123), "2023-11-14T22:13:20Z");
        assert_eq!(utc(4_107_542_399_000), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn the_history_table_aligns_its_columns() {
        let answer = json!({ "versions": [
            { "version": 12, "who": "alice@ops", "when_ms": 0, "summary": "list beta: +1 ids (2 in all)" },
            { "version": 9, "who": "bob", "when_ms": 0, "summary": "first\npolicy" },
        ]});
        let table = history(&answer);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "VERSION  WHEN (UTC)            WHO        SUMMARY");
        assert_eq!(
            lines[1],
            "     12  1970-01-01T00:00:00Z  alice@ops  list beta: +1 ids (2 in all)"
        );
        assert_eq!(lines[2], "      9  1970-01-01T00:00:00Z  bob        first policy");
    }

    #[test]
    fn a_decision_reads_like_the_offline_explain() {
        let d = json!({ "route": "shop", "group": "v2", "rule": "ten-percent", "reason": "hash", "version": 3,
                        "bucket": 42, "fallback": "v1", "lookups": { "gray:7": null }, "notes": ["n"] });
        assert_eq!(
            decision(&d),
            "route:   shop\ngroup:   v2\nrule:    ten-percent\nreason:  hash\nversion: 3\nbucket:  42 of 10000\n\
             fallback: v1 (when every server of v2 is down)\nlookup:  gray:7 is missing\nnote: n\n"
        );
    }
}
