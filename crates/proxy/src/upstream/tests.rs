use super::*;

fn group(servers: &[(&str, u32, bool)]) -> GroupUpstream {
    let reg = Registry::default();
    let member = |&(a, w, _): &(&str, u32, bool)| Member {
        weight: w,
        server: reg.get(a),
    };
    let primaries: Box<[Member]> = servers.iter().filter(|s| !s.2).map(member).collect();
    let backups: Box<[Member]> = servers.iter().filter(|s| s.2).map(member).collect();
    GroupUpstream {
        name: "g".into(),
        total_weight: primaries.iter().map(|m| m.weight).sum(),
        primaries,
        backups,
        cursor: AtomicUsize::new(0),
        timeouts: Timeouts {
            connect: Duration::from_secs(1),
            read: Duration::from_secs(1),
            idle: Duration::from_secs(1),
            max_idle: 1,
        },
        passive: Passive {
            max_fails: 2,
            fail_timeout: Duration::from_secs(60),
        },
        health_check: None,
    }
}

#[test]
fn weighted_round_robin_follows_the_weights_exactly() {
    let g = group(&[("a:1", 5, false), ("b:1", 1, false)]);
    let mut counts = HashMap::new();
    for _ in 0..600 {
        let s = g.pick(&mut Tried::default(), false).unwrap();
        *counts.entry(s.addr.to_string()).or_insert(0) += 1;
    }
    assert_eq!(counts["a:1"], 500);
    assert_eq!(counts["b:1"], 100);
}

#[test]
fn backups_serve_only_when_every_primary_is_down() {
    let g = group(&[("a:1", 1, false), ("b:1", 1, false), ("c:1", 1, true)]);
    for _ in 0..10 {
        assert_ne!(&*g.pick(&mut Tried::default(), false).unwrap().addr, "c:1");
    }
    for s in g.servers().take(2) {
        s.record_failure(g.passive);
        s.record_failure(g.passive);
    }
    assert_eq!(&*g.pick(&mut Tried::default(), false).unwrap().addr, "c:1");
}

#[test]
fn a_retry_never_picks_the_same_server_twice() {
    let g = group(&[("a:1", 1, false), ("b:1", 3, false), ("c:1", 1, true)]);
    let mut tried = Tried::default();
    let mut seen: Vec<String> = std::iter::from_fn(|| g.pick(&mut tried, false).map(|s| s.addr.to_string())).collect();
    seen.sort();
    assert_eq!(seen, ["a:1", "b:1", "c:1"]);
}

#[test]
fn max_fails_within_the_window_ejects_a_server() {
    let g = group(&[("a:1", 1, false)]);
    let s = g.pick(&mut Tried::default(), false).unwrap().clone();
    s.record_failure(g.passive);
    assert!(s.is_up(), "one failure of max_fails = 2 keeps it in");
    s.record_failure(g.passive);
    assert!(!s.is_up());
    assert!(!g.has_live_server());
    assert!(g.pick(&mut Tried::default(), false).is_none());
    assert!(
        g.pick(&mut Tried::default(), true).is_some(),
        "last resort ignores health"
    );
}

#[test]
fn active_checks_need_fall_failures_and_rise_successes_in_a_row() {
    let hc = HealthCheck {
        path: "/".into(),
        interval_ms: 1,
        timeout_ms: 1,
        expect_status: None,
        rise: 2,
        fall: 2,
    };
    let s = ServerState::new("a:1");
    assert_eq!(s.record_check(false, &hc), None);
    assert_eq!(s.record_check(true, &hc), None, "a success resets the streak");
    assert_eq!(s.record_check(false, &hc), None);
    assert_eq!(s.record_check(false, &hc), Some(false));
    assert!(!s.is_up());
    // Requests failed meanwhile too: a passive ejection for a minute.
    s.record_failure(Passive {
        max_fails: 1,
        fail_timeout: std::time::Duration::from_secs(60),
    });
    assert_eq!(s.record_check(true, &hc), None);
    assert_eq!(s.record_check(true, &hc), Some(true));
    assert!(s.is_up(), "checks that bring a server back clear its passive ejection");
}

#[test]
fn the_registry_shares_a_server_between_snapshots() {
    let reg = Registry::default();
    let a = reg.get("a:1");
    let b = reg.get("a:1");
    assert!(Arc::ptr_eq(&a, &b));
}
