//! What a `load` run and a `merge` are asked to do, as plain data.
//!
//! Apart from the connection settings on purpose: those
//! ([`ConnectSettings`](crate::net::settings::ConnectSettings)) say how each
//! connection is opened, these say how many, how fast, and what is sent on them.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::probe::Probes;

/// How many connections `load` opens when not told.
pub const DEFAULT_CONNECTIONS: u32 = 100;
/// Handshakes in flight at once when no `--open-rate` paces them: enough to keep a
/// server's accept queue busy, few enough not to overflow its backlog (often 128).
pub const DEFAULT_OPEN_CONCURRENCY: u32 = 64;
/// How long the connections are held, once opened, when not told.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// How `load` prints what happens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LoadFormat {
    /// The summary as text.
    #[default]
    Text,
    /// `--json`: the summary as one JSON object.
    Json,
    /// `--ndjson`: one JSON object a second, then the summary object.
    Ndjson,
}

/// What a `load` run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// The URL; the server's `/pingpong` when absent (the same rule as `ping`).
    pub url: Option<String>,
    /// WebSockets to open and hold.
    pub connections: u32,
    /// WebSockets per HTTP/2 connection (`--streams`, with `--http2`): the
    /// `connections` go in groups of this many onto one connection each, the last
    /// group with what is left; 1 gives each its own.
    pub streams: u32,
    /// Time between two connection attempts (`--open-rate`'s inverse); `None` opens
    /// as fast as the server accepts, `open_concurrency` handshakes at a time.
    pub open_every: Option<Duration>,
    /// Handshakes in flight at most.
    pub open_concurrency: u32,
    /// How long the connections are held once every one has been tried (opened or
    /// failed; each probes from its own opening); then they close with 1000 once
    /// their last probes are answered or timed out.
    pub duration: Duration,
    /// A hard end, from the run's start: what is unanswered then is lost, and the
    /// connections close at once.
    pub deadline: Option<Duration>,
    /// With `--churn R`: the time between two connections closed (1000) and opened
    /// again, `1/R`.
    pub churn_every: Option<Duration>,
    /// `--stop-on-error`: end the run at the first connection that fails to open or
    /// is dropped.
    pub stop_on_error: bool,
    /// Time between two probes on one connection.
    pub interval: Duration,
    /// How long a probe may wait for its answer before it counts as lost.
    pub timeout: Duration,
    /// Bytes of payload per probe (16..=125; clamped).
    pub payload_size: usize,
    /// Pings, echo messages, or both.
    pub probes: Probes,
    /// Local addresses the connections are bound to, in turn; none lets the kernel pick.
    pub sources: Vec<IpAddr>,
    /// Where to write the HdrHistogram interval log of the RTTs, if anywhere.
    pub hdr_log: Option<PathBuf>,
    /// Where to serve the run's figures to Prometheus (`/metrics`), if anywhere.
    pub metrics_addr: Option<SocketAddr>,
    /// How the run prints.
    pub format: LoadFormat,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            url: None,
            connections: DEFAULT_CONNECTIONS,
            streams: 1,
            open_every: None,
            open_concurrency: DEFAULT_OPEN_CONCURRENCY,
            duration: DEFAULT_DURATION,
            deadline: None,
            churn_every: None,
            stop_on_error: false,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            payload_size: wspp::payload::MIN_LEN,
            probes: Probes::Ping,
            sources: Vec::new(),
            hdr_log: None,
            metrics_addr: None,
            format: LoadFormat::Text,
        }
    }
}

/// How long the menus' `load` runs: long enough to watch its seconds go by, short
/// enough to end by itself if nobody stops it.
pub const MENU_DURATION: Duration = Duration::from_secs(30);

impl LoadOptions {
    /// What the menus' `load` entry runs: the command's defaults (100 connections, a
    /// probe a second on each, the server's `/pingpong`), held for [`MENU_DURATION`].
    /// The connection settings (server, TLS, proxy, headers) are the global flags'.
    pub fn for_menu() -> Self {
        LoadOptions {
            duration: MENU_DURATION,
            ..LoadOptions::default()
        }
    }
}

/// What `merge` reads and how it prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeOptions {
    /// The interval logs, one per generator.
    pub files: Vec<PathBuf>,
    /// The summary as one JSON object instead of text.
    pub json: bool,
}
