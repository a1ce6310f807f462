//! What a run of the client was asked to do, as plain data.
//!
//! [`crate::cli`] turns the command line into an [`Invocation`]; tests and other
//! front-ends build one directly, so nothing below the CLI depends on clap.

use std::str::FromStr;
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use wspp::payload::Encoding;

use crate::catalog::Request;
use crate::error::Error;
use crate::load::options::{LoadOptions, MergeOptions};
use crate::proxy::Proxies;
use crate::tls::TlsOptions;

/// The `User-Agent` sent unless told otherwise; the server's page shows it.
pub const DEFAULT_USER_AGENT: &str = concat!("wsppclient/", env!("CARGO_PKG_VERSION"));
/// How long opening a TCP connection may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often `hold` sends an echo message.
pub const DEFAULT_HOLD_INTERVAL: Duration = Duration::from_secs(1);
/// How long `inspect` listens after its last message before it closes.
pub const DEFAULT_INSPECT_WAIT: Duration = Duration::from_secs(2);

/// Settings shared by every request.
#[derive(Debug, Clone)]
pub struct Config {
    /// `HOST:PORT` of the server.
    pub server: String,
    /// Whether wsppsrv may be started in this process when nothing listens on
    /// `server`: only when the user named no server ([`crate::local_server`]).
    pub start_local_server: bool,
    /// Set once a server runs in this process, so that the menus say so.
    pub server_is_local: bool,
    /// Whether the server speaks TLS: the requests go to `https://` and `wss://`.
    pub server_tls: bool,
    /// How TLS servers are trusted and where session secrets go (any `wss://` URL,
    /// not only the server's).
    pub tls: TlsOptions,
    /// Extra headers for every request, in order.
    pub headers: Vec<Header>,
    /// The `Origin` header, if any (a browser would always send one).
    pub origin: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// The subprotocols offered in every upgrade (`Sec-WebSocket-Protocol`), in order
    /// of preference; none by default.
    pub subprotocols: Vec<String>,
    /// Which proxy each connection goes through; none by default (the command line
    /// reads `--proxy` and the `*_PROXY` variables).
    pub proxy: Proxies,
    /// How long opening a TCP connection may take.
    pub connect_timeout: Duration,
    /// How often `hold` sends an echo message.
    pub hold_interval: Duration,
    /// Whether `hold` reconnects (with back-off, until cancelled) when the connection
    /// drops or the server closes, instead of failing.
    pub hold_reconnect: bool,
    /// How `ping` pings (also used when the menu runs it).
    pub ping: PingOptions,
    /// What `inspect` connects to and sends.
    pub inspect: InspectOptions,
    /// Whether transcripts show every payload also as a hex dump.
    pub hex: bool,
}

/// One message `inspect` sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A Text message (`--send`).
    Text(String),
    /// A Binary message (`--send-binary`).
    Binary(Vec<u8>),
}

/// What `inspect` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectOptions {
    /// The `ws://` or `wss://` URL; the server's `/pingpong` when absent.
    pub url: Option<String>,
    /// The messages to send once upgraded, in order.
    pub messages: Vec<Outgoing>,
    /// How long to listen after the last message before closing with 1000.
    pub wait: Duration,
}

impl Default for InspectOptions {
    fn default() -> Self {
        InspectOptions {
            url: None,
            messages: Vec::new(),
            wait: DEFAULT_INSPECT_WAIT,
        }
    }
}

/// One kind of probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Probe {
    /// A Ping control frame, answered by the peer's WebSocket layer with a Pong.
    Ping,
    /// A Text or Binary message, answered by the peer's application echoing it.
    Echo,
}

impl Probe {
    /// `ping` or `echo`, as the output and the JSON name it.
    pub fn name(self) -> &'static str {
        match self {
            Probe::Ping => "ping",
            Probe::Echo => "echo",
        }
    }
}

/// Which probes a session sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Probes {
    /// Pings only (the default, and ping(8)'s way).
    #[default]
    Ping,
    /// Messages to echo only, Text or Binary as the encoding says.
    Echo(Encoding),
    /// A Ping and a message on alternate turns.
    Both(Encoding),
}

impl Probes {
    /// The kinds sent, in turn order.
    pub fn kinds(self) -> &'static [Probe] {
        match self {
            Probes::Ping => &[Probe::Ping],
            Probes::Echo(_) => &[Probe::Echo],
            Probes::Both(_) => &[Probe::Ping, Probe::Echo],
        }
    }

    /// How echo messages are written, if any are sent.
    pub fn echo(self) -> Option<Encoding> {
        match self {
            Probes::Ping => None,
            Probes::Echo(encoding) | Probes::Both(encoding) => Some(encoding),
        }
    }
}

/// How a ping session runs; the defaults follow ping(8) where it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingOptions {
    /// The URL to ping; `None` means `ws://{server}/pingpong`.
    pub url: Option<String>,
    /// Stop after this many pings have been answered or given up (of each kind, with
    /// [`Probes::Both`]); `None` runs until cancelled. With a `deadline`, as in
    /// ping(8), this many *answers* end the run, lost probes being replaced.
    pub count: Option<u64>,
    /// End the run this long after the first probe, whatever the count (ping(8)'s
    /// `-w`); probes still unanswered then count as lost.
    pub deadline: Option<Duration>,
    /// Time between pings; zero sends the next ping as soon as the previous one is
    /// answered or given up.
    pub interval: Duration,
    /// How long a ping may wait for its pong before it counts as lost.
    pub timeout: Duration,
    /// Bytes of Ping payload (16..=125; clamped).
    pub payload_size: usize,
    /// How long to keep polling the socket after each Ping instead of sleeping until
    /// the Pong wakes us: takes the client's own wake-up out of the RTT, for a busy
    /// core while it polls. Zero never polls.
    pub busy_poll: Duration,
    /// Pings, echo messages, or both.
    pub probes: Probes,
    /// Report user-to-user RTTs (`-U`), the program's own wake-up included, instead
    /// of the network's.
    pub user_latency: bool,
}

impl Default for PingOptions {
    fn default() -> Self {
        PingOptions {
            url: None,
            count: None,
            deadline: None,
            interval: Duration::from_secs(1),
            // ping(8) waits 10 s; 5 s matches the server's default dead-peer timeout.
            timeout: Duration::from_secs(5),
            payload_size: wspp::payload::MIN_LEN,
            busy_poll: Duration::ZERO,
            probes: Probes::Ping,
            user_latency: false,
        }
    }
}

/// How `ping` prints what happens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PingFormat {
    /// ping(8)'s lines: a header, one line per event, a summary.
    #[default]
    Text,
    /// `-q`: the header and the summary only.
    Quiet,
    /// `-D`: [`PingFormat::Text`] with each event's line stamped `[unix seconds]`.
    Stamped,
    /// `--json`: only the summary, as one JSON object.
    Json,
    /// `--ndjson`: a [`ProbeLine`](crate::ping::output::ProbeLine) per probe as it ends, then the `--json` summary.
    Ndjson,
}

impl Config {
    /// The defaults, against `server`.
    pub fn new(server: impl Into<String>) -> Self {
        Config {
            server: server.into(),
            start_local_server: false,
            server_is_local: false,
            server_tls: false,
            tls: TlsOptions::default(),
            headers: Vec::new(),
            origin: None,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            subprotocols: Vec::new(),
            proxy: Proxies::direct(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            hold_interval: DEFAULT_HOLD_INTERVAL,
            hold_reconnect: false,
            ping: PingOptions::default(),
            inspect: InspectOptions::default(),
            hex: false,
        }
    }

    /// The server as the menus name it: its address, and whether it speaks TLS or
    /// runs in this process.
    pub fn server_label(&self) -> String {
        let note = match (self.server_tls, self.server_is_local) {
            (true, _) => " (TLS)",
            (false, true) => " (in this process)",
            (false, false) => "",
        };
        format!("{}{note}", self.server)
    }

    /// Every header this client adds to a request, in the order it adds them.
    pub fn extra_headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::new();
        if let Ok(ua) = HeaderValue::from_str(&self.user_agent) {
            out.push((hyper::header::USER_AGENT, ua));
        }
        if let Some(Ok(origin)) = self.origin.as_deref().map(HeaderValue::from_str) {
            out.push((hyper::header::ORIGIN, origin));
        }
        out.extend(
            self.headers
                .iter()
                .map(|h| (h.name.clone(), h.value.clone())),
        );
        out
    }
}

/// One `-H 'Name: value'` header, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Its name.
    pub name: HeaderName,
    /// Its value.
    pub value: HeaderValue,
}

impl FromStr for Header {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| Error::BadHeader {
            header: s.to_owned(),
            reason: reason.to_owned(),
        };
        let (name, value) = s
            .split_once(':')
            .ok_or_else(|| bad("expected 'Name: value'"))?;
        let name = HeaderName::from_str(name.trim()).map_err(|_| bad("invalid header name"))?;
        let value = HeaderValue::from_str(value.trim()).map_err(|_| bad("invalid header value"))?;
        Ok(Header { name, value })
    }
}

/// Which front-end a run uses: the menu, one request printed as its transcript, or
/// ping(8)'s output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrontEnd {
    /// The interactive menu.
    Menu {
        /// Use the numbered menu even on a terminal.
        plain: bool,
    },
    /// One request, its transcript printed.
    Request(Request),
    /// ping(8): one line per reply, then a summary.
    Ping {
        /// ping(8)'s lines, fewer of them, stamped, or JSON.
        format: PingFormat,
    },
    /// `load`: many connections, a line a second, then a summary (boxed: the
    /// options are most of the enum's size).
    Load(Box<LoadOptions>),
    /// `merge`: interval logs added up into one summary.
    Merge(MergeOptions),
}

/// A whole run: the settings and what to do with them.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Settings shared by every request.
    pub config: Config,
    /// Which front-end runs.
    pub front_end: FrontEnd,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_with_trimming() {
        let h: Header = "X-Test:  yes ".parse().expect("valid header");
        assert_eq!(h.name, "x-test");
        assert_eq!(h.value, "yes");
        assert!("no colon".parse::<Header>().is_err());
        assert!("bad name: v".parse::<Header>().is_err());
        assert!(
            "X: a\nb"
                .parse::<Header>()
                .is_err_and(|e| e.to_string().contains("invalid header value"))
        );
    }

    #[test]
    fn the_server_label_says_tls_or_in_this_process() {
        let mut config = Config::new("127.0.0.1:8080");
        assert_eq!(config.server_label(), "127.0.0.1:8080");
        config.server_is_local = true;
        assert_eq!(config.server_label(), "127.0.0.1:8080 (in this process)");
        config.server_is_local = false;
        config.server_tls = true;
        assert_eq!(config.server_label(), "127.0.0.1:8080 (TLS)");
    }

    #[test]
    fn extra_headers_come_in_order() {
        let mut config = Config::new("h:1");
        config.origin = Some("http://example.test".into());
        config.headers.push("X-A: 1".parse().expect("valid header"));
        let names: Vec<_> = config
            .extra_headers()
            .into_iter()
            .map(|(n, _)| n.to_string())
            .collect();
        assert_eq!(names, ["user-agent", "origin", "x-a"]);
    }
}
