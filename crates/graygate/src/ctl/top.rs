//! `graygate ctl top`: a live view of every route and group, redrawn in
//! place like `top` — rate, success rate, p50/p99, share of the route
//! against the split's target, the comparison with the default group, and
//! the canary alerts firing. It polls `GET /api/v1/stats`; [`render`] turns
//! one answer into one screen and is tested on a fixed answer.

use super::CtlError;
use super::http::Admin;
use clap::Args;
use graygate_metrics::{AlertKind, GroupStats, RouteStats, SplitStats, Stats, Verdict};
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

/// `ctl top`'s options.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Seconds between two refreshes.
    #[arg(long, default_value_t = 2.0, value_parser = interval)]
    pub interval: f64,
    /// The window shown: `1m` or `5m`.
    #[arg(long, default_value = "1m", value_parser = ["1m", "5m"])]
    pub window: String,
    /// Print one screen and exit (no screen clearing: for scripts and pipes).
    #[arg(long)]
    pub once: bool,
}

fn interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.2..=3600.0).contains(&v) => Ok(v),
        _ => Err("expected seconds between 0.2 and 3600".to_owned()),
    }
}

/// ANSI: cursor home, clear the screen.
const CLEAR: &str = "\x1b[H\x1b[2J";

/// Runs `top`: with `--once` (or `--json`) the one screen (or answer) it
/// prints; else redraws until interrupted.
pub(crate) async fn run(admin: &Admin, args: &TopArgs, raw: bool) -> Result<String, CtlError> {
    if raw || args.once {
        let answer = admin.get("/api/v1/stats").await?;
        if raw {
            return serde_json::to_string_pretty(&answer)
                .map(|s| s + "\n")
                .map_err(|e| CtlError::Local(e.to_string()));
        }
        return Ok(render(&parse(answer)?, &args.window, admin.url()));
    }
    let mut stdout = std::io::stdout();
    loop {
        let screen = match admin.get("/api/v1/stats").await.and_then(parse) {
            Ok(stats) => render(&stats, &args.window, admin.url()),
            // Keep redrawing through a restart of the gateway.
            Err(e) => format!("graygate top — {}\n\n{e}\n", admin.url()),
        };
        let _ = write!(stdout, "{CLEAR}{screen}");
        let _ = stdout.flush();
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs_f64(args.interval)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(String::new()),
        }
    }
}

fn parse(answer: serde_json::Value) -> Result<Stats, CtlError> {
    serde_json::from_value(answer).map_err(|e| CtlError::Transport(format!("unexpected /api/v1/stats answer: {e}")))
}

/// One screen: a header, a table per route, the alerts.
pub(crate) fn render(stats: &Stats, window: &str, admin: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "graygate top — {admin} — policy version {} — window {window} — {} alert{}",
        stats.version,
        stats.alerts.len(),
        if stats.alerts.len() == 1 { "" } else { "s" }
    );
    let _ = writeln!(
        out,
        "\n{:<24} {:>9} {:>8} {:>9} {:>9} {:>7} {:>13}  VS DEFAULT",
        "ROUTE / GROUP", "REQ/S", "SUCCESS", "P50 ms", "P99 ms", "SHARE", "SPLIT/TARGET"
    );
    for route in &stats.routes {
        let _ = writeln!(out, "{}  (default {})", route.route, route.default_group);
        let split = main_split(route, window);
        for g in &route.groups {
            row(&mut out, stats, route, g, split, window);
        }
    }
    if stats.routes.is_empty() {
        out.push_str("(no routes)\n");
    }
    if !stats.alerts.is_empty() {
        out.push_str("\nALERTS\n");
    }
    for a in &stats.alerts {
        let what = match a.kind {
            AlertKind::Latency => format!(
                "p99 {:.1} ms against {:.1} ms (limit {:.1} ms)",
                a.value, a.baseline_value, a.limit
            ),
            AlertKind::SuccessRate => format!(
                "success {:.2}% against {:.2}% (limit {:.2}%)",
                a.value, a.baseline_value, a.limit
            ),
        };
        let _ = writeln!(
            out,
            "  {}/{} {}: {what} vs {}, {} samples in {} s",
            a.route,
            a.group,
            a.kind.as_str(),
            a.baseline,
            a.samples,
            a.window_secs
        );
    }
    out
}

/// The split whose share the table shows: the one that decided most in the
/// window (the first on a tie).
fn main_split<'a>(route: &'a RouteStats, window: &str) -> Option<&'a SplitStats> {
    let decided = |s: &SplitStats| -> u64 { s.groups.iter().filter_map(|g| g.decisions.get(window)).sum() };
    route
        .splits
        .iter()
        .fold(None, |best: Option<&SplitStats>, s| match best {
            Some(b) if decided(b) >= decided(s) => Some(b),
            _ => Some(s),
        })
}

fn row(out: &mut String, stats: &Stats, route: &RouteStats, g: &GroupStats, split: Option<&SplitStats>, window: &str) {
    let w = g.windows.get(window);
    let num = |v: Option<f64>, scale: f64, prec: usize| v.map_or("-".to_owned(), |v| format!("{:.prec$}", v * scale));
    let split_cell = split
        .and_then(|s| s.groups.iter().find(|sg| sg.group == g.group))
        .map_or(String::new(), |sg| {
            let observed = sg.observed.get(window).copied().flatten();
            format!("{}/{:.1}%", num(observed, 100.0, 1), sg.target * 100.0)
        });
    let versus = match g.vs_default.get(window) {
        None => String::new(),
        Some(c) => {
            let mut v = match (c.p99_ratio, c.success_rate_diff_pp) {
                (Some(r), Some(d)) => format!("p99 ×{r:.2}  {d:+.2}pp"),
                _ => "-".to_owned(),
            };
            match c.verdict {
                Verdict::InsufficientData => v.push_str("  (few samples)"),
                Verdict::Degraded | Verdict::Healthy => {}
            }
            v
        }
    };
    let alerts: Vec<&str> = stats
        .alerts
        .iter()
        .filter(|a| a.route == route.route && a.group == g.group)
        .map(|a| match a.kind {
            AlertKind::Latency => "ALERT latency",
            AlertKind::SuccessRate => "ALERT success",
        })
        .collect();
    let name = format!("  {}{}", g.group, if g.default { " *" } else { "" });
    let mut line = String::new();
    let _ = write!(
        line,
        "{:<24} {:>9} {:>8} {:>9} {:>9} {:>7} {:>13}  {}{}{}",
        name,
        w.map_or("-".to_owned(), |w| format!("{:.1}", w.rate)),
        w.and_then(|w| w.success_rate)
            .map_or("-".to_owned(), |s| format!("{:.2}%", s * 100.0)),
        num(w.and_then(|w| w.p50_ms), 1.0, 1),
        num(w.and_then(|w| w.p99_ms), 1.0, 1),
        w.and_then(|w| w.share)
            .map_or("-".to_owned(), |s| format!("{:.1}%", s * 100.0)),
        split_cell,
        versus,
        if alerts.is_empty() || versus.is_empty() {
            ""
        } else {
            "  "
        },
        alerts.join(", "),
    );
    out.push_str(line.trim_end());
    out.push('\n');
}

#[cfg(test)]
mod tests;
