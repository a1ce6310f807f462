//! What a run of the client was asked to do, as plain data.
//!
//! [`crate::cli`] turns the command line into an [`Invocation`]; tests and other
//! front-ends build one directly, so nothing below the CLI depends on clap.

use std::str::FromStr;
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};

use crate::catalog::Request;
use crate::error::Error;
use crate::ping::PingOptions;
use crate::ping::output::Format;
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

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
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
        format: Format,
    },
}

/// A whole run: the settings and what to do with them.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Settings shared by every request.
    pub config: Config,
    /// What to run.
    pub mode: Mode,
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
