//! Folding runs of `equals` / `in` / `prefix` rules into lookups changes no
//! decision: a property test against the rules read one by one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{get, with_route};
use graygate_policy::Overrides;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum R {
    Eq(String),
    In(Vec<String>),
    Prefix(String),
}

fn rule() -> impl Strategy<Value = R> {
    let v = "[ab]{0,3}";
    prop_oneof![
        v.prop_map(R::Eq),
        proptest::collection::vec(v, 1..3).prop_map(R::In),
        v.prop_map(R::Prefix),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn folded_rules_decide_like_rules_tried_in_order(rules in proptest::collection::vec(rule(), 1..12), value in "[ab]{0,4}") {
        let mut route = String::from("name = \"app\"\ndefault = \"v1\"\n");
        for (i, r) in rules.iter().enumerate() {
            let when = match r {
                R::Eq(v) => format!("{{ header = \"x-k\", equals = \"{v}\" }}"),
                R::In(vs) => format!("{{ header = \"x-k\", in = {vs:?} }}"),
                R::Prefix(p) => format!("{{ header = \"x-k\", prefix = \"{p}\" }}"),
            };
            route.push_str(&format!("[[routes.rules]]\nname = \"r{i}\"\nwhen = {when}\nto = \"v2\"\n"));
        }
        let p = with_route(&route);
        let want = rules.iter().position(|r| match r {
            R::Eq(v) => *v == value,
            R::In(vs) => vs.contains(&value),
            R::Prefix(pre) => value.starts_with(pre.as_str()),
        }).map_or("default".to_owned(), |i| format!("r{i}"));
        let got = p.decide(&get("/").header("X-K", &value), Overrides::default()).unwrap();
        prop_assert_eq!(got.rule, want.as_str());
    }
}
