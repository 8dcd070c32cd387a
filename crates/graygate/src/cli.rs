//! Command-line parsing and the commands.

use crate::ctl::{self, CtlArgs};
use crate::demo;
use crate::explain::{self, ExplainArgs};
use clap::{Parser, Subcommand};
use graygate_proxy::Config;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// graygate: a gray-release (canary) gateway.
#[derive(Debug, Parser)]
#[command(name = "graygate", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway. SIGHUP reloads the file; SIGTERM drains and stops.
    Serve {
        /// The configuration file (policy and `[gateway]` table).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a configuration file; errors name the line and the field. Exit 1 when invalid.
    Check {
        /// The configuration file.
        file: PathBuf,
    },
    /// Show which route, group and rule would serve a request, and why (offline).
    Explain(ExplainArgs),
    /// Run a self-contained demo: the gateway on 127.0.0.1:8080 with two demo backends.
    Demo {
        /// Where the gateway listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Where the admin API listens.
        #[arg(long, default_value = "127.0.0.1:9180")]
        admin: std::net::SocketAddr,
    },
    /// Talk to a running gateway's admin API: status, get, apply, set-split, list, history, rollback, explain.
    Ctl(CtlArgs),
}

/// Runs the command line; the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match cli.command {
        Command::Serve { config } => serve(&config),
        Command::Check { file } => check(&file),
        Command::Explain(args) => explain::run(&args),
        Command::Demo { listen, admin } => demo::run(listen, admin),
        Command::Ctl(args) => ctl::run(&args),
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("GRAYGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Reads and checks a configuration file; errors are printed as
/// `FILE:LINE: field: message`.
pub fn load(path: &Path) -> Result<Config, String> {
    load_as(path, 1)
}

/// [`load`], with the policy stamped as `version`.
fn load_as(path: &Path, version: u64) -> Result<Config, String> {
    let src = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Config::from_toml(&src, version).map_err(|e| {
        e.errors
            .iter()
            .map(|fe| {
                let at = fe.line.map(|l| format!(":{l}")).unwrap_or_default();
                if fe.path.0.is_empty() {
                    format!("{}{at}: {}", path.display(), fe.message)
                } else {
                    format!("{}{at}: {}: {}", path.display(), fe.path, fe.message)
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn check(path: &Path) -> ExitCode {
    match load(path) {
        Ok(c) => {
            let (groups, routes) = (c.policy.groups().len(), c.policy.policy().routes.len());
            let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
            println!(
                "{}: ok ({}, {})",
                path.display(),
                plural(groups, "group"),
                plural(routes, "route")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// A multi-threaded runtime with `workers` threads (0: one per core).
pub fn runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    // One worker: tokio's current-thread scheduler, without the work-stealing
    // machinery a single thread cannot use.
    let mut b = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    if workers > 1 {
        b.worker_threads(workers);
    }
    b.enable_all().thread_name("graygate-worker").build()
}

fn serve(path: &Path) -> ExitCode {
    // Version 0: the file's policy serves only until the store has one.
    let config = match load_as(path, 0) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match runtime(config.settings.raw.workers) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        let running = crate::serve::start(config, Some(path)).await?;
        let addr = running.server.local_addr().map_err(|e| e.to_string())?;
        tracing::info!(%addr, config = %path.display(), "graygate listening");
        running.run().await.map_err(|e| e.to_string())
    });
    finish(rt, result)
}

/// Stops the runtime and turns a run's result into the exit code; in-flight
/// upgraded connections past the drain deadline are dropped here.
pub fn finish(rt: tokio::runtime::Runtime, result: Result<(), String>) -> ExitCode {
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
