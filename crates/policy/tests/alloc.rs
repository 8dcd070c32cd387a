//! Evaluation allocates nothing for rules that read neither a body nor a
//! per-user key. A counting global allocator (this test binary only) counts
//! the allocations made by the current thread while deciding.
#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code)]

mod common;
use common::{get, with_route};
use graygate_policy::{Overrides, RequestAttrs};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static COUNT: Cell<Option<u64>> = const { Cell::new(None) };
}

// SAFETY: delegates every call to the system allocator unchanged; it only
// counts, in a const-initialised thread-local that itself never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get().map(|n| n + 1)));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get().map(|n| n + 1)));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations(f: impl FnOnce()) -> u64 {
    COUNT.with(|c| c.set(Some(0)));
    f();
    COUNT.with(|c| c.replace(None)).unwrap_or(0)
}

const ROUTE: &str = r#"name = "app"
default = "v1"
[[routes.rules]]
name = "hdr"
when = { header = "x-gray", equals = "1" }
to = "v2"
[[routes.rules]]
name = "ck"
when = { cookie = "canary", in = ["yes", "1"] }
to = "v2"
[[routes.rules]]
name = "ua"
when = { header = "user-agent", regex = "GrayApp/[0-9]+" }
to = "v3"
[[routes.rules]]
name = "qs"
when = { query = "thirdPolicystatus", equals = "1" }
to = "v2"
[[routes.rules]]
name = "mobile"
when = { all = [{ header = "app-version", version_ge = "5.2.0" }, { not = { attr = "method", equals = "DELETE" } }] }
to = "v3"
[[routes.rules]]
name = "office"
when = { any = [{ ip = ["10.0.0.0/8", "192.168.0.0/16"] }, { header = "x-score", gt = 90 }] }
to = "v2"
[[routes.rules]]
name = "beta"
when = { list = "beta" }
to = "v2"
[[routes.rules]]
name = "ten"
split = { weights = { v2 = 1000, v1 = 9000 } }
[[routes.rules]]
name = "rr"
split = { by = "request", weights = { v2 = 5000, v1 = 5000 } }
"#;

#[test]
fn deciding_without_body_or_lookup_allocates_nothing() {
    let p = with_route(ROUTE);
    let requests: Vec<RequestAttrs> = vec![
        get("/").header("X-Gray", "1"),
        get("/").cookie("canary", "yes"),
        get("/").header("User-Agent", "GrayApp/7"),
        get("/?thirdPolicystatus=1&x=2"),
        get("/").header("App-Version", "5.3.1"),
        get("/").ip("10.1.2.3".parse().unwrap()),
        get("/").header("X-Score", "95"),
        get("/").header("X-User-ID", "1001"),
        get("/").header("X-User-ID", "424242"),
        get("/").cookie("uid", "77"),
        get("/").ip("8.8.8.8".parse().unwrap()),
        get("/"),
    ];
    // Warm-up: the regex engine allocates its per-thread cache on first use.
    for r in &requests {
        p.decide(r, Overrides::default()).unwrap();
    }
    let mut groups = Vec::with_capacity(requests.len());
    let n = allocations(|| {
        for r in &requests {
            let d = p
                .decide(
                    r,
                    Overrides {
                        tag: None,
                        sticky: Some("v9"),
                    },
                )
                .unwrap();
            groups.push(d.group);
        }
    });
    assert_eq!(n, 0, "decisions allocated {n} times");
    assert_eq!(&groups[..4], &["v2", "v2", "v3", "v2"], "the rules really ran");
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the test above against a counter that never counts.
    let n = allocations(|| drop(std::hint::black_box(vec![1u8; 16])));
    assert!(n >= 1);
}
