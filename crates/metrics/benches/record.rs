//! What recording one request costs the request path's metrics core: the
//! latency window (a sharded lock and an HDR histogram) and a windowed
//! decision counter. Run: `cargo bench -p graygate-metrics --bench record`.

#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use graygate_metrics::{Window, WindowCounter};
use std::hint::black_box;

fn record(c: &mut Criterion) {
    let w = Window::new(0, 4);
    let mut i = 0u64;
    // Latencies spread over the histogram, time moving across slices.
    c.bench_function("window_record", |b| {
        b.iter(|| {
            i += 1;
            w.record(
                black_box(i / 64),
                black_box(100 + (i * 7919) % 50_000),
                i.is_multiple_of(100),
            );
        })
    });
    let counter = WindowCounter::default();
    c.bench_function("window_counter_add", |b| {
        b.iter(|| {
            i += 1;
            counter.add(black_box(i / 64));
        })
    });
}

criterion_group!(benches, record);
criterion_main!(benches);
