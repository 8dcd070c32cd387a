//! The three required properties of bucket hashing (R5) — uniform, monotonic,
//! stable — checked through compiled splits, plus property tests for ramping
//! and for the purity of decisions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{get, with_route};
use graygate_policy::hash::Salt;
use graygate_policy::{CompiledPolicy, Overrides, RequestAttrs};
use proptest::prelude::*;

const NONE: Overrides<'static> = Overrides {
    tag: None,
    sticky: None,
};

/// A route that sends `canary_bp` basis points of users to v2, the rest to v1.
fn ramp(canary_bp: u32, canary_first: bool) -> CompiledPolicy {
    let weights = if canary_first {
        format!("{{ v2 = {canary_bp}, v1 = {} }}", 10_000 - canary_bp)
    } else {
        format!("{{ v1 = {}, v2 = {canary_bp} }}", 10_000 - canary_bp)
    };
    with_route(&format!(
        "name = \"app\"\ndefault = \"v1\"\n[[routes.rules]]\nname = \"canary\"\nsplit = {{ by = \"user\", salt = \"exp\", weights = {weights} }}\n"
    ))
}

fn group_of(p: &CompiledPolicy, user: &str) -> String {
    let req = RequestAttrs {
        headers: vec![("x-user-id".into(), user.into())],
        ..get("/")
    };
    p.decide(&req, NONE).unwrap().group.to_owned()
}

/// A deterministic stream of random-looking ids (splitmix64), as a test fixture.
fn ids(n: usize) -> impl Iterator<Item = String> {
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n).map(move |_| {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        format!("user-{:x}", z ^ (z >> 31))
    })
}

#[test]
fn a_ten_percent_split_is_uniform_within_a_tenth_of_a_point_over_a_million_ids() {
    let salt = Salt::new("checkout/canary");
    let n = 1_000_000;
    let hits = ids(n).filter(|id| salt.bucket(id.as_bytes()) < 1_000).count();
    let share = hits as f64 / n as f64 * 100.0;
    assert!((share - 10.0).abs() <= 0.1, "10 % split gave {share:.3} %");
}

#[test]
fn sequential_ids_are_as_uniform_as_random_ones() {
    // Numeric ids (1, 2, 3, …) are the common case and the one naive hashes skew.
    let salt = Salt::new("checkout/canary");
    let n = 1_000_000u32;
    let hits = (0..n).filter(|i| salt.bucket(i.to_string().as_bytes()) < 1_000).count();
    let share = hits as f64 / f64::from(n) * 100.0;
    assert!((share - 10.0).abs() <= 0.1, "10 % split gave {share:.3} %");
}

#[test]
fn raising_the_percentage_only_adds_users_and_lowering_only_removes_them() {
    for canary_first in [true, false] {
        let steps = [0, 1, 100, 500, 1_000, 2_500, 5_000, 9_999, 10_000];
        let users: Vec<String> = ids(20_000).collect();
        let mut previous: Option<Vec<bool>> = None;
        for bp in steps {
            let p = ramp(bp, canary_first);
            let on: Vec<bool> = users.iter().map(|u| group_of(&p, u) == "v2").collect();
            if let Some(prev) = &previous {
                let left = prev.iter().zip(&on).filter(|(a, b)| **a && !**b).count();
                assert_eq!(left, 0, "raising to {bp} bp moved {left} users out of the canary");
            }
            let share = on.iter().filter(|b| **b).count() as f64 / users.len() as f64;
            assert!((share - f64::from(bp) / 10_000.0).abs() < 0.01, "{bp} bp gave {share}");
            previous = Some(on);
        }
    }
}

#[test]
fn buckets_do_not_depend_on_the_process() {
    // The same vector as the unit test, through the public API: a changed hash
    // would reshuffle every running experiment.
    let salt = Salt::new("checkout/canary");
    assert_eq!(salt.bucket(b"42"), 2121);
    assert_eq!(salt.bucket(b"alice@example.com"), 2693);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Monotonic ramp: for any p <= q, every user on the canary at p is on it at q.
    #[test]
    fn ramping_up_never_moves_a_user_out(p in 0u32..=10_000, q in 0u32..=10_000, user in "[a-z0-9]{1,12}") {
        let (lo, hi) = (p.min(q), p.max(q));
        let at_lo = group_of(&ramp(lo, true), &user);
        let at_hi = group_of(&ramp(hi, true), &user);
        prop_assert!(at_lo != "v2" || at_hi == "v2");
    }

    /// A decision is a pure function of the attributes and the policy version:
    /// recompiling the same policy and asking again gives the same answer.
    #[test]
    fn decisions_are_a_pure_function_of_attributes_and_version(
        user in proptest::option::of("[0-9]{1,6}"),
        gray in proptest::option::of(prop_oneof![Just("1"), Just("0")]),
        version in proptest::option::of("[0-9]\\.[0-9]{1,2}"),
        ip in any::<[u8; 4]>(),
    ) {
        let route = r#"name = "app"
default = "v1"
[[routes.rules]]
name = "hdr"
when = { header = "x-gray", equals = "1" }
to = "v2"
[[routes.rules]]
name = "app"
when = { all = [{ header = "app-version", version_ge = "5.2" }, { ip = "10.0.0.0/8" }] }
to = "v3"
[[routes.rules]]
name = "beta"
when = { list = "beta" }
to = "v2"
[[routes.rules]]
name = "ten"
split = { weights = { v2 = 1000, v1 = 9000 } }
"#;
        let (a, b) = (with_route(route), with_route(route));
        let mut req = get("/").ip(std::net::IpAddr::from(ip));
        if let Some(u) = &user { req = req.header("X-User-ID", u); }
        if let Some(g) = gray { req = req.header("X-Gray", g); }
        if let Some(v) = &version { req = req.header("App-Version", v); }
        let first = a.decide(&req, NONE).unwrap();
        prop_assert_eq!(first, a.decide(&req, NONE).unwrap());
        prop_assert_eq!(first, b.decide(&req, NONE).unwrap());
    }
}
