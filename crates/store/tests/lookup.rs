//! Per-user key lookups against a real `redis-server`: seed-style keys, the
//! cache's bounds, coalescing of concurrent lookups, and the timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use graygate_policy::{Lookup, Overrides, RequestAttrs};
use graygate_store::{Answer, KeyLookup, LookupOptions};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use support::bounded;
use support::policies::policy;
use support::redis::RedisServer;

fn set(server: &RedisServer, pairs: &[(&str, &str)]) {
    let mut c = server.conn();
    for (k, v) in pairs {
        redis::cmd("SET").arg(k).arg(v).query::<()>(&mut c).unwrap();
    }
}

#[tokio::test]
async fn seed_style_keys_are_read_as_they_are() {
    let server = RedisServer::start();
    set(&server, &[("gray:42", "1"), ("gray:43", "0")]);
    let lookup = KeyLookup::open(&server.url(), LookupOptions::default()).unwrap();
    assert_eq!(lookup.get("gray:42").await, Answer::Found("1".into()));
    assert_eq!(lookup.get("gray:43").await, Answer::Found("0".into()));
    assert_eq!(lookup.get("gray:44").await, Answer::Missing);

    // Through the policy: `lookup = "gray:{user}", equals = "1"` → canary.
    let compiled = graygate_policy::compile(&policy(0, 0), 1).unwrap();
    for (user, group) in [("42", "canary"), ("43", "stable"), ("44", "stable")] {
        let req = RequestAttrs::get("http://shop.example/").header("X-User-ID", user);
        let route = compiled.route(&req).unwrap();
        let answers = lookup.get_all(route.lookup_keys(&req)).await;
        let decision = route.decide(&answers.answering(&req), Overrides::default());
        assert_eq!(decision.group, group, "user {user}");
    }
    let s = lookup.stats();
    assert_eq!(
        s.redis_gets.load(Relaxed),
        3,
        "the second round was served from the cache"
    );
    assert_eq!(s.hits.load(Relaxed), 3);
    assert_eq!(s.misses.load(Relaxed), 3);
}

#[tokio::test]
async fn found_and_missing_answers_expire_on_their_own_ttls() {
    let server = RedisServer::start();
    set(&server, &[("gray:1", "1")]);
    let options = LookupOptions {
        ttl_found: Duration::from_secs(3600),
        ttl_missing: Duration::from_millis(1),
        ..LookupOptions::default()
    };
    let lookup = KeyLookup::open(&server.url(), options).unwrap();
    assert_eq!(lookup.get("gray:1").await, Answer::Found("1".into()));
    assert_eq!(lookup.get("gray:2").await, Answer::Missing);
    set(&server, &[("gray:1", "0"), ("gray:2", "1")]);
    tokio::time::sleep(Duration::from_millis(20)).await;
    // The found answer is still cached; the missing one expired and is re-read.
    assert_eq!(lookup.get("gray:1").await, Answer::Found("1".into()));
    assert_eq!(lookup.get("gray:2").await, Answer::Found("1".into()));
}

/// Fills Redis with `n` keys of `value_len`-byte values, looks them all up,
/// and checks the bounds after each maintenance run.
async fn check_bounds(max_entries: u64, max_bytes: u64, n: usize, value_len: usize) {
    let server = RedisServer::start();
    let value = "x".repeat(value_len);
    let mut c = server.conn();
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.set(format!("gray:{i}"), &value).ignore();
    }
    pipe.query::<()>(&mut c).unwrap();
    let options = LookupOptions {
        max_entries,
        max_bytes,
        timeout: Duration::from_secs(5),
        ..LookupOptions::default()
    };
    let lookup = KeyLookup::open(&server.url(), options).unwrap();
    let mut peak = (0, 0);
    for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
        let keys = chunk.iter().map(|i| format!("gray:{i}")).collect();
        let answers = lookup.get_all(keys).await;
        assert!(answers.iter().all(|(_, a)| *a == Answer::Found(value.as_str().into())));
        lookup.run_maintenance().await;
        assert!(
            lookup.entries() <= max_entries,
            "{} entries > {max_entries}",
            lookup.entries()
        );
        assert!(lookup.bytes() <= max_bytes, "{} bytes > {max_bytes}", lookup.bytes());
        peak = (peak.0.max(lookup.entries()), peak.1.max(lookup.bytes()));
    }
    assert!(peak.0 > 0, "the cache was used");
    assert_eq!(lookup.stats().lookups.load(Relaxed), n as u64);
}

#[tokio::test]
async fn the_cache_never_holds_more_entries_than_its_bound() {
    check_bounds(100, 1 << 20, 1000, 1).await;
}

#[tokio::test]
async fn the_cache_never_holds_more_bytes_than_its_bound() {
    // ~1 KiB values: the byte bound (≈ 19 entries) bites long before 1000 entries.
    check_bounds(1000, 20_000, 400, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_of_one_key_send_one_get() {
    let server = RedisServer::start();
    set(&server, &[("gray:7", "1")]);
    let options = LookupOptions {
        timeout: Duration::from_secs(10),
        ..LookupOptions::default()
    };
    let lookup = KeyLookup::open(&server.url(), options).unwrap();
    assert_eq!(lookup.get("warm-up").await, Answer::Missing);
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query::<()>(&mut server.conn())
        .unwrap();
    // Hold every client's commands so that all lookups queue on one GET.
    redis::cmd("CLIENT")
        .arg(&["PAUSE", "300", "ALL"])
        .query::<()>(&mut server.conn())
        .unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let lookup = lookup.clone();
            tokio::spawn(async move { lookup.get("gray:7").await })
        })
        .collect();
    for t in tasks {
        assert_eq!(bounded("lookup", t).await.unwrap(), Answer::Found("1".into()));
    }
    assert_eq!(server.calls("get"), 1, "one GET reached Redis");
    assert_eq!(lookup.stats().redis_gets.load(Relaxed), 2, "warm-up + one");
}

#[tokio::test]
async fn a_lookup_redis_does_not_answer_in_time_is_unavailable_and_counted() {
    let server = RedisServer::start();
    set(&server, &[("gray:9", "1")]);
    let options = LookupOptions {
        timeout: Duration::from_millis(50),
        ..LookupOptions::default()
    };
    let lookup = KeyLookup::open(&server.url(), options).unwrap();
    // Connect first, so the pause catches the GET rather than the handshake.
    bounded("warm-up", async {
        while lookup.get("warm-up").await != Answer::Missing {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // Redis holds every client's commands for a second (CLIENT UNPAUSE would
    // itself be held), far longer than the 50 ms timeout.
    redis::cmd("CLIENT")
        .arg(&["PAUSE", "1000", "ALL"])
        .query::<()>(&mut server.conn())
        .unwrap();
    let answer = bounded("lookup", lookup.get("gray:9")).await;
    assert_eq!(answer, Answer::Unavailable);
    assert_eq!(answer.as_lookup(), Lookup::Unavailable);
    assert_eq!(lookup.stats().timeouts.load(Relaxed), 1);
    // The failure was not cached: once Redis answers again, so does the lookup.
    bounded("recovery", async {
        while lookup.get("gray:9").await != Answer::Found("1".into()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn with_redis_down_lookups_are_unavailable_and_counted() {
    let mut server = RedisServer::start();
    let lookup = KeyLookup::open(&server.url(), LookupOptions::default()).unwrap();
    assert_eq!(lookup.get("gray:1").await, Answer::Missing);
    server.kill();
    for i in 0..5 {
        assert_eq!(
            bounded("lookup", lookup.get(&format!("gray:x{i}"))).await,
            Answer::Unavailable
        );
    }
    let s = lookup.stats();
    assert_eq!(s.timeouts.load(Relaxed) + s.errors.load(Relaxed), 5);
    assert_eq!(s.unavailable.load(Relaxed), 5);
    // A cached answer is still served.
    assert_eq!(lookup.get("gray:1").await, Answer::Missing);
}

#[tokio::test]
async fn a_redis_outage_does_not_move_a_user_whose_answer_was_cached() {
    let mut server = RedisServer::start();
    set(&server, &[("gray:42", "1")]);
    let options = LookupOptions {
        ttl_found: Duration::from_millis(1),
        stale_if_error: Duration::from_secs(3600),
        ..LookupOptions::default()
    };
    let lookup = KeyLookup::open(&server.url(), options).unwrap();
    assert_eq!(lookup.get("gray:42").await, Answer::Found("1".into()));
    server.kill();
    tokio::time::sleep(Duration::from_millis(10)).await; // past the 1 ms TTL
    for _ in 0..3 {
        assert_eq!(
            bounded("lookup", lookup.get("gray:42")).await,
            Answer::Found("1".into())
        );
    }
    assert_eq!(lookup.stats().stale.load(Relaxed), 3);
    assert_eq!(
        lookup.get("gray:43").await,
        Answer::Unavailable,
        "never seen: nothing to serve"
    );

    // Back up: the next lookup refreshes the entry.
    server.restart();
    set(&server, &[("gray:42", "0")]);
    bounded("refresh after restart", async {
        while lookup.get("gray:42").await != Answer::Found("0".into()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// During an outage, a stale key is not refreshed on every request (each
/// would wait up to the lookup timeout): after a failure, stale answers are
/// served without asking Redis for `REFRESH_BACKOFF`; then one lookup probes.
#[tokio::test]
async fn during_an_outage_stale_answers_do_not_wait_on_redis() {
    let mut server = RedisServer::start();
    set(&server, &[("gray:1", "1"), ("gray:2", "1")]);
    let options = LookupOptions {
        ttl_found: Duration::from_millis(1),
        stale_if_error: Duration::from_secs(3600),
        ..LookupOptions::default()
    };
    let lookup = KeyLookup::open(&server.url(), options).unwrap();
    assert_eq!(lookup.get("gray:1").await, Answer::Found("1".into()));
    assert_eq!(lookup.get("gray:2").await, Answer::Found("1".into()));
    server.kill();
    tokio::time::sleep(Duration::from_millis(10)).await; // both stale now
    // The first refresh asks Redis and fails (or times out): stale answer.
    assert_eq!(bounded("first", lookup.get("gray:1")).await, Answer::Found("1".into()));
    let s = lookup.stats();
    let asked = s.redis_gets.load(Relaxed);
    let failures = s.timeouts.load(Relaxed) + s.errors.load(Relaxed);
    assert!(failures >= 1, "the refresh failed");
    // Within the back-off, every stale key is served without a request.
    let t = std::time::Instant::now();
    for _ in 0..50 {
        for key in ["gray:1", "gray:2"] {
            assert_eq!(bounded("stale", lookup.get(key)).await, Answer::Found("1".into()));
        }
    }
    // At most one probe per back-off period (the loop takes microseconds
    // with the back-off; without it, each lookup asks Redis).
    let periods = t.elapsed().as_secs_f64() / graygate_store::REFRESH_BACKOFF.as_secs_f64();
    let more = s.redis_gets.load(Relaxed) - asked;
    assert!(
        more as f64 <= periods.ceil() + 1.0,
        "{more} requests to Redis in {:?} of outage",
        t.elapsed()
    );
    assert_eq!(s.stale.load(Relaxed), 101);

    // Back up: after the back-off one lookup asks again, and succeeds.
    server.restart();
    set(&server, &[("gray:1", "0")]);
    bounded("refresh after the back-off", async {
        while lookup.get("gray:1").await != Answer::Found("0".into()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(s.redis_gets.load(Relaxed) > asked);
}

#[tokio::test]
async fn without_stale_if_error_an_expired_answer_is_not_served() {
    let mut server = RedisServer::start();
    set(&server, &[("gray:42", "1")]);
    let options = LookupOptions {
        ttl_found: Duration::from_millis(1),
        stale_if_error: Duration::ZERO,
        ..LookupOptions::default()
    };
    let lookup = KeyLookup::open(&server.url(), options).unwrap();
    assert_eq!(lookup.get("gray:42").await, Answer::Found("1".into()));
    server.kill();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(bounded("lookup", lookup.get("gray:42")).await, Answer::Unavailable);
}
