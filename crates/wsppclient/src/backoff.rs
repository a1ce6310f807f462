//! Exponential back-off between reconnection attempts (`hold --reconnect`), with jitter.
//!
//! A restarted server is back within moments, a crashed one may take minutes: the
//! first retry comes quickly and each failure doubles the wait up to a ceiling, so a
//! client neither hammers a server that is down nor lingers once it is up. Each wait is
//! then drawn between half that figure and all of it, in whole milliseconds: a server
//! restart drops every client at the same instant, and without jitter they would all
//! come back in lockstep, attempt after attempt. Pure arithmetic on `Duration`s and a
//! small seeded generator, with no clock, so its tests are exact; the caller sleeps.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The wait before the first reconnection attempt, before jitter.
pub const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest wait between two attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(5);

/// The delays of successive attempts: `first`, doubling, at most `max`, each drawn
/// between half of that and all of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    /// The ceiling of the delay [`Backoff::next_delay`] returns next; `first <= next <= max`.
    next: Duration,
    /// Attempts since the last [`Backoff::reset`] (the one about to be made included).
    attempt: u32,
    /// The jitter's xorshift64 state; never 0.
    state: u64,
}

impl Default for Backoff {
    /// [`FIRST_DELAY`] doubling to [`MAX_DELAY`], seeded from the clock and the process,
    /// so that two clients restarted together draw different waits.
    fn default() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let seed = nanos ^ u64::from(std::process::id()).rotate_left(32);
        Backoff::seeded(FIRST_DELAY, MAX_DELAY, seed)
    }
}

impl Backoff {
    /// Starts at `first` and never waits more than `max`, with the jitter seeded by
    /// `seed` (the same seed, the same waits).
    pub fn seeded(first: Duration, max: Duration, seed: u64) -> Self {
        let max = max.max(first);
        Backoff {
            first,
            max,
            next: first,
            attempt: 0,
            // xorshift stays at 0 forever; any other seed is as good as another.
            state: seed.max(1),
        }
    }

    /// The wait before the next attempt, and that attempt's number (from 1).
    pub fn next_delay(&mut self) -> (Duration, u32) {
        let ceiling = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        (self.jittered(ceiling), self.attempt)
    }

    /// After a successful connection: the next loss starts again from `first`.
    pub fn reset(&mut self) {
        self.next = self.first;
        self.attempt = 0;
    }

    /// A wait between half of `ceiling` and `ceiling`, in whole milliseconds.
    fn jittered(&mut self, ceiling: Duration) -> Duration {
        let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        let half = ms / 2;
        let spread = ms - half;
        Duration::from_millis(half + self.random() % (spread + 1))
    }

    /// xorshift64 (Marsaglia): plenty for spreading reconnections, no dependency.
    fn random(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded(seed: u64) -> Backoff {
        Backoff::seeded(FIRST_DELAY, MAX_DELAY, seed)
    }

    #[test]
    fn delays_double_up_to_the_ceiling_each_within_its_half() {
        for seed in 1..200 {
            let mut backoff = seeded(seed);
            let ceilings = [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000];
            for (i, ceiling) in ceilings.into_iter().enumerate() {
                let (delay, attempt) = backoff.next_delay();
                assert_eq!(attempt, i as u32 + 1);
                let ms = delay.as_millis();
                assert!(
                    ceiling / 2 <= ms && ms <= ceiling,
                    "seed {seed}: {ms} ms of {ceiling}"
                );
                assert_eq!(delay.subsec_nanos() % 1_000_000, 0, "whole milliseconds");
            }
        }
    }

    #[test]
    fn clients_restarted_together_spread_out() {
        // A hundred clients, the third attempt (a ceiling of 400 ms): their waits cover
        // most of 200..=400 ms instead of all being one figure.
        let waits: Vec<u128> = (1..=100u64)
            .map(|seed| {
                let mut backoff = seeded(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
                backoff.next_delay();
                backoff.next_delay();
                backoff.next_delay().0.as_millis()
            })
            .collect();
        let distinct: std::collections::HashSet<_> = waits.iter().collect();
        let (least, most) = (waits.iter().min(), waits.iter().max());
        assert!(
            distinct.len() >= 50,
            "{} distinct waits: {waits:?}",
            distinct.len()
        );
        assert!(least < Some(&230) && most > Some(&370), "{waits:?}");
        // The same seed draws the same waits.
        assert_eq!(seeded(7).next_delay(), seeded(7).next_delay());
    }

    #[test]
    fn a_success_starts_again_from_the_first_delay() {
        let mut backoff = seeded(3);
        backoff.next_delay();
        backoff.next_delay();
        backoff.reset();
        let (delay, attempt) = backoff.next_delay();
        assert_eq!(attempt, 1);
        assert!(
            delay <= FIRST_DELAY && delay >= FIRST_DELAY / 2,
            "{delay:?}"
        );
    }

    #[test]
    fn a_ceiling_below_the_first_delay_is_the_first_delay() {
        let mut backoff = Backoff::seeded(Duration::from_secs(1), Duration::from_millis(10), 5);
        assert!(backoff.next_delay().0 >= Duration::from_millis(500));
        assert!(backoff.next_delay().0 <= Duration::from_secs(1));
    }
}
