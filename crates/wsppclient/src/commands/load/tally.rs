//! What the connections of a `load` run count, shared between their tasks and the
//! once-a-second report.
//!
//! Every task records into one [`Live`], under a short `std::sync::Mutex` held only
//! to add a sample and never across an `.await`. Once a second the report swaps it
//! for an empty one, and on another thread makes it a [`Window`] and adds that to
//! the run's total. (Summed in place, the histograms' megabyte held the connections'
//! thread for milliseconds each second, and the probes due then left late.) The tasks
//! all run on the one thread of a current-thread runtime, so the lock is never
//! contended: windows sharded by task, as they once were, only multiplied the
//! histograms to clear and add each second, the largest cost of a run at a thousand
//! probes a second.
//!
//! Opening and closing a connection happens once in its life, so those counts
//! ([`Connections`]) sit under a lock of their own.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use wspp::stats::Latency;

use crate::error::Error;

/// What a set of connections did with their probes over some time.
#[derive(Debug, Clone, Default)]
pub struct Window {
    /// RTTs on the run's clock (the kernel's, where it stamped the probe).
    pub rtt: Latency,
    /// The same probes on the user's clock.
    pub user: Latency,
    /// The same probes on the run's clock, timed from when each really left, without
    /// its lateness: what the wire sees, and what a capture's Ping-to-Pong times match.
    pub uncorrected: Latency,
    /// How many probes went and came, and how late.
    pub counts: Counts,
}

impl Window {
    /// Adds `other`'s counts and samples to this one.
    pub fn add(&mut self, other: &Window) {
        self.rtt.add(&other.rtt);
        self.user.add(&other.user);
        self.uncorrected.add(&other.uncorrected);
        self.counts.add(&other.counts);
    }
}

/// A window's counts, without the RTTs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Probes sent.
    pub sent: u64,
    /// Probes answered.
    pub received: u64,
    /// Probes given up on: unanswered after the timeout, overtaken by a newer answer,
    /// or still waiting when the run was cut off.
    pub lost: u64,
    /// Probes that left later than scheduled (see [`super::connection::LATE_SLACK`]).
    pub late_sends: u64,
    /// How late the latest of them was.
    pub late_max: Duration,
    /// How late they were, summed.
    pub late_sum: Duration,
    /// Answers on the user's clock although the kernel's was wanted: the kernel did
    /// not stamp them.
    pub unstamped: u64,
}

impl Counts {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Counts) {
        self.sent += other.sent;
        self.received += other.received;
        self.lost += other.lost;
        self.late_sends += other.late_sends;
        self.late_max = self.late_max.max(other.late_max);
        self.late_sum += other.late_sum;
        self.unstamped += other.unstamped;
    }
}

/// What the connections record as they go, until the report takes it: the counts,
/// and each answer's round trips as three numbers, put into histograms only once a
/// second, off the connections' thread. Histograms that wait for samples a whole
/// second must span every RTT one may bring (1 ns to an hour, a quarter of a
/// megabyte each); made once the second's samples are known, they need only reach
/// its longest, a few kilobytes when the RTTs are short.
#[derive(Debug, Default)]
pub struct Live {
    /// The counts so far.
    pub counts: Counts,
    /// The answers so far, in the order they came.
    samples: Vec<Sample>,
}

/// One answered probe, in nanoseconds.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Its RTT on the run's clock, from when it really left.
    wire: u64,
    /// Its RTT on the user's clock, from when it really left.
    user: u64,
    /// How late it left (zero unless it counted as a late send).
    late: u64,
}

impl Live {
    /// Counts an answer: `wire` and `user` its round trip on the run's clock and the
    /// user's, timed from when it left, `late` how much later than scheduled that was.
    pub fn answered(&mut self, wire: Duration, user: Duration, late: Duration) {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.counts.received += 1;
        self.samples.push(Sample {
            wire: ns(wire),
            user: ns(user),
            late: ns(late),
        });
    }

    /// What was recorded, as a window with histograms just wide enough for its RTTs.
    /// The samples are cleared, their room kept for the next second.
    pub fn take_window(&mut self) -> Window {
        let longest = |of: fn(&Sample) -> u64| {
            let ns = self.samples.iter().map(of).max().unwrap_or(0);
            Latency::up_to(Duration::from_nanos(ns))
        };
        let mut window = Window {
            rtt: longest(|s| s.wire.saturating_add(s.late)),
            user: longest(|s| s.user.saturating_add(s.late)),
            uncorrected: longest(|s| s.wire),
            counts: std::mem::take(&mut self.counts),
        };
        for s in self.samples.drain(..) {
            window
                .rtt
                .record(Duration::from_nanos(s.wire.saturating_add(s.late)));
            window
                .user
                .record(Duration::from_nanos(s.user.saturating_add(s.late)));
            window.uncorrected.record(Duration::from_nanos(s.wire));
        }
        window
    }
}

/// How the connections opened and ended.
#[derive(Debug, Clone, Default)]
pub struct Connections {
    /// Upgraded to WebSocket.
    pub opened: u64,
    /// Not opened, by reason (see [`failure_reason`]).
    pub failures: BTreeMap<String, u64>,
    /// The last `Retry-After` a refusal carried.
    pub retry_after: Option<String>,
    /// Open now.
    pub open: u64,
    /// The TCP connects of the connections opened.
    pub tcp: Latency,
    /// Their TLS handshakes, over `wss://`.
    pub tls: Latency,
    /// Their upgrades.
    pub upgrade: Latency,
    /// How they ended, by who closed first and the code (see [`close_key`]).
    pub closes: BTreeMap<String, u64>,
    /// Ended by the server or the network before the run asked them to.
    pub dropped: u64,
    /// Closed by `--churn` to be opened again.
    pub churned: u64,
    /// With `--stop-on-error`: the error that ended the run (a failure's reason, or
    /// how a connection was dropped).
    pub stopped_on: Option<String>,
    /// Whether any connection had no kernel stamps: its RTTs are on the user's clock.
    pub user_clock: bool,
}

impl Connections {
    /// Connection attempts that failed.
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }

    /// Counts an attempt that failed for `reason`, with its refusal's `Retry-After`.
    pub fn count_failure(&mut self, reason: String, retry_after: Option<String>) {
        *self.failures.entry(reason).or_default() += 1;
        if retry_after.is_some() {
            self.retry_after = retry_after;
        }
    }
}

/// The counts every connection task records into.
#[derive(Debug, Default)]
pub struct Tally {
    live: Mutex<Live>,
    connections: Mutex<Connections>,
}

impl Tally {
    /// What the probes are counted in.
    pub fn live(&self) -> MutexGuard<'_, Live> {
        // A panic elsewhere with the lock held leaves plain counters, still worth having.
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection counts.
    pub fn connections(&self) -> MutexGuard<'_, Connections> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts `fresh` in place of what was recorded and returns that. The lock is held
    /// for a swap, however much it holds: making its histograms is left to the
    /// caller, off the thread the connections run on.
    pub fn swap(&self, mut fresh: Live) -> Live {
        std::mem::swap(&mut *self.live(), &mut fresh);
        fresh
    }
}

/// The reason a connection attempt failed, as the summary and the JSON name it:
/// `refused`, `timeout`, `tls`, `status_503` (the upgrade's answer), or the kind of
/// error otherwise; with the refusal's `Retry-After`, when it had one.
pub fn failure_reason(err: &Error) -> (String, Option<String>) {
    let reason = match err {
        Error::Connect { source, .. } | Error::ProxyUnreachable { source, .. } => {
            match source.kind() {
                std::io::ErrorKind::ConnectionRefused => "refused".to_owned(),
                std::io::ErrorKind::AddrNotAvailable => "no_local_port".to_owned(),
                _ => "connect".to_owned(),
            }
        }
        Error::ConnectTimeout { .. } | Error::Timeout { .. } | Error::TlsTimeout { .. } => {
            "timeout".to_owned()
        }
        Error::Tls { .. } | Error::Certificate { .. } | Error::NotTls { .. } => "tls".to_owned(),
        Error::UpgradeRefused {
            status,
            retry_after,
            ..
        } => return (format!("status_{status}"), retry_after.clone()),
        Error::UpgradeUnanswered { .. } | Error::NotHttp { .. } => "no_upgrade".to_owned(),
        Error::Subprotocol { .. } => "subprotocol".to_owned(),
        Error::ProxyRefused { .. } | Error::ProxyFailed { .. } => "proxy".to_owned(),
        _ => "other".to_owned(),
    };
    (reason, None)
}

/// Who closed a connection first, with the code: `client_1000`, `server_1001`, or
/// `dropped_1006` when no Close frame came (RFC 6455's code for that).
pub fn close_key(by_server: bool, code: Option<u16>) -> String {
    match (by_server, code) {
        (_, None) => "dropped_1006".to_owned(),
        (false, Some(code)) => format!("client_{code}"),
        (true, Some(code)) => format!("server_{code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swapping_takes_the_window_and_leaves_it_empty() {
        let tally = Tally::default();
        for index in 0..6u64 {
            let mut live = tally.live();
            live.counts.sent += 1;
            let rtt = Duration::from_micros(10 * (index + 1));
            live.answered(rtt, rtt + Duration::from_micros(5), Duration::ZERO);
        }
        let taken = tally.swap(Live::default()).take_window();
        assert_eq!((taken.counts.sent, taken.rtt.summary().count), (6, 6));
        assert_eq!(taken.rtt.summary().max, Some(Duration::from_micros(60)));
        assert_eq!(taken.user.summary().max, Some(Duration::from_micros(65)));
        assert_eq!(tally.swap(Live::default()).take_window().counts.sent, 0);
    }

    #[test]
    fn a_late_answer_adds_its_lateness_except_to_the_uncorrected_rtt() {
        let mut live = Live::default();
        let ms = Duration::from_millis;
        live.answered(ms(1), ms(2), ms(30));
        live.answered(ms(3), ms(4), Duration::ZERO);
        let window = live.take_window();
        let (rtt, user, wire) = (
            window.rtt.summary(),
            window.user.summary(),
            window.uncorrected.summary(),
        );
        assert_eq!((rtt.min, rtt.max), (Some(ms(3)), Some(ms(31))));
        assert_eq!((user.min, user.max), (Some(ms(4)), Some(ms(32))));
        assert_eq!((wire.min, wire.max), (Some(ms(1)), Some(ms(3))));
        assert_eq!(window.counts.received, 2);
        assert_eq!(live.take_window().counts.received, 0);
    }

    #[test]
    fn failures_are_named_by_what_the_user_can_act_on() {
        let refused = Error::Connect {
            addr: "h:1".into(),
            source: std::io::ErrorKind::ConnectionRefused.into(),
        };
        assert_eq!(failure_reason(&refused), ("refused".into(), None));
        let busy = Error::UpgradeRefused {
            url: "ws://h:1/".into(),
            status: 503,
            reason: "Service Unavailable".into(),
            retry_after: Some("1".into()),
        };
        assert_eq!(
            failure_reason(&busy),
            ("status_503".into(), Some("1".into()))
        );
        let slow = Error::Timeout {
            what: "the upgrade",
            after: Duration::from_secs(5),
        };
        assert_eq!(failure_reason(&slow).0, "timeout");
        assert_eq!(close_key(false, Some(1000)), "client_1000");
        assert_eq!(close_key(true, Some(1001)), "server_1001");
        assert_eq!(close_key(true, None), "dropped_1006");
    }
}
