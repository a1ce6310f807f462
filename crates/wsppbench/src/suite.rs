//! The run: settings from the flags, the sections in order, the checks, the outputs.
//!
//! Sections run in this order: RTT, open-and-close, idle memory, load. Open-and-close
//! comes before the sections that open tens of thousands of connections, whose
//! TIME_WAIT sockets and their timers would otherwise be the kernel's work during it.
//!
//! The RTT section interleaves its runs (std floor, then wspp and the raw floors of the
//! same kind, sleeping and then busy-polling) for several rounds, and every ratio is
//! taken against the std floor of the *same* round before the median over rounds is
//! reported: a machine that gets busier or quieter during the run moves floor and wspp
//! together. Likewise `wsppclient ping -i 0` and the reference client (a minimal
//! tokio-tungstenite ping loop) run back to back against the same server in each round,
//! in alternating order, and are compared within the round.
//!
//! Each section is also a smoke check: it passes if it ran to the end with sane
//! figures (every ping answered, every connection open, the server listing them all).
//! Whether the figures meet the product's targets is reported, but is not a failure:
//! timings on a shared machine are not a test.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail, ensure};

use crate::cli::{FloorKind, RunArgs, Section};
use crate::figures::{self, Summary};
use crate::hold::Compression;
use crate::load;
use crate::memory;
use crate::openclose;
use crate::plot;
use crate::procs::{self, Machine, Pinning, ServerSpec};
use crate::report;
use crate::results::{Results, RttResults, RttSeries, RunInfo, Versus};
use crate::{floor, reference, rtt, tables};

/// The counts and times of one run.
#[derive(Debug)]
struct Settings {
    rounds: u32,
    pings: u64,
    warmup: u64,
    idle: Vec<usize>,
    load_clients: usize,
    load_settle: Duration,
    load_window: Duration,
    sequential_cycles: u64,
    concurrent_cycles: u64,
    cycle_time: Duration,
    doc: Option<PathBuf>,
    plot: Option<PathBuf>,
}

/// Descriptors a server needs beyond one per client (listener, epoll, stdio, slack).
const FD_SLACK: u64 = 100;

impl Settings {
    fn new(args: &RunArgs, open_files: u64, scratch: &Path) -> Settings {
        let quick = args.quick;
        // Only a full run of every section replaces the published figures; a smoke run
        // still writes both, into the scratch directory, to check that they can be.
        let output = |published: &str, name: &str| {
            if quick {
                Some(scratch.join(name))
            } else if args.only.is_empty() {
                Some(PathBuf::from(published))
            } else {
                None
            }
        };
        let most = ((open_files.saturating_sub(FD_SLACK)) / 1000 * 1000) as usize;
        let idle = if !args.idle.is_empty() {
            args.idle.clone()
        } else if quick {
            vec![200]
        } else {
            let mut counts = vec![1_000, 10_000];
            if most > 10_000 {
                counts.push(most);
            }
            counts
        };
        Settings {
            // Nine: a round takes seconds, and the median of nine ratios moves much less with
            // one noisy round than the median of five.
            rounds: args.rounds.unwrap_or(if quick { 1 } else { 9 }).max(1),
            pings: args
                .pings
                .unwrap_or(if quick { 300 } else { 20_000 })
                .max(1),
            warmup: if quick { 50 } else { 2_000 },
            idle,
            load_clients: args
                .load_clients
                .unwrap_or(if quick { 200 } else { 10_000 }),
            load_settle: Duration::from_secs(if quick { 1 } else { 3 }),
            load_window: Duration::from_secs(if quick { 2 } else { 10 }),
            sequential_cycles: if quick { 200 } else { 20_000 },
            concurrent_cycles: if quick { 200 } else { 40_000 },
            cycle_time: Duration::from_secs(5),
            doc: args
                .doc
                .clone()
                .or_else(|| output("docs/benchmarks.md", "benchmarks.md")),
            plot: args
                .plot
                .clone()
                .or_else(|| output("img/rtt-percentiles.svg", "rtt-percentiles.svg")),
        }
    }
}

/// Runs the suite; `Ok(false)` when a section failed its smoke check.
pub fn run(args: &RunArgs) -> Result<bool> {
    let started = Instant::now();
    let date = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let machine = Machine::read();
    // Before any thread exists, so that every thread inherits the core.
    let pinning = Pinning::apply(&machine, args.server_cpu, args.client_cpu);
    if args.realtime && !procs::make_realtime() {
        bail!("--realtime: cannot switch to SCHED_FIFO (chrt needs root)");
    }
    let open_files = procs::open_files_limit()?;

    let server = ServerSpec {
        bin: server_bin(args)?,
        cpu: pinning.server,
        args: Vec::new(),
        log: args.server_log.clone(),
        log_file: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let scratch = std::env::temp_dir().join(format!("wsppbench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let settings = Settings::new(args, open_files, &scratch);

    println!(
        "wsppbench: {} CPUs ({}), kernel {}; {}{}; open files {}",
        machine.nproc,
        machine.cpu_model,
        machine.kernel,
        pinning.describe(),
        if args.realtime { ", SCHED_FIFO" } else { "" },
        open_files
    );
    let wanted = |s: Section| args.only.is_empty() || args.only.contains(&s);
    let mut results = Results::default();
    let mut checks = Checks::default();

    if wanted(Section::Rtt) {
        let outcome = client_bin(args).and_then(|client_bin| {
            rtt_section(
                &runtime,
                &server,
                &client_bin,
                &pinning,
                &settings,
                &scratch,
            )
        });
        if let Some(rtt) = checks.record("rtt", outcome) {
            results.rtt = Some(rtt);
        }
    }
    if wanted(Section::Openclose) {
        println!("open-and-close: sequential, then 32 at once...");
        let outcome = openclose_section(&runtime, &server, &settings);
        if let Some(rows) = checks.record("openclose", outcome) {
            results.openclose = rows;
        }
    }
    if wanted(Section::Memory) {
        let outcome = (|| {
            let mut rows = Vec::new();
            for &n in &settings.idle {
                ensure!(
                    n as u64 + FD_SLACK <= open_files,
                    "{n} connections need an open-file limit of {} (it is {open_files}); \
                     scripts/bench.sh raises it",
                    n as u64 + FD_SLACK
                );
                for compression in [Compression::Off, Compression::Deflate] {
                    println!(
                        "memory: {n} idle connections, compression {}...",
                        compression.label()
                    );
                    rows.push(memory::measure(&server, n, compression)?);
                }
            }
            Ok(rows)
        })();
        if let Some(rows) = checks.record("memory", outcome) {
            results.memory = rows;
        }
    }
    if wanted(Section::Load) {
        println!(
            "load: {} clients pinged every second...",
            settings.load_clients
        );
        let outcome = client_bin(args).and_then(|client_bin| {
            load::measure(
                &server,
                &client_bin,
                settings.load_clients,
                settings.load_settle,
                settings.load_window,
                &scratch,
            )
        });
        results.load = checks.record("load", outcome);
    }

    println!();
    for table in tables::of(&results) {
        println!("{}", table.text());
    }
    let info = RunInfo {
        machine,
        pinning,
        open_files,
        date,
        command: std::env::var("WSPPBENCH_COMMAND")
            .unwrap_or_else(|_| std::env::args().collect::<Vec<_>>().join(" ")),
        took: started.elapsed(),
        quick: args.quick,
        server_log: args.server_log.clone(),
        realtime: args.realtime,
    };
    let outputs = write_outputs(&info, &results, &settings);
    checks.record("report", outputs);
    let _ = std::fs::remove_dir_all(&scratch);

    let label = if args.quick { "bench-smoke" } else { "bench" };
    println!(
        "{label}: {} passed, {} failed",
        checks.passed, checks.failed
    );
    Ok(checks.failed == 0)
}

/// Passed and failed sections.
#[derive(Debug, Default)]
struct Checks {
    passed: u32,
    failed: u32,
}

impl Checks {
    fn record<T>(&mut self, name: &str, outcome: Result<T>) -> Option<T> {
        match outcome {
            Ok(value) => {
                self.passed += 1;
                Some(value)
            }
            Err(error) => {
                self.failed += 1;
                eprintln!("wsppbench: section {name} failed: {error:#}");
                None
            }
        }
    }
}

/// The wsppsrv to measure: `--server-bin`, or the one built next to this binary.
fn server_bin(args: &RunArgs) -> Result<PathBuf> {
    match &args.server_bin {
        Some(bin) if bin.exists() => Ok(bin.clone()),
        Some(bin) => bail!("no wsppsrv at {}", bin.display()),
        None => sibling("wsppsrv"),
    }
}

/// The wsppclient binary the sections run: `--client-bin`, or the one built next to
/// this binary.
fn client_bin(args: &RunArgs) -> Result<PathBuf> {
    match &args.client_bin {
        Some(bin) if bin.exists() => Ok(bin.clone()),
        Some(bin) => bail!("no wsppclient at {}", bin.display()),
        None => sibling("wsppclient"),
    }
}

/// A binary of this workspace built next to this one (scripts/bench.sh builds them all).
fn sibling(name: &str) -> Result<PathBuf> {
    let bin = procs::self_exe()?
        .parent()
        .context("this program has no directory")?
        .join(name);
    if !bin.exists() {
        bail!(
            "no {name} at {} (build it: cargo build --release -p {name})",
            bin.display()
        );
    }
    Ok(bin)
}

/// Where the reference client's series sits in the RTT section's list.
const REFERENCE: usize = 10;

fn rtt_section(
    runtime: &tokio::runtime::Runtime,
    base: &ServerSpec,
    client_bin: &Path,
    pinning: &Pinning,
    s: &Settings,
    scratch: &Path,
) -> Result<RttResults> {
    let mut series = [
        RttSeries::floor("std floor"),
        RttSeries::floor("tokio floor"),
        RttSeries::floor("std floor, spinning"),
        RttSeries::floor("tokio floor, busy-poll"),
        RttSeries::wspp("wspp client"),
        RttSeries::wspp("wspp server view"),
        RttSeries::wspp("wsppclient ping -i 0"),
        RttSeries::wspp("wspp client, busy-poll"),
        RttSeries::wspp("wspp server view, busy-poll"),
        RttSeries::wspp("wsppclient ping, busy-poll"),
        RttSeries::floor("tokio-tungstenite reference client"),
    ];
    let mut versus = Vec::new();
    let total = s.warmup + s.pings;
    for round in 1..=s.rounds {
        println!("rtt: round {round} of {}...", s.rounds);
        let std_floor = floor::measure(runtime, FloorKind::Std, pinning.server, s.warmup, s.pings)?;
        let floor_p50 = Summary::of(&std_floor).p50;
        series[0].add(&std_floor, floor_p50)?;
        // Sleeping between messages, as by default, then busy-polling at both ends; each
        // half interleaves wspp with the raw floor of the same kind.
        for (busy, first) in [(Duration::ZERO, 4), (floor::BUSY_POLL, 7)] {
            let base = if busy.is_zero() {
                base.clone()
            } else {
                base.with(&["--busy-poll", &format!("{}us", busy.as_micros())])
            };
            let client = {
                let server = base.start()?;
                let h = runtime.block_on(rtt::client_view(server.addr, busy, s.warmup, s.pings))?;
                server.child.stop(Duration::from_secs(5))?;
                h
            };
            series[first].add(&client, floor_p50)?;
            // The raw floors of the same mode go between wspp's measurements.
            let (floor_after_client, floor_after_server) = if busy.is_zero() {
                ((1, FloorKind::Tokio), None)
            } else {
                ((2, FloorKind::Spin), Some((3, FloorKind::TokioSpin)))
            };
            let mut raw_floor = |(at, kind): (usize, FloorKind)| -> Result<()> {
                let h = floor::measure(runtime, kind, pinning.server, s.warmup, s.pings)?;
                series[at].add(&h, floor_p50)
            };
            raw_floor(floor_after_client)?;
            let server_view = {
                let log = scratch.join(format!("server-view-{round}-{}.log", busy.as_micros()));
                let mut spec = base.with(&["--open-close-pings", &total.to_string()]);
                spec.log = rtt::server_view_log_filter(&base.log);
                spec.log_file = Some(log.clone());
                let server = spec.start()?;
                let answered =
                    runtime.block_on(rtt::answer_server_pings(server.addr, busy, total))?;
                server.child.stop(Duration::from_secs(5))?;
                ensure!(
                    answered == total,
                    "the server sent {answered} pings, not {total}"
                );
                let h = rtt::server_view_from_log(&log, s.warmup)?;
                ensure!(
                    h.len() == s.pings,
                    "the server logged {} RTTs after the warm-up, not {}",
                    h.len(),
                    s.pings
                );
                h
            };
            if let Some(floor) = floor_after_server {
                raw_floor(floor)?;
            }
            series[first + 1].add(&server_view, floor_p50)?;
            let binary = {
                let server = base.start()?;
                let summary = if busy.is_zero() {
                    // The reference client against the same server, just before or just
                    // after (alternately, so that neither always gets the fresher server).
                    let reference_first = round % 2 == 1;
                    let reference_run = || reference::measure(server.addr, s.warmup, s.pings);
                    let reference = if reference_first {
                        Some(reference_run()?)
                    } else {
                        None
                    };
                    let binary = rtt::binary_view(client_bin, server.addr, busy, s.pings)?;
                    let reference = match reference {
                        Some(summary) => summary,
                        None => reference_run()?,
                    };
                    series[REFERENCE].add_summary(reference, floor_p50);
                    versus.push(Versus {
                        reference,
                        wsppclient: binary,
                    });
                    binary
                } else {
                    rtt::binary_view(client_bin, server.addr, busy, s.pings)?
                };
                server.child.stop(Duration::from_secs(5))?;
                summary
            };
            // The binary reports percentiles, not samples: it has no curve in the plot.
            series[first + 2].add_summary(binary, floor_p50);
        }
    }
    Ok(RttResults {
        rounds: s.rounds,
        pings: s.pings,
        warmup: s.warmup,
        series: series.into(),
        versus,
    })
}

fn openclose_section(
    runtime: &tokio::runtime::Runtime,
    base: &ServerSpec,
    s: &Settings,
) -> Result<Vec<openclose::OpenCloseRow>> {
    let server = base.start()?;
    let pid = server.child.pid();
    let rows = runtime.block_on(async {
        // Warm-up: first connections pay for lazily grown tables and allocator pools.
        openclose::measure(server.addr, pid, 1, 100, s.cycle_time).await?;
        let sequential =
            openclose::measure(server.addr, pid, 1, s.sequential_cycles, s.cycle_time).await?;
        let concurrent =
            openclose::measure(server.addr, pid, 32, s.concurrent_cycles, s.cycle_time).await?;
        anyhow::Ok(vec![sequential, concurrent])
    })?;
    server.child.stop(Duration::from_secs(5))?;
    for row in &rows {
        ensure!(
            row.failures * 100 <= row.cycles,
            "{} of {} open-and-close cycles failed ({} at once)",
            row.failures,
            row.cycles + row.failures,
            row.concurrency
        );
    }
    Ok(rows)
}

fn write_outputs(info: &RunInfo, results: &Results, s: &Settings) -> Result<()> {
    let mut plot_link = None;
    if let (Some(path), Some(rtt)) = (&s.plot, &results.rtt) {
        let series: Vec<(&str, &hdrhistogram::Histogram<u64>)> =
            rtt.series.iter().map(|s| (s.name, &s.merged)).collect();
        let title = format!(
            "Loopback RTT, {} round{} × {} pings: raw TCP floor vs wspp",
            rtt.rounds,
            if rtt.rounds == 1 { "" } else { "s" },
            figures::thousands(rtt.pings)
        );
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, plot::svg(&title, &series))
            .with_context(|| format!("cannot write {}", path.display()))?;
        if !info.quick {
            println!("wrote {}", path.display());
        }
        plot_link = Some(relative_link(s.doc.as_deref(), path));
    }
    if let Some(doc) = &s.doc {
        let generated = report::generated_markdown(info, results, plot_link.as_deref());
        report::write_doc(doc, &generated)?;
        if !info.quick {
            println!("wrote {}", doc.display());
        }
    }
    Ok(())
}

/// How the doc at `doc` links to `target` (both relative to the same directory).
fn relative_link(doc: Option<&Path>, target: &Path) -> String {
    let depth = doc
        .and_then(Path::parent)
        .map_or(0, |dir| dir.components().count());
    format!("{}{}", "../".repeat(depth), target.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_climb_out_of_the_docs_directory() {
        assert_eq!(
            relative_link(
                Some(Path::new("docs/benchmarks.md")),
                Path::new("img/rtt.svg")
            ),
            "../img/rtt.svg"
        );
        assert_eq!(
            relative_link(Some(Path::new("b.md")), Path::new("img/rtt.svg")),
            "img/rtt.svg"
        );
    }
}
