//! The server under `wsppclient load`: the load section's second part.
//!
//! The first part ([`crate::load`]) measures the server's own pinging, with `hold`
//! children that only answer, and its figures stay comparable with their history.
//! This part turns the load around: the same number of connections, opened by
//! `wsppclient load` children (the release binary users run, the project's load
//! engine), each probing once a second (the engine's default interval). The server is
//! a fresh one whose own pings are pushed out to an hour, so that its CPU time is the
//! cost of the probes and nothing else.
//!
//! The connections are split over children as `hold`'s are ([`hold::shares`]): at
//! most 5,000 each, each from its own 127.0.0.x address. Every child writes an
//! HdrHistogram interval log (`--hdr-log`) and `--ndjson`: a record a second, whose
//! `connections_opened` says when all its connections are open, then the `--json`
//! summary object as its last line. Once every child has all its connections open
//! and the settling time has passed, the server's CPU time is read over the window;
//! the probes the children report in the seconds that end inside it give the rate
//! the CPU time is divided by. The children end by themselves (`--duration` counts
//! from when each had all its connections open), and their logs are merged in this
//! process by the engine's own merge, so the fleet's RTT percentiles come from one
//! histogram of every probe, not from an average of the children's percentiles.
//!
//! Every wait is bounded: the opening by [`hold::open_bound`], the window by the
//! clock, the children's ends by their duration, and each child by a hard deadline
//! (`-w`) of its own.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::hold;
use crate::procs::{self, Child, ServerSpec};

/// How long the children hold their connections beyond the settling time and the
/// window: room for the children not finishing their opening at the same moment, and
/// for the once-a-second records that say they have.
const HOLD_MARGIN: Duration = Duration::from_secs(5);
/// How long after its duration a child may take to close and print its summary.
const END_MARGIN: Duration = Duration::from_secs(20);

/// The figures of the server under `wsppclient load`.
#[derive(Debug, Clone)]
pub struct ProbedResult {
    /// Connections opened, all of them.
    pub connections: usize,
    /// `wsppclient load` processes they came from.
    pub generators: usize,
    /// Server CPU over the window, in percent of one core.
    pub cpu_pct: f64,
    /// The window.
    pub window: Duration,
    /// Steal time (both CPUs) over the window.
    pub steal: Duration,
    /// Probes a second the children sent, over the seconds they reported in the window.
    pub probe_rate: f64,
    /// Probes sent over the whole run, every child summed.
    pub sent: u64,
    /// Probes answered.
    pub received: u64,
    /// Probes unanswered within the probe timeout.
    pub lost: u64,
    /// Probes that left more than the engine's slack after their intended time.
    pub late_sends: u64,
    /// The latest of them, in ms.
    pub late_max_ms: f64,
    /// The clock the children timed on (`kernel` unless one had no stamps).
    pub clock: String,
    /// Round trips in the merged interval logs.
    pub merged: u64,
    /// The fleet's RTT median from the merged logs, µs.
    pub rtt_p50_us: u64,
    /// Its 99th percentile, µs.
    pub rtt_p99_us: u64,
}

impl ProbedResult {
    /// The server's CPU time per probe answered during the window, µs.
    pub fn cpu_per_probe_us(&self) -> f64 {
        if self.probe_rate > 0.0 {
            self.cpu_pct / 100.0 / self.probe_rate * 1e6
        } else {
            0.0
        }
    }
}

/// One line a child printed, or the end of its output.
struct Line {
    child: usize,
    /// The parsed record; `None` when its stdout closed.
    record: Option<Result<Value>>,
}

/// What is known of one child.
struct Generator {
    child: Child,
    share: usize,
    hdr_log: PathBuf,
    stderr: PathBuf,
    /// All its connections are open.
    open: bool,
    /// Probes it sent and the seconds they took, over the records that arrived in the
    /// window.
    in_window: (u64, f64),
    /// Its `--json` summary.
    summary: Option<Value>,
}

impl Generator {
    /// An error about this child, with the last line it wrote to stderr.
    fn failed(&self, what: &str) -> anyhow::Error {
        let said = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        match said.lines().rev().find(|l| !l.trim().is_empty()) {
            Some(line) => anyhow::anyhow!("a wsppclient load child {what} (it said: {line})"),
            None => anyhow::anyhow!("a wsppclient load child {what}"),
        }
    }
}

/// Which part of the run a record arrives in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Opening,
    Settling,
    Window,
    Ending,
}

/// `connections` opened by `wsppclient load` children against a fresh server, held
/// for `settle`, then the server's CPU over `window`; the children's logs and
/// summaries in `work`.
pub fn measure(
    server: &ServerSpec,
    client_bin: &Path,
    connections: usize,
    settle: Duration,
    window: Duration,
    work: &Path,
) -> Result<ProbedResult> {
    let server = server.not_pinging(connections).start()?;
    let pid = server.child.pid();
    let started = Instant::now();
    let opened_by = started + hold::open_bound(connections);
    let hold_for = settle + window + HOLD_MARGIN;
    let deadline = hold::open_bound(connections) + hold_for + END_MARGIN;

    let (tx, rx) = mpsc::channel::<Line>();
    let mut generators = Vec::new();
    for (i, (share, source)) in hold::shares(connections).into_iter().enumerate() {
        let hdr_log = work.join(format!("load-{i}.hlog"));
        let stderr = work.join(format!("load-{i}.stderr"));
        let mut command = std::process::Command::new(client_bin);
        command
            .arg("--server")
            .arg(server.addr.to_string())
            .args(["load", "--ndjson", "--interval", "1s", "--connections"])
            .arg(share.to_string())
            .arg("--source")
            .arg(source.to_string())
            .arg("--duration")
            .arg(format!("{}ms", hold_for.as_millis()))
            .arg("-w")
            .arg(format!("{}ms", deadline.as_millis()))
            .arg("--hdr-log")
            .arg(&hdr_log)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(
                File::create(&stderr)
                    .with_context(|| format!("cannot create {}", stderr.display()))?,
            );
        let mut child = Child::spawn(command, "wsppclient load")?;
        let stdout = child
            .inner_mut()
            .stdout
            .take()
            .context("wsppclient load without stdout")?;
        let tx = tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let record = line.map_err(anyhow::Error::from).and_then(|l| {
                    serde_json::from_str(&l)
                        .with_context(|| format!("wsppclient load printed {l:?}, not JSON"))
                });
                if tx
                    .send(Line {
                        child: i,
                        record: Some(record),
                    })
                    .is_err()
                {
                    return;
                }
            }
            let _ = tx.send(Line {
                child: i,
                record: None,
            });
        });
        generators.push(Generator {
            child,
            share,
            hdr_log,
            stderr,
            open: false,
            in_window: (0, 0.0),
            summary: None,
        });
    }
    drop(tx);

    let follow = |phase: Phase, until: Instant, gens: &mut [Generator]| -> Result<()> {
        while let Ok(line) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            take(phase, &line, gens)?;
            let done = match phase {
                Phase::Opening => gens.iter().all(|g| g.open),
                Phase::Ending => gens.iter().all(|g| g.summary.is_some()),
                Phase::Settling | Phase::Window => false,
            };
            if done {
                return Ok(());
            }
        }
        Ok(())
    };
    follow(Phase::Opening, opened_by, &mut generators)?;
    if let Some(late) = generators.iter().find(|g| !g.open) {
        return Err(late.failed(&format!(
            "did not have its {} connections open within {:?}",
            late.share,
            hold::open_bound(connections)
        )));
    }
    follow(Phase::Settling, Instant::now() + settle, &mut generators)?;
    let (cpu_before, steal_before, start) =
        (procs::cpu_time(pid)?, procs::steal_time()?, Instant::now());
    follow(Phase::Window, start + window, &mut generators)?;
    let (cpu_after, window) = (procs::cpu_time(pid)?, start.elapsed());
    let steal = procs::steal_time()?.saturating_sub(steal_before);
    let cpu_pct = (cpu_after - cpu_before).as_secs_f64() / window.as_secs_f64() * 100.0;
    follow(
        Phase::Ending,
        Instant::now() + hold_for + END_MARGIN,
        &mut generators,
    )?;
    for g in &mut generators {
        g.child.wait_or_kill(Duration::from_secs(10))?;
    }
    server.child.stop(Duration::from_secs(10))?;
    if let Some(silent) = generators.iter().find(|g| g.summary.is_none()) {
        return Err(silent.failed("printed no summary"));
    }
    let probe_rate: f64 = generators
        .iter()
        .map(|g| match g.in_window {
            (sent, seconds) if seconds > 0.0 => sent as f64 / seconds,
            _ => 0.0,
        })
        .sum();
    let summaries: Vec<&Value> = generators
        .iter()
        .filter_map(|g| g.summary.as_ref())
        .collect();
    let sum = |key: &str| -> u64 { summaries.iter().filter_map(|s| s[key].as_u64()).sum() };
    let (sent, received) = (sum("sent"), sum("received"));
    ensure!(
        received <= sent,
        "the children received {received} answers to {sent} probes"
    );
    let logs: Vec<PathBuf> = generators.iter().map(|g| g.hdr_log.clone()).collect();
    let merged = wsppclient::commands::load::merge(&logs)
        .context("cannot merge the children's interval logs")?;
    let histogram = &merged.histogram;
    ensure!(
        histogram.len() == received,
        "the merged interval logs hold {} round trips, the summaries {received}",
        histogram.len()
    );
    let clocks: Vec<&str> = summaries
        .iter()
        .filter_map(|s| s["clock"].as_str())
        .collect();
    Ok(ProbedResult {
        connections,
        generators: generators.len(),
        cpu_pct,
        window,
        steal,
        probe_rate,
        sent,
        received,
        lost: sum("lost"),
        late_sends: sum("late_sends"),
        late_max_ms: summaries
            .iter()
            .filter_map(|s| s["late_max_ms"].as_f64())
            .fold(0.0, f64::max),
        clock: if clocks.iter().all(|c| *c == "kernel") {
            "kernel".into()
        } else {
            "user".into()
        },
        merged: histogram.len(),
        rtt_p50_us: histogram.value_at_quantile(0.5),
        rtt_p99_us: histogram.value_at_quantile(0.99),
    })
}

/// Takes one line of a child in `phase`.
fn take(phase: Phase, line: &Line, generators: &mut [Generator]) -> Result<()> {
    let g = &mut generators[line.child];
    let record = match &line.record {
        None if g.summary.is_some() => return Ok(()),
        None => return Err(g.failed("ended without its summary")),
        Some(Err(error)) => bail!("{error:#}"),
        Some(Ok(record)) => record,
    };
    let count = |key: &str| record[key].as_u64().unwrap_or(0);
    match record["record"].as_str() {
        Some("second") => {
            let (opened, failed) = (count("connections_opened"), count("connections_failed"));
            if failed > 0 {
                return Err(g.failed(&format!(
                    "failed to open {failed} of its {} connections",
                    g.share
                )));
            }
            g.open |= opened >= g.share as u64;
            if phase == Phase::Window {
                g.in_window.0 += count("sent");
                g.in_window.1 += record["duration_s"].as_f64().unwrap_or(0.0);
            }
        }
        Some("summary") => {
            if phase != Phase::Ending {
                return Err(g.failed("ended before the window did"));
            }
            g.summary = Some(record.clone());
        }
        _ => bail!("wsppclient load printed a record this benchmark does not know: {record}"),
    }
    Ok(())
}
