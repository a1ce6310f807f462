//! A connection's reads, polled only once something has woken them.
//!
//! A probe's task is polled several times a probe: when its timer fires to send, right
//! after the send, when the answer arrives. Each poll went down through the WebSocket
//! (tokio-tungstenite's waker proxies, tungstenite's read, the UTF-8 guard, the
//! socket's readiness) to learn, two times out of three, that nothing had come: some
//! hundreds of instructions each, at every probe of every connection.
//!
//! The reads are polled through a waker of their own, which notes that it was woken
//! before it wakes the task. A read that returned `Pending` registered that waker
//! wherever it waits (the socket's readiness, through the layers), so until the waker
//! fires there is nothing new to read and the poll can be skipped. After a read that
//! returned a message, the next poll goes through: tungstenite may hold the next
//! message already, with nothing left for the socket to wake.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// The reads of one connection: see the module doc.
pub struct WokenReads {
    signal: Arc<Signal>,
    /// `signal` as a waker, made once.
    waker: Waker,
}

/// What the reads' waker shares with the connection's task.
#[derive(Default)]
struct Signal {
    /// Set by the waker, and after a read that returned something; taken by the poll
    /// that then reads.
    woken: AtomicBool,
    /// The connection's task, which the reads' waker wakes.
    task: AtomicWaker,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl WokenReads {
    /// Reads not polled yet: the first poll goes through.
    pub fn new() -> Self {
        let signal = Arc::new(Signal::default());
        signal.woken.store(true, Ordering::Relaxed);
        let waker = Waker::from(Arc::clone(&signal));
        WokenReads { signal, waker }
    }

    /// Polls `read` through the reads' own waker if something woke them since the
    /// last `Pending`, else returns `Pending` at once; either way the task in `cx` is
    /// woken when the reads are.
    pub fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        read: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        // Registered before the flag is taken, so that a wake in between is not lost.
        self.signal.task.register(cx.waker());
        if !self.signal.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let polled = read(&mut Context::from_waker(&self.waker));
        if polled.is_ready() {
            self.signal.woken.store(true, Ordering::Relaxed);
        }
        polled
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    /// A waker that counts its wakes (the connection's tests use it too).
    #[derive(Default)]
    pub(crate) struct Wakes(pub(crate) AtomicU64);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn reads_are_polled_after_a_wake_or_an_answer_and_not_otherwise() {
        let reads = WokenReads::new();
        let task = Arc::new(Wakes::default());
        let task_waker = Waker::from(Arc::clone(&task));
        let mut cx = Context::from_waker(&task_waker);
        let mut polls = 0;
        // The first poll reads; it finds nothing and keeps the reads' waker.
        let mut kept = None;
        let first = reads.poll(&mut cx, |cx| {
            polls += 1;
            kept = Some(cx.waker().clone());
            Poll::<()>::Pending
        });
        assert!(first.is_pending());
        // Nothing woke the reads: not polled.
        assert!(
            reads
                .poll(&mut cx, |_| -> Poll<()> { panic!("polled") })
                .is_pending()
        );
        // The socket wakes the reads' waker: the task is woken, and the next poll reads.
        kept.expect("waker kept").wake();
        assert_eq!(task.0.load(Ordering::Relaxed), 1);
        let answer = reads.poll(&mut cx, |_| {
            polls += 1;
            Poll::Ready(7)
        });
        assert_eq!(answer, Poll::Ready(7));
        // After an answer, the next poll reads too: more may be buffered above the
        // socket.
        let again = reads.poll(&mut cx, |_| {
            polls += 1;
            Poll::<u8>::Pending
        });
        assert!(again.is_pending());
        assert_eq!(polls, 3);
    }
}
