//! `graygate explain`: the decision for a request described on the command
//! line, from the same engine the gateway runs, without sending anything.
//!
//! The request is described the way `curl` would send it: `-H` headers,
//! `--cookie`, `--data` (a form body unless a `Content-Type` header says
//! otherwise), `--ip` for the client address after trusted-proxy resolution.

use crate::cli::load;
use clap::Args;
use graygate_policy::{Overrides, RequestAttrs};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// The request to explain.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The configuration file.
    #[arg(long, short)]
    pub config: PathBuf,
    /// A request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,
    /// A cookie, `name=value` (repeatable).
    #[arg(long = "cookie")]
    pub cookies: Vec<String>,
    /// A query parameter, `name=value`, added to the URL's (repeatable).
    #[arg(long = "query")]
    pub queries: Vec<String>,
    /// The client IP address.
    #[arg(long)]
    pub ip: Option<IpAddr>,
    /// The method. Default GET, or POST with --data.
    #[arg(long, short = 'X')]
    pub method: Option<String>,
    /// A request body.
    #[arg(long, short = 'd')]
    pub data: Option<String>,
    /// The URL, e.g. `http://shop.example.com/api/cart?x=1` or `/api/cart`.
    pub url: String,
}

/// Prints the decision; exit 1 when the configuration is invalid or an
/// argument is malformed.
pub fn run(args: &ExplainArgs) -> ExitCode {
    match explain(args) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// The explanation as text.
pub fn explain(args: &ExplainArgs) -> Result<String, String> {
    let config = load(&args.config)?;
    let mut url = args.url.clone();
    for q in &args.queries {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(q);
    }
    let method = args
        .method
        .clone()
        .unwrap_or_else(|| if args.data.is_some() { "POST" } else { "GET" }.to_owned());
    let mut req = RequestAttrs::get(&url).method(&method);
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| format!("invalid header {h:?}: expected `Name: value`"))?;
        req = req.header(name.trim(), value.trim());
    }
    for c in &args.cookies {
        let (name, value) = c
            .split_once('=')
            .ok_or_else(|| format!("invalid cookie {c:?}: expected `name=value`"))?;
        req = req.cookie(name.trim(), value.trim());
    }
    if let Some(ip) = args.ip {
        req = req.ip(ip);
    }
    if let Some(data) = &args.data {
        if graygate_policy::Request::header(&req, "content-type").is_none() {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        req = req.body(data.as_bytes());
    }
    let policy = &config.policy;
    let Some(route) = policy.route(&req) else {
        return Ok(format!(
            "no route matches: the gateway answers {}\n",
            config.settings.no_route_status.as_u16()
        ));
    };
    let d = route.decide(&req, Overrides::default());
    let mut out = String::new();
    out.push_str(&format!("route:   {}\n", d.route));
    out.push_str(&format!("group:   {}\n", d.group));
    out.push_str(&format!("rule:    {}\n", d.rule));
    out.push_str(&format!("reason:  {}\n", d.reason.as_str()));
    out.push_str(&format!("version: {}\n", d.version));
    if let Some(b) = d.bucket {
        out.push_str(&format!("bucket:  {b} of 10000\n"));
    }
    if let Some((_, fb)) = route.fallback().filter(|(id, _)| *id != d.group_id) {
        out.push_str(&format!("fallback: {fb} (when every server of {} is down)\n", d.group));
    }
    if route.needs().body && args.data.is_none() {
        out.push_str("note: a rule of this route reads the body; pass it with --data\n");
    }
    if route.sticky().is_some() {
        out.push_str("note: this route is sticky; a client already pinned keeps its group\n");
    }
    Ok(out)
}
