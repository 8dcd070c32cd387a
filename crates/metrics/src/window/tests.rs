#![allow(clippy::unwrap_used)]

use super::*;

/// The exact quantile HDR histograms report: the ⌈q·n⌉-th smallest sample.
fn exact(sorted: &[u64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1] as f64 / 1000.0
}

#[test]
fn quantiles_are_within_one_percent_of_the_exact_samples() {
    let w = Window::new(0, 1);
    // A long tail: 1 µs to ~2 s, deterministic.
    let mut samples: Vec<u64> = (1..=5000u64).map(|i| (i * i * 7919) % 2_000_000 + 1).collect();
    for &s in &samples {
        w.record(1_000, s, false);
    }
    samples.sort_unstable();
    let sum = w.summary(1_000, 60);
    assert_eq!(sum.requests, 5000);
    for q in [0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
        let (got, want) = (sum.quantile_ms(q).unwrap(), exact(&samples, q));
        assert!(got >= want && got <= want * 1.01 + 0.001, "q{q}: {got} vs exact {want}");
    }
    let max = sum.max_ms().unwrap();
    let want = *samples.last().unwrap() as f64 / 1000.0;
    assert!(max >= want && max <= want * 1.01, "{max} vs {want}");
}

#[test]
fn a_one_minute_window_forgets_what_is_older_than_a_minute() {
    let w = Window::new(0, 1);
    w.record(5_000, 100, true);
    w.record(65_000, 100, false);
    assert_eq!(w.summary(65_000, 60).requests, 1, "the first slice left the minute");
    assert_eq!(w.summary(65_000, 300).requests, 2, "five minutes keep both");
    assert_eq!(w.summary(65_000, 300).errors, 1);
    // Five minutes later the ring slot of the first request is reused.
    w.record(315_000, 100, false);
    assert_eq!(w.summary(315_000, 300).requests, 2);
}

#[test]
fn shards_written_by_different_threads_are_merged() {
    let w = std::sync::Arc::new(Window::new(0, 4));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let w = w.clone();
            std::thread::spawn(move || {
                for i in 0..1000u64 {
                    w.record(2_000, 1000 + t * 1000 + i % 10, i % 100 == 0);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = w.summary(2_000, 60);
    assert_eq!((s.requests, s.errors), (4000, 40));
    assert!((s.success_rate().unwrap() - 0.99).abs() < 1e-9);
}

#[test]
fn rates_use_the_time_covered_not_more_than_the_series_lived() {
    let w = Window::new(100_000, 1);
    for _ in 0..50 {
        w.record(105_000, 10, false);
    }
    let s = w.summary(105_000, 60);
    assert_eq!(s.covered_ms, 5_000);
    assert!((s.rate() - 10.0).abs() < 1e-9);
    // Long after: five whole slices and 5 s of the current one.
    assert_eq!(w.summary(1_005_000, 60).covered_ms, 55_000);
}

#[test]
fn window_counters_count_per_slice_and_expire() {
    let c = WindowCounter::default();
    for t in [1_000, 2_000, 15_000] {
        c.add(t);
    }
    assert_eq!(c.sum(15_000, 60), 3);
    assert_eq!(c.sum(75_000, 60), 0, "all older than a minute");
    assert_eq!(c.sum(75_000, 300), 3);
    c.add(311_000); // reuses the slot of 1_000 and 2_000; 15_000 is too old now
    assert_eq!(c.sum(311_000, 300), 1);
}

#[test]
fn an_empty_summary_has_no_quantiles() {
    let s = Window::new(0, 2).summary(0, 60);
    assert_eq!(s.quantile_ms(0.99), None);
    assert_eq!(s.success_rate(), None);
}
