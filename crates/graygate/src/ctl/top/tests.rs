#![allow(clippy::unwrap_used)]

use super::*;

/// A `/api/v1/stats` answer: route `web`, stable (default) and a slow
/// canary with an alert, a 90/10 split; route `api` without traffic.
const STATS: &str = r#"{
  "version": 14, "generated_at_ms": 1795000000000,
  "windows": { "1m": 60, "5m": 300 },
  "thresholds": { "min_samples": 100, "p99_ratio": 1.5, "p99_min_increase_ms": 1.0, "success_margin_pp": 1.0 },
  "alert_window": "1m",
  "routes": [
    { "route": "web", "default_group": "stable",
      "groups": [
        { "group": "stable", "default": true, "in_flight": 3,
          "windows": { "1m": { "requests": 5400, "rate": 90.0, "success_rate": 0.999, "error_rate": 0.001,
                               "p50_ms": 12.1, "p95_ms": 30.2, "p99_ms": 41.0, "max_ms": 95.3, "share": 0.9 } } },
        { "group": "canary", "default": false, "in_flight": 1,
          "windows": { "1m": { "requests": 600, "rate": 10.0, "success_rate": 0.9985, "error_rate": 0.0015,
                               "p50_ms": 13.3, "p95_ms": 90.0, "p99_ms": 128.0, "max_ms": 210.0, "share": 0.1 } },
          "vs_default": { "1m": { "verdict": "degraded", "samples": 600, "baseline_samples": 5400,
                                  "p50_ratio": 1.1, "p99_ratio": 3.12, "success_rate_diff_pp": -0.05,
                                  "breaches": [{ "kind": "latency", "value": 128.0, "baseline": 41.0, "limit": 61.5 }] } } }
      ],
      "splits": [{ "rule": "ramp", "groups": [
        { "group": "stable", "target": 0.9, "decisions": { "1m": 5398 }, "observed": { "1m": 0.8998 } },
        { "group": "canary", "target": 0.1, "decisions": { "1m": 601 }, "observed": { "1m": 0.1002 } } ] }] },
    { "route": "api", "default_group": "stable",
      "groups": [
        { "group": "stable", "default": true, "in_flight": 0,
          "windows": { "1m": { "requests": 0, "rate": 0.0, "success_rate": null, "error_rate": null,
                               "p50_ms": null, "p95_ms": null, "p99_ms": null, "max_ms": null, "share": null } } }
      ],
      "splits": [] }
  ],
  "alerts": [{ "route": "web", "group": "canary", "baseline": "stable", "kind": "latency",
               "value": 128.0, "baseline_value": 41.0, "limit": 61.5, "samples": 600,
               "window_secs": 60, "since_ms": 1794999990000 }]
}"#;

fn stats() -> Stats {
    serde_json::from_str(STATS).unwrap()
}

#[test]
fn a_screen_shows_every_group_beside_its_default_with_the_alerts() {
    let screen = render(&stats(), "1m", "http://127.0.0.1:9180");
    let lines: Vec<&str> = screen.lines().collect();
    assert_eq!(
        lines[0],
        "graygate top — http://127.0.0.1:9180 — policy version 14 — window 1m — 1 alert"
    );
    let row = |name: &str| {
        *lines
            .iter()
            .find(|l| l.starts_with(&format!("  {name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{screen}"))
    };
    let stable = row("stable *");
    for cell in ["90.0", "99.90%", "12.1", "41.0", "90.0%", "90.0/90.0%"] {
        assert!(stable.contains(cell), "{cell} not in {stable:?}");
    }
    let canary = row("canary");
    for cell in [
        "10.0",
        "99.85%",
        "13.3",
        "128.0",
        "10.0%",
        "10.0/10.0%",
        "p99 ×3.12  -0.05pp",
        "ALERT latency",
    ] {
        assert!(canary.contains(cell), "{cell} not in {canary:?}");
    }
    assert!(lines.contains(&"web  (default stable)"), "{screen}");
    assert!(lines.contains(&"api  (default stable)"), "{screen}");
    assert!(
        screen.contains(
            "  web/canary latency: p99 128.0 ms against 41.0 ms (limit 61.5 ms) vs stable, 600 samples in 60 s"
        ),
        "{screen}"
    );
}

#[test]
fn a_group_without_traffic_shows_dashes_and_columns_stay_aligned() {
    let screen = render(&stats(), "1m", "x");
    let header = screen.lines().find(|l| l.starts_with("ROUTE / GROUP")).unwrap();
    let api_stable = screen.lines().filter(|l| l.starts_with("  stable *")).nth(1).unwrap();
    assert!(
        api_stable.contains(" 0.0 ") && api_stable.contains(" - "),
        "{api_stable:?}"
    );
    // Right-aligned numeric columns end where their headers end.
    let end = |l: &str, s: &str| l.find(s).map(|i| i + s.len());
    let web_stable = screen.lines().find(|l| l.starts_with("  stable *")).unwrap();
    assert_eq!(end(header, "REQ/S"), end(web_stable, "90.0"));
    assert_eq!(end(header, "P99 ms"), end(web_stable, "41.0"));
}

#[test]
fn another_window_without_figures_renders_dashes() {
    let screen = render(&stats(), "5m", "x");
    let canary = screen.lines().find(|l| l.starts_with("  canary")).unwrap();
    let cells: Vec<&str> = canary.split_whitespace().collect();
    assert_eq!(&cells[1..6], ["-"; 5], "{canary:?}");
    assert!(
        canary.ends_with("ALERT latency"),
        "the alert stays whatever the window: {canary:?}"
    );
}
