//! Upstream groups: weights, backups, failover, passive and active health,
//! the fallback group.

use super::harness::*;
use graygate::demo::Backend;
use std::collections::HashMap;

fn route(default: &str, extra: &str) -> String {
    format!("[[routes]]\nname = \"web\"\ndefault = \"{default}\"\n{extra}\n")
}

#[tokio::test]
async fn servers_of_a_group_share_its_traffic_by_weight() {
    let a = Backend::start("a").await.unwrap();
    let b = Backend::start("b").await.unwrap();
    let policy = format!(
        "[groups.g]\nservers = [{{ addr = \"{}\", weight = 3 }}, {{ addr = \"{}\" }}]\n{}",
        a.addr(),
        b.addr(),
        route("g", "")
    );
    let gw = start(&config("", &policy)).await;
    let mut counts: HashMap<String, u32> = HashMap::new();
    for _ in 0..400 {
        *counts.entry(gw.get("/", &[]).await.backend().to_owned()).or_default() += 1;
    }
    assert!((270..=330).contains(&counts["a"]), "{counts:?}");
    assert!((70..=130).contains(&counts["b"]), "{counts:?}");
}

#[tokio::test]
async fn a_backup_serves_only_when_every_primary_is_down() {
    let a = Backend::start("primary").await.unwrap();
    let b = Backend::start("backup").await.unwrap();
    let policy = format!(
        "[groups.g]\nservers = [{{ addr = \"{}\" }}, {{ addr = \"{}\", backup = true }}]\n{}",
        a.addr(),
        b.addr(),
        route("g", "")
    );
    let gw = start(&config("", &policy)).await;
    for _ in 0..20 {
        assert_eq!(gw.get("/", &[]).await.backend(), "primary");
    }
    a.stop().await;
    for _ in 0..20 {
        let r = gw.get("/", &[]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.backend(), "backup");
    }
}

#[tokio::test]
async fn a_server_dying_mid_test_costs_no_failed_request() {
    let a = Backend::start("a").await.unwrap();
    let b = Backend::start("b").await.unwrap();
    let policy = format!(
        "[groups.g]\nservers = [{{ addr = \"{}\" }}, {{ addr = \"{}\" }}]\nmax_fails = 1\nfail_timeout_secs = 60\n{}",
        a.addr(),
        b.addr(),
        route("g", "")
    );
    let gw = start(&config("", &policy)).await;
    let mut seen = HashMap::<String, u32>::new();
    for _ in 0..10 {
        *seen.entry(gw.get("/", &[]).await.backend().to_owned()).or_default() += 1;
    }
    assert_eq!(seen.len(), 2, "both serve before: {seen:?}");
    let a_addr = a.addr().to_string();
    a.stop().await;
    for i in 0..30 {
        let r = gw.get("/", &[]).await;
        assert_eq!(r.status, 200, "request {i} after the death failed: {}", r.body);
        assert_eq!(r.backend(), "b");
    }
    let snap = gw.gateway.snapshot();
    let dead = snap.upstreams.groups()[0]
        .servers()
        .find(|s| *s.addr == a_addr)
        .unwrap();
    assert!(!dead.is_up(), "passive health ejected the dead server");
}

#[tokio::test]
async fn the_fallback_group_serves_when_the_chosen_group_is_down() {
    let v1 = Backend::start("v1").await.unwrap();
    let dead = dead_addr();
    let policy = format!(
        "[groups.v1]\nservers = [{{ addr = \"{}\" }}]\n[groups.v2]\nservers = [{{ addr = \"{dead}\" }}]\n{}\n[[routes.rules]]\nname = \"canary\"\nwhen = {{ header = \"X-Gray\", equals = \"1\" }}\nto = \"v2\"\n",
        v1.addr(),
        route("v1", "fallback = \"v1\"\nsticky = {}")
    );
    let gw = start(&config("decision_headers = true", &policy)).await;
    for _ in 0..5 {
        let r = gw.get("/", &[("X-Gray", "1")]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.backend(), "v1");
        assert_eq!(r.h("x-graygate-group"), "v1");
        assert_eq!(r.h("x-seen-x-gray-tag"), "v1", "the tag names the group that serves");
        assert!(r.h("set-cookie").is_empty(), "a fallback does not pin the client");
    }
}

#[tokio::test]
async fn without_a_fallback_a_dead_group_is_a_bad_gateway() {
    let v1 = Backend::start("v1").await.unwrap();
    let dead = dead_addr();
    let policy = format!(
        "[groups.v1]\nservers = [{{ addr = \"{}\" }}]\n[groups.v2]\nservers = [{{ addr = \"{dead}\" }}]\n{}",
        v1.addr(),
        route("v2", "")
    );
    let gw = start(&config("", &policy)).await;
    assert_eq!(gw.get("/", &[]).await.status, 502);
    // Marked down now, it is still tried as a last resort rather than refused outright.
    assert_eq!(gw.get("/", &[]).await.status, 502);
}

#[tokio::test]
async fn active_health_checks_take_a_failing_server_out_and_bring_it_back() {
    let a = Backend::start("a").await.unwrap();
    let b = Backend::start("b").await.unwrap();
    let policy = format!(
        "[groups.g]\nservers = [{{ addr = \"{}\" }}, {{ addr = \"{}\" }}]\nhealth_check = {{ path = \"/healthz\", interval_ms = 20, rise = 2, fall = 2 }}\n{}",
        a.addr(),
        b.addr(),
        route("g", "")
    );
    let gw = start(&config("", &policy)).await;
    let snap = gw.gateway.snapshot();
    let state_of = |addr: String| {
        snap.upstreams.groups()[0]
            .servers()
            .find(|s| *s.addr == addr)
            .unwrap()
            .clone()
    };
    let sa = state_of(a.addr().to_string());
    a.set_healthy(false);
    eventually("a is marked down", || {
        let sa = sa.clone();
        async move { !sa.is_up() }
    })
    .await;
    let before = a.requests();
    for _ in 0..20 {
        assert_eq!(gw.get("/", &[]).await.backend(), "b");
    }
    assert_eq!(a.requests(), before, "a down server gets no traffic");
    a.set_healthy(true);
    eventually("a is back up", || {
        let sa = sa.clone();
        async move { sa.is_up() }
    })
    .await;
    let mut seen = HashMap::<String, u32>::new();
    for _ in 0..10 {
        *seen.entry(gw.get("/", &[]).await.backend().to_owned()).or_default() += 1;
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
}

#[tokio::test]
async fn upstream_connections_are_kept_alive_and_reused() {
    let a = Backend::start("a").await.unwrap();
    let policy = format!(
        "[groups.g]\nservers = [{{ addr = \"{}\" }}]\n{}",
        a.addr(),
        route("g", "")
    );
    let gw = start(&config("", &policy)).await;
    for _ in 0..50 {
        assert_eq!(gw.get("/", &[]).await.status, 200);
    }
    // One connection would do; a few more may open when a request arrives
    // before the previous connection is seen idle again. Fifty would mean no reuse.
    assert!(
        a.connections() <= 5,
        "{} upstream connections for 50 requests",
        a.connections()
    );
}

/// A server that answers the first request of each connection with
/// keep-alive, then closes the connection on the second without answering —
/// the race of a keep-alive timeout firing as a request goes out.
async fn closes_on_second_request() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let body_len = if head.starts_with(b"POST") { 4 } else { 0 };
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n").await;
                let mut rest = head.len() - head.windows(4).position(|w| w == b"\r\n\r\n").unwrap() - 4;
                while rest < body_len {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => rest += n,
                    }
                }
                let _ = s.read(&mut buf).await;
                // Second request read: close without answering.
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_get_on_a_connection_the_server_just_closed_is_replayed_once() {
    let addr = closes_on_second_request().await;
    let policy = format!(
        "[groups.g]\nservers = [{{ addr = \"{addr}\" }}]\nmax_fails = 0\n{}",
        route("g", "")
    );
    let gw = start(&config("", &policy)).await;
    assert_eq!(gw.get("/", &[]).await.status, 200);
    // Let the pooled connection age past the replay threshold (setup, not an assertion on time).
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let r = gw.get("/", &[]).await;
    assert_eq!(r.status, 200, "the GET was replayed on a new connection: {}", r.body);
}

#[tokio::test]
async fn a_post_on_a_connection_the_server_just_closed_is_not_replayed() {
    let addr = closes_on_second_request().await;
    let policy = format!(
        "[groups.g]\nservers = [{{ addr = \"{addr}\" }}]\nmax_fails = 0\n{}",
        route("g", "")
    );
    let gw = start(&config("", &policy)).await;
    assert_eq!(gw.send("POST", "/", &[], TestBody::text("once")).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let r = gw.send("POST", "/", &[], TestBody::text("once")).await;
    assert_eq!(r.status, 502, "a request with a body is never sent twice");
}
