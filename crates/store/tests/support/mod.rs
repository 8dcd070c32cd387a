//! Shared by the integration tests: a real `redis-server`, test policies and
//! a bounded wait.
#![allow(dead_code, unreachable_pub)]

pub mod policies;
pub mod redis;

use std::time::Duration;

/// Waits for `cond` to hold, checking every 10 ms; panics with `what` after a
/// generous bound (a hang guard, not a timing assertion).
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..3000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("gave up waiting for: {what}");
}

/// Bounds a future with the same generous hang guard.
pub async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(30), f).await {
        Ok(v) => v,
        Err(_) => panic!("gave up waiting for: {what}"),
    }
}
