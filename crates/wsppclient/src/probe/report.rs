//! What a ping session tells its caller: each [`PingEvent`] as it happens, how the
//! connection was opened ([`Setup`]), and the [`PingReport`] at the end.
//!
//! Plain data, apart from the session that produces it, so that ping's output
//! and the terminal UI depend on what a session says and not on how it runs.

use std::net::SocketAddr;
use std::time::Duration;

use wspp::stats::Latency;
use wspp::tracker::{Counts, Rtt};
use wspp::wire_clock::Clock;

use super::kinds::{Probe, Probes};
use crate::error::Error;
use crate::net::proxy::ProxyInfo;
use crate::net::tls::TlsInfo;

/// How the session was opened, step by step, before the first Ping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Setup {
    /// Looking the host name up.
    pub resolve: Duration,
    /// From `connect()` to an established TCP connection (to the proxy, if any).
    pub tcp_connect: Duration,
    /// The proxy's tunnel and how long it took to open, when there is a proxy.
    pub proxy: Option<ProxyInfo>,
    /// The TLS handshake and what it negotiated, for `wss://`.
    pub tls: Option<TlsInfo>,
    /// From sending the upgrade request to reading the 101.
    pub upgrade: Duration,
    /// The subprotocol the server chose, if it chose one.
    pub subprotocol: Option<String>,
    /// The clock of the `rtt_*` figures: the kernel's (the network round trip)
    /// whenever it stamps, `-U` or not, else the user's.
    pub clock: Clock,
    /// The clock each reply's line and the summary's first RTT lines print: the
    /// user's with `-U`, else [`Setup::clock`]. The summary gives the other beside it.
    pub printed: Clock,
    /// Why they are not on the kernel's, when the kernel's was wanted and is missing.
    pub no_kernel_stamps: Option<String>,
}

/// Something that happened during a ping session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PingEvent {
    /// Connected and upgraded; pings follow.
    Started {
        /// The URL pinged.
        url: String,
        /// The server's address.
        peer: SocketAddr,
        /// Our address (its port isolates the session in Wireshark).
        local: SocketAddr,
        /// Bytes of payload per Ping.
        payload_size: usize,
        /// How long the client polls after each Ping (zero: it sleeps).
        busy_poll: Duration,
        /// What the probes are.
        probes: Probes,
        /// How the connection was opened, and what each step took (boxed: it is
        /// most of the event's size, and only this variant has it).
        setup: Box<Setup>,
    },
    /// A pong (or an echo) answered probe `seq`.
    Reply {
        /// What kind of probe it answered.
        probe: Probe,
        /// The probe answered.
        seq: u64,
        /// Its round-trip time, on both clocks.
        rtt: Rtt,
        /// The clock its line prints: the user's with `-U`; else the session's,
        /// unless the kernel did not time this one.
        clock: Clock,
        /// Payload bytes in the pong.
        bytes: usize,
        /// Older probes of the same kind still waiting that this answer made count as
        /// lost: the `skipped` sequence numbers just below `seq` (a tracker's waiting
        /// probes are always a run of consecutive numbers).
        skipped: u64,
    },
    /// Probe `seq` got no answer within the timeout, or none before the run ended.
    Timeout {
        /// What kind of probe it was.
        probe: Probe,
        /// The probe given up on.
        seq: u64,
    },
    /// An answer to a probe already answered or given up on.
    Late {
        /// What kind of probe it answers.
        probe: Probe,
        /// The probe it echoes.
        seq: u64,
    },
    /// A pong that echoes no ping of ours, or (with echoes) a message that echoes no
    /// message of ours.
    Unsolicited {
        /// A pong ([`Probe::Ping`]) or a message ([`Probe::Echo`]).
        probe: Probe,
        /// Its payload size.
        bytes: usize,
    },
}

/// What one kind of probe came to.
#[derive(Debug, Clone, Default)]
pub struct ProbeStats {
    /// What its tracker counted.
    pub counts: Counts,
    /// RTTs of the answered probes.
    pub latency: Latency,
}

impl ProbeStats {
    /// Probes not answered, including any still in flight when the session ended (as ping(8)).
    pub fn lost(&self) -> u64 {
        self.counts.unanswered()
    }

    /// [`ProbeStats::lost`] as a percentage of probes sent (0 when none was sent).
    pub fn loss_pct(&self) -> f64 {
        self.counts.loss_pct()
    }
}

/// The outcome of a ping session.
#[derive(Debug)]
pub struct PingReport {
    /// The URL pinged.
    pub url: String,
    /// How the connection was opened, before the first Ping.
    pub setup: Setup,
    /// What the probes were; `counts` and `latency` are the first kind's (the Pings',
    /// with [`Probes::Both`]) and `echo` the echo messages' beside them.
    pub probes: Probes,
    /// What the tracker counted.
    pub counts: Counts,
    /// RTTs of the answered pings, on `setup.clock` (or the user's for a ping the
    /// kernel did not time; see `unstamped`).
    pub latency: Latency,
    /// With [`Probes::Both`], the echo messages.
    pub echo: Option<ProbeStats>,
    /// The run's `-c` and `-w`, which decide what counts as success.
    pub count: Option<u64>,
    /// The run's deadline (ping's `-w`), when it had one.
    pub deadline: Option<Duration>,
    /// The same pings' user-to-user RTTs.
    pub user_latency: Latency,
    /// Replies reported on the user's clock although the kernel's was wanted: no
    /// stamp came with them (the kernel starts stamping a moment after it is asked).
    pub unstamped: u64,
    /// Probes the kernel's clock timed from the clock read just before their write:
    /// no transmit stamp came for them (see [`super::Pinger::send_unstamped`]).
    pub send_unstamped: u64,
    /// From the first ping to the end of the session.
    pub elapsed: Duration,
    /// How long the client polled after each Ping (zero: it slept).
    pub busy_poll: Duration,
    /// Set when the connection failed mid-session rather than ending as asked.
    pub ended_by: Option<Error>,
}

impl PingReport {
    /// Pings answered by their pong.
    pub fn received(&self) -> u64 {
        self.counts.answered
    }

    /// Pings not answered, including any still in flight when the session ended (as ping(8)).
    pub fn lost(&self) -> u64 {
        self.counts.unanswered()
    }

    /// [`PingReport::lost`] as a percentage of pings sent (0 when none was sent).
    pub fn loss_pct(&self) -> f64 {
        self.counts.loss_pct()
    }

    /// Whether at least one ping was sent and every one was answered.
    pub fn all_answered(&self) -> bool {
        self.counts.sent > 0 && self.lost() == 0 && self.echo.as_ref().is_none_or(|e| e.lost() == 0)
    }

    /// Replies of every kind.
    pub fn all_received(&self) -> u64 {
        self.received() + self.echo.as_ref().map_or(0, |e| e.counts.answered)
    }

    /// Whether the run did what it was asked (exit status 0). Without a deadline:
    /// every probe answered. With one, ping(8)'s rule: the `-c` count of answers
    /// arrived (with [`Probes::Both`], twice the count, of either kind), or without
    /// `-c` at least one, since the deadline cuts off whatever is in flight.
    pub fn passed(&self) -> bool {
        if self.deadline.is_none() {
            return self.all_answered();
        }
        let kinds = self.probes.kinds().len() as u64;
        let wanted = self.count.map_or(1, |c| c.saturating_mul(kinds));
        self.all_received() >= wanted
    }

    /// The figures of `probe`, if this run sent that kind.
    pub fn stats(&self, probe: Probe) -> Option<ProbeStats> {
        let first = self.probes.kinds().first().copied();
        if first == Some(probe) {
            return Some(ProbeStats {
                counts: self.counts,
                latency: self.latency.clone(),
            });
        }
        (probe == Probe::Echo).then(|| self.echo.clone()).flatten()
    }
}
