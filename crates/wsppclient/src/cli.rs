//! The command line, parsed with clap's derive API and turned into an [`Invocation`].
//!
//! Subcommand names and help texts come from the [`catalog`](crate::catalog), so the
//! menu and the subcommands cannot disagree; a unit test checks that every catalog
//! entry has its subcommand. Nothing below this module sees clap: [`Cli::into_invocation`]
//! hands the library plain data.
//!
//! A TLS server is named either way a user reaches for: `--server wss://HOST:PORT`
//! (or `https://`, pasted from a browser) or `--server HOST:PORT --tls`. With `--tls`
//! and no `--server`, the default is wsppsrv's default TLS address rather than its
//! plain one, so `wsppclient --tls ping` works against `wsppsrv --tls-self-signed`.
//!
//! Only a server the user did not name may be started in-process
//! ([`crate::local_server`]): `--server` and `WSPP_SERVER` both name one, and
//! `--no-local-server` forbids it. The hidden `--default-server` (`WSPP_DEFAULT_SERVER`)
//! moves the unnamed default, which is how the tests avoid port 8080.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{
    ArgAction, ArgGroup, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand,
};

use crate::catalog::Request;
use crate::config::{
    Config, DEFAULT_USER_AGENT, FrontEnd, Header, InspectOptions, Invocation, Outgoing, PingFormat,
    PingOptions, Probes,
};
use crate::duration::{parse_positive_seconds, parse_seconds};
use crate::proxy::{self, Proxies};
use crate::tls::TlsOptions;
use wsppsrv::docs::DocsCommand;

/// The help heading of the options every subcommand takes.
const GLOBAL: &str = "Global options";
/// The help heading of the TLS options.
const TLS: &str = "TLS options (wss://)";

/// A client for wsppsrv: fire requests and watch the WebSocket protocol at work, or
/// measure latency like ping(8) against any WebSocket server.
///
/// Without a subcommand it shows a menu of requests: a terminal UI on a terminal,
/// a numbered menu otherwise (or with --plain). Exit status: 0 on success, 1 when
/// `ping` lost pings, 2 on error. Ctrl-C ends `ping` with its summary and 0 or 1 by
/// loss (as ping(8)), `hold` with 0 and the menus with 130. SIGTERM ends `ping` and
/// `hold` the same way but with Close 1001 (Going Away) instead of 1000, and 143.
#[derive(Debug, Parser)]
#[command(name = "wsppclient", version)]
pub struct Cli {
    /// The server to talk to: HOST:PORT, or wss://HOST:PORT for TLS [default: 127.0.0.1:8080, started in this process if nothing listens there; 127.0.0.1:8443 with --tls]
    #[arg(
        long,
        env = "WSPP_SERVER",
        value_name = "HOST:PORT",
        value_parser = parse_server,
        global = true,
        help_heading = GLOBAL
    )]
    pub server: Option<ServerArg>,

    /// Never start a server in this process: without --server, wsppclient starts one
    /// on the default address when nothing listens there
    #[arg(
        long,
        env = "WSPP_NO_LOCAL_SERVER",
        action = ArgAction::SetTrue,
        value_parser = BoolishValueParser::new(),
        global = true,
        help_heading = GLOBAL
    )]
    pub no_local_server: bool,

    /// Where to look for (and, if none listens, start) the server when --server is not
    /// given; the tests point it at a fresh port (127.0.0.1:0) instead of 8080
    #[arg(
        long,
        env = "WSPP_DEFAULT_SERVER",
        value_name = "IP:PORT",
        hide = true,
        global = true
    )]
    pub default_server: Option<SocketAddr>,

    /// The server speaks TLS: https:// and wss:// instead of http:// and ws://
    #[arg(
        long,
        env = "WSPP_TLS",
        action = ArgAction::SetTrue,
        value_parser = BoolishValueParser::new(),
        global = true,
        help_heading = TLS
    )]
    pub tls: bool,

    /// Trust only the certificate(s) in this PEM file, not the system's roots (e.g. the one wsppsrv --tls-self-signed writes)
    #[arg(
        long,
        env = "WSPP_CA",
        value_name = "FILE",
        global = true,
        help_heading = TLS
    )]
    pub ca: Option<PathBuf>,

    /// Do not verify the server's certificate (a warning says so on stderr)
    #[arg(
        short = 'k',
        long,
        env = "WSPP_INSECURE",
        action = ArgAction::SetTrue,
        value_parser = BoolishValueParser::new(),
        global = true,
        help_heading = TLS
    )]
    pub insecure: bool,

    /// Append TLS session secrets to FILE so that Wireshark can decrypt the capture
    #[arg(
        long,
        env = "SSLKEYLOGFILE",
        value_name = "FILE",
        global = true,
        help_heading = TLS
    )]
    pub key_log: Option<PathBuf>,

    /// Use the numbered menu even on a terminal
    #[arg(long)]
    pub plain: bool,

    /// Add a header to every request (repeatable)
    #[arg(
        short = 'H',
        long = "header",
        value_name = "NAME: VALUE",
        value_parser = parse_header,
        global = true,
        help_heading = GLOBAL
    )]
    pub headers: Vec<Header>,

    /// The Origin header to send (browsers always send one)
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub origin: Option<String>,

    /// Show every payload also as a hex dump (offset, 16 bytes a line, ASCII) in transcripts
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub hex: bool,

    /// The User-Agent header to send (the server's page shows it)
    #[arg(
        long,
        value_name = "TEXT",
        default_value = DEFAULT_USER_AGENT,
        global = true,
        help_heading = GLOBAL
    )]
    pub user_agent: String,

    /// Offer this WebSocket subprotocol (Sec-WebSocket-Protocol); repeatable, in order of preference
    #[arg(
        long = "subprotocol",
        value_name = "NAME",
        value_parser = parse_subprotocol,
        global = true,
        help_heading = GLOBAL
    )]
    pub subprotocols: Vec<String>,

    /// Connect through this proxy: http://HOST:PORT (a CONNECT tunnel; http://USER:PASS@HOST:PORT for Basic auth), socks5:// or socks5h:// [default: HTTPS_PROXY for wss://, HTTP_PROXY for ws://, else ALL_PROXY; NO_PROXY lists hosts reached directly; '' for none]
    #[arg(
        long,
        value_name = "URL",
        value_parser = parse_proxy,
        global = true,
        help_heading = GLOBAL
    )]
    pub proxy: Option<String>,

    /// Connect directly, whatever --proxy and the *_PROXY variables say
    #[arg(long, global = true, help_heading = GLOBAL, conflicts_with = "proxy")]
    pub no_proxy: bool,

    /// What to run; the menu when absent
    #[command(subcommand)]
    pub command: Option<CliCommand>,
}

/// Every subcommand: the requests, and the two that describe the program.
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    #[allow(missing_docs)]
    #[command(flatten)]
    Request(Command),
    #[allow(missing_docs)]
    #[command(flatten)]
    Docs(DocsCommand),
}

/// One subcommand per catalog entry.
#[derive(Debug, Subcommand)]
pub enum Command {
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
        #[arg(long, value_name = "DURATION", default_value = "1", value_parser = parse_seconds)]
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

impl Command {
    /// The catalog entry this subcommand runs.
    pub fn request(&self) -> Request {
        match self {
            Command::Page => Request::Page,
            Command::Favicon => Request::Favicon,
            Command::OpenClose => Request::OpenClose,
            Command::Hold { .. } => Request::Hold,
            Command::Ping(_) => Request::Ping,
            Command::NoKey => Request::NoKey,
            Command::BadVersion => Request::BadVersion,
            Command::NoUpgrade => Request::NoUpgrade,
            Command::Inspect(_) => Request::Inspect,
        }
    }
}

/// `--server` as given: where, and whether its scheme asked for TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerArg {
    /// `HOST:PORT`.
    pub addr: String,
    /// `Some(true)` for `wss://` and `https://`, `Some(false)` for `ws://` and
    /// `http://`, `None` for a bare `HOST:PORT`.
    pub tls: Option<bool>,
}

/// The options of `ping`, named as ping(8) names them.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("echoing").args(["echo", "both"])))]
pub struct PingArgs {
    /// The ws:// or wss:// URL to ping [default: ws://SERVER/pingpong, or wss:// with --tls]
    pub url: Option<String>,

    /// Stop after COUNT pings (each answered or timed out; with --both, COUNT of each;
    /// with -w, COUNT answers) [default: until Ctrl-C]
    #[arg(short = 'c', long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Stop SECS after the first ping, whatever the count; pings unanswered then are
    /// lost. As ping(8): with -c, COUNT answers end the run sooner, and exit status 0
    /// means COUNT answers (without -c, one) arrived in time
    #[arg(short = 'w', long, value_name = "SECS", value_parser = parse_positive_seconds)]
    pub deadline: Option<Duration>,

    /// Seconds between pings (e.g. 0.2); 0 sends the next ping as soon as the previous one is answered
    #[arg(short = 'i', long, value_name = "SECS", default_value = "1", value_parser = parse_seconds)]
    pub interval: Duration,

    /// Seconds to wait for each pong before counting the ping as lost
    #[arg(short = 'W', long, value_name = "SECS", default_value = "5", value_parser = parse_positive_seconds)]
    pub timeout: Duration,

    /// Bytes of Ping payload (16 to 125: a sequence number, a timestamp, padding)
    #[arg(short = 's', long = "size", value_name = "BYTES", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(16..=125))]
    pub payload_size: u16,

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

    /// Keep polling for SECS (e.g. 0.001 or 1ms) after each ping instead of sleeping
    /// until the pong wakes us: the RTT then leaves out this machine's own wake-up, for
    /// a busy core while it polls [default: 0, never]
    #[arg(long, value_name = "SECS", default_value = "0", hide_default_value = true, value_parser = parse_seconds)]
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
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_seconds)]
    pub wait: Duration,

    /// The messages of --send and --send-binary interleaved as typed (set by [`parse`]
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

impl InspectArgs {
    /// Puts --send and --send-binary in the order they were typed.
    fn order_messages(&mut self, matches: &ArgMatches) {
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

    fn into_options(self) -> InspectOptions {
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

/// Parses the process's arguments (exiting with clap's message and status 2 on a bad
/// one), keeping the order of `inspect`'s messages.
pub fn parse() -> Cli {
    from_matches(&Cli::command().get_matches()).unwrap_or_else(|e| e.exit())
}

/// [`parse`] over given arguments, for tests.
pub fn try_parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    from_matches(&Cli::command().try_get_matches_from(args)?)
}

fn from_matches(matches: &ArgMatches) -> Result<Cli, clap::Error> {
    let mut cli = Cli::from_arg_matches(matches)?;
    if let (Some(CliCommand::Request(Command::Inspect(args))), Some((_, sub))) =
        (&mut cli.command, matches.subcommand())
    {
        args.order_messages(sub);
    }
    Ok(cli)
}

impl Cli {
    /// The completions or man page asked for, if that is what this command line asks:
    /// `main` answers those without making an [`Invocation`].
    pub fn docs(&self) -> Option<&DocsCommand> {
        match &self.command {
            Some(CliCommand::Docs(docs)) => Some(docs),
            _ => None,
        }
    }

    /// The plain settings and front-end this command line asks for (see [`Cli::docs`] for
    /// the subcommands that run nothing).
    pub fn into_invocation(self) -> Invocation {
        let scheme_tls = self.server.as_ref().and_then(|s| s.tls);
        let server_tls = self.tls || scheme_tls == Some(true);
        let named = self.server.is_some();
        let server = match (self.server, self.default_server) {
            (Some(server), _) => server.addr,
            (None, Some(default)) => default.to_string(),
            (None, None) if server_tls => wspp::routes::DEFAULT_TLS_ADDR.to_owned(),
            (None, None) => wspp::routes::DEFAULT_ADDR.to_owned(),
        };
        let mut config = Config::new(server);
        config.start_local_server = !named && !self.no_local_server;
        config.server_tls = server_tls;
        config.tls = TlsOptions {
            ca: self.ca,
            insecure: self.insecure,
            // An empty SSLKEYLOGFILE is how people unset it in a shell.
            key_log: self.key_log.filter(|p| !p.as_os_str().is_empty()),
        };
        config.headers = self.headers;
        config.subprotocols = self.subprotocols;
        config.proxy = match self.proxy {
            _ if self.no_proxy => Proxies::direct(),
            // curl's `-x ''`: no proxy, whatever the environment says.
            Some(url) if url.is_empty() => Proxies::direct(),
            Some(url) => Proxies::given(&url, &no_proxy_var()),
            None => Proxies::from_env(),
        };
        config.origin = self.origin;
        config.user_agent = self.user_agent;
        config.hex = self.hex;
        let command = match self.command {
            Some(CliCommand::Request(command)) => Some(command),
            // Answered before a run is made (`Cli::docs`); nothing of a run is left.
            Some(CliCommand::Docs(_)) | None => None,
        };
        let front_end = match command {
            None => FrontEnd::Menu { plain: self.plain },
            Some(Command::Hold {
                interval,
                reconnect,
            }) => {
                config.hold_interval = interval;
                config.hold_reconnect = reconnect;
                FrontEnd::Request(Request::Hold)
            }
            Some(Command::Ping(args)) => {
                let encoding = if args.binary {
                    wspp::payload::Encoding::Binary
                } else {
                    wspp::payload::Encoding::Text
                };
                config.ping = PingOptions {
                    url: args.url,
                    count: args.count,
                    deadline: args.deadline,
                    interval: args.interval,
                    timeout: args.timeout,
                    payload_size: usize::from(args.payload_size),
                    busy_poll: args.busy_poll,
                    probes: match (args.echo, args.both) {
                        (_, true) => Probes::Both(encoding),
                        (true, false) => Probes::Echo(encoding),
                        (false, false) => Probes::Ping,
                    },
                    user_latency: args.user_latency,
                };
                let format = if args.json {
                    PingFormat::Json
                } else if args.ndjson {
                    PingFormat::Ndjson
                } else if args.quiet {
                    PingFormat::Quiet
                } else if args.timestamp {
                    PingFormat::Stamped
                } else {
                    PingFormat::Text
                };
                FrontEnd::Ping { format }
            }
            Some(Command::Inspect(args)) => {
                config.inspect = args.into_options();
                FrontEnd::Request(Request::Inspect)
            }
            Some(other) => FrontEnd::Request(other.request()),
        };
        Invocation { config, front_end }
    }
}

/// What `ping`'s exit status says, and how a signal ends it.
const PING_EXIT: &str = "Exit status: 0 when every ping was answered (with -w: when COUNT \
answers, or one without -c, came in time), 1 otherwise, 2 on error. Ctrl-C prints the \
summary and exits 0 or 1 the same way, as ping(8); SIGTERM closes with 1001 (Going Away) \
instead of 1000, prints the summary and exits 143.";

fn wireshark_help(request: Request) -> String {
    format!("In Wireshark: {}.", request.wireshark())
}

/// `HOST:PORT`, or a URL with a scheme, a host, an optional port and no path:
/// `wss://localhost:8443`, `https://localhost:8443/`, `ws://127.0.0.1:8080`.
pub fn parse_server(s: &str) -> Result<ServerArg, String> {
    let Some((scheme, rest)) = s.split_once("://") else {
        if !is_host_port(s) {
            return Err(format!(
                "{s:?} is not a server: give HOST:PORT (127.0.0.1:8080, [::1]:8080, \
                 localhost:8080) or a ws://, wss://, http:// or https:// URL without a path"
            ));
        }
        return Ok(ServerArg {
            addr: s.to_owned(),
            tls: None,
        });
    };
    let (tls, default_port) = match scheme.to_ascii_lowercase().as_str() {
        "ws" | "http" => (false, 80),
        "wss" | "https" => (true, 443),
        _ => {
            return Err(format!(
                "{scheme}:// is not a server scheme: use ws:// or wss://"
            ));
        }
    };
    let host_port = rest.strip_suffix('/').unwrap_or(rest);
    if host_port.is_empty() || host_port.contains(['/', '?', '#']) {
        return Err(
            "give the server as SCHEME://HOST:PORT without a path (ping takes a full URL)".into(),
        );
    }
    // A port is what follows the last colon, unless that colon is inside [IPv6].
    let has_port = host_port
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.contains(']'));
    let addr = if has_port {
        host_port.to_owned()
    } else {
        format!("{host_port}:{default_port}")
    };
    if !is_host_port(&addr) {
        return Err(format!(
            "{s:?} is not a server URL: give SCHEME://HOST[:PORT], e.g. ws://127.0.0.1:8080"
        ));
    }
    Ok(ServerArg {
        addr,
        tls: Some(tls),
    })
}

/// `HOST:PORT` with a port from 1 to 65535 and a host without spaces; an IPv6 host in
/// brackets. The name itself is the resolver's to judge, when connecting.
fn is_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    let host_ok = match host.strip_prefix('[') {
        Some(v6) => v6
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok()),
        None => {
            !host.is_empty()
                && !host.contains([':', '/', '[', ']'])
                && !host.contains(char::is_whitespace)
        }
    };
    host_ok && port.parse::<u16>().is_ok_and(|p| p != 0)
}

/// A subprotocol name: an HTTP token (RFC 6455, 4.1), since the header lists them
/// separated by commas.
fn parse_subprotocol(s: &str) -> Result<String, String> {
    let is_token_char = |c: char| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c);
    if s.is_empty() || !s.chars().all(is_token_char) {
        return Err(format!(
            "{s:?} is not a subprotocol name (letters, digits and !#$%&'*+-.^_`|~ only)"
        ));
    }
    Ok(s.to_owned())
}

/// A proxy URL, checked now so that a typo is a usage error; `''` is no proxy.
fn parse_proxy(s: &str) -> Result<String, String> {
    if !s.is_empty() {
        proxy::check(s)?;
    }
    Ok(s.to_owned())
}

/// `NO_PROXY` (or `no_proxy`): curl applies it to `--proxy` too.
fn no_proxy_var() -> String {
    ["NO_PROXY", "no_proxy"]
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .unwrap_or_default()
}

fn parse_header(s: &str) -> Result<Header, String> {
    s.parse().map_err(|e: crate::error::Error| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Invocation {
        try_parse_from(std::iter::once("wsppclient").chain(args.iter().copied()))
            .expect("valid command line")
            .into_invocation()
    }

    #[test]
    fn inspect_keeps_its_messages_in_the_order_typed() {
        let inv = parse(&[
            "inspect",
            "ws://h:1/x?y=1",
            "--send",
            "one",
            "--send-binary",
            "00 ff",
            "--send",
            "two",
            "--wait",
            "250ms",
            "--hex",
        ]);
        assert_eq!(inv.front_end, FrontEnd::Request(Request::Inspect));
        assert!(inv.config.hex);
        let inspect = &inv.config.inspect;
        assert_eq!(inspect.url.as_deref(), Some("ws://h:1/x?y=1"));
        assert_eq!(
            inspect.messages,
            [
                Outgoing::Text("one".into()),
                Outgoing::Binary(vec![0, 255]),
                Outgoing::Text("two".into()),
            ]
        );
        assert_eq!(inspect.wait, Duration::from_millis(250));
        let defaults = parse(&["inspect"]).config.inspect;
        assert_eq!(defaults, InspectOptions::default());
        let all = ["wsppclient", "inspect", "--send-binary", "abc"];
        assert!(try_parse_from(all).is_err());
    }

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_catalog_entry_is_a_subcommand_with_its_help() {
        let cmd = Cli::command();
        let docs = ["completions", "man"];
        assert_eq!(
            cmd.get_subcommands()
                .filter(|sub| !docs.contains(&sub.get_name()))
                .count(),
            Request::ALL.len()
        );
        for request in Request::ALL {
            let sub = cmd
                .find_subcommand(request.subcommand())
                .unwrap_or_else(|| panic!("no subcommand for {request:?}"));
            assert_eq!(
                sub.get_about().map(|s| s.to_string()).as_deref(),
                Some(request.description())
            );
        }
    }

    #[test]
    fn subcommands_map_back_to_their_entry() {
        for request in Request::ALL {
            let invocation = parse(&[request.subcommand()]);
            let got = match invocation.front_end {
                FrontEnd::Request(r) => r,
                FrontEnd::Ping { .. } => Request::Ping,
                FrontEnd::Menu { .. } => panic!("{request:?} parsed as the menu"),
            };
            assert_eq!(got, request);
        }
    }

    #[test]
    fn ping_takes_ping8_style_options() {
        let inv = parse(&[
            "--server",
            "h:1",
            "ping",
            "ws://x:2/p",
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "1.5",
            "-s",
            "32",
            "--json",
            "--busy-poll",
            "1ms",
        ]);
        assert_eq!(
            inv.front_end,
            FrontEnd::Ping {
                format: PingFormat::Json
            }
        );
        assert_eq!(inv.config.server, "h:1");
        let p = &inv.config.ping;
        assert_eq!(p.url.as_deref(), Some("ws://x:2/p"));
        assert_eq!(p.count, Some(3));
        assert_eq!(p.interval, Duration::from_millis(200));
        assert_eq!(p.timeout, Duration::from_millis(1500));
        assert_eq!(p.payload_size, 32);
        assert_eq!(p.busy_poll, Duration::from_millis(1));
        assert_eq!(parse(&["ping"]).config.ping.busy_poll, Duration::ZERO);
    }

    #[test]
    fn ping_refuses_out_of_range_values() {
        for args in [
            &["ping", "-s", "15"][..],
            &["ping", "-s", "126"],
            &["ping", "-c", "0"],
            &["ping", "-W", "0"],
            &["ping", "-i", "-1"],
        ] {
            let all = std::iter::once("wsppclient").chain(args.iter().copied());
            assert!(Cli::try_parse_from(all).is_err(), "{args:?}");
        }
    }

    #[test]
    fn global_options_work_after_the_subcommand() {
        let inv = parse(&[
            "hold",
            "--interval",
            "250ms",
            "-H",
            "X-A: 1",
            "--origin",
            "http://o",
        ]);
        assert_eq!(inv.front_end, FrontEnd::Request(Request::Hold));
        assert_eq!(inv.config.hold_interval, Duration::from_millis(250));
        assert_eq!(inv.config.headers.len(), 1);
        assert_eq!(inv.config.origin.as_deref(), Some("http://o"));
    }

    #[test]
    fn tls_servers_are_named_by_scheme_or_flag() {
        let plain = parse(&["page"]);
        assert_eq!(plain.config.server, wspp::routes::DEFAULT_ADDR);
        assert!(!plain.config.server_tls);

        let flag = parse(&["--tls", "page"]);
        assert_eq!(flag.config.server, wspp::routes::DEFAULT_TLS_ADDR);
        assert!(flag.config.server_tls);

        let flag_and_addr = parse(&["--server", "h:1", "--tls", "page"]);
        assert_eq!(
            (
                flag_and_addr.config.server.as_str(),
                flag_and_addr.config.server_tls
            ),
            ("h:1", true)
        );

        for (given, addr, tls) in [
            ("wss://localhost:8443", "localhost:8443", true),
            ("https://localhost:8443/", "localhost:8443", true),
            ("wss://example.test", "example.test:443", true),
            ("wss://[::1]", "[::1]:443", true),
            ("wss://[::1]:9443", "[::1]:9443", true),
            ("ws://127.0.0.1:8080", "127.0.0.1:8080", false),
        ] {
            let inv = parse(&["--server", given, "page"]);
            assert_eq!(
                (inv.config.server.as_str(), inv.config.server_tls),
                (addr, tls),
                "{given}"
            );
        }
        for bad in ["ftp://h:1", "wss://h:1/pingpong", "wss://"] {
            let all = ["wsppclient", "--server", bad, "page"];
            assert!(Cli::try_parse_from(all).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_server_that_is_not_host_port_says_what_is_expected() {
        for good in [
            "localhost:8080",
            "127.0.0.1:1",
            "[::1]:8080",
            "example.test:65535",
        ] {
            assert_eq!(parse_server(good).map(|s| s.addr), Ok(good.to_owned()));
        }
        for bad in [
            "notahost", "a b:80", "h:0", "h:65536", "h:", ":80", "::1:80", "[::1]",
        ] {
            let err = parse_server(bad).expect_err(bad);
            assert!(
                err.contains("HOST:PORT") && err.contains("ws://"),
                "{bad}: {err}"
            );
        }
        assert!(parse_server("ws://a b:80").is_err());
        assert!(parse_server("ws://h:99999").is_err());
    }

    #[test]
    fn tls_options_reach_the_config() {
        let inv = parse(&[
            "ping",
            "wss://localhost:1/x",
            "--ca",
            "ca.pem",
            "--insecure",
            "--key-log",
            "keys.log",
        ]);
        assert_eq!(
            inv.config.tls,
            TlsOptions {
                ca: Some("ca.pem".into()),
                insecure: true,
                key_log: Some("keys.log".into()),
            }
        );
        assert_eq!(parse(&["page"]).config.tls, TlsOptions::default());
    }

    #[test]
    fn only_an_unnamed_server_may_be_started_here() {
        assert!(parse(&["page"]).config.start_local_server);
        assert!(
            !parse(&["--no-local-server", "page"])
                .config
                .start_local_server
        );
        assert!(
            !parse(&["--server", "127.0.0.1:8080", "page"])
                .config
                .start_local_server
        );
        let moved = parse(&["--default-server", "127.0.0.1:0", "page"]).config;
        assert_eq!(
            (moved.server.as_str(), moved.start_local_server),
            ("127.0.0.1:0", true)
        );
        let named = parse(&["--default-server", "127.0.0.1:0", "--server", "h:1", "page"]);
        assert_eq!(named.config.server, "h:1");
    }

    #[test]
    fn k_is_insecure_and_subprotocols_keep_their_order() {
        let inv = parse(&[
            "-k",
            "ping",
            "--subprotocol",
            "v2.chat",
            "--subprotocol",
            "chat",
        ]);
        assert!(inv.config.tls.insecure);
        assert_eq!(inv.config.subprotocols, ["v2.chat", "chat"]);
        for bad in ["a,b", "", "with space", "x;y"] {
            let all = ["wsppclient", "--subprotocol", bad, "ping"];
            assert!(Cli::try_parse_from(all).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn proxies_are_given_checked_or_turned_off() {
        let inv = parse(&["--proxy", "http://u:p@127.0.0.1:3128", "page"]);
        let route = inv.config.proxy.route("h:80", false).expect("usable");
        assert_eq!(route.map(|r| r.addr).as_deref(), Some("127.0.0.1:3128"));
        assert!(parse(&["--proxy", "", "page"]).config.proxy.is_direct());
        assert!(parse(&["--no-proxy", "page"]).config.proxy.is_direct());
        for bad in ["ftp://h:1", "https://h:1", "http://"] {
            let all = ["wsppclient", "--proxy", bad, "page"];
            assert!(Cli::try_parse_from(all).is_err(), "{bad}");
        }
    }

    #[test]
    fn completions_and_man_run_nothing() {
        let cli = Cli::try_parse_from(["wsppclient", "completions", "zsh"]).expect("parses");
        assert_eq!(
            cli.docs(),
            Some(&DocsCommand::Completions {
                shell: wsppsrv::docs::Shell::Zsh
            })
        );
        let cli = Cli::try_parse_from(["wsppclient", "man", "--dir", "d"]).expect("parses");
        assert_eq!(
            cli.docs(),
            Some(&DocsCommand::Man {
                dir: Some("d".into())
            })
        );
        assert_eq!(
            Cli::try_parse_from(["wsppclient", "page"])
                .expect("parses")
                .docs(),
            None
        );
    }

    #[test]
    fn no_subcommand_is_the_menu() {
        assert_eq!(parse(&[]).front_end, FrontEnd::Menu { plain: false });
        assert_eq!(
            parse(&["--plain"]).front_end,
            FrontEnd::Menu { plain: true }
        );
    }
}
