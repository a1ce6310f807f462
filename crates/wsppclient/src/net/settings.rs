//! What opening a WebSocket connection needs, as plain data, parsed once.
//!
//! [`ConnectSettings`] is the bottom of the client's settings: the server the
//! requests go to ([`Server`]), how a connection is dialled ([`Dial`]: TLS trust, the
//! proxy, the time limit) and what every request says ([`Headers`]: the user's headers
//! and the subprotocols an upgrade offers). Each layer above takes the part it uses, so that a flag is passed
//! only through the code that reads it; what one command alone needs (ping's count,
//! inspect's messages) lives beside that command instead.
//!
//! Nothing changes it once it is built: whether the server runs in this process is
//! decided before, and is part of the [`Server`] it is built with.

use std::str::FromStr;
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};

use super::proxy::Proxies;
use super::tls::TlsOptions;
use crate::error::Error;

/// The `User-Agent` sent unless told otherwise; the server's page shows it.
pub const DEFAULT_USER_AGENT: &str = concat!("wsppclient/", env!("CARGO_PKG_VERSION"));
/// How long each step of opening a connection may take (TCP, the proxy's tunnel, TLS,
/// the upgrade).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything a connection needs.
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    /// The server the requests go to, unless a URL names another.
    pub server: Server,
    /// How a connection is opened.
    pub dial: Dial,
    /// What every request carries, the upgrade's subprotocols among it.
    pub headers: Headers,
}

impl ConnectSettings {
    /// The defaults, against the server at `addr` (`HOST:PORT`, plain).
    pub fn new(addr: impl Into<String>) -> Self {
        ConnectSettings::with(Server::plain(addr), Dial::default(), Headers::default())
    }

    /// The settings for `server`. A server in this very process is reached directly,
    /// whatever `dial` says of proxies: a proxy elsewhere would dial its own loopback.
    pub fn with(server: Server, mut dial: Dial, headers: Headers) -> Self {
        if server.in_process {
            dial.proxy = Proxies::direct();
        }
        ConnectSettings {
            server,
            dial,
            headers,
        }
    }
}

/// The server the requests go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `HOST:PORT`.
    pub addr: String,
    /// Whether it speaks TLS: the requests go to `https://` and `wss://`.
    pub tls: bool,
    /// Whether it runs in this process (see `front::local_server`), so that the menus
    /// say so.
    pub in_process: bool,
}

impl Server {
    /// A plain server elsewhere.
    pub fn plain(addr: impl Into<String>) -> Self {
        Server {
            addr: addr.into(),
            tls: false,
            in_process: false,
        }
    }

    /// The server as the menus name it: its address, and whether it speaks TLS or
    /// runs in this process.
    pub fn label(&self) -> String {
        let note = match (self.tls, self.in_process) {
            (true, _) => " (TLS)",
            (false, true) => " (in this process)",
            (false, false) => "",
        };
        format!("{}{note}", self.addr)
    }
}

/// How a connection is opened: through which proxy, trusting whom, within how long.
#[derive(Debug, Clone)]
pub struct Dial {
    /// How TLS servers are trusted and where session secrets go (any `wss://` URL,
    /// not only the server's).
    pub tls: TlsOptions,
    /// Which proxy each connection goes through; none by default (the command line
    /// reads `--proxy` and the `*_PROXY` variables).
    pub proxy: Proxies,
    /// How long each step of opening may take.
    pub timeout: Duration,
    /// Whether WebSockets go over HTTP/2 (`--http2`): ALPN `h2` over TLS, prior
    /// knowledge over `ws://`, and an extended CONNECT (see [`super::http2`]).
    pub http2: bool,
}

impl Default for Dial {
    fn default() -> Self {
        Dial {
            tls: TlsOptions::default(),
            proxy: Proxies::direct(),
            timeout: DEFAULT_CONNECT_TIMEOUT,
            http2: false,
        }
    }
}

/// What every request says besides what its kind needs: the upgrade's handshake
/// headers, or the page's `GET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    /// The user's own headers, in order (`-H`).
    pub custom: Vec<Header>,
    /// The `Origin` header, if any (a browser would always send one).
    pub origin: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// The subprotocols offered (`Sec-WebSocket-Protocol`), in order of preference;
    /// none by default.
    pub subprotocols: Vec<String>,
    /// Whether the upgrade offers permessage-deflate (RFC 7692), `--deflate`.
    pub deflate: bool,
}

impl Default for Headers {
    fn default() -> Self {
        Headers {
            custom: Vec::new(),
            origin: None,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            subprotocols: Vec::new(),
            deflate: false,
        }
    }
}

impl Headers {
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
            self.custom
                .iter()
                .map(|h| (h.name.clone(), h.value.clone())),
        );
        out
    }

    /// The subprotocols the upgrade offers, as its `Sec-WebSocket-Protocol` header
    /// says them: the `--subprotocol` names, or else a `-H` header's value.
    pub fn offered_subprotocols(&self) -> String {
        if !self.subprotocols.is_empty() {
            return self.subprotocols.join(", ");
        }
        self.custom
            .iter()
            .find(|h| h.name == hyper::header::SEC_WEBSOCKET_PROTOCOL)
            .map(|h| String::from_utf8_lossy(h.value.as_bytes()).into_owned())
            .unwrap_or_default()
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
        let mut server = Server::plain("127.0.0.1:8080");
        assert_eq!(server.label(), "127.0.0.1:8080");
        server.in_process = true;
        assert_eq!(server.label(), "127.0.0.1:8080 (in this process)");
        server.in_process = false;
        server.tls = true;
        assert_eq!(server.label(), "127.0.0.1:8080 (TLS)");
    }

    #[test]
    fn extra_headers_come_in_order() {
        let headers = Headers {
            origin: Some("http://example.test".into()),
            custom: vec!["X-A: 1".parse().expect("valid header")],
            ..Headers::default()
        };
        let names: Vec<_> = headers
            .extra_headers()
            .into_iter()
            .map(|(n, _)| n.to_string())
            .collect();
        assert_eq!(names, ["user-agent", "origin", "x-a"]);
    }

    #[test]
    fn a_server_in_this_process_is_reached_directly() {
        let dial = Dial {
            proxy: Proxies::given("http://127.0.0.1:3128", ""),
            ..Dial::default()
        };
        let mut server = Server::plain("127.0.0.1:8080");
        let elsewhere = ConnectSettings::with(server.clone(), dial.clone(), Headers::default());
        assert!(
            elsewhere
                .dial
                .proxy
                .route("127.0.0.1:8080", false)
                .is_ok_and(|r| r.is_some())
        );
        server.in_process = true;
        let here = ConnectSettings::with(server, dial, Headers::default());
        assert!(
            here.dial
                .proxy
                .route("127.0.0.1:8080", false)
                .is_ok_and(|r| r.is_none())
        );
    }
}
