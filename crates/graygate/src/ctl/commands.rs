//! Each subcommand: check its input, make its request, print the answer
//! (as text, or the JSON itself with `--json`).

use super::format::{self, Format};
use super::http::{Admin, segment};
use super::{CtlArgs, CtlCommand, CtlError, ListIds, ListOp, input, policy_toml};
use http::{Method, StatusCode};
use serde_json::{Value, json};

/// Runs the subcommand; what it prints.
pub(crate) async fn run(args: &CtlArgs) -> Result<String, CtlError> {
    // Each command checks its own input before it sends anything, so that a
    // bad file or argument is reported even when the admin API is down.
    let admin = Admin::new(&args.global)?;
    let raw = args.global.json;
    match &args.command {
        CtlCommand::Status => status(&admin, raw).await,
        CtlCommand::Get { version, format } => {
            let path = match version {
                Some(v) => format!("/api/v1/policy/versions/{v}"),
                None => "/api/v1/policy".to_owned(),
            };
            let answer = admin.get(&path).await?;
            match (raw, format) {
                (true, _) => pretty(&answer),
                (false, Format::Toml) => policy_toml::policy_toml(&answer, &format::policy_of(&answer)?),
                (false, Format::Json) => format::policy_json(&format::policy_of(&answer)?),
            }
        }
        CtlCommand::Apply { file, if_match } => {
            let policy = input::policy_file(file)?;
            let body =
                serde_json::to_value(&policy).map_err(|e| CtlError::Local(format!("cannot encode the policy: {e}")))?;
            let answer = admin
                .call(Method::PUT, "/api/v1/policy", Some(&body), *if_match)
                .await?;
            written(&answer, raw)
        }
        CtlCommand::SetSplit { route, rule, weights } => {
            let weights = input::weights(weights)?;
            let path = format!("/api/v1/routes/{}/splits/{}", segment(route), segment(rule));
            let answer = admin
                .call(Method::PUT, &path, Some(&json!({ "weights": weights })), None)
                .await?;
            written(&answer, raw)
        }
        CtlCommand::List { op } => {
            let (verb, ListIds { name, ids, file }) = match op {
                ListOp::Add(l) => ("add", l),
                ListOp::Remove(l) => ("remove", l),
            };
            let ids = input::ids(ids, file.as_deref())?;
            let path = format!("/api/v1/lists/{}/{verb}", segment(name));
            let answer = admin
                .call(Method::POST, &path, Some(&json!({ "ids": ids })), None)
                .await?;
            written(&answer, raw)
        }
        CtlCommand::History { limit } => {
            let answer = admin.get(&format!("/api/v1/policy/history?limit={limit}")).await?;
            if raw {
                pretty(&answer)
            } else {
                Ok(format::history(&answer))
            }
        }
        CtlCommand::Rollback { version } => {
            let body = json!({ "version": version });
            let answer = admin
                .call(Method::POST, "/api/v1/policy/rollback", Some(&body), None)
                .await?;
            written(&answer, raw)
        }
        CtlCommand::Top(args) => super::top::run(&admin, args, raw).await,
        CtlCommand::Explain(req) => {
            let body = input::explain_request(req)?;
            let answer = admin.call(Method::POST, "/api/v1/explain", Some(&body), None).await?;
            if raw {
                pretty(&answer)
            } else {
                Ok(format::decision(&answer))
            }
        }
    }
}

/// `/readyz` (503 with a body while no policy is loaded) and the latest
/// history entry.
async fn status(admin: &Admin, raw: bool) -> Result<String, CtlError> {
    let ready = admin.send(Method::GET, "/readyz", None, None).await?;
    if !matches!(ready.status, StatusCode::OK | StatusCode::SERVICE_UNAVAILABLE) {
        return Err(admin.refusal(ready.status, &ready.body));
    }
    let history = admin.get("/api/v1/policy/history?limit=1").await?;
    let latest = history.get("versions").and_then(|v| v.get(0));
    if raw {
        return pretty(&json!({ "readyz": ready.body, "latest": latest }));
    }
    Ok(format::status(admin.url(), &ready.body, latest))
}

fn written(answer: &Value, raw: bool) -> Result<String, CtlError> {
    if raw {
        pretty(answer)
    } else {
        Ok(format::applied(answer))
    }
}

fn pretty(v: &Value) -> Result<String, CtlError> {
    let mut s = serde_json::to_string_pretty(v).map_err(|e| CtlError::Local(format!("cannot print JSON: {e}")))?;
    s.push('\n');
    Ok(s)
}
