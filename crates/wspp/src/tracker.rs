//! Which pong answers which ping.
//!
//! A pong is an answer only if it echoes the payload of a ping this side sent and has
//! not yet given up on. Everything else is counted, never turned into an RTT:
//!
//! * a pong for an older ping than the newest answered one is **late** (its ping was
//!   already answered, or already given up as lost);
//! * a pong whose payload this side never wrote is **unsolicited** (RFC 6455 allows a
//!   peer to send one as a heartbeat).
//!
//! A peer may answer only the most recent of several pings (RFC 6455, 5.5.3), and
//! tungstenite does exactly that when it falls behind. So when a pong answers ping N,
//! every older ping still waiting is counted as lost: reporting the time to ping N's
//! pong as their RTT would be wrong.
//!
//! The same bookkeeping matches echoed Text or Binary messages to the ones sent
//! ([`PingTracker::with_encoding`]): an echo server's answer is a pong by other means.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::payload::{Encoding, PingId};

/// Pings waiting for their pong beyond this many are given up as lost, so a silent
/// peer with a long timeout cannot make the queue grow without bound.
pub const MAX_OUTSTANDING: usize = 1024;

/// A ping ready to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    /// Its sequence number (from 0 on each tracker).
    pub seq: u64,
    /// The payload to put in the Ping frame.
    pub payload: Vec<u8>,
}

/// What a pong turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PongOutcome {
    /// The answer to ping `seq`, `rtt` after it was sent.
    Reply {
        /// The sequence number of the ping answered.
        seq: u64,
        /// Time from sending the ping to receiving this pong.
        rtt: Duration,
        /// Older pings still waiting, now counted as lost.
        skipped: u64,
    },
    /// The echo of a ping already answered or already given up on.
    Late {
        /// The sequence number the payload names.
        seq: u64,
    },
    /// A pong whose payload this tracker never sent.
    Unsolicited,
}

/// Running totals of a tracker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Pings handed out by [`PingTracker::ping`].
    pub sent: u64,
    /// Pings answered by their pong.
    pub answered: u64,
    /// Pings given up on: timed out, overtaken by a newer answer, or pushed out of the queue.
    pub lost: u64,
    /// Pongs that echoed a ping already answered or lost.
    pub late: u64,
    /// Pongs that echoed nothing this tracker sent.
    pub unsolicited: u64,
}

impl Counts {
    /// Pings sent and not answered: lost, or still waiting (ping(8) counts those as
    /// lost when a run ends).
    pub fn unanswered(&self) -> u64 {
        self.sent.saturating_sub(self.answered)
    }

    /// [`Counts::unanswered`] as a percentage of pings sent (0 when none was sent).
    pub fn loss_pct(&self) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            self.unanswered() as f64 * 100.0 / self.sent as f64
        }
    }
}

/// The bookkeeping of one connection's pings.
#[derive(Debug)]
pub struct PingTracker {
    /// The instant payload offsets count from; fixed for the tracker's life.
    origin: Instant,
    /// Bytes per ping payload, already clamped to what a control frame allows.
    payload_len: usize,
    /// How payloads are written and read back.
    encoding: Encoding,
    /// The sequence number of the next ping; every seq below it has been sent.
    next_seq: u64,
    /// Pings awaiting their pong, oldest first, seqs strictly increasing.
    waiting: VecDeque<(u64, Instant)>,
    counts: Counts,
}

impl PingTracker {
    /// A tracker whose payloads are `payload_len` bytes (clamped to the valid range).
    pub fn new(origin: Instant, payload_len: usize) -> Self {
        PingTracker::with_encoding(origin, payload_len, Encoding::Binary)
    }

    /// A tracker whose payloads are written in `encoding`: [`Encoding::Text`] for
    /// probes sent as Text messages to an echo server.
    pub fn with_encoding(origin: Instant, payload_len: usize, encoding: Encoding) -> Self {
        PingTracker {
            origin,
            payload_len: payload_len.clamp(crate::payload::MIN_LEN, crate::payload::MAX_LEN),
            encoding,
            next_seq: 0,
            waiting: VecDeque::new(),
            counts: Counts::default(),
        }
    }

    /// Records a ping sent at `now` and returns what to send.
    pub fn ping(&mut self, now: Instant) -> Ping {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.waiting.len() == MAX_OUTSTANDING {
            self.waiting.pop_front();
            self.counts.lost += 1;
        }
        self.waiting.push_back((seq, now));
        self.counts.sent += 1;
        let id = PingId {
            seq,
            sent: now.saturating_duration_since(self.origin),
        };
        Ping {
            seq,
            payload: id.encode_as(self.encoding, self.payload_len),
        }
    }

    /// Classifies a pong received at `now`.
    pub fn pong(&mut self, payload: &[u8], now: Instant) -> PongOutcome {
        let Some(id) = PingId::decode_as(self.encoding, payload) else {
            self.counts.unsolicited += 1;
            return PongOutcome::Unsolicited;
        };
        if id.seq >= self.next_seq {
            self.counts.unsolicited += 1;
            return PongOutcome::Unsolicited;
        }
        let Some(pos) = self.waiting.iter().position(|&(seq, _)| seq == id.seq) else {
            self.counts.late += 1;
            return PongOutcome::Late { seq: id.seq };
        };
        let sent = self.waiting[pos].1;
        if sent.saturating_duration_since(self.origin) != id.sent {
            // A known sequence number with the wrong time: not an echo of our ping.
            self.counts.unsolicited += 1;
            return PongOutcome::Unsolicited;
        }
        let skipped = pos as u64;
        self.waiting.drain(..=pos);
        self.counts.lost += skipped;
        self.counts.answered += 1;
        PongOutcome::Reply {
            seq: id.seq,
            rtt: now.saturating_duration_since(sent),
            skipped,
        }
    }

    /// Gives up on every ping sent `timeout` or longer before `now`; returns their seqs.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Vec<u64> {
        let mut expired = Vec::new();
        while let Some(&(seq, sent)) = self.waiting.front() {
            if now.saturating_duration_since(sent) < timeout {
                break;
            }
            self.waiting.pop_front();
            expired.push(seq);
        }
        self.counts.lost += expired.len() as u64;
        expired
    }

    /// When the oldest waiting ping times out, if any is waiting.
    pub fn deadline(&self, timeout: Duration) -> Option<Instant> {
        self.waiting.front().map(|&(_, sent)| sent + timeout)
    }

    /// How many pings await their pong.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// How this tracker writes and reads payloads.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The running totals.
    pub fn counts(&self) -> Counts {
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_pong_answers_its_ping() {
        let t0 = Instant::now();
        let mut tracker = PingTracker::new(t0, 16);
        let ping = tracker.ping(t0 + MS);
        assert_eq!(ping.seq, 0);
        let outcome = tracker.pong(&ping.payload, t0 + 4 * MS);
        assert_eq!(
            outcome,
            PongOutcome::Reply {
                seq: 0,
                rtt: 3 * MS,
                skipped: 0
            }
        );
        assert_eq!(tracker.waiting(), 0);
        assert_eq!(tracker.counts().answered, 1);
    }

    #[test]
    fn a_second_echo_is_late() {
        let t0 = Instant::now();
        let mut tracker = PingTracker::new(t0, 16);
        let ping = tracker.ping(t0);
        tracker.pong(&ping.payload, t0 + MS);
        assert_eq!(
            tracker.pong(&ping.payload, t0 + 2 * MS),
            PongOutcome::Late { seq: 0 }
        );
        assert_eq!(tracker.counts().late, 1);
        assert_eq!(tracker.counts().answered, 1);
    }

    #[test]
    fn foreign_and_future_payloads_are_unsolicited() {
        let t0 = Instant::now();
        let mut tracker = PingTracker::new(t0, 16);
        assert_eq!(tracker.pong(b"heartbeat", t0), PongOutcome::Unsolicited);
        let future = PingId {
            seq: 5,
            sent: Duration::ZERO,
        }
        .encode(16);
        assert_eq!(tracker.pong(&future, t0), PongOutcome::Unsolicited);
        assert_eq!(tracker.counts().unsolicited, 2);
    }

    #[test]
    fn a_known_seq_with_the_wrong_time_is_unsolicited() {
        let t0 = Instant::now();
        let mut tracker = PingTracker::new(t0, 16);
        tracker.ping(t0 + MS);
        let forged = PingId {
            seq: 0,
            sent: 7 * MS,
        }
        .encode(16);
        assert_eq!(tracker.pong(&forged, t0 + 9 * MS), PongOutcome::Unsolicited);
        assert_eq!(tracker.waiting(), 1);
    }

    #[test]
    fn answering_a_newer_ping_loses_the_older_ones() {
        let t0 = Instant::now();
        let mut tracker = PingTracker::new(t0, 16);
        let first = tracker.ping(t0);
        tracker.ping(t0 + MS);
        let third = tracker.ping(t0 + 2 * MS);
        assert_eq!(
            tracker.pong(&third.payload, t0 + 5 * MS),
            PongOutcome::Reply {
                seq: 2,
                rtt: 3 * MS,
                skipped: 2
            }
        );
        assert_eq!(
            tracker.pong(&first.payload, t0 + 6 * MS),
            PongOutcome::Late { seq: 0 }
        );
        let counts = tracker.counts();
        assert_eq!((counts.sent, counts.answered, counts.lost), (3, 1, 2));
    }

    #[test]
    fn expiry_gives_up_on_old_pings_only() {
        let t0 = Instant::now();
        let mut tracker = PingTracker::new(t0, 16);
        tracker.ping(t0);
        tracker.ping(t0 + 10 * MS);
        assert_eq!(tracker.deadline(50 * MS), Some(t0 + 50 * MS));
        assert_eq!(tracker.expire(t0 + 49 * MS, 50 * MS), Vec::<u64>::new());
        assert_eq!(tracker.expire(t0 + 50 * MS, 50 * MS), vec![0]);
        assert_eq!(tracker.deadline(50 * MS), Some(t0 + 60 * MS));
        assert_eq!(tracker.counts().lost, 1);
    }

    #[test]
    fn a_text_tracker_matches_text_echoes_only() {
        let t0 = Instant::now();
        let mut tracker = PingTracker::with_encoding(t0, 16, Encoding::Text);
        let probe = tracker.ping(t0 + MS);
        assert!(probe.payload.starts_with(b"seq=0 sent_ns=1000000"));
        let binary = PingId { seq: 0, sent: MS }.encode(16);
        assert_eq!(tracker.pong(&binary, t0 + 2 * MS), PongOutcome::Unsolicited);
        assert_eq!(
            tracker.pong(&probe.payload, t0 + 3 * MS),
            PongOutcome::Reply {
                seq: 0,
                rtt: 2 * MS,
                skipped: 0
            }
        );
    }

    #[test]
    fn the_queue_is_bounded() {
        let t0 = Instant::now();
        let mut tracker = PingTracker::new(t0, 16);
        for _ in 0..MAX_OUTSTANDING + 10 {
            tracker.ping(t0);
        }
        assert_eq!(tracker.waiting(), MAX_OUTSTANDING);
        assert_eq!(tracker.counts().lost, 10);
    }
}
