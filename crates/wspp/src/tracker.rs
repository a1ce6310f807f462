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
//!
//! Each answer is timed twice ([`Rtt`]): on the caller's monotonic clock, from handing
//! the ping out to being handed the pong, and, when the caller can say when the frames
//! met the wire ([`PingTracker::on_wire`], and the receive stamp given to
//! [`PingTracker::pong`]), on the wire's (see [`crate::wire_clock`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::payload::{Encoding, PingId};
use crate::wire_clock::{Clock, WireTime};

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

/// One round trip, timed on both clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rtt {
    /// From handing the ping out to being handed its pong: what the program saw,
    /// its own wake-up included.
    pub user: Duration,
    /// From the ping meeting the wire ([`PingTracker::on_wire`]) to the kernel's
    /// receive stamp of the pong:
    /// the network's round trip. `None` when either end of it was not stamped.
    pub kernel: Option<Duration>,
}

impl Rtt {
    /// The clock to report this round trip on when `wanted` is asked for: the kernel's
    /// only if it timed this one.
    pub fn clock(&self, wanted: Clock) -> Clock {
        match (wanted, self.kernel) {
            (Clock::Kernel, Some(_)) => Clock::Kernel,
            _ => Clock::User,
        }
    }

    /// The round trip on `clock`; the user's when the kernel did not time it.
    pub fn on(&self, clock: Clock) -> Duration {
        match clock {
            Clock::Kernel => self.kernel.unwrap_or(self.user),
            Clock::User => self.user,
        }
    }
}

/// A ping awaiting its pong. Times as nanoseconds, so that it is no larger than the
/// sequence number and `Instant` it replaced (a server keeps a queue per client).
#[derive(Debug, Clone, Copy)]
struct Waiting {
    seq: u64,
    /// When it was handed out, from the tracker's origin.
    sent: u64,
    /// When it met the wire, on the wire clock (0: not known).
    wire: u64,
}

/// What a pong turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PongOutcome {
    /// The answer to ping `seq`, `rtt` after it was sent.
    Reply {
        /// The sequence number of the ping answered.
        seq: u64,
        /// Time from sending the ping to receiving this pong.
        rtt: Rtt,
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
    waiting: VecDeque<Waiting>,
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
        let sent = now.saturating_duration_since(self.origin);
        self.waiting.push_back(Waiting {
            seq,
            sent: nanos(sent),
            wire: 0,
        });
        self.counts.sent += 1;
        let id = PingId { seq, sent };
        Ping {
            seq,
            payload: id.encode_as(self.encoding, self.payload_len),
        }
    }

    /// Records when ping `seq` (the latest one) met the wire: the kernel's transmit
    /// stamp of the write that carried it, or the clock just before that write.
    pub fn on_wire(&mut self, seq: u64, at: WireTime) {
        if let Some(last) = self.waiting.back_mut()
            && last.seq == seq
        {
            last.wire = at.as_nanos();
        }
    }

    /// Classifies a pong handed over at `now`, whose bytes the kernel received at
    /// `received` (when it said).
    pub fn pong(
        &mut self,
        payload: &[u8],
        now: Instant,
        received: Option<WireTime>,
    ) -> PongOutcome {
        let Some(id) = PingId::decode_as(self.encoding, payload) else {
            self.counts.unsolicited += 1;
            return PongOutcome::Unsolicited;
        };
        if id.seq >= self.next_seq {
            self.counts.unsolicited += 1;
            return PongOutcome::Unsolicited;
        }
        let Some(pos) = self.waiting.iter().position(|w| w.seq == id.seq) else {
            self.counts.late += 1;
            return PongOutcome::Late { seq: id.seq };
        };
        let ping = self.waiting[pos];
        if ping.sent != nanos(id.sent) {
            // A known sequence number with the wrong time: not an echo of our ping.
            self.counts.unsolicited += 1;
            return PongOutcome::Unsolicited;
        }
        let skipped = pos as u64;
        self.waiting.drain(..=pos);
        self.counts.lost += skipped;
        self.counts.answered += 1;
        let kernel = match received {
            Some(received) if ping.wire != 0 => received.since(WireTime::from_nanos(ping.wire)),
            _ => None,
        };
        PongOutcome::Reply {
            seq: id.seq,
            rtt: Rtt {
                user: now.saturating_duration_since(self.sent_at(ping)),
                kernel,
            },
            skipped,
        }
    }

    /// Gives up on every ping sent `timeout` or longer before `now`; returns their seqs.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Vec<u64> {
        let mut expired = Vec::new();
        while let Some(&ping) = self.waiting.front() {
            if now.saturating_duration_since(self.sent_at(ping)) < timeout {
                break;
            }
            self.waiting.pop_front();
            expired.push(ping.seq);
        }
        self.counts.lost += expired.len() as u64;
        expired
    }

    /// When the oldest waiting ping times out, if any is waiting.
    pub fn deadline(&self, timeout: Duration) -> Option<Instant> {
        self.waiting
            .front()
            .map(|&ping| self.sent_at(ping) + timeout)
    }

    fn sent_at(&self, ping: Waiting) -> Instant {
        self.origin + Duration::from_nanos(ping.sent)
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

/// Saturates: an origin 584 years old is not a case to handle.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
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
        let outcome = tracker.pong(&ping.payload, t0 + 4 * MS, None);
        assert_eq!(
            outcome,
            PongOutcome::Reply {
                seq: 0,
                rtt: Rtt {
                    user: 3 * MS,
                    kernel: None
                },
                skipped: 0
            }
        );
        assert_eq!(tracker.waiting(), 0);
        assert_eq!(tracker.counts().answered, 1);
    }

    #[test]
    fn the_wire_times_a_reply_when_both_ends_are_stamped() {
        let t0 = Instant::now();
        let mut tracker = PingTracker::new(t0, 16);
        let ping = tracker.ping(t0);
        tracker.on_wire(ping.seq, WireTime::from_nanos(1_000_000));
        let received = WireTime::from_nanos(1_040_000);
        let PongOutcome::Reply { rtt, .. } = tracker.pong(&ping.payload, t0 + MS, Some(received))
        else {
            panic!("not a reply");
        };
        assert_eq!(rtt.kernel, Some(Duration::from_micros(40)));
        assert_eq!(rtt.user, MS);
        assert_eq!(rtt.clock(Clock::Kernel), Clock::Kernel);
        assert_eq!(rtt.on(Clock::Kernel), Duration::from_micros(40));
        assert_eq!(rtt.on(Clock::User), MS);
        // Unstamped on either side, or a wall clock stepped back: the user's clock.
        let unsent = tracker.ping(t0);
        let PongOutcome::Reply { rtt, .. } = tracker.pong(&unsent.payload, t0 + MS, Some(received))
        else {
            panic!("not a reply");
        };
        assert_eq!((rtt.kernel, rtt.clock(Clock::Kernel)), (None, Clock::User));
        let stepped = tracker.ping(t0);
        tracker.on_wire(stepped.seq, WireTime::from_nanos(2_000_000));
        let PongOutcome::Reply { rtt, .. } =
            tracker.pong(&stepped.payload, t0 + MS, Some(received))
        else {
            panic!("not a reply");
        };
        assert_eq!(rtt.kernel, None);
    }

    #[test]
    fn a_second_echo_is_late() {
        let t0 = Instant::now();
        let mut tracker = PingTracker::new(t0, 16);
        let ping = tracker.ping(t0);
        tracker.pong(&ping.payload, t0 + MS, None);
        assert_eq!(
            tracker.pong(&ping.payload, t0 + 2 * MS, None),
            PongOutcome::Late { seq: 0 }
        );
        assert_eq!(tracker.counts().late, 1);
        assert_eq!(tracker.counts().answered, 1);
    }

    #[test]
    fn foreign_and_future_payloads_are_unsolicited() {
        let t0 = Instant::now();
        let mut tracker = PingTracker::new(t0, 16);
        assert_eq!(
            tracker.pong(b"heartbeat", t0, None),
            PongOutcome::Unsolicited
        );
        let future = PingId {
            seq: 5,
            sent: Duration::ZERO,
        }
        .encode(16);
        assert_eq!(tracker.pong(&future, t0, None), PongOutcome::Unsolicited);
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
        assert_eq!(
            tracker.pong(&forged, t0 + 9 * MS, None),
            PongOutcome::Unsolicited
        );
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
            tracker.pong(&third.payload, t0 + 5 * MS, None),
            PongOutcome::Reply {
                seq: 2,
                rtt: Rtt {
                    user: 3 * MS,
                    kernel: None
                },
                skipped: 2
            }
        );
        assert_eq!(
            tracker.pong(&first.payload, t0 + 6 * MS, None),
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
        assert_eq!(
            tracker.pong(&binary, t0 + 2 * MS, None),
            PongOutcome::Unsolicited
        );
        assert_eq!(
            tracker.pong(&probe.payload, t0 + 3 * MS, None),
            PongOutcome::Reply {
                seq: 0,
                rtt: Rtt {
                    user: 2 * MS,
                    kernel: None
                },
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
