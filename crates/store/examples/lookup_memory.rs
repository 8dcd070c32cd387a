//! Pushes many distinct user ids through [`KeyLookup`] and reports the peak
//! resident memory against the cache's configured bound: the cache must stay
//! within its bound however many ids pass through it.
//!
//! `cargo run --release -p graygate-store --example lookup_memory -- REDIS_URL [IDS] [MAX_BYTES]`
//! (`bench/lookup-memory.sh` starts a redis-server and runs it.) One id in
//! 100 has a `gray:<id>` key set to `1`; the others are missing.

use graygate_store::{Answer, KeyLookup, LookupOptions};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: lookup_memory REDIS_URL [IDS] [MAX_BYTES]")?;
    let ids: u64 = args.next().map_or(Ok(10_000_000), |n| n.parse())?;
    let max_bytes: u64 = args.next().map_or(Ok(64 << 20), |n| n.parse())?;

    // Seed 1 % of the ids, in pipelined batches.
    let client = redis::Client::open(url.as_str())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut pipe = redis::pipe();
    for id in (0..ids).step_by(100) {
        pipe.set(format!("gray:{id}"), "1").ignore();
        if pipe.len() >= 10_000 {
            pipe.query_async::<()>(&mut conn).await?;
            pipe = redis::pipe();
        }
    }
    if !pipe.is_empty() {
        pipe.query_async::<()>(&mut conn).await?;
    }

    let options = LookupOptions {
        max_bytes,
        max_entries: 1_000_000,
        timeout: Duration::from_millis(200),
        ttl_found: Duration::from_secs(300),
        ttl_missing: Duration::from_secs(300),
        ..LookupOptions::default()
    };
    let lookup = KeyLookup::open(&url, options)?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let base_kib = proc_status_kib("VmRSS:");
    let start = Instant::now();
    let batch = 512u64;
    let mut found = 0u64;
    let mut max_entries_seen = 0;
    let mut max_bytes_seen = 0;
    for first in (0..ids).step_by(batch as usize) {
        let keys = (first..(first + batch).min(ids))
            .map(|id| format!("gray:{id}"))
            .collect();
        let answers = lookup.get_all(keys).await;
        found += answers.iter().filter(|(_, a)| matches!(a, Answer::Found(_))).count() as u64;
        if first % (batch * 1000) == 0 {
            lookup.run_maintenance().await;
            max_entries_seen = max_entries_seen.max(lookup.entries());
            max_bytes_seen = max_bytes_seen.max(lookup.bytes());
        }
    }
    lookup.run_maintenance().await;
    let secs = start.elapsed().as_secs_f64();
    let peak_kib = proc_status_kib("VmHWM:");
    let s = lookup.stats();
    println!(
        "| ids | lookups/s | found | unavailable | cache bound MiB | max cached MiB | max entries | base RSS MiB | peak RSS MiB | peak − base MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {ids} | {:.0} | {found} | {} | {:.1} | {:.1} | {max_entries_seen} | {:.1} | {:.1} | {:.1} |",
        ids as f64 / secs,
        s.timeouts.load(Relaxed) + s.errors.load(Relaxed),
        max_bytes as f64 / 1048576.0,
        max_bytes_seen.max(lookup.bytes()) as f64 / 1048576.0,
        base_kib as f64 / 1024.0,
        peak_kib as f64 / 1024.0,
        (peak_kib.saturating_sub(base_kib)) as f64 / 1024.0,
    );
    Ok(())
}
