//! The subcommands: one per [`catalog`](crate::commands::catalog) entry, and `listen`
//! (its options in `cli/listen.rs`), with their own options (`ping`'s as ping(8) names them, `inspect`'s messages in the order typed),
//! and the program's help texts that go with them.

use std::time::Duration;

use clap::{ArgGroup, ArgMatches, Args, Subcommand};

use std::net::IpAddr;
use std::path::PathBuf;

use super::values::parse_count;
use crate::commands::catalog::Request;
use crate::commands::load::{LoadFormat, LoadOptions, MergeOptions};
use crate::commands::ping::PingOptions;
use crate::commands::ping::output::PingFormat;
use crate::commands::{InspectOptions, Outgoing};
use crate::probe::Probes;
use wspp::duration::{parse as parse_budget, parse_delay, parse_positive};
use wsppsrv::docs::DocsCommand;

/// Every subcommand: the requests, and the two that describe the program.
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    #[allow(missing_docs)]
    #[command(flatten)]
    Request(RequestCommand),
    /// Open many connections and ping on each of them on schedule, open loop: the
    /// latency a server gives under load, on the kernel's clock
    #[command(after_help = LOAD_EXIT)]
    Load(LoadArgs),
    /// Add up HdrHistogram interval logs written by `load --hdr-log` (from one
    /// generator or several) and print the summary of all their round trips
    Merge(MergeArgs),
    #[allow(missing_docs)]
    #[command(flatten)]
    Docs(DocsCommand),
    /// Listen as a WebSocket server and show each client's transcript: its request,
    /// our answer, every frame both ways, the close
    #[command(after_help = super::listen::LISTEN_HELP)]
    Listen(super::listen::ListenArgs),
}

/// One subcommand per catalog entry.
#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    #[allow(missing_docs)]
    #[command(
        name = Request::Page.subcommand(),
        about = Request::Page.description(),
        after_help = wireshark_help(Request::Page)
    )]
    Page,
    #[allow(missing_docs)]
    #[command(
        name = Request::Favicon.subcommand(),
        about = Request::Favicon.description(),
        after_help = wireshark_help(Request::Favicon)
    )]
    Favicon,
    #[allow(missing_docs)]
    #[command(
        name = Request::OpenClose.subcommand(),
        about = Request::OpenClose.description(),
        after_help = wireshark_help(Request::OpenClose)
    )]
    OpenClose,
    #[allow(missing_docs)]
    #[command(
        name = Request::Hold.subcommand(),
        about = Request::Hold.description(),
        after_help = wireshark_help(Request::Hold)
    )]
    Hold {
        /// Time between echo messages (seconds, or a duration like 200ms)
        #[arg(long, value_name = "DURATION", default_value = "1", value_parser = parse_positive,
              allow_hyphen_values = true)]
        interval: Duration,
        /// When the connection drops or the server closes or restarts, say so and
        /// reconnect (100 ms back-off doubling to 5 s) until Ctrl-C
        #[arg(long)]
        reconnect: bool,
    },
    #[allow(missing_docs)]
    #[command(
        name = Request::Ping.subcommand(),
        about = Request::Ping.description(),
        after_help = format!("{PING_EXIT}\n\n{}", wireshark_help(Request::Ping))
    )]
    Ping(PingArgs),
    #[allow(missing_docs)]
    #[command(
        name = Request::NoKey.subcommand(),
        about = Request::NoKey.description(),
        after_help = wireshark_help(Request::NoKey)
    )]
    NoKey,
    #[allow(missing_docs)]
    #[command(
        name = Request::BadVersion.subcommand(),
        about = Request::BadVersion.description(),
        after_help = wireshark_help(Request::BadVersion)
    )]
    BadVersion,
    #[allow(missing_docs)]
    #[command(
        name = Request::NoUpgrade.subcommand(),
        about = Request::NoUpgrade.description(),
        after_help = wireshark_help(Request::NoUpgrade)
    )]
    NoUpgrade,
    #[allow(missing_docs)]
    #[command(
        name = Request::Inspect.subcommand(),
        about = Request::Inspect.description(),
        after_help = wireshark_help(Request::Inspect)
    )]
    Inspect(InspectArgs),
}

impl RequestCommand {
    /// The catalog entry this subcommand runs.
    pub fn request(&self) -> Request {
        match self {
            RequestCommand::Page => Request::Page,
            RequestCommand::Favicon => Request::Favicon,
            RequestCommand::OpenClose => Request::OpenClose,
            RequestCommand::Hold { .. } => Request::Hold,
            RequestCommand::Ping(_) => Request::Ping,
            RequestCommand::NoKey => Request::NoKey,
            RequestCommand::BadVersion => Request::BadVersion,
            RequestCommand::NoUpgrade => Request::NoUpgrade,
            RequestCommand::Inspect(_) => Request::Inspect,
        }
    }
}

/// What `ping` and `load` send and how long they wait for it, the same flags for both.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("echoing").args(["echo", "both"])))]
pub struct ProbeArgs {
    /// Seconds to wait for each answer before counting the probe as lost
    #[arg(short = 'W', long, value_name = "SECS", default_value = "5", value_parser = parse_positive,
          allow_hyphen_values = true)]
    pub timeout: Duration,

    /// Bytes of Ping payload (16 to 125: a sequence number, a timestamp, padding)
    #[arg(short = 's', long = "size", value_name = "BYTES", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(16..=125), allow_negative_numbers = true)]
    pub payload_size: u16,

    /// Send Text messages for an echo server to return, instead of Pings, each matched
    /// to its echo by its content (sequence number and send time): the application's
    /// round trip rather than the WebSocket layer's
    #[arg(long, conflicts_with = "both")]
    pub echo: bool,

    /// With --echo or --both: Binary messages instead of Text
    #[arg(long, requires = "echoing")]
    pub binary: bool,

    /// A Ping and an echo message on alternate turns; the summary shows both RTT
    /// distributions and their difference
    #[arg(long)]
    pub both: bool,
}

impl ProbeArgs {
    /// Which probes go out.
    fn probes(&self) -> Probes {
        let encoding = if self.binary {
            wspp::payload::Encoding::Binary
        } else {
            wspp::payload::Encoding::Text
        };
        match (self.echo, self.both) {
            (_, true) => Probes::Both(encoding),
            (true, false) => Probes::Echo(encoding),
            (false, false) => Probes::Ping,
        }
    }
}

/// The options of `ping`, named as ping(8) names them.
#[derive(Debug, Args)]
pub struct PingArgs {
    /// The ws:// or wss:// URL to ping [default: ws://SERVER/pingpong, or wss:// with --tls]
    pub url: Option<String>,

    /// Stop after COUNT pings (each answered or timed out; with --both, COUNT of each;
    /// with -w, COUNT answers) [default: until Ctrl-C]
    #[arg(short = 'c', long, allow_negative_numbers = true, value_parser = parse_count)]
    pub count: Option<u64>,

    /// Stop SECS after the first ping, whatever the count; pings unanswered then are
    /// lost. As ping(8): with -c, COUNT answers end the run sooner, and exit status 0
    /// means COUNT answers (without -c, one) arrived in time
    #[arg(short = 'w', long, value_name = "SECS", value_parser = parse_positive,
          allow_hyphen_values = true)]
    pub deadline: Option<Duration>,

    /// Seconds between pings (e.g. 0.2); 0 sends the next ping as soon as the previous one is answered
    #[arg(short = 'i', long, value_name = "SECS", default_value = "1", value_parser = parse_delay,
          allow_hyphen_values = true)]
    pub interval: Duration,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub probe: ProbeArgs,

    /// Print only one JSON object with the summary (for scripts)
    #[arg(long, conflicts_with = "ndjson")]
    pub json: bool,

    /// Print one JSON object per ping as it ends (seq, rtt_ms or lost, unix_time_s,
    /// kind), then the --json summary as the last line
    #[arg(long)]
    pub ndjson: bool,

    /// Quiet: print only the header and the summary
    #[arg(short = 'q', long, conflicts_with = "ndjson")]
    pub quiet: bool,

    /// Start each ping's line with the Unix time, [seconds.micros], as ping(8) -D
    #[arg(short = 'D', long = "timestamp", conflicts_with_all = ["json", "ndjson"])]
    pub timestamp: bool,

    /// Keep polling for SECS (e.g. 0.001 or 1ms) after each ping instead of sleeping
    /// until the pong wakes us: the RTT then leaves out this machine's own wake-up, for
    /// a busy core while it polls [default: 0, never]
    #[arg(long, value_name = "SECS", default_value = "0", hide_default_value = true, value_parser = parse_budget,
          allow_hyphen_values = true)]
    pub busy_poll: Duration,

    /// Print user-to-user RTTs: from handing the Ping over to being handed the Pong,
    /// this machine's wake-up included [default: the network RTT, from the kernel's
    /// timestamps, as ping(8) prints]
    #[arg(short = 'U', long)]
    pub user_latency: bool,
}

/// The options of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The ws:// or wss:// URL, path and query as given [default: ws://SERVER/pingpong, or wss:// with --tls]
    pub url: Option<String>,

    /// Send TEXT as a Text message once upgraded (repeatable; all messages go in the order given)
    #[arg(long = "send", value_name = "TEXT")]
    pub send: Vec<String>,

    /// Send bytes written in hex as a Binary message, e.g. 00ff or '00 01 fe' (repeatable)
    #[arg(long = "send-binary", value_name = "HEX", value_parser = parse_hex)]
    pub send_binary: Vec<HexBytes>,

    /// How long to listen after the last message before closing with 1000 (seconds, or e.g. 500ms)
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_delay,
          allow_hyphen_values = true)]
    pub wait: Duration,

    /// The messages of --send and --send-binary interleaved as typed (set by [`parse`](crate::front::cli::parse)
    /// from the argument indices; derive alone keeps each list apart).
    #[arg(skip)]
    pub messages: Option<Vec<Outgoing>>,
}

/// The bytes of one `--send-binary`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexBytes(pub Vec<u8>);

fn parse_hex(s: &str) -> Result<HexBytes, String> {
    crate::hex::parse(s).map(HexBytes)
}

impl PingArgs {
    /// How the session's output is asked to look.
    pub(super) fn format(&self) -> PingFormat {
        if self.json {
            PingFormat::Json
        } else if self.ndjson {
            PingFormat::Ndjson
        } else if self.quiet {
            PingFormat::Quiet
        } else if self.timestamp {
            PingFormat::Stamped
        } else {
            PingFormat::Text
        }
    }

    /// What the session is asked to do.
    pub(super) fn into_options(self) -> PingOptions {
        PingOptions {
            url: self.url,
            count: self.count,
            deadline: self.deadline,
            interval: self.interval,
            timeout: self.probe.timeout,
            payload_size: usize::from(self.probe.payload_size),
            busy_poll: self.busy_poll,
            probes: self.probe.probes(),
            user_latency: self.user_latency,
        }
    }
}

impl InspectArgs {
    /// Puts --send and --send-binary in the order they were typed.
    pub(super) fn order_messages(&mut self, matches: &ArgMatches) {
        let mut indexed: Vec<(usize, Outgoing)> = Vec::new();
        let index = |id: &str| -> Vec<usize> {
            matches
                .indices_of(id)
                .map(Iterator::collect)
                .unwrap_or_default()
        };
        for (i, text) in index("send").into_iter().zip(&self.send) {
            indexed.push((i, Outgoing::Text(text.clone())));
        }
        for (i, bytes) in index("send_binary").into_iter().zip(&self.send_binary) {
            indexed.push((i, Outgoing::Binary(bytes.0.clone())));
        }
        indexed.sort_by_key(|(i, _)| *i);
        self.messages = Some(indexed.into_iter().map(|(_, m)| m).collect());
    }

    pub(super) fn into_options(self) -> InspectOptions {
        let messages = self.messages.unwrap_or_else(|| {
            // Without the indices (a `Cli` built by derive alone): texts, then bytes.
            let texts = self.send.into_iter().map(Outgoing::Text);
            let bytes = self.send_binary.into_iter().map(|b| Outgoing::Binary(b.0));
            texts.chain(bytes).collect()
        });
        InspectOptions {
            url: self.url,
            messages,
            wait: self.wait,
        }
    }
}

/// The options of `load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The ws:// or wss:// URL [default: ws://SERVER/pingpong, or wss:// with --tls]
    pub url: Option<String>,

    /// Connections to open and hold
    #[arg(long, value_name = "N", default_value_t = crate::commands::load::options::DEFAULT_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..),
          allow_negative_numbers = true)]
    pub connections: u32,

    /// With --http2: WebSockets per HTTP/2 connection, each on a stream of its own
    /// (--connections counts WebSockets: --connections 1000 --streams 100 opens 10
    /// HTTP/2 connections) [default: 1]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..),
          allow_negative_numbers = true)]
    pub streams: Option<u32>,

    /// Connections opened a second [default: as fast as the server accepts them]
    #[arg(long, value_name = "R", value_parser = parse_rate, allow_negative_numbers = true)]
    pub open_rate: Option<Duration>,

    /// Handshakes in flight at most while opening
    #[arg(long, value_name = "C", default_value_t = crate::commands::load::options::DEFAULT_OPEN_CONCURRENCY,
          value_parser = clap::value_parser!(u32).range(1..),
          allow_negative_numbers = true)]
    pub open_concurrency: u32,

    /// How long to hold the connections once all have been tried (seconds, or e.g.
    /// 30s, 2m); then every connection closes with 1000 once its last probes are
    /// answered or timed out
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_positive,
          allow_hyphen_values = true)]
    pub duration: Duration,

    /// A hard end SECS after the start: probes unanswered then are lost, and the
    /// connections close at once
    #[arg(short = 'w', long, value_name = "SECS", value_parser = parse_positive,
          allow_hyphen_values = true)]
    pub deadline: Option<Duration>,

    /// Seconds between two probes on one connection; the connections' probes are
    /// spread evenly over it
    #[arg(short = 'i', long, value_name = "SECS", default_value = "1", value_parser = parse_positive,
          allow_hyphen_values = true)]
    pub interval: Duration,

    /// Close R connections a second with 1000 and open them again (each in turn),
    /// waiting out a refusal's Retry-After before trying again
    #[arg(long, value_name = "R", value_parser = parse_rate, allow_negative_numbers = true)]
    pub churn: Option<Duration>,

    /// End the run at the first connection that fails to open or is dropped (the
    /// others close with 1000 once their probes are answered)
    #[arg(long)]
    pub stop_on_error: bool,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub probe: ProbeArgs,

    /// Bind the connections to these local addresses in turn (e.g.
    /// 127.0.0.2,127.0.0.3): each address has its own ephemeral ports
    #[arg(long = "source", value_name = "ADDR[,ADDR...]", value_delimiter = ',')]
    pub sources: Vec<IpAddr>,

    /// Write the RTTs (microseconds) to FILE as an HdrHistogram interval log, one
    /// interval a second
    #[arg(long, value_name = "FILE")]
    pub hdr_log: Option<PathBuf>,

    /// Serve the run's figures to Prometheus at http://ADDR/metrics (e.g.
    /// 0.0.0.0:9464), updated each second while the run lasts
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// Print only the summary, as one JSON object
    #[arg(long, conflicts_with = "ndjson")]
    pub json: bool,

    /// Print one JSON object a second, then the --json summary as the last line
    #[arg(long)]
    pub ndjson: bool,
}

/// `--open-rate`: connections a second, as the time between two of them.
fn parse_rate(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Duration::try_from_secs_f64(1.0 / rate)
            .map_err(|_| format!("{s:?} is too small a rate")),
        _ => Err(format!(
            "{s:?} is not a rate: give connections a second, more than 0 (e.g. 500)"
        )),
    }
}

impl LoadArgs {
    /// What the run does.
    pub(super) fn into_options(self) -> LoadOptions {
        LoadOptions {
            url: self.url,
            connections: self.connections,
            streams: self.streams.unwrap_or(1),
            open_every: self.open_rate,
            open_concurrency: self.open_concurrency,
            duration: self.duration,
            deadline: self.deadline,
            churn_every: self.churn,
            stop_on_error: self.stop_on_error,
            interval: self.interval,
            timeout: self.probe.timeout,
            payload_size: usize::from(self.probe.payload_size),
            probes: self.probe.probes(),
            sources: self.sources,
            hdr_log: self.hdr_log,
            metrics_addr: self.metrics_addr,
            format: if self.json {
                LoadFormat::Json
            } else if self.ndjson {
                LoadFormat::Ndjson
            } else {
                LoadFormat::Text
            },
        }
    }
}

/// The options of `merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The interval logs (`load --hdr-log FILE`)
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Print the summary as one JSON object
    #[arg(long)]
    pub json: bool,
}

impl MergeArgs {
    /// What the merge reads.
    pub(super) fn into_options(self) -> MergeOptions {
        MergeOptions {
            files: self.files,
            json: self.json,
        }
    }
}

/// What `load`'s exit status says.
const LOAD_EXIT: &str = "Exit status: 0 when every connection opened and stayed, and every \
probe was answered; 1 otherwise; 2 on a usage error. Ctrl-C ends the run at once with the \
summary (connections close with 1000); SIGTERM the same with 1001 (Going Away), and 143.";

/// What `ping`'s exit status says, and how a signal ends it.
const PING_EXIT: &str = "Exit status: 0 when every ping was answered (with -w: when COUNT \
answers, or one without -c, came in time), 1 otherwise, 2 on error. Ctrl-C prints the \
summary and exits 0 or 1 the same way, as ping(8); SIGTERM closes with 1001 (Going Away) \
instead of 1000, prints the summary and exits 143.";

fn wireshark_help(request: Request) -> String {
    format!("In Wireshark: {}.", request.wireshark())
}
