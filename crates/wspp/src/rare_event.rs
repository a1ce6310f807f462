//! Waiting for a rare event (shutdown, Ctrl-C) from a loop that turns on every message.
//!
//! A session's `select!` polls each of its futures every time its task wakes, and it
//! wakes for every pong. A wait on a `CancellationToken` takes two locks per poll (the
//! token's state, then the waiter list, to re-register a waker it already has) on
//! every round trip, for an event that comes once in the life of the process
//! (docs/benchmarks.md, section 11, counts what skipping them saves). [`RareEvent`] polls the wait once, to register the task's waker, and
//! after that only when a cheap check says the event has happened or the task's waker
//! has changed, which a tokio task's does not. (A waker that does not compare equal to
//! its own clone, as `block_on`'s may not, only makes every poll go through: slower,
//! never wrong.)

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// `wait`, polled only when `happened()` or when the waker it registered is stale.
///
/// `happened` must be true once `wait` can complete: the wait is then polled and
/// completes. Until then, polls cost a call to `happened` and a waker comparison.
#[derive(Debug)]
pub struct RareEvent<F, C> {
    wait: F,
    happened: C,
    /// The waker `wait` last registered.
    registered: Option<Waker>,
}

impl<F, C> RareEvent<F, C>
where
    F: Future + Unpin,
    C: Fn() -> bool,
{
    /// Wraps `wait` (pinned by the caller, e.g. with `tokio::pin!`, and passed as
    /// `Pin<&mut _>`), with `happened` as the cheap check.
    pub fn new(wait: F, happened: C) -> Self {
        RareEvent {
            wait,
            happened,
            registered: None,
        }
    }
}

impl<F, C> Future for RareEvent<F, C>
where
    F: Future + Unpin,
    C: Fn() -> bool + Unpin,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let current = this
            .registered
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()));
        if current && !(this.happened)() {
            return Poll::Pending;
        }
        let polled = Pin::new(&mut this.wait).poll(cx);
        if polled.is_pending() {
            this.registered = Some(cx.waker().clone());
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;

    /// A wait that counts its polls and completes once `done` is set, waking the waker
    /// it was last polled with.
    struct Wait {
        done: Arc<AtomicBool>,
        polls: Arc<AtomicUsize>,
    }

    impl Future for Wait {
        type Output = &'static str;

        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<&'static str> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            if self.done.load(Ordering::SeqCst) {
                Poll::Ready("happened")
            } else {
                Poll::Pending
            }
        }
    }

    fn fixture() -> (
        RareEvent<Wait, impl Fn() -> bool + Unpin>,
        Arc<AtomicBool>,
        Arc<AtomicUsize>,
    ) {
        let done = Arc::new(AtomicBool::new(false));
        let polls = Arc::new(AtomicUsize::new(0));
        let wait = Wait {
            done: Arc::clone(&done),
            polls: Arc::clone(&polls),
        };
        let check = Arc::clone(&done);
        let event = RareEvent::new(wait, move || check.load(Ordering::SeqCst));
        (event, done, polls)
    }

    #[test]
    fn the_wait_is_polled_once_until_the_event() {
        let (mut event, done, polls) = fixture();
        let waker: Waker = Arc::new(NoWake).into();
        let mut cx = Context::from_waker(&waker);
        for _ in 0..100 {
            assert!(Pin::new(&mut event).poll(&mut cx).is_pending());
        }
        assert_eq!(
            polls.load(Ordering::SeqCst),
            1,
            "polled to register, then spared"
        );
        done.store(true, Ordering::SeqCst);
        assert_eq!(Pin::new(&mut event).poll(&mut cx), Poll::Ready("happened"));
    }

    #[test]
    fn a_new_waker_is_registered() {
        let (mut event, _done, polls) = fixture();
        let one: Waker = Arc::new(NoWake).into();
        let mut first = Context::from_waker(&one);
        assert!(Pin::new(&mut event).poll(&mut first).is_pending());
        // A waker that does not `will_wake` the registered one: the wait must see it.
        let other: Waker = Arc::new(NoWake).into();
        let mut second = Context::from_waker(&other);
        assert!(Pin::new(&mut event).poll(&mut second).is_pending());
        assert!(Pin::new(&mut event).poll(&mut second).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 2);
    }

    struct NoWake;

    impl std::task::Wake for NoWake {
        fn wake(self: Arc<Self>) {}
    }
}
