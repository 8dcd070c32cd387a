//! Sliding windows: what happened in the last minute or five, per series.
//!
//! Time is cut into slices of [`SLICE_MS`]; a ring keeps the last 31 (five
//! minutes and the current slice). Each slice holds a request count, an
//! error count and an HDR histogram of latencies in microseconds with two
//! significant digits: a quantile read back is at most 1/128 (< 1 %) above
//! the true sample. A window of *N* seconds is the current slice plus the
//! *N*/10 − 1 before it, so it covers between *N* − 10 and *N* seconds.
//!
//! Recording takes a short lock on one of several shards — one per thread,
//! assigned round robin — so that workers on different cores do not contend;
//! readers merge the shards. A slice's histogram is allocated the first time
//! its ring slot is used and reset, never reallocated, when the slot comes
//! round again: after the first five minutes recording allocates nothing.

use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};

/// The length of one slice, in milliseconds.
pub const SLICE_MS: u64 = 10_000;
/// Slices kept: five minutes of them, plus the current one.
const SLOTS: usize = 31;
/// The largest latency told apart, in microseconds (10 minutes); longer ones
/// count as this.
const MAX_US: u64 = 600_000_000;
/// Two significant digits: ≤ 1 % relative error.
const SIGFIG: u8 = 2;

fn histogram<T: hdrhistogram::Counter>() -> Option<Histogram<T>> {
    Histogram::new_with_bounds(1, MAX_US, SIGFIG).ok()
}

#[derive(Debug, Default)]
struct Slice {
    epoch: u64,
    requests: u64,
    errors: u64,
    latency: Option<Box<Histogram<u32>>>,
}

impl Slice {
    fn reset(&mut self, epoch: u64) {
        self.epoch = epoch;
        self.requests = 0;
        self.errors = 0;
        if let Some(h) = &mut self.latency {
            h.reset();
        }
    }
}

/// One shard's ring, aligned so that two shards never share a cache line.
#[derive(Debug)]
#[repr(align(128))]
struct Shard(Mutex<Box<[Slice]>>);

/// The recent outcomes of one series (one route and group).
#[derive(Debug)]
pub struct Window {
    shards: Box<[Shard]>,
    born_ms: u64,
}

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_INDEX: usize = NEXT_THREAD.fetch_add(1, Relaxed);
}

impl Window {
    /// An empty window created at `now_ms`, with `shards` shards (at least 1;
    /// one per worker thread is plenty).
    pub fn new(now_ms: u64, shards: usize) -> Window {
        let shards = (0..shards.max(1))
            .map(|_| Shard(Mutex::new((0..SLOTS).map(|_| Slice::default()).collect())))
            .collect();
        Window {
            shards,
            born_ms: now_ms,
        }
    }

    /// Records one request that ended at `now_ms` after `latency_us`;
    /// `error` when it failed (a 5xx).
    pub fn record(&self, now_ms: u64, latency_us: u64, error: bool) {
        let epoch = now_ms / SLICE_MS;
        let i = THREAD_INDEX.with(|t| *t) % self.shards.len();
        let Some(shard) = self.shards.get(i) else { return };
        let mut ring = shard.0.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(slice) = ring.get_mut((epoch % SLOTS as u64) as usize) else {
            return;
        };
        if slice.epoch != epoch {
            slice.reset(epoch);
        }
        slice.requests += 1;
        slice.errors += u64::from(error);
        if slice.latency.is_none() {
            slice.latency = histogram().map(Box::new);
        }
        if let Some(h) = &mut slice.latency {
            h.saturating_record(latency_us);
        }
    }

    /// What the last `window_secs` (at most 300) hold as of `now_ms`.
    pub fn summary(&self, now_ms: u64, window_secs: u64) -> Summary {
        let epoch = now_ms / SLICE_MS;
        let n = (window_secs * 1000 / SLICE_MS).clamp(1, SLOTS as u64 - 1);
        let oldest = (epoch + 1).saturating_sub(n);
        let mut s = Summary {
            covered_ms: covered_ms(now_ms, n, self.born_ms),
            ..Summary::default()
        };
        for shard in self.shards.iter() {
            let ring = shard.0.lock().unwrap_or_else(PoisonError::into_inner);
            for slice in ring.iter().filter(|sl| sl.epoch >= oldest && sl.epoch <= epoch) {
                s.requests += slice.requests;
                s.errors += slice.errors;
                if let Some(h) = slice.latency.as_deref() {
                    s.merge(h);
                }
            }
        }
        s
    }
}

/// The time a window of `n` slices covers at `now_ms`: the whole slices
/// before the current one and the current one so far, but never more than
/// the series has existed.
fn covered_ms(now_ms: u64, n: u64, born_ms: u64) -> u64 {
    let span = (n - 1) * SLICE_MS + now_ms % SLICE_MS;
    span.min(now_ms.saturating_sub(born_ms)).max(1)
}

/// A window's content: counts and the merged latency histogram.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Requests that ended in the window.
    pub requests: u64,
    /// Of which failed (5xx).
    pub errors: u64,
    /// The time the window covers, in milliseconds (for rates).
    pub covered_ms: u64,
    latency: Option<Histogram<u64>>,
}

impl Summary {
    /// A summary of the given latencies (µs) and error count, covering
    /// `covered_ms` (tests, and comparisons built from plain values).
    pub fn of(latencies_us: &[u64], errors: u64, covered_ms: u64) -> Summary {
        let mut latency = histogram::<u64>();
        if let Some(h) = &mut latency {
            for &v in latencies_us {
                h.saturating_record(v);
            }
        }
        Summary {
            requests: latencies_us.len() as u64,
            errors,
            covered_ms,
            latency,
        }
    }

    fn merge(&mut self, h: &Histogram<u32>) {
        if self.latency.is_none() {
            self.latency = histogram();
        }
        if let Some(into) = &mut self.latency {
            for v in h.iter_recorded() {
                into.saturating_record_n(v.value_iterated_to(), v.count_at_value().into());
            }
        }
    }

    /// Requests per second over the window.
    pub fn rate(&self) -> f64 {
        self.requests as f64 * 1000.0 / self.covered_ms.max(1) as f64
    }

    /// The share of requests that did not fail (0..=1); `None` without requests.
    pub fn success_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| 1.0 - self.errors as f64 / self.requests as f64)
    }

    /// The latency at quantile `q` (0..=1), in milliseconds; `None` without
    /// requests. Never below the true sample, at most 1 % above it.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let h = self.latency.as_ref().filter(|h| !h.is_empty())?;
        Some(h.value_at_quantile(q) as f64 / 1000.0)
    }

    /// The largest latency, in milliseconds (within 1 %).
    pub fn max_ms(&self) -> Option<f64> {
        let h = self.latency.as_ref().filter(|h| !h.is_empty())?;
        Some(h.max() as f64 / 1000.0)
    }
}

/// A lock-free count per slice, for counts that need no histogram (the
/// decisions of a split): each slot packs the slice number (high 32 bits)
/// and its count (low 32 bits), updated with one compare-and-swap.
#[derive(Debug)]
pub struct WindowCounter {
    slots: [AtomicU64; SLOTS],
}

impl Default for WindowCounter {
    fn default() -> Self {
        WindowCounter {
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl WindowCounter {
    /// Counts one event at `now_ms`.
    pub fn add(&self, now_ms: u64) {
        let epoch = (now_ms / SLICE_MS) & 0xffff_ffff;
        let Some(slot) = self.slots.get((epoch % SLOTS as u64) as usize) else {
            return;
        };
        let _ = slot.fetch_update(Relaxed, Relaxed, |cur| {
            Some(if cur >> 32 == epoch {
                cur.saturating_add(u64::from(cur & 0xffff_ffff != 0xffff_ffff))
            } else {
                (epoch << 32) | 1
            })
        });
    }

    /// Events in the last `window_secs` (at most 300) as of `now_ms`.
    pub fn sum(&self, now_ms: u64, window_secs: u64) -> u64 {
        let epoch = (now_ms / SLICE_MS) & 0xffff_ffff;
        let n = (window_secs * 1000 / SLICE_MS).clamp(1, SLOTS as u64 - 1);
        self.slots
            .iter()
            .map(|s| s.load(Relaxed))
            .filter(|v| epoch.wrapping_sub(v >> 32) & 0xffff_ffff < n)
            .map(|v| v & 0xffff_ffff)
            .sum()
    }
}

#[cfg(test)]
mod tests;
