//! Several gateways on one real `redis-server` (started on a free loopback
//! port; installed with apt when missing): propagation, Redis killed under
//! traffic, a gateway started while Redis is down.

use super::harness::{Resp, backends, eventually};
use super::live::{Live, admin_call, live_config, split_policy, start_live};
use super::redis_server::RedisServer;
use graygate::demo::Backend;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A gateway on the Redis at `url`, its snapshot in `dir`.
async fn gateway_on(url: &str, dir: &Path, policy: &str, lookup: &str) -> Live {
    let store = format!(
        "[gateway.store]\nkind = \"redis\"\nurl = \"{url}\"\npoll_interval_ms = 500\ntimeout_ms = 200\n{lookup}"
    );
    start_live(&live_config(dir, &store, policy)).await
}

async fn version(r: Resp) -> String {
    r.h("x-graygate-version").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_gateway_reaches_all_three() {
    let redis = RedisServer::start();
    let (v1, v2) = backends().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let policy = split_policy(&v1, &v2, 0);
    let mut gws = Vec::new();
    for d in &dirs {
        gws.push(gateway_on(&redis.url(), d.path(), &policy, "").await);
    }
    for g in &gws {
        eventually("every gateway serves the seeded version 1", || async {
            version(g.gw.get("/", &[("x-user-id", "u")]).await).await == "1"
        })
        .await;
    }
    let body = json!({ "weights": { "v1": 0, "v2": 10_000 } });
    let (status, answer) = admin_call(gws[0].admin, "PUT", "/api/v1/routes/web/splits/ramp", Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["version"], 2);
    for g in &gws {
        eventually("every gateway serves version 2", || async {
            let r = g.gw.get("/", &[("x-user-id", "u")]).await;
            r.h("x-graygate-version") == "2" && r.backend() == "v2"
        })
        .await;
    }
    // A stale write on another gateway is refused: one history for all.
    let (status, _) = admin_call(gws[2].admin, "GET", "/api/v1/policy/history", None).await;
    assert_eq!(status, 200);
    let (_, cur) = admin_call(gws[2].admin, "GET", "/api/v1/policy", None).await;
    assert_eq!(cur["version"], 2);
}

/// Gray users are marked the seed's way, `gray:<uid>` = `1` in Redis. With
/// traffic flowing, Redis is SIGKILLed and restarted: no request fails and no
/// gray user leaves the canary (cached answers are served stale while Redis
/// is away), and the policy stays in force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_under_traffic_fails_no_request_and_moves_no_gray_user() {
    let mut redis = RedisServer::start();
    let (v1, v2) = backends().await;
    let dir = tempfile::tempdir().unwrap();
    let users: Vec<String> = (0..40).map(|i| format!("u{i}")).collect();
    {
        let mut c = redis.conn();
        for u in users.iter().step_by(4) {
            redis::cmd("SET")
                .arg(format!("gray:{u}"))
                .arg("1")
                .query::<()>(&mut c)
                .unwrap();
        }
    }
    let policy = lookup_policy(&v1, &v2);
    let lookup = "[gateway.lookup]\nttl_found_ms = 200\nttl_missing_ms = 200\ntimeout_ms = 50\n";
    let live = gateway_on(&redis.url(), dir.path(), &policy, lookup).await;
    eventually("version 1 serves", || async {
        version(live.gw.get("/", &[("x-user-id", "u0")]).await).await == "1"
    })
    .await;
    // Warm the cache: every user once.
    for u in &users {
        let r = live.gw.get("/", &[("x-user-id", u)]).await;
        assert_eq!(r.backend(), if is_gray(u) { "v2" } else { "v1" }, "{u}");
    }

    let done = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (client, addr, done, users) = (live.gw.client.clone(), live.gw.addr, done.clone(), users.clone());
        tokio::spawn(async move {
            let (mut sent, mut bad) = (0u64, Vec::new());
            while !done.load(Ordering::Relaxed) {
                for u in &users {
                    let req = http::Request::builder()
                        .uri(format!("http://{addr}/"))
                        .header("x-user-id", u)
                        .body(super::harness::TestBody::empty())
                        .unwrap();
                    sent += 1;
                    match client.request(req).await {
                        Ok(resp) => {
                            let status = resp.status();
                            let group = resp.headers().get("x-graygate-group").cloned();
                            if status != 200 || group.is_none() {
                                bad.push(format!("{u}: {status}"));
                            } else if let Some(g) = group
                                && (g.to_str().unwrap() == "v2") != is_gray(u)
                            {
                                bad.push(format!("{u} moved to {g:?}"));
                            }
                        }
                        Err(e) => bad.push(format!("{u}: {e}")),
                    }
                }
            }
            (sent, bad)
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    redis.save_rdb();
    redis.kill();
    // Longer than every TTL: answers go stale and are served stale.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    redis.restart();
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    done.store(true, Ordering::Relaxed);
    let (sent, bad) = traffic.await.unwrap();
    assert!(sent > 200, "too little traffic to show anything: {sent}");
    assert!(
        bad.is_empty(),
        "{} of {sent} requests failed or moved: {:?}",
        bad.len(),
        &bad[..bad.len().min(10)]
    );
    let (_, ready) = admin_call(live.admin, "GET", "/readyz", None).await;
    assert_eq!(ready["policy_version"], 1, "{ready}");
}

/// Users `u0`, `u4`, `u8`, … are gray (see the test above).
fn is_gray(u: &str) -> bool {
    u.strip_prefix('u')
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n % 4 == 0)
}

fn lookup_policy(v1: &Backend, v2: &Backend) -> String {
    format!(
        "[groups.v1]\nservers = [{{ addr = \"{}\" }}]\n[groups.v2]\nservers = [{{ addr = \"{}\" }}]\n\n[[routes]]\nname = \"web\"\ndefault = \"v1\"\n\n[[routes.rules]]\nname = \"gray-users\"\nwhen = {{ lookup = \"gray:{{user}}\", equals = \"1\" }}\nto = \"v2\"\n",
        v1.addr(),
        v2.addr()
    )
}

/// A gateway that applied version 2 from Redis is stopped; Redis dies; a
/// new gateway on the same directory starts and serves version 2 from its
/// local snapshot, reporting the store as disconnected but itself as ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_started_while_redis_is_down_serves_its_last_snapshot() {
    let mut redis = RedisServer::start();
    let (v1, v2) = backends().await;
    let dir = tempfile::tempdir().unwrap();
    let policy = split_policy(&v1, &v2, 0);
    let first = gateway_on(&redis.url(), dir.path(), &policy, "").await;
    eventually("version 1 serves", || async {
        version(first.gw.get("/", &[("x-user-id", "a")]).await).await == "1"
    })
    .await;
    let body = json!({ "weights": { "v1": 0, "v2": 10_000 } });
    assert_eq!(
        admin_call(first.admin, "PUT", "/api/v1/routes/web/splits/ramp", Some(body))
            .await
            .0,
        200
    );
    eventually("version 2 serves", || async {
        version(first.gw.get("/", &[("x-user-id", "a")]).await).await == "2"
    })
    .await;
    drop(first);
    redis.save_rdb();
    redis.kill();

    // The file still says 0 % canary: the snapshot, not the file, must win.
    let again = gateway_on(&redis.url(), dir.path(), &policy, "").await;
    let r = again.gw.get("/", &[("x-user-id", "a")]).await;
    assert_eq!(
        (r.status.as_u16(), r.h("x-graygate-version"), r.backend()),
        (200, "2", "v2")
    );
    let (status, ready) = admin_call(again.admin, "GET", "/readyz", None).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["policy_version"], 2);
    assert_eq!(ready["store"]["connected"], false, "{ready}");

    // Redis back: the gateway reconnects and follows new versions again.
    redis.restart();
    eventually("the store reconnects", || async {
        admin_call(again.admin, "GET", "/readyz", None).await.1["store"]["connected"] == true
    })
    .await;
}
