//! Exponential back-off between reconnection attempts (`hold --reconnect`).
//!
//! A restarted server is back within moments, a crashed one may take minutes: the
//! first retry comes quickly and each failure doubles the wait up to a ceiling, so a
//! client neither hammers a server that is down nor lingers once it is up. Pure
//! arithmetic on `Duration`s with no clock, so its tests are exact; the caller sleeps.

use std::time::Duration;

/// The wait before the first reconnection attempt.
pub const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest wait between two attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(5);

/// The delays of successive attempts: `first`, doubling, at most `max`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    /// The delay [`Backoff::next_delay`] returns next; `first <= next <= max`.
    next: Duration,
    /// Attempts since the last [`Backoff::reset`] (the one about to be made included).
    attempt: u32,
}

impl Default for Backoff {
    /// [`FIRST_DELAY`] doubling to [`MAX_DELAY`].
    fn default() -> Self {
        Backoff::new(FIRST_DELAY, MAX_DELAY)
    }
}

impl Backoff {
    /// Starts at `first` and never waits more than `max` (nor less than `first`).
    pub fn new(first: Duration, max: Duration) -> Self {
        let max = max.max(first);
        Backoff {
            first,
            max,
            next: first,
            attempt: 0,
        }
    }

    /// The wait before the next attempt, and that attempt's number (from 1).
    pub fn next_delay(&mut self) -> (Duration, u32) {
        let delay = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        (delay, self.attempt)
    }

    /// After a successful connection: the next loss starts again from `first`.
    pub fn reset(&mut self) {
        self.next = self.first;
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_ceiling() {
        let mut backoff = Backoff::default();
        let delays: Vec<_> = (0..9).map(|_| backoff.next_delay()).collect();
        let ms: Vec<_> = delays.iter().map(|(d, _)| d.as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        let attempts: Vec<_> = delays.iter().map(|&(_, n)| n).collect();
        assert_eq!(attempts, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn a_success_starts_again_from_the_first_delay() {
        let mut backoff = Backoff::default();
        backoff.next_delay();
        backoff.next_delay();
        backoff.reset();
        assert_eq!(backoff.next_delay(), (FIRST_DELAY, 1));
    }

    #[test]
    fn a_ceiling_below_the_first_delay_is_the_first_delay() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_millis(10));
        assert_eq!(backoff.next_delay().0, Duration::from_secs(1));
        assert_eq!(backoff.next_delay().0, Duration::from_secs(1));
    }
}
