//! Busy polling: keep a current-thread tokio runtime awake for a while after each
//! message, instead of letting its thread sleep in `epoll_wait` until the next one.
//!
//! On an idle machine, much of a loopback round trip is not the network but two
//! wake-ups: the process waiting for the answer sleeps, and the kernel must wake its
//! CPU when the answer arrives (in a VM, an idle vCPU is halted, and waking it costs
//! an exit to the hypervisor). A raw TCP ping-pong with both ends spinning takes about
//! half as long as with both ends blocking (docs/benchmarks.md, section 10, has the
//! figures and how they were measured). A latency tool that spins while it waits
//! measures the path, not its own wake-up.
//!
//! The poller is one task that, while polling is wanted, yields at every turn. A
//! current-thread runtime with a task that yielded does not sleep: it polls its
//! reactor with a zero timeout and runs the task again, so socket readiness is
//! picked up as soon as the kernel has it. [`BusyPoll::touch`] asks for the next
//! `budget` of polling; when it runs out with nothing new, the task waits and the
//! runtime sleeps as usual. The price is a CPU kept at 100% while polling, so the
//! budget bounds it: with one ping a second and a 1 ms budget, 0.1% of a core.
//!
//! It is meant for a current-thread runtime: on a multi-threaded one the yielding
//! task keeps one worker busy, which need not be the one holding the reactor.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// A handle on a busy poller; cheap to clone. The poller's task ends when the last
/// handle is dropped. [`BusyPoll::off`] does nothing.
#[derive(Debug, Clone, Default)]
pub struct BusyPoll {
    handle: Option<Arc<Handle>>,
}

/// The part of a poller the handles share; its drop stops the task.
#[derive(Debug)]
struct Handle {
    poller: Arc<Poller>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.poller.closed.store(true, Ordering::SeqCst);
        self.poller.wake.notify_one();
    }
}

#[derive(Debug)]
struct Poller {
    budget: Duration,
    /// The time `now_ns` values count from.
    epoch: Instant,
    /// Until when polling is wanted, in ns since `epoch`.
    until_ns: AtomicU64,
    /// Whether the poller is yielding now (so a touch need not wake it).
    polling: AtomicBool,
    /// Set when every handle is gone: the task ends.
    closed: AtomicBool,
    /// Wakes the poller after it ran out of budget.
    wake: Notify,
}

impl Poller {
    fn now_ns(&self) -> u64 {
        // u64 nanoseconds outlast the process by centuries.
        self.epoch.elapsed().as_nanos() as u64
    }
}

impl BusyPoll {
    /// No busy polling: [`BusyPoll::touch`] is a no-op and the runtime sleeps as usual.
    pub fn off() -> BusyPoll {
        BusyPoll::default()
    }

    /// Starts a poller on the current tokio runtime that polls for `budget` after each
    /// [`BusyPoll::touch`]; a zero budget is [`BusyPoll::off`].
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn start(budget: Duration) -> BusyPoll {
        if budget.is_zero() {
            return BusyPoll::off();
        }
        let poller = Arc::new(Poller {
            budget,
            epoch: Instant::now(),
            until_ns: AtomicU64::new(0),
            polling: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            wake: Notify::new(),
        });
        // Runs only while touched; ends with the last handle (or the runtime).
        tokio::spawn(poll(Arc::clone(&poller)));
        BusyPoll {
            handle: Some(Arc::new(Handle { poller })),
        }
    }

    fn poller(&self) -> Option<&Poller> {
        self.handle.as_deref().map(|h| &*h.poller)
    }

    /// Whether this handle polls at all.
    pub fn is_on(&self) -> bool {
        self.handle.is_some()
    }

    /// How long each touch keeps the runtime polling; zero when off.
    pub fn budget(&self) -> Duration {
        self.poller().map_or(Duration::ZERO, |p| p.budget)
    }

    /// Keeps the runtime polling for the next `budget`: call it when an answer is
    /// expected soon (a ping sent, a message read).
    pub fn touch(&self) {
        if let Some(poller) = self.poller() {
            let until = poller.now_ns() + poller.budget.as_nanos() as u64;
            poller.until_ns.fetch_max(until, Ordering::SeqCst);
            // Under steady traffic the poller is already yielding: no wake-up to pay.
            if !poller.polling.load(Ordering::SeqCst) {
                poller.wake.notify_one();
            }
        }
    }
}

async fn poll(poller: Arc<Poller>) {
    while !poller.closed.load(Ordering::SeqCst) {
        poller.polling.store(true, Ordering::SeqCst);
        while poller.now_ns() < poller.until_ns.load(Ordering::SeqCst)
            && !poller.closed.load(Ordering::SeqCst)
        {
            tokio::task::yield_now().await;
        }
        // Registered before `polling` is cleared, so that a touch from another thread
        // between the last check and the wait still wakes it.
        let woken = poller.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        poller.polling.store(false, Ordering::SeqCst);
        if poller.now_ns() >= poller.until_ns.load(Ordering::SeqCst)
            && !poller.closed.load(Ordering::SeqCst)
        {
            woken.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_does_nothing() {
        let off = BusyPoll::off();
        off.touch();
        assert!(!off.is_on());
        assert_eq!(off.budget(), Duration::ZERO);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_zero_budget_is_off() {
        assert!(!BusyPoll::start(Duration::ZERO).is_on());
    }

    /// While touched, the poller keeps the runtime turning: a task that only yields
    /// still gets its turns, and the reactor's timers still fire.
    #[tokio::test(flavor = "current_thread")]
    async fn polling_leaves_timers_and_tasks_running() {
        let busy = BusyPoll::start(Duration::from_secs(10));
        assert!(busy.is_on());
        assert_eq!(busy.budget(), Duration::from_secs(10));
        busy.touch();
        tokio::time::timeout(Duration::from_secs(5), async {
            tokio::time::sleep(Duration::from_millis(2)).await;
            for _ in 0..100 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the runtime kept running its timers and tasks while polling");
    }

    /// The budget runs out: the poller stops yielding, and a later touch starts it again.
    #[tokio::test(flavor = "current_thread")]
    async fn polling_stops_when_the_budget_runs_out_and_restarts_on_a_touch() {
        let busy = BusyPoll::start(Duration::from_millis(100));
        let poller = Arc::clone(&busy.handle.as_ref().expect("on").poller);
        let polling = || poller.polling.load(Ordering::SeqCst);
        // Each yield of this task gives the poller a turn.
        let until_parked = || async {
            tokio::time::timeout(Duration::from_secs(5), async {
                while polling() {
                    tokio::task::yield_now().await;
                }
            })
            .await
            .expect("the poller stopped once its budget ran out");
        };
        for _ in 0..3 {
            busy.touch();
            tokio::task::yield_now().await;
            assert!(polling(), "a touch starts the poller");
            until_parked().await;
        }
    }

    /// Dropping the last handle ends the task, whether it was polling or waiting.
    #[tokio::test(flavor = "current_thread")]
    async fn the_task_ends_with_the_last_handle() {
        for touched in [false, true] {
            let busy = BusyPoll::start(Duration::from_secs(60));
            let poller = Arc::clone(&busy.handle.as_ref().expect("on").poller);
            let copy = busy.clone();
            if touched {
                busy.touch();
            }
            tokio::task::yield_now().await;
            drop(busy);
            tokio::task::yield_now().await;
            // Ours, the handles' and the task's.
            assert_eq!(Arc::strong_count(&poller), 3, "a clone keeps it running");
            drop(copy);
            tokio::time::timeout(Duration::from_secs(5), async {
                while Arc::strong_count(&poller) > 1 {
                    tokio::task::yield_now().await;
                }
            })
            .await
            .expect("the poller's task ended");
        }
    }
}
