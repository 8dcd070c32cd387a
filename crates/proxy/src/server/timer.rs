//! Two client timeouts out of hyper's one: `client_timeout_ms` for a request
//! head, `idle_timeout_ms` for a kept-alive connection between requests.
//!
//! hyper 1.x (`proto/h1/conn.rs`) has a single `header_read_timeout`: its
//! timer starts when the connection opens *and* each time the connection goes
//! idle after a response, and stops once a head is parsed; when it fires,
//! hyper closes the connection without an answer. Alone it would make the idle
//! bound equal to the head bound. graygate hands each connection a [`Timer`]
//! that splits it the way nginx does (`keepalive_timeout`, then
//! `client_header_timeout`): the first head of a connection gets
//! `client_timeout`; every later wait starts in the *idle* phase
//! (`idle_timeout`) and switches to `client_timeout` from the first byte of
//! the next request, which [`Watched`] notes on the socket.
//!
//! hyper asks for a new timer for every request head. Each would register a
//! tokio timer and deregister it once the head arrived: two locks of the
//! timer wheel per request, ~1.3k instructions. Instead a connection keeps
//! one tokio timer for its life and every wait re-arms it: moving a
//! registered deadline later is a single atomic in tokio, so a busy
//! keep-alive connection touches the wheel about once per timeout period,
//! not once per request. The added cost is a relaxed store per socket read.

use hyper::rt::{Sleep, Timer};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Which timeout closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expired {
    /// A request head did not arrive within `client_timeout`.
    Head,
    /// No next request began within `idle_timeout`.
    Idle,
}

/// What the socket and the timer of one connection share.
#[derive(Debug, Default)]
pub(super) struct Activity {
    /// A byte arrived since the current idle wait began.
    read: AtomicBool,
    /// 0: no timeout fired; 1: [`Expired::Head`]; 2: [`Expired::Idle`].
    expired: AtomicU8,
    /// The connection's one tokio timer, resting between two waits; `None`
    /// until the first wait and while one is in progress (it is lent to it).
    timer: Mutex<Option<Pin<Box<tokio::time::Sleep>>>>,
}

impl Activity {
    /// The timeout that fired, if any.
    pub(super) fn expired(&self) -> Option<Expired> {
        match self.expired.load(Relaxed) {
            1 => Some(Expired::Head),
            2 => Some(Expired::Idle),
            _ => None,
        }
    }
}

/// The per-connection timer given to hyper.
#[derive(Debug)]
pub(super) struct ConnTimer {
    activity: Arc<Activity>,
    head: Duration,
    idle: Duration,
    /// The first head wait (from accept) has begun.
    started: AtomicBool,
}

impl ConnTimer {
    pub(super) fn new(activity: Arc<Activity>, head: Duration, idle: Duration) -> ConnTimer {
        ConnTimer {
            activity,
            head,
            idle,
            started: AtomicBool::new(false),
        }
    }
}

impl Timer for ConnTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        // hyper's deadline is `client_timeout` from now: right for the first
        // head; any later wait is between requests. "Now" is derived from it
        // rather than read from the clock a second time.
        let (phase, deadline) = if self.started.swap(true, Relaxed) {
            self.activity.read.store(false, Relaxed);
            let now = deadline.checked_sub(self.head).unwrap_or_else(Instant::now);
            (Expired::Idle, now + self.idle)
        } else {
            (Expired::Head, deadline)
        };
        let kept = self
            .activity
            .timer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let sleep = match kept {
            Some(mut sleep) => {
                sleep.as_mut().reset(deadline.into());
                sleep
            }
            None => Box::pin(tokio::time::sleep_until(deadline.into())),
        };
        Box::pin(Phased {
            sleep: Some(sleep),
            phase,
            head: self.head,
            activity: self.activity.clone(),
        })
    }
}

/// A head or idle wait; an idle wait becomes a head wait when the next
/// request's first byte arrives. It gives the connection's timer back when
/// dropped.
struct Phased {
    /// Always `Some` until dropped.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    phase: Expired,
    head: Duration,
    activity: Arc<Activity>,
}

impl Future for Phased {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(sleep) = this.sleep.as_mut() else {
            return Poll::Pending;
        };
        // hyper polls this timer each time a read leaves the head incomplete.
        if this.phase == Expired::Idle && this.activity.read.load(Relaxed) {
            this.phase = Expired::Head;
            sleep.as_mut().reset(tokio::time::Instant::now() + this.head);
        }
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let code = match this.phase {
            Expired::Head => 1,
            Expired::Idle => 2,
        };
        this.activity.expired.store(code, Relaxed);
        Poll::Ready(())
    }
}

impl Drop for Phased {
    fn drop(&mut self) {
        // The timer stays registered at its old deadline; the next wait
        // moves it (later: no re-registration). Firing in between wakes the
        // connection's task once, harmlessly.
        if let Some(sleep) = self.sleep.take() {
            *self.activity.timer.lock().unwrap_or_else(PoisonError::into_inner) = Some(sleep);
        }
    }
}

impl Sleep for Phased {}

/// A client socket that notes, for the idle timer, that bytes arrived.
#[derive(Debug)]
pub(super) struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    pub(super) fn new(inner: T, activity: Arc<Activity>) -> Watched<T> {
        Watched { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.read.store(true, Relaxed);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(3600);
    const SHORT: Duration = Duration::from_millis(10);

    fn poll_once(s: &mut Pin<Box<dyn Sleep>>) -> Poll<()> {
        s.as_mut().poll(&mut Context::from_waker(std::task::Waker::noop()))
    }

    /// Rule: the first wait of a connection is a head wait with hyper's deadline.
    #[tokio::test]
    async fn the_first_wait_is_a_head_wait() {
        let activity = Arc::new(Activity::default());
        let t = ConnTimer::new(activity.clone(), SHORT, LONG);
        t.sleep(SHORT).await;
        assert_eq!(activity.expired(), Some(Expired::Head));
    }

    /// Rule: a later wait is an idle wait, and becomes a head wait once a
    /// byte of the next request arrives.
    #[tokio::test]
    async fn a_later_wait_is_idle_until_a_byte_arrives() {
        let activity = Arc::new(Activity::default());
        let t = ConnTimer::new(activity.clone(), SHORT, LONG);
        drop(t.sleep(SHORT));
        let mut wait = t.sleep(SHORT);
        assert!(poll_once(&mut wait).is_pending(), "an idle wait lasts idle_timeout");
        assert_eq!(activity.expired(), None);
        activity.read.store(true, Relaxed);
        wait.await;
        assert_eq!(activity.expired(), Some(Expired::Head));

        let activity = Arc::new(Activity::default());
        let t = ConnTimer::new(activity.clone(), LONG, SHORT);
        drop(t.sleep(LONG));
        t.sleep(LONG).await;
        assert_eq!(activity.expired(), Some(Expired::Idle));
    }

    /// Rule: the timer a connection keeps across waits serves each wait at
    /// its own deadline: earlier than the kept one, or after the kept one
    /// already fired.
    #[tokio::test]
    async fn a_kept_timer_serves_each_wait_at_its_own_deadline() {
        // The first (head) wait registers an hour out; the idle wait after it
        // must still fire after its 10 ms.
        let activity = Arc::new(Activity::default());
        let t = ConnTimer::new(activity.clone(), LONG, SHORT);
        let mut first = t.sleep(LONG);
        assert!(poll_once(&mut first).is_pending());
        drop(first);
        t.sleep(LONG).await;
        assert_eq!(activity.expired(), Some(Expired::Idle));

        // A wait after one that fired waits again rather than firing at once.
        let activity = Arc::new(Activity::default());
        let t = ConnTimer::new(activity.clone(), SHORT, LONG);
        t.sleep(SHORT).await;
        assert_eq!(activity.expired(), Some(Expired::Head));
        activity.expired.store(0, Relaxed);
        let mut next = t.sleep(SHORT);
        assert!(
            poll_once(&mut next).is_pending(),
            "a re-armed timer waits for idle_timeout"
        );
        tokio::time::sleep(SHORT * 3).await;
        assert!(poll_once(&mut next).is_pending());
        assert_eq!(activity.expired(), None);
    }
}
