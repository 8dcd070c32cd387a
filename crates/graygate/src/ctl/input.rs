//! What the user typed or pointed at, checked before anything is sent: a
//! policy file (compiled locally, errors with their lines), split weights in
//! percent, list ids from arguments and files, a request to explain.

use super::{CtlError, RemoteExplain};
use graygate_policy::{Policy, PolicyError};
use serde_json::{Map, Value, json};
use std::io::Read;
use std::path::Path;

/// Reads a policy file (TOML, or JSON when it ends in `.json`) and compiles it
/// as the gateway would; every error as `FILE:LINE: path: message`.
pub(crate) fn policy_file(path: &Path) -> Result<Policy, CtlError> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| CtlError::Local(format!("{shown}: {e}")))?;
    let json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let (policy, compiled) = if json {
        (Policy::from_json(&bytes), graygate_policy::compile_json(&bytes, 1))
    } else {
        let src = String::from_utf8(bytes).map_err(|_| CtlError::Local(format!("{shown}: not UTF-8 text")))?;
        (Policy::from_toml(&src), graygate_policy::compile_toml(&src, 1))
    };
    let located = |e: PolicyError| CtlError::Local(located(&shown.to_string(), &e));
    compiled.map_err(located)?;
    policy.map_err(located)
}

/// `FILE:LINE: path: message`, one line per error, like `graygate check`.
fn located(file: &str, e: &PolicyError) -> String {
    e.errors
        .iter()
        .map(|fe| {
            let at = fe.line.map(|l| format!(":{l}")).unwrap_or_default();
            if fe.path.0.is_empty() {
                format!("{file}{at}: {}", fe.message)
            } else {
                format!("{file}{at}: {}: {}", fe.path, fe.message)
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `GROUP=PERCENT` arguments as basis points, in the order given; they must
/// sum to 100 %.
pub(crate) fn weights(args: &[String]) -> Result<Map<String, Value>, CtlError> {
    let mut out = Map::new();
    let mut sum = 0u32;
    for arg in args {
        let (group, value) = arg
            .split_once('=')
            .filter(|(g, _)| !g.trim().is_empty())
            .ok_or_else(|| CtlError::Local(format!("{arg:?}: expected GROUP=PERCENT, e.g. canary=10")))?;
        let group = group.trim();
        let bp = basis_points(value.trim()).map_err(|why| CtlError::Local(format!("{arg:?}: {why}")))?;
        if out.insert(group.to_owned(), json!(bp)).is_some() {
            return Err(CtlError::Local(format!("group {group:?} is given twice")));
        }
        sum += bp;
    }
    if sum != 10_000 {
        return Err(CtlError::Local(format!(
            "the weights sum to {} ({sum} bp), not 100%: the split's groups must add up to exactly 100% \
             (groups left out get 0)",
            percent(sum)
        )));
    }
    Ok(out)
}

/// `10`, `10%`, `0.5`, `12.34` (percent) or `50bp` as basis points (at most 10000).
fn basis_points(v: &str) -> Result<u32, String> {
    let bp = if let Some(n) = v.strip_suffix("bp") {
        n.trim()
            .parse::<u32>()
            .map_err(|_| format!("{v:?} is not a whole number of basis points"))?
    } else {
        let n = v.strip_suffix('%').unwrap_or(v).trim();
        let (whole, frac) = n.split_once('.').unwrap_or((n, ""));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || !(frac.is_empty() || digits(frac)) || n.ends_with('.') {
            return Err(format!("{v:?} is not a percentage such as 10, 2.5 or 0.25 (or 50bp)"));
        }
        if frac.len() > 2 {
            return Err(format!(
                "{v:?} has more than two decimals: the finest step is 0.01% (1bp)"
            ));
        }
        let whole: u32 = whole.parse().map_err(|_| format!("{v:?} is too large"))?;
        let frac: u32 = format!("{frac:0<2}").parse().unwrap_or(0);
        whole.saturating_mul(100).saturating_add(frac)
    };
    if bp > 10_000 {
        return Err(format!("{v:?} is more than 100%"));
    }
    Ok(bp)
}

/// Basis points as a percentage: `10%`, `0.5%`, `12.34%`.
pub(crate) fn percent(bp: u32) -> String {
    let (whole, frac) = (bp / 100, bp % 100);
    if frac == 0 {
        format!("{whole}%")
    } else {
        let frac = format!("{frac:02}");
        format!("{whole}.{}%", frac.trim_end_matches('0'))
    }
}

/// Ids from the arguments, then from `file` (one per line; blank lines and
/// `#` comments skipped; `-` is stdin).
pub(crate) fn ids(args: &[String], file: Option<&Path>) -> Result<Vec<String>, CtlError> {
    let mut ids: Vec<String> = Vec::with_capacity(args.len());
    for id in args {
        let id = id.trim();
        if id.is_empty() {
            return Err(CtlError::Local("an id given as an argument is empty".into()));
        }
        ids.push(id.to_owned());
    }
    if let Some(path) = file {
        let text = if path == Path::new("-") {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| CtlError::Local(format!("reading ids from stdin: {e}")))?;
            s
        } else {
            std::fs::read_to_string(path).map_err(|e| CtlError::Local(format!("{}: {e}", path.display())))?
        };
        ids.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    if ids.is_empty() {
        return Err(CtlError::Local(
            "no ids given: pass them as arguments or with --file".into(),
        ));
    }
    Ok(ids)
}

/// The `POST /api/v1/explain` body for a request described like `curl`.
pub(crate) fn explain_request(args: &RemoteExplain) -> Result<Value, CtlError> {
    let mut url = args.url.clone();
    for q in &args.queries {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(q);
    }
    let mut body = Map::new();
    body.insert("url".into(), json!(url));
    if let Some(m) = &args.method {
        body.insert("method".into(), json!(m));
    }
    let mut headers = Map::new();
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .filter(|(n, _)| !n.trim().is_empty())
            .ok_or_else(|| CtlError::Local(format!("invalid header {h:?}: expected `Name: value`")))?;
        headers.insert(name.trim().to_owned(), json!(value.trim()));
    }
    let mut cookies = Map::new();
    for c in &args.cookies {
        let (name, value) = pair(c, "cookie", "name=value")?;
        cookies.insert(name.to_owned(), json!(value));
    }
    let mut lookups = Map::new();
    for l in &args.lookups {
        let (key, value) = pair(l, "lookup", "key=value, or key= for a missing key")?;
        let value = if value.is_empty() { Value::Null } else { json!(value) };
        lookups.insert(key.to_owned(), value);
    }
    for (name, map) in [("headers", headers), ("cookies", cookies), ("lookups", lookups)] {
        if !map.is_empty() {
            body.insert(name.into(), Value::Object(map));
        }
    }
    if let Some(ip) = args.ip {
        body.insert("ip".into(), json!(ip.to_string()));
    }
    if let Some(d) = &args.data {
        body.insert("body".into(), json!(d));
    }
    Ok(Value::Object(body))
}

fn pair<'a>(s: &'a str, what: &str, expected: &str) -> Result<(&'a str, &'a str), CtlError> {
    s.split_once('=')
        .map(|(k, v)| (k.trim(), v.trim()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| CtlError::Local(format!("invalid {what} {s:?}: expected {expected}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn percentages_become_exact_basis_points() {
        for (text, bp) in [
            ("10", 1000),
            ("10%", 1000),
            ("0.5", 50),
            ("0.05", 5),
            ("12.34", 1234),
            ("100", 10_000),
            ("0", 0),
            ("50bp", 50),
            ("10000bp", 10_000),
        ] {
            assert_eq!(basis_points(text), Ok(bp), "{text}");
        }
        for bad in [
            "",
            "x",
            "-1",
            "1.234",
            "101",
            "10001bp",
            "1.",
            ".5",
            "1e2",
            "0.5bp",
            "99999999999",
        ] {
            assert!(basis_points(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn weights_keep_their_order_and_must_sum_to_a_hundred_percent() {
        let w = weights(&strings(&["stable=99.5", "canary=50bp"])).unwrap();
        assert_eq!(Value::Object(w).to_string(), r#"{"stable":9950,"canary":50}"#);
        let err = weights(&strings(&["stable=90", "canary=5"])).unwrap_err().to_string();
        assert!(err.contains("sum to 95% (9500 bp), not 100%"), "{err}");
        assert!(weights(&strings(&["stable=50", "stable=50"])).is_err());
        assert!(weights(&strings(&["=100"])).is_err());
        assert!(weights(&strings(&["stable"])).is_err());
    }

    #[test]
    fn percent_is_printed_without_trailing_zeros() {
        assert_eq!(percent(1000), "10%");
        assert_eq!(percent(50), "0.5%");
        assert_eq!(percent(1234), "12.34%");
    }

    #[test]
    fn the_explain_body_has_only_what_was_given() {
        let args = RemoteExplain {
            url: "/cart".into(),
            headers: strings(&["X-User-ID: 42"]),
            cookies: strings(&["uid=7"]),
            queries: strings(&["a=1", "b=2"]),
            ip: Some("10.1.2.3".parse().unwrap()),
            method: None,
            data: None,
            lookups: strings(&["gray:42=1", "tier:42="]),
        };
        assert_eq!(
            explain_request(&args).unwrap(),
            json!({
                "url": "/cart?a=1&b=2",
                "headers": { "X-User-ID": "42" },
                "cookies": { "uid": "7" },
                "lookups": { "gray:42": "1", "tier:42": null },
                "ip": "10.1.2.3",
            })
        );
        let bad = RemoteExplain {
            headers: strings(&["nocolon"]),
            ..args
        };
        assert!(explain_request(&bad).is_err());
    }
}
