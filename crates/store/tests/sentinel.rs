//! The Redis store and lookups through Redis Sentinel, across a failover: a
//! real master, replica and Sentinel on loopback; the master is killed, the
//! Sentinel promotes the replica, and writers and watchers follow it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use graygate_store::{
    Answer, Change, KeyLookup, LookupOptions, PolicyStore, RedisOptions, RedisStore, SentinelOptions,
};
use std::time::Duration;
use support::policies::policy;
use support::redis::RedisServer;
use support::{bounded, wait_until};

fn role(server: &RedisServer) -> String {
    let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut server.conn()).unwrap();
    match &role[0] {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        v => format!("{v:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_and_watchers_follow_a_sentinel_failover() {
    // Full syncs start at once (not after the default 5 s diskless delay).
    let mut master = RedisServer::start_with_args(&["--repl-diskless-sync-delay", "0"]);
    let replica = RedisServer::start_with_args(&["--replicaof", "127.0.0.1", &master.port().to_string()]);
    let sentinel = RedisServer::start_sentinel(&format!(
        "sentinel monitor main 127.0.0.1 {} 1\n\
         sentinel down-after-milliseconds main 300\n\
         sentinel failover-timeout main 3000\n",
        master.port()
    ));
    wait_until("the replica to be in sync", || {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut replica.conn())
            .unwrap();
        info.contains("master_link_status:up")
    })
    .await;
    // The Sentinel must know the replica before it can promote it.
    wait_until("the sentinel to discover the replica", || {
        let replicas: Vec<redis::Value> = redis::cmd("SENTINEL")
            .arg(&["REPLICAS", "main"])
            .query(&mut sentinel.conn())
            .unwrap();
        !replicas.is_empty()
    })
    .await;

    let options = RedisOptions {
        url: String::new(),
        sentinel: Some(SentinelOptions {
            sentinels: vec![format!("127.0.0.1:{}", sentinel.port())],
            master: "main".into(),
        }),
        poll_interval: Duration::from_millis(100),
        timeout: Duration::from_millis(500),
        ..RedisOptions::new("")
    };
    let admin = RedisStore::open(options.clone()).unwrap();
    let gateway = RedisStore::open(options.clone()).unwrap();
    let mut rx = gateway.watch();
    admin.save(&policy(5, 0), 0, Change::default()).await.unwrap();
    let lookup = KeyLookup::open(
        "",
        LookupOptions {
            sentinel: options.sentinel.clone(),
            ttl_found: Duration::from_millis(1),
            stale_if_error: Duration::ZERO,
            timeout: Duration::from_millis(500),
            ..LookupOptions::default()
        },
    )
    .unwrap();
    redis::cmd("SET")
        .arg(&["gray:1", "1"])
        .query::<()>(&mut master.conn())
        .unwrap();
    assert_eq!(bounded("lookup", lookup.get("gray:1")).await, Answer::Found("1".into()));
    // Replicated before the master goes.
    wait_until("the replica to hold the data", || {
        let size: u64 = redis::cmd("DBSIZE").query(&mut replica.conn()).unwrap();
        size == 5
    })
    .await;
    bounded("gateway at version 1", async {
        while rx.borrow_and_update().as_ref().is_none_or(|c| c.version() < 1) {
            rx.changed().await.unwrap();
        }
    })
    .await;

    master.kill();
    bounded("a write after the failover", async {
        loop {
            match admin
                .save(&policy(50, 0), 1, Change::new("ana", "after failover"))
                .await
            {
                Ok(saved) => return assert_eq!(saved.version(), 2),
                Err(e) if e.is_transient() => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await;
    assert_eq!(role(&replica), "master", "the replica was promoted");
    bounded("gateway at version 2", async {
        while rx.borrow_and_update().as_ref().is_none_or(|c| c.version() < 2) {
            rx.changed().await.unwrap();
        }
    })
    .await;
    assert_eq!(rx.borrow().as_ref().unwrap().policy().unwrap(), policy(50, 0));
    bounded("lookup after failover", async {
        while lookup.get("gray:1").await != Answer::Found("1".into()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}
