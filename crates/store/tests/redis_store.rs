//! The Redis store against a real `redis-server`: compare-and-set under
//! concurrent writers, propagation to several gateways, recovery of missed
//! pub/sub messages, Redis restarts, and fail-static start from the snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use graygate_store::{Change, PolicyStore, RedisOptions, RedisStore, StoreConfig, StoreError, StoreKind, open};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use support::policies::policy;
use support::redis::RedisServer;
use support::{bounded, wait_until};

fn options(server: &RedisServer, poll: Duration) -> RedisOptions {
    RedisOptions {
        poll_interval: poll,
        ..RedisOptions::new(server.url())
    }
}

/// Polling effectively off: only pub/sub can deliver.
const NO_POLL: Duration = Duration::from_secs(3600);

async fn wait_version(rx: &mut tokio::sync::watch::Receiver<graygate_store::Current>, version: u64) {
    bounded("watcher to reach the version", async {
        loop {
            if rx.borrow_and_update().as_ref().is_some_and(|c| c.version() >= version) {
                return;
            }
            rx.changed().await.unwrap();
        }
    })
    .await;
    assert_eq!(
        rx.borrow().as_ref().unwrap().version(),
        version,
        "never past the latest"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_get_one_winner_per_version_and_lose_no_update() {
    let server = RedisServer::start();
    const WRITERS: u64 = 6;
    const WINS_EACH: u64 = 8;
    // Each writer is its own gateway (its own store and connection).
    let stores: Vec<RedisStore> = (0..WRITERS)
        .map(|_| RedisStore::open(options(&server, NO_POLL)).unwrap())
        .collect();
    let mut tasks = Vec::new();
    for (i, store) in stores.iter().cloned().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut won = Vec::new();
            let mut conflicts = 0u64;
            while (won.len() as u64) < WINS_EACH {
                let current = store.load().await.unwrap().map_or(0, |c| c.version());
                let p = policy(u16::try_from(i).unwrap(), 0);
                match store
                    .save(&p, current, Change::new(format!("writer-{i}"), "race"))
                    .await
                {
                    Ok(saved) => {
                        assert_eq!(saved.version(), current + 1);
                        won.push(saved.version());
                    }
                    Err(StoreError::Conflict { expected, current: now }) => {
                        assert_eq!(expected, current);
                        assert!(now > expected, "a conflict names a newer version");
                        conflicts += 1;
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            (won, conflicts)
        }));
    }
    let mut all = BTreeSet::new();
    for t in tasks {
        let (won, _conflicts) = bounded("writers", t).await.unwrap();
        assert!(won.windows(2).all(|w| w[0] < w[1]), "a writer's versions increase");
        for v in won {
            assert!(all.insert(v), "version {v} won twice");
        }
    }
    let total = WRITERS * WINS_EACH;
    assert_eq!(all, (1..=total).collect(), "every version won exactly once");
    let head = stores[0].load().await.unwrap().unwrap();
    assert_eq!(head.version(), total);
    let history = stores[0].history(100).await.unwrap();
    assert_eq!(history.len(), 48, "all kept versions (history = 50 ≥ 48)");
    assert!(history.windows(2).all(|w| w[0].version > w[1].version), "newest first");
    // The document of each kept version is the one its writer saved.
    let v = &history[5];
    let stored = stores[0].get(v.version).await.unwrap().unwrap();
    let writer: u16 = v.who.trim_start_matches("writer-").parse().unwrap();
    assert_eq!(stored.policy().unwrap(), policy(writer, 0));
}

#[tokio::test]
async fn history_is_trimmed_to_the_configured_length() {
    let server = RedisServer::start();
    let store = RedisStore::open(RedisOptions {
        history: 3,
        ..options(&server, NO_POLL)
    })
    .unwrap();
    for v in 0..5 {
        store
            .save(&policy(1, 0), v, Change::new("ana", format!("step {v}")))
            .await
            .unwrap();
    }
    let h = store.history(10).await.unwrap();
    assert_eq!(h.iter().map(|m| m.version).collect::<Vec<_>>(), [5, 4, 3]);
    assert_eq!(h[0].summary, "step 4");
    assert!(store.get(2).await.unwrap().is_none());
    assert!(store.get(3).await.unwrap().is_some());
    let mut c = server.conn();
    let docs: u64 = redis::cmd("HLEN").arg("graygate:docs").query(&mut c).unwrap();
    assert_eq!(docs, 3, "trimmed documents are deleted too");
}

#[tokio::test]
async fn an_invalid_policy_is_rejected_before_reaching_redis() {
    let server = RedisServer::start();
    let store = RedisStore::open(options(&server, NO_POLL)).unwrap();
    let mut bad = policy(0, 0);
    bad.routes[0].default = "missing-group".into();
    assert!(matches!(
        store.save(&bad, 0, Change::default()).await,
        Err(StoreError::Invalid(_))
    ));
    let exists: bool = redis::cmd("EXISTS")
        .arg("graygate:policy")
        .query(&mut server.conn())
        .unwrap();
    assert!(!exists);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_reaches_three_gateways_through_pub_sub() {
    let server = RedisServer::start();
    let gateways: Vec<RedisStore> = (0..3)
        .map(|_| RedisStore::open(options(&server, NO_POLL)).unwrap())
        .collect();
    let mut watches: Vec<_> = gateways.iter().map(|g| g.watch()).collect();
    for g in &gateways {
        wait_until("gateway subscribed", || g.status().is_connected()).await;
    }
    let admin = RedisStore::open(options(&server, NO_POLL)).unwrap();
    for version in 1..=3 {
        admin
            .save(&policy(10 * version as u16, 0), version - 1, Change::default())
            .await
            .unwrap();
        for rx in &mut watches {
            wait_version(rx, version).await;
        }
    }
    let doc = &watches[2].borrow().clone().unwrap();
    assert_eq!(doc.policy().unwrap(), policy(30, 0));
    assert_eq!(doc.compile().unwrap().version(), 3);
}

/// Writes version `version` by hand, the way the Lua script does but
/// without PUBLISH: only polling can notice it.
fn write_without_publish(server: &RedisServer, version: u64, doc: &str) {
    let meta = r#"{"who":"by-hand","when_ms":1,"summary":"no publish"}"#;
    redis::cmd("HSET")
        .arg("graygate:policy")
        .arg(&["version", &version.to_string(), "doc", doc, "meta", meta])
        .query::<()>(&mut server.conn())
        .unwrap();
}

#[tokio::test]
async fn a_missed_publish_is_recovered_by_polling() {
    let server = RedisServer::start();
    let gateway = RedisStore::open(options(&server, Duration::from_millis(100))).unwrap();
    let mut rx = gateway.watch();
    let admin = RedisStore::open(options(&server, NO_POLL)).unwrap();
    admin.save(&policy(0, 0), 0, Change::default()).await.unwrap();
    wait_version(&mut rx, 1).await;

    let doc = serde_json::to_string(&policy(50, 0)).unwrap();
    write_without_publish(&server, 2, &doc);
    wait_version(&mut rx, 2).await;
    assert_eq!(rx.borrow().as_ref().unwrap().meta.who, "by-hand");
    assert_eq!(rx.borrow().as_ref().unwrap().policy().unwrap(), policy(50, 0));

    // A gateway that only had pub/sub would not have seen it.
    let deaf = RedisStore::open(options(&server, NO_POLL)).unwrap();
    let mut deaf_rx = deaf.watch();
    wait_version(&mut deaf_rx, 2).await; // it reads the head once on connecting
    write_without_publish(&server, 3, &doc);
    wait_version(&mut rx, 3).await;
    assert_eq!(deaf_rx.borrow().as_ref().unwrap().version(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_reconnect_and_catch_up_after_redis_restarts() {
    let mut server = RedisServer::start();
    let poll = Duration::from_millis(200);
    let gateways: Vec<RedisStore> = (0..3)
        .map(|_| RedisStore::open(options(&server, poll)).unwrap())
        .collect();
    let mut watches: Vec<_> = gateways.iter().map(|g| g.watch()).collect();
    let admin = RedisStore::open(options(&server, poll)).unwrap();
    admin.save(&policy(5, 0), 0, Change::default()).await.unwrap();
    for rx in &mut watches {
        wait_version(rx, 1).await;
    }

    server.save_rdb();
    server.kill();
    for g in &gateways {
        wait_until("gateway to notice redis is gone", || !g.status().is_connected()).await;
        assert!(g.status().last_error.is_some());
        // Still serving the last version.
        assert_eq!(g.watch().borrow().as_ref().unwrap().version(), 1);
    }
    assert!(admin.load().await.unwrap_err().is_transient());

    server.restart();
    // The admin's connection comes back by itself; retry until it has.
    bounded("admin write after restart", async {
        loop {
            match admin.save(&policy(10, 0), 1, Change::new("ana", "after restart")).await {
                Ok(_) => return,
                Err(e) if e.is_transient() => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await;
    for (g, rx) in gateways.iter().zip(&mut watches) {
        wait_version(rx, 2).await;
        wait_until("gateway reconnected", || g.status().is_connected()).await;
    }
}

fn redis_config(server: &RedisServer, dir: &std::path::Path) -> StoreConfig {
    StoreConfig {
        kind: StoreKind::Redis,
        dir: Some(dir.to_owned()),
        url: Some(server.url()),
        poll_interval_ms: 100,
        timeout_ms: 500,
        ..StoreConfig::default()
    }
}

#[tokio::test]
async fn a_gateway_started_while_redis_is_down_serves_its_last_snapshot() {
    let mut server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    {
        let gateway = open(&redis_config(&server, dir.path())).await.unwrap();
        let mut updates = gateway.updates.clone();
        gateway
            .store
            .save(&policy(25, 0), 0, Change::new("ana", "25%"))
            .await
            .unwrap();
        wait_version(&mut updates, 1).await;
    }
    server.kill();

    let gateway = open(&redis_config(&server, dir.path())).await.unwrap();
    let snapshot = gateway.updates.borrow().clone().expect("the last snapshot");
    assert_eq!(snapshot.version(), 1);
    assert_eq!(snapshot.meta.summary, "25%");
    assert_eq!(snapshot.compile().unwrap().policy(), &policy(25, 0));
    assert!(!gateway.store.status().is_connected());
    assert!(gateway.store.load().await.unwrap_err().is_transient());
}

#[tokio::test]
async fn a_redis_that_lost_its_data_never_moves_a_gateway_backwards() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let gateway = open(&redis_config(&server, dir.path())).await.unwrap();
    let mut updates = gateway.updates.clone();
    for v in 0..3 {
        gateway.store.save(&policy(1, 0), v, Change::default()).await.unwrap();
    }
    wait_version(&mut updates, 3).await;
    redis::cmd("FLUSHALL").query::<()>(&mut server.conn()).unwrap();
    let admin = RedisStore::open(options(&server, NO_POLL)).unwrap();
    admin.save(&policy(90, 0), 0, Change::default()).await.unwrap();
    wait_until("the regression to be reported", || {
        gateway
            .store
            .status()
            .last_error
            .is_some_and(|e| e.contains("already applied"))
    })
    .await;
    assert_eq!(updates.borrow().as_ref().unwrap().version(), 3);
    assert_eq!(updates.borrow().as_ref().unwrap().policy().unwrap(), policy(1, 0));
}

#[tokio::test]
async fn many_deployments_share_one_redis_through_prefixes() {
    let server = RedisServer::start();
    let a = RedisStore::open(RedisOptions {
        prefix: "team-a:".into(),
        ..options(&server, NO_POLL)
    })
    .unwrap();
    let b = RedisStore::open(RedisOptions {
        prefix: "team-b:".into(),
        ..options(&server, NO_POLL)
    })
    .unwrap();
    a.save(&policy(1, 0), 0, Change::default()).await.unwrap();
    a.save(&policy(2, 0), 1, Change::default()).await.unwrap();
    assert!(b.load().await.unwrap().is_none());
    let saved = b.save(&policy(3, 0), 0, Change::default()).await.unwrap();
    assert_eq!(saved.version(), 1);
    let stores: [Arc<dyn PolicyStore>; 2] = [Arc::new(a), Arc::new(b)];
    assert_eq!(stores[0].load().await.unwrap().unwrap().version(), 2);
}

#[tokio::test]
async fn the_store_and_lookups_work_over_tls_with_a_private_ca() {
    let server = RedisServer::start_tls();
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        tls_ca_file: Some(server.ca_file()),
        ..redis_config(&server, dir.path())
    };
    assert!(config.url.as_deref().unwrap().starts_with("rediss://"));
    let gateway = open(&config).await.unwrap();
    let mut updates = gateway.updates.clone();
    gateway.store.save(&policy(5, 0), 0, Change::default()).await.unwrap();
    wait_version(&mut updates, 1).await;

    redis::cmd("SET")
        .arg(&["gray:42", "1"])
        .query::<()>(&mut server.conn())
        .unwrap();
    let lookup = graygate_store::LookupConfig::default().open(&config).unwrap().unwrap();
    // The first lookups may time out while the TLS connection is set up.
    bounded("lookup over TLS", async {
        while lookup.get("gray:42").await != graygate_store::Answer::Found("1".into()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    // Without the CA, the server's certificate is not trusted.
    let untrusting = RedisStore::open(RedisOptions {
        timeout: Duration::from_millis(500),
        ..RedisOptions::new(server.url())
    })
    .unwrap();
    assert!(untrusting.load().await.unwrap_err().is_transient());
}

#[tokio::test]
async fn a_password_in_the_url_is_used_and_required() {
    let server = RedisServer::start_with_password("s3cret");
    assert!(server.url().contains(":s3cret@"));
    let store = RedisStore::open(options(&server, NO_POLL)).unwrap();
    store.save(&policy(1, 0), 0, Change::default()).await.unwrap();
    assert_eq!(store.load().await.unwrap().unwrap().version(), 1);

    let wrong = RedisStore::open(RedisOptions::new(server.url().replace("s3cret", "guess"))).unwrap();
    assert!(wrong.load().await.unwrap_err().is_transient());
    wait_until("the failure to show in the status", || {
        wrong.status().last_error.is_some()
    })
    .await;
    assert!(!wrong.status().is_connected());
}

#[tokio::test]
async fn polling_an_unchanged_store_reads_only_the_version() {
    let server = RedisServer::start();
    let gateway = RedisStore::open(options(&server, Duration::from_millis(10))).unwrap();
    let mut rx = gateway.watch();
    // A large document: re-reading it on every poll would cost 100s of KB.
    gateway.save(&policy(5, 20_000), 0, Change::default()).await.unwrap();
    wait_version(&mut rx, 1).await;
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query::<()>(&mut server.conn())
        .unwrap();
    wait_until("several polls", || server.calls("hget") >= 5).await;
    assert_eq!(server.calls("hmget"), 0, "the document was not read again");
}
