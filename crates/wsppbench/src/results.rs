//! What one run measured, section by section, and the targets it is held to.
//!
//! Plain data the suite fills as sections finish; the tables and the doc read it.
//! Ratios are kept per round (each against that round's floor) and the median is
//! taken over rounds, so a machine that drifts during the run moves both sides alike.

use std::time::Duration;

use anyhow::Result;
use hdrhistogram::Histogram;

use crate::figures::{Summary, histogram, median, median5, ms, spread, thousands};
use crate::hold::Compression;
use crate::load::LoadResult;
use crate::memory::MemoryRow;
use crate::openclose::OpenCloseRow;
use crate::procs::{Machine, Pinning};

/// One RTT series over all rounds.
#[derive(Debug)]
pub struct RttSeries {
    /// Its name in the table and the plot.
    pub name: &'static str,
    /// Not wspp's code (a raw TCP floor, or the reference client): no target applies
    /// to it.
    pub floor: bool,
    /// Each round's percentiles.
    pub rounds: Vec<Summary>,
    /// Each round's percentiles divided by that round's std-floor p50.
    pub ratios: Vec<[f64; 5]>,
    /// Every round's samples, for the plot.
    pub merged: Histogram<u64>,
}

impl RttSeries {
    /// An empty series of a raw TCP floor.
    pub fn floor(name: &'static str) -> RttSeries {
        RttSeries {
            floor: true,
            ..RttSeries::wspp(name)
        }
    }

    /// An empty series of wspp's code.
    pub fn wspp(name: &'static str) -> RttSeries {
        RttSeries {
            name,
            floor: false,
            rounds: Vec::new(),
            ratios: Vec::new(),
            merged: histogram(),
        }
    }

    /// Adds one round's samples, against that round's std-floor p50 (µs).
    pub fn add(&mut self, samples: &Histogram<u64>, floor_p50: f64) -> Result<()> {
        self.add_summary(Summary::of(samples), floor_p50);
        self.merged.add(samples)?;
        Ok(())
    }

    /// Adds one round's percentiles only (they have no curve in the plot).
    pub fn add_summary(&mut self, summary: Summary, floor_p50: f64) {
        self.ratios.push(summary.ratios(floor_p50));
        self.rounds.push(summary);
    }

    /// Median over rounds of each figure, µs.
    pub fn median_values(&self) -> [f64; 5] {
        let values: Vec<[f64; 5]> = self.rounds.iter().map(Summary::values).collect();
        median5(&values)
    }

    /// Median over rounds of each ratio.
    pub fn median_ratios(&self) -> [f64; 5] {
        median5(&self.ratios)
    }

    /// Ratio `column`'s median over rounds, with its range when there are several:
    /// `1.19× (1.12-1.30)`. The range says how far one round can be trusted here.
    pub fn ratio_spread(&self, column: usize) -> String {
        spread(self.ratios.iter().map(|r| r[column]))
    }
}

/// One round of `wsppclient ping -i 0` and the reference client, against one server.
#[derive(Debug, Clone, Copy)]
pub struct Versus {
    /// The minimal tokio-tungstenite client's percentiles, µs.
    pub reference: Summary,
    /// `wsppclient ping -i 0`'s, µs.
    pub wsppclient: Summary,
}

impl Versus {
    /// wsppclient's p50 and p99.9 divided by the reference's.
    pub fn ratios(&self) -> (f64, f64) {
        (
            self.wsppclient.p50 / self.reference.p50,
            self.wsppclient.p999 / self.reference.p999,
        )
    }
}

/// The targets against the reference client: wsppclient's p50 no worse, its p99.9 at
/// most this many times the reference's.
pub const REFERENCE_P50_BOUND: f64 = 1.0;
/// See [`REFERENCE_P50_BOUND`].
pub const REFERENCE_P999_BOUND: f64 = 1.5;

/// The RTT section.
#[derive(Debug)]
pub struct RttResults {
    /// Rounds run.
    pub rounds: u32,
    /// Pings per run after the warm-up.
    pub pings: u64,
    /// Warm-up pings per run.
    pub warmup: u64,
    /// The floors, then wspp's views: sleeping between messages, then busy-polling;
    /// then the reference client.
    pub series: Vec<RttSeries>,
    /// `wsppclient ping -i 0` and the reference client, round by round.
    pub versus: Vec<Versus>,
}

/// Everything one run measured; a section that did not run or failed is empty.
#[derive(Debug, Default)]
pub struct Results {
    /// RTT against the floor.
    pub rtt: Option<RttResults>,
    /// Idle memory, one row per count.
    pub memory: Vec<MemoryRow>,
    /// Ping load.
    pub load: Option<LoadResult>,
    /// Open-and-close, sequential then concurrent.
    pub openclose: Vec<OpenCloseRow>,
}

/// Facts about the run, for the doc's header.
#[derive(Debug)]
pub struct RunInfo {
    /// The machine.
    pub machine: Machine,
    /// Where things ran.
    pub pinning: Pinning,
    /// The open-file limit.
    pub open_files: u64,
    /// When it started (RFC 3339, UTC).
    pub date: String,
    /// The command that ran.
    pub command: String,
    /// How long it took.
    pub took: Duration,
    /// Smoke mode.
    pub quick: bool,
    /// The servers' `RUST_LOG`.
    pub server_log: String,
    /// Whether everything ran under SCHED_FIFO.
    pub realtime: bool,
}

/// A target the product sets (see `docs/benchmarks.md`) and how it went.
#[derive(Debug)]
pub struct Target {
    /// What is measured.
    pub what: String,
    /// The bound, in words.
    pub bound: String,
    /// The measured value, in words.
    pub measured: String,
    /// Whether it is met.
    pub met: bool,
}

impl Results {
    /// The targets this run measured, and whether each is met.
    pub fn targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        let mut add = |what: String, bound: &str, measured: String, met: bool| {
            out.push(Target {
                what,
                bound: bound.into(),
                measured,
                met,
            });
        };
        if let Some(rtt) = &self.rtt {
            if !rtt.versus.is_empty() {
                let mut p50: Vec<f64> = rtt.versus.iter().map(|v| v.ratios().0).collect();
                let mut p999: Vec<f64> = rtt.versus.iter().map(|v| v.ratios().1).collect();
                add(
                    "wsppclient ping -i 0 p50 / reference client p50".into(),
                    "≤ 1×",
                    spread(p50.iter().copied()),
                    median(&mut p50) <= REFERENCE_P50_BOUND,
                );
                add(
                    "wsppclient ping -i 0 p99.9 / reference client p99.9".into(),
                    "≤ 1.5×",
                    spread(p999.iter().copied()),
                    median(&mut p999) <= REFERENCE_P999_BOUND,
                );
            }
            for series in rtt.series.iter().filter(|s| !s.floor) {
                let r = series.median_ratios();
                add(
                    format!("{} p50 / std floor p50", series.name),
                    "≤ 1.2×",
                    series.ratio_spread(0),
                    r[0] <= 1.2,
                );
                add(
                    format!("{} p99.9 / std floor p50", series.name),
                    "≤ 2×",
                    series.ratio_spread(3),
                    r[3] <= 2.0,
                );
            }
        }
        for row in &self.memory {
            add(
                format!(
                    "idle memory at {} connections{}",
                    thousands(row.clients as u64),
                    match row.compression {
                        Compression::Off => "",
                        Compression::Deflate => ", permessage-deflate",
                    }
                ),
                "≤ 4 KiB/conn",
                format!("{:.2} KiB", row.per_connection_kib()),
                row.per_connection_kib() <= 4.0,
            );
        }
        if let Some(load) = &self.load {
            let n = thousands(load.clients as u64);
            add(
                format!("server CPU, {n} clients pinged every second"),
                "< 20% of a core",
                format!("{:.1}%", load.cpu_pct),
                load.cpu_pct < 20.0,
            );
            add(
                format!("recorded RTT p99, {n} clients"),
                "< 5 ms",
                format!("{:.2} ms", load.rtt_p99_us as f64 / 1000.0),
                load.rtt_p99_us < 5_000,
            );
            add(
                format!("GET / (first page) with {n} clients"),
                "< 100 ms",
                ms(load.page),
                load.page < Duration::from_millis(100),
            );
            add(
                format!("GET /clients.json, all {n} clients page by page"),
                "< 100 ms",
                ms(load.json),
                load.json < Duration::from_millis(100),
            );
        }
        for row in &self.openclose {
            if row.concurrency == 1 {
                add(
                    "open-and-close, one sequential client".into(),
                    "≥ 5,000 cycles/s",
                    format!("{} /s", thousands(row.rate() as u64)),
                    row.rate() >= 5000.0,
                );
            } else {
                add(
                    format!("server CPU per cycle, {} concurrent", row.concurrency),
                    "≤ 100 µs",
                    format!("{:.0} µs", row.server_us_per_cycle()),
                    row.server_us_per_cycle() <= 100.0,
                );
            }
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Three rounds in which wsppclient's p50 is 0.9, 1.1 and 1 times the reference's,
    /// and its p99.9 2, 1 and 0.5 times.
    pub(crate) fn three_rounds() -> Vec<Versus> {
        let summary = |p50, p999| Summary {
            p50,
            p999,
            ..Summary::default()
        };
        vec![
            Versus {
                reference: summary(50.0, 200.0),
                wsppclient: summary(45.0, 400.0),
            },
            Versus {
                reference: summary(40.0, 100.0),
                wsppclient: summary(44.0, 100.0),
            },
            Versus {
                reference: summary(50.0, 300.0),
                wsppclient: summary(50.0, 150.0),
            },
        ]
    }

    #[test]
    fn the_reference_targets_take_the_median_of_the_rounds() {
        let results = Results {
            rtt: Some(RttResults {
                rounds: 3,
                pings: 1,
                warmup: 0,
                series: Vec::new(),
                versus: three_rounds(),
            }),
            ..Results::default()
        };
        let targets = results.targets();
        assert_eq!(targets[0].measured, "1.00× (0.90-1.10)");
        assert!(targets[0].met);
        assert_eq!(targets[1].measured, "1.00× (0.50-2.00)");
        assert!(targets[1].met);
    }

    #[test]
    fn a_spread_shows_the_range_of_the_rounds() {
        let mut series = RttSeries::wspp("x");
        series.ratios = vec![[1.3, 0.0, 0.0, 2.5, 0.0]];
        assert_eq!(series.ratio_spread(0), "1.30×");
        series.ratios.push([1.1, 0.0, 0.0, 2.0, 0.0]);
        series.ratios.push([1.2, 0.0, 0.0, 3.0, 0.0]);
        assert_eq!(series.ratio_spread(0), "1.20× (1.10-1.30)");
        assert_eq!(series.ratio_spread(3), "2.50× (2.00-3.00)");
    }
}
