//! Measures propagation: from the start of a save on one store handle until
//! three other handles ("gateways", each with its own connections and
//! subscription) all hold the new version. Prints percentiles in ms.
//!
//! `cargo run --release -p graygate-store --example propagation -- REDIS_URL [WRITES]`
//! (`bench/store-propagation.sh` starts a redis-server and runs it.)

use graygate_policy::Policy;
use graygate_store::{Change, PolicyStore, RedisOptions, RedisStore};
use std::time::{Duration, Instant};

const POLICY: &str = r#"
[groups.stable]
servers = [{ addr = "127.0.0.1:8081" }]
[groups.canary]
servers = [{ addr = "127.0.0.1:8082" }]
[[routes]]
name = "all"
default = "stable"
[[routes.rules]]
name = "share"
split = { by = "user", weights = { stable = 9000, canary = 1000 } }
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: propagation REDIS_URL [WRITES]")?;
    let writes: usize = args.next().map_or(Ok(1000), |w| w.parse())?;
    let options = RedisOptions {
        prefix: format!("bench-{}:", std::process::id()),
        poll_interval: Duration::from_secs(2),
        ..RedisOptions::new(url)
    };
    let gateways: Vec<RedisStore> = (0..3)
        .map(|_| RedisStore::open(options.clone()))
        .collect::<Result<_, _>>()?;
    let mut watches: Vec<_> = gateways.iter().map(|g| g.watch()).collect();
    let admin = RedisStore::open(options)?;
    while !gateways.iter().all(|g| g.status().is_connected()) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let policy = Policy::from_toml(POLICY)?;
    let mut samples = Vec::with_capacity(writes);
    let mut version = admin.load().await?.map_or(0, |c| c.version());
    for _ in 0..writes {
        let start = Instant::now();
        version = admin
            .save(&policy, version, Change::new("bench", "propagation"))
            .await?
            .version();
        for rx in &mut watches {
            while rx.borrow_and_update().as_ref().is_none_or(|c| c.version() < version) {
                rx.changed().await?;
            }
        }
        samples.push(start.elapsed());
    }
    samples.sort_unstable();
    let pct = |p: f64| {
        let i = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1000.0
    };
    println!("| writes | p50 ms | p95 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|");
    println!(
        "| {writes} | {:.3} | {:.3} | {:.3} | {:.3} |",
        pct(0.50),
        pct(0.95),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}
