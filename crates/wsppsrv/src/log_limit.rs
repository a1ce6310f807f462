//! At most one log line a second for events a crowd of clients, or one hostile client,
//! can repeat at will.
//!
//! A failed TLS handshake or a client gone without a Close is worth an operator's
//! attention at the default level, but a port scanner or a network cut can make
//! thousands a second, and a line each would drown the log (and cost the server more
//! than the events themselves). So the first event logs, the ones that follow within a
//! second are counted, and the next line says how many it stands for. `/metrics` counts
//! every one.

use std::time::{Duration, Instant};

/// When the last line went out, and the events counted since.
#[derive(Debug, Default)]
pub(crate) struct LogLimit {
    logged_at: Option<Instant>,
    /// Events not yet told in a line.
    unlogged: u64,
}

impl LogLimit {
    /// The least time between two lines.
    pub(crate) const EVERY: Duration = Duration::from_secs(1);

    /// Counts an event at `now`; when a line is due, the events it tells of: this
    /// one and those folded in since the last line.
    pub(crate) fn admit(&mut self, now: Instant) -> Option<u64> {
        self.unlogged += 1;
        if self
            .logged_at
            .is_some_and(|at| now.duration_since(at) < Self::EVERY)
        {
            return None;
        }
        self.logged_at = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_a_second_telling_of_the_events_folded_in() {
        let mut limit = LogLimit::default();
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        assert_eq!(limit.admit(at(0)), Some(1));
        assert_eq!(limit.admit(at(10)), None);
        assert_eq!(limit.admit(at(999)), None);
        assert_eq!(limit.admit(at(1000)), Some(3));
        assert_eq!(limit.admit(at(5000)), Some(1));
    }
}
