//! End-to-end tests: real gateways, real demo backends, real sockets, all on
//! 127.0.0.1. Each module checks one part of issue 3's contract; each test's
//! name says the rule it checks. No test asserts on time; waits are bounded
//! polls that fail with a message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e {
    mod canned;
    mod client_http1;
    mod errors;
    mod forwarding;
    mod harness;
    mod hostile_clients;
    mod hostile_conns;
    mod hostile_upstreams;
    mod live;
    mod observe;
    mod operations;
    mod prom;
    mod recorder;
    mod routing;
    mod shared;
    mod spoofing;
    // The store crate's real-redis-server harness, shared.
    #[path = "../../../store/tests/support/redis.rs"]
    #[allow(dead_code, unreachable_pub)]
    mod redis_server;
    mod stickiness;
    mod upstream_framing;
    mod upstreams;
}
