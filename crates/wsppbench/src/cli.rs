//! The command line: the suite's knobs, and the hidden subcommands the suite spawns.
//!
//! Every knob has a default that reproduces the published figures; `--quick` swaps in
//! small counts so that CI can check in seconds that the whole suite still runs.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// wsppbench: RTT against the raw-TCP floor, memory per idle connection, the server
/// under ping load, and open-and-close rates, on loopback, in one run.
///
/// Run it through `scripts/bench.sh`, which builds in release mode and raises the
/// open-file limit first.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
pub struct Cli {
    /// The suite's settings (used when no subcommand is given).
    #[command(flatten)]
    pub run: RunArgs,
    /// A piece of the suite, run as a child process.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// How the suite runs.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Smoke mode: a few hundred pings and connections, seconds in all; checks that
    /// every section still works and prints `bench-smoke: N passed, N failed`.
    /// Writes the doc and the plot to a temporary directory unless --doc or --plot
    /// is given.
    #[arg(long)]
    pub quick: bool,

    /// Rounds of the interleaved RTT runs (floor, wspp, floor, wspp...); medians are reported.
    #[arg(long)]
    pub rounds: Option<u32>,

    /// Sequential pings per RTT run, after the warm-up.
    #[arg(long)]
    pub pings: Option<u64>,

    /// The wsppsrv binary; default: next to this one.
    #[arg(long)]
    pub server_bin: Option<PathBuf>,

    /// The wsppclient binary for the `wsppclient ping -i 0` series and the load
    /// section's `wsppclient load` generators; default: next to this one.
    #[arg(long)]
    pub client_bin: Option<PathBuf>,

    /// Where to write the Markdown report (its generated part); a full run of every
    /// section writes docs/benchmarks.md unless told otherwise.
    #[arg(long)]
    pub doc: Option<PathBuf>,

    /// Where to write the SVG percentile plot; a full run writes img/rtt-percentiles.svg.
    #[arg(long)]
    pub plot: Option<PathBuf>,

    /// Run only these sections (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Section>,

    /// The core the server under test runs on.
    #[arg(long, default_value_t = 0)]
    pub server_cpu: usize,

    /// The core this process, its clients and its load generators run on.
    #[arg(long, default_value_t = 1)]
    pub client_cpu: usize,

    /// Run this process and every child under SCHED_FIFO (`chrt`, needs root), so
    /// that other processes on a shared machine cannot hold the measured ones off a
    /// core for a scheduler time slice (a few ms: it would be every tail). Floor and
    /// wspp get the same treatment; the report says when it was used.
    #[arg(long)]
    pub realtime: bool,

    /// Idle connections for the memory section (repeatable; default 1000, 10000 and the
    /// most the open-file limit allows).
    #[arg(long, value_delimiter = ',')]
    pub idle: Vec<usize>,

    /// RUST_LOG for every wsppsrv the suite starts. `warn` keeps per-event log lines
    /// (one per RTT, one per open and close at `info`) out of the figures; the
    /// server-view RTT run adds `wsppsrv::session=info`, because it reads those lines.
    #[arg(long, default_value = "warn")]
    pub server_log: String,

    /// Clients held under ping load, and then connections from `wsppclient load`.
    #[arg(long)]
    pub load_clients: Option<usize>,
}

/// The sections of the suite, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Section {
    /// RTT: the floors, the wspp client, the server's view.
    Rtt,
    /// Open-and-close cycles, sequential and concurrent.
    Openclose,
    /// Idle memory per /pingpong connection.
    Memory,
    /// The server pinging many clients every second, then probed by as many
    /// connections from `wsppclient load`.
    Load,
}

/// The children the suite spawns (hidden: not meant to be run by hand), and the plot
/// of `scripts/fidelity.sh`'s samples.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Echo 2-byte messages on one TCP connection: the floor's server side.
    #[command(hide = true)]
    FloorServer(FloorServerArgs),
    /// The blocking-std floor alone, for a run outside the suite to take its ratios
    /// against: prints `P50 P90 P99 P999 MAX` (µs).
    #[command(hide = true)]
    FloorClient(FloorClientArgs),
    /// Open many WebSocket connections and hold them, answering pings.
    #[command(hide = true)]
    Hold(HoldArgs),
    /// Ping wsppsrv with a minimal tokio-tungstenite client; print its percentiles.
    #[command(hide = true)]
    ReferenceClient(ReferenceArgs),
    /// Plot the samples of scripts/fidelity.sh: printed RTTs against the wire's
    FidelityPlot(FidelityPlotArgs),
}

/// `fidelity-plot`: percentile curves of the wire's RTTs and the printed ones.
#[derive(Debug, Args)]
pub struct FidelityPlotArgs {
    /// The samples scripts/fidelity.sh wrote (target/fidelity/fidelity.tsv)
    pub tsv: std::path::PathBuf,
    /// The SVG to write
    pub out: std::path::PathBuf,
}

/// Which raw-TCP implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FloorKind {
    /// Blocking `std::net` sockets.
    Std,
    /// tokio on a current-thread runtime.
    Tokio,
    /// tokio again, busy-polling as wspp's busy-poll mode does.
    TokioSpin,
    /// Non-blocking `std::net` sockets, read in a busy loop: no end ever sleeps, the
    /// floor for wspp's busy-poll mode.
    Spin,
}

/// `floor-server`: prints `port N`, serves one connection, exits at its end.
#[derive(Debug, Args)]
pub struct FloorServerArgs {
    /// The implementation to echo with.
    #[arg(long, value_enum)]
    pub kind: FloorKind,
}

/// `floor-client`: prints `P50 P90 P99 P999 MAX` (µs) of the std floor.
#[derive(Debug, Args)]
pub struct FloorClientArgs {
    /// The core the echo server runs on (this process stays where it was started).
    #[arg(long)]
    pub server_cpu: Option<usize>,
    /// Round trips before the measured ones.
    #[arg(long, default_value_t = 2000)]
    pub warmup: u64,
    /// Measured round trips.
    #[arg(long)]
    pub count: u64,
}

/// `reference-client`: prints `P50 P90 P99 P999 MAX` (µs) after its pings.
#[derive(Debug, Args)]
pub struct ReferenceArgs {
    /// The wsppsrv to ping on `/pingpong`.
    #[arg(long)]
    pub addr: SocketAddr,
    /// Pings before the measured ones.
    #[arg(long)]
    pub warmup: u64,
    /// Measured pings.
    #[arg(long)]
    pub count: u64,
}

/// `hold`: prints `ready OK FAILED` once every connection is open (or has failed), then
/// holds them until stdin closes or `--max-secs` passes.
#[derive(Debug, Args)]
pub struct HoldArgs {
    /// The server.
    #[arg(long)]
    pub addr: SocketAddr,
    /// The route to upgrade on.
    #[arg(long, default_value = wspp::routes::PINGPONG)]
    pub route: String,
    /// Connections to open.
    #[arg(long)]
    pub count: usize,
    /// The loopback address to connect from (spreads ports over several addresses).
    #[arg(long, default_value = "127.0.0.1")]
    pub source: Ipv4Addr,
    /// Connections being opened at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Offer permessage-deflate (failing a connection the server does not take it on),
    /// and send one message and read its echo before idling.
    #[arg(long)]
    pub deflate: bool,
    /// Exit after this long whatever happens, so a lost parent leaves nothing behind.
    #[arg(long, default_value = "10m", value_parser = wspp::duration::parse_positive)]
    pub max_time: Duration,
}
