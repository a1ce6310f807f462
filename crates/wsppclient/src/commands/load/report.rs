//! What a `load` run tells its caller: a [`LoadEvent`] as things happen (a notice, or
//! each second's [`Second`]), and the [`LoadReport`] at the end.
//!
//! Plain data, apart from the run that produces it, so that [`super::output`] depends
//! on what a run says and not on how it runs.

use std::time::Duration;

use wspp::wire_clock::Clock;

use super::tally::{Connections, Window};

/// Above this share of one core, the generator, not the server, may set the figures.
pub const BUSY_CPU_PCT: f64 = 90.0;

/// Something a run says while it runs.
#[derive(Debug, Clone)]
pub enum LoadEvent {
    /// A line for the user that is no figure: fewer connections fit than asked.
    Notice(String),
    /// `/metrics` is served on this address (the one bound, when the port was 0).
    Serving(std::net::SocketAddr),
    /// One second's figures.
    Second(Box<Second>),
}

/// What one second of a run did.
#[derive(Debug, Clone)]
pub struct Second {
    /// From the run's start to the end of this second.
    pub at: Duration,
    /// How long this interval was (a second, less for the last one).
    pub length: Duration,
    /// Connections open at its end.
    pub open: u64,
    /// Connections opened so far.
    pub opened: u64,
    /// Connection attempts failed so far.
    pub failed: u64,
    /// This second's probes.
    pub window: Window,
    /// The clock of `window.rtt`.
    pub clock: Clock,
    /// CPU this process used in this second, as a share of one core.
    pub cpu_pct: Option<f64>,
}

impl Second {
    /// Its counts and percentiles, without the histograms.
    pub fn figures(&self) -> SecondFigures {
        let rtt = self.window.rtt.summary();
        SecondFigures {
            at: self.at,
            length: self.length,
            open: self.open,
            opened: self.opened,
            failed: self.failed,
            sent: self.window.counts.sent,
            received: self.window.counts.received,
            lost: self.window.counts.lost,
            late_sends: self.window.counts.late_sends,
            p50: rtt.p50,
            p99: rtt.p99,
            clock: self.clock,
            cpu_pct: self.cpu_pct,
        }
    }
}

/// What a display that follows a run second by second keeps of a [`Second`]: its
/// counts and its p50 and p99, without the histograms (each a few hundred kilobytes,
/// too much to keep a copy of every second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SecondFigures {
    /// From the run's start to the end of this second.
    pub at: Duration,
    /// How long this interval was.
    pub length: Duration,
    /// Connections open at its end.
    pub open: u64,
    /// Connections opened so far.
    pub opened: u64,
    /// Connection attempts failed so far.
    pub failed: u64,
    /// Probes sent in this second.
    pub sent: u64,
    /// Probes answered in it.
    pub received: u64,
    /// Probes given up on in it.
    pub lost: u64,
    /// Probes that left late in it.
    pub late_sends: u64,
    /// This second's median RTT, if any probe was answered.
    pub p50: Option<Duration>,
    /// This second's 99th percentile RTT, if any probe was answered.
    pub p99: Option<Duration>,
    /// The clock of the RTTs.
    pub clock: Clock,
    /// CPU this process used in this second, as a share of one core.
    pub cpu_pct: Option<f64>,
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// The URL loaded.
    pub url: String,
    /// Connections asked for.
    pub connections: u64,
    /// How they opened and ended.
    pub opened: Connections,
    /// Every probe of the run.
    pub probes: Window,
    /// The clock of `probes.rtt`: the kernel's, unless a connection had no stamps.
    pub clock: Clock,
    /// CPU this process used over the run, as a share of one core.
    pub cpu_pct: Option<f64>,
    /// Whether the server ran in this process: its CPU is then in `cpu_pct` too.
    pub server_in_process: bool,
    /// From the first connection attempt to the last close.
    pub elapsed: Duration,
}

impl LoadReport {
    /// Whether every connection opened and stayed until the end, and every probe
    /// (at least one) was answered: exit status 0.
    pub fn passed(&self) -> bool {
        self.opened.failed() == 0
            && self.opened.dropped == 0
            && self.probes.counts.lost == 0
            && self.probes.counts.received > 0
    }

    /// Why the figures may describe the generator rather than the server, if they may.
    pub fn warning(&self) -> Option<String> {
        // Over less than a second, the start-up's own CPU is most of it.
        let busy = self
            .cpu_pct
            .filter(|&pct| pct > BUSY_CPU_PCT && self.elapsed >= Duration::from_secs(1));
        let late = self.probes.counts.late_sends;
        let why = match (busy, late) {
            (None, 0) => return None,
            (Some(pct), 0) => format!("the generator used {pct:.0}% of a core"),
            (None, late) => format!("the generator sent {late} probes late"),
            (Some(pct), late) => {
                format!("the generator used {pct:.0}% of a core and sent {late} probes late")
            }
        };
        Some(format!(
            "warning: {why}: these figures describe the generator as much as the server"
        ))
    }
}
