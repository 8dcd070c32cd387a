//! `graygate ctl`: a command-line client of a running gateway's admin API
//! (R14): see the status, read and apply the policy, ramp a split, change a
//! user list, read the history, roll back, explain a request.
//!
//! One command is one HTTP/1.1 request (two for `status`) over plain
//! `http://` on a current-thread runtime (`ctl/http.rs`). Everything that can be
//! checked without the gateway — a policy file, split percentages, ids — is
//! checked here first, so a mistake is reported with its line and nothing is
//! sent. Every failure is one message on stderr and exit code 1 ([`CtlError`]).
//! The manual is `docs/ctl.md`.

mod commands;
mod format;
mod http;
mod input;
mod policy_toml;
mod top;

pub use format::Format;
pub use top::TopArgs;

use clap::{Args, Subcommand};
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// `graygate ctl`: the global options and the subcommand.
#[derive(Debug, Args)]
#[command(
    after_help = "The admin API is spoken over plain http:// only; to reach a gateway on another host, \
                        put TLS in front of its admin listener or use an SSH tunnel \
                        (ssh -L 9180:127.0.0.1:9180 HOST)."
)]
pub struct CtlArgs {
    /// Where the admin API is and who is asking.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// Options every subcommand takes, before or after its name.
#[derive(Debug, Args)]
pub struct Global {
    /// The admin API's base URL (plain http:// only: use TLS in front of it or an SSH tunnel).
    #[arg(
        long,
        value_name = "URL",
        env = "GRAYGATE_ADMIN",
        default_value = "http://127.0.0.1:9180",
        global = true
    )]
    pub admin: String,
    /// The admin token, sent as `Authorization: Bearer` (needed for writes).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "GRAYGATE_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,
    /// Read the admin token from this file (its first line); wins over --token and GRAYGATE_TOKEN.
    #[arg(long, value_name = "PATH", global = true)]
    pub token_file: Option<PathBuf>,
    /// Who makes the change, recorded in the history. Default `$USER@hostname`.
    #[arg(long, value_name = "NAME", global = true)]
    pub actor: Option<String>,
    /// Print the admin API's JSON answers instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Is the gateway ready: its policy version, its store's connection, the latest change.
    Status,
    /// Print the policy (TOML by default), current or of an earlier version.
    Get {
        /// A version from the history instead of the current one.
        #[arg(long)]
        version: Option<u64>,
        /// `toml` (with a header comment) or `json` (the policy alone; both can be applied).
        #[arg(long, value_enum, default_value_t = Format::Toml)]
        format: Format,
    },
    /// Check a policy file locally, then make it the gateway's policy.
    Apply {
        /// A TOML file (a whole configuration file is fine: `[gateway]` is ignored) or a `.json` file.
        file: PathBuf,
        /// Refuse unless the current version is N (what you last read): no lost updates.
        #[arg(long, value_name = "N")]
        if_match: Option<u64>,
    },
    /// Set the weights of one split, e.g. `set-split shop ramp stable=90 canary=10`.
    SetSplit {
        /// The route's name.
        route: String,
        /// The rule's name (or its index when it has none).
        rule: String,
        /// `GROUP=PERCENT` (up to two decimals: `canary=0.5`) or `GROUP=Nbp` (basis points); they sum to 100 %.
        /// Groups of the split left out get 0.
        #[arg(required = true, value_name = "GROUP=PERCENT")]
        weights: Vec<String>,
    },
    /// Add ids to a user list or remove ids from it.
    List {
        /// Add or remove.
        #[command(subcommand)]
        op: ListOp,
    },
    /// The history of the policy, newest first.
    History {
        /// How many versions to show.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000))]
        limit: u64,
    },
    /// Make an earlier version the policy again (as a new version).
    Rollback {
        /// The version to go back to.
        version: u64,
    },
    /// Which route, group and rule the gateway's current policy picks for a request, and why.
    Explain(RemoteExplain),
    /// A live view of every route and group (rate, success, p50/p99, share vs target, alerts), like `top`.
    Top(TopArgs),
}

/// `list add` and `list remove`.
#[derive(Debug, Subcommand)]
pub enum ListOp {
    /// Add ids (the list is created when it does not exist).
    Add(ListIds),
    /// Remove ids.
    Remove(ListIds),
}

/// A list and the ids to add or remove.
#[derive(Debug, Args)]
pub struct ListIds {
    /// The list's name.
    pub name: String,
    /// Ids.
    pub ids: Vec<String>,
    /// Read more ids from a file, one per line (`#` comments and blank lines skipped; `-` is stdin).
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
}

/// A request described the way `curl` would send it.
#[derive(Debug, Args)]
pub struct RemoteExplain {
    /// The URL, e.g. `http://shop.example.com/cart?x=1` or `/cart`.
    pub url: String,
    /// A request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// A cookie, `name=value` (repeatable).
    #[arg(long = "cookie", value_name = "NAME=VALUE")]
    pub cookies: Vec<String>,
    /// A query parameter, `name=value`, added to the URL's (repeatable).
    #[arg(long = "query", value_name = "NAME=VALUE")]
    pub queries: Vec<String>,
    /// The client IP address.
    #[arg(long)]
    pub ip: Option<IpAddr>,
    /// The method. Default GET, or POST with --data.
    #[arg(short = 'X', long)]
    pub method: Option<String>,
    /// A request body (a form unless a Content-Type header says otherwise).
    #[arg(short = 'd', long)]
    pub data: Option<String>,
    /// The answer of a per-user key lookup: `key=value`, or `key=` for a missing key (repeatable).
    #[arg(long = "lookup", value_name = "KEY=VALUE")]
    pub lookups: Vec<String>,
}

/// Why a command failed; its `Display` is the whole message the user sees.
#[derive(Debug)]
pub enum CtlError {
    /// An argument or a local file is wrong; nothing was sent.
    Local(String),
    /// The admin API could not be reached or did not speak HTTP.
    Transport(String),
    /// The admin API answered with an error.
    Api {
        /// The HTTP status.
        status: u16,
        /// What it means, for the user.
        message: String,
    },
}

impl fmt::Display for CtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CtlError::Local(m) | CtlError::Transport(m) | CtlError::Api { message: m, .. } => f.write_str(m),
        }
    }
}

impl std::error::Error for CtlError {}

/// Runs one `ctl` subcommand: its output on stdout, or its error on stderr
/// and exit code 1.
pub fn run(args: &CtlArgs) -> ExitCode {
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CtlError::Local(format!("cannot start the runtime: {e}")))
        .and_then(|rt| rt.block_on(commands::run(args)));
    match result {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
