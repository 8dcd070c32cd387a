//! A connection's kept timer, whose deadline moves later without tokio's
//! timer being touched.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::time::{Instant, Sleep};

/// A deadline watched by one tokio [`Sleep`] kept for a connection's life.
///
/// Every request moves a connection's deadline later. `Sleep::reset` costs
/// a clone of the runtime handle, the deadline turned into a tick (a 128-bit
/// division) and an atomic on the timer entry; moving a `Deadline` later
/// only writes it here. The `Sleep` goes on waiting for the earlier one, and
/// when that comes the real deadline is looked at: not reached, the `Sleep`
/// is set to it and waits again (about once per timeout on a busy
/// connection). A deadline moved earlier resets the `Sleep` at once.
///
/// The deadline lives in the same allocation as the `Sleep`, so that a
/// connection (moved a few times per request, in and out of its pool)
/// stays one pointer larger, not three.
#[derive(Debug)]
pub(crate) struct Deadline(Pin<Box<Inner>>);

pin_project_lite::pin_project! {
    #[derive(Debug)]
    struct Inner {
        #[pin]
        sleep: Sleep,
        at: Instant,
    }
}

impl Deadline {
    pub(crate) fn new(at: Instant) -> Deadline {
        Deadline(Box::pin(Inner {
            sleep: tokio::time::sleep_until(at),
            at,
        }))
    }

    /// The deadline is now `at`.
    pub(crate) fn set(&mut self, at: Instant) {
        let this = self.0.as_mut().project();
        if at < this.sleep.deadline() {
            this.sleep.reset(at);
        }
        *this.at = at;
    }

    /// Ready once the deadline has passed.
    pub(crate) fn poll_passed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.0.as_mut().project();
        loop {
            ready!(this.sleep.as_mut().poll(cx));
            if this.sleep.deadline() >= *this.at {
                return Poll::Ready(());
            }
            this.sleep.as_mut().reset(*this.at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Whether the deadline has passed, without waiting.
    fn passed(d: &mut Deadline) -> bool {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        d.poll_passed(&mut cx).is_ready()
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_moved_later_or_earlier_passes_at_its_last_setting() {
        let start = Instant::now();
        let mut d = Deadline::new(start + Duration::from_secs(10));
        d.set(start + Duration::from_secs(30));
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert!(!passed(&mut d), "the first deadline came, the moved one did not");
        std::future::poll_fn(|cx| d.poll_passed(cx)).await;
        assert_eq!(Instant::now() - start, Duration::from_secs(30));

        d.set(Instant::now() + Duration::from_secs(60));
        d.set(Instant::now() + Duration::from_secs(5));
        std::future::poll_fn(|cx| d.poll_passed(cx)).await;
        assert_eq!(
            Instant::now() - start,
            Duration::from_secs(35),
            "moved earlier: passes then"
        );
    }
}
