//! Opening connections: TCP with `TCP_NODELAY` and a timeout, TLS over it for
//! `wss://` (see [`crate::tls`]), `ws://` and `wss://` URLs, and the WebSocket upgrade
//! with the user's headers.
//!
//! Every request and `ping` start here, so they fail the same way: a refused or
//! silent server becomes [`Error::Connect`] or [`Error::ConnectTimeout`], a refused
//! TLS handshake [`Error::Tls`], and a server that answers the upgrade with anything
//! but 101 becomes [`Error::UpgradeRefused`] carrying its status. Nagle's algorithm is
//! off on every socket: it would hold a small frame back waiting for an ACK and add
//! that wait to every measured RTT.
//!
//! [`open`] times the TCP connect and the TLS handshake apart, so that `ping` can show
//! what TLS costs before the first Ping, without mixing it into the RTTs. Through a
//! proxy (see [`crate::proxy`]) the TCP connection goes to the proxy, the tunnel's
//! handshake is one more timed step, and TLS and the upgrade run inside the tunnel.
//!
//! The TCP socket under TLS and WebSocket is a [`StampedTcp`]: the kernel stamps what
//! it receives, so that an RTT can end when the Pong reached this machine rather than
//! when this program got round to reading it, over `ws://` and `wss://` alike.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use hyper::Uri;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::{Request as UpgradeRequest, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use wspp::stream::{Layer, Layered, PlainOrTls};
use wspp::wire_clock::StampedTcp;

use crate::config::Config;
use crate::error::Error;
use crate::proxy::{self, ProxyInfo, Route};
use crate::resolve::resolve;
use crate::tls::{self, TlsInfo};

/// How long closing waits for the server's Close reply; closing is a courtesy, and
/// the summary should not wait on a server that never answers.
pub const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Opens a TCP connection to `addr` (`HOST:PORT`) with `TCP_NODELAY` set.
pub async fn tcp(addr: &str, timeout: Duration) -> Result<TcpStream, Error> {
    let resolved = resolve(addr, timeout).await?;
    tcp_to(addr, &resolved, None, timeout).await
}

/// Connects to the first of `resolved` that answers (the addresses of `addr`), with
/// `TCP_NODELAY` set, and receive stamps asked for before the connection exists (so
/// that the first Pong has one: see [`wspp::wire_clock::prepare`]). From `source`
/// when given (and of the same family as the address tried): a load generator spreads
/// its connections over several local addresses, each with its own ephemeral ports.
async fn tcp_to(
    addr: &str,
    resolved: &[SocketAddr],
    source: Option<IpAddr>,
    timeout: Duration,
) -> Result<TcpStream, Error> {
    let connect = async {
        let mut last = None;
        for &to in resolved {
            let socket = if to.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            wspp::wire_clock::prepare(&socket);
            if let Some(ip) = source.filter(|ip| ip.is_ipv4() == to.is_ipv4()) {
                socket.bind(SocketAddr::new(ip, 0))?;
            }
            match socket.connect(to).await {
                Ok(stream) => return Ok(stream),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address")))
    };
    let stream = tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| Error::ConnectTimeout {
            addr: addr.to_owned(),
            after: timeout,
        })?
        .map_err(|source| Error::Connect {
            addr: addr.to_owned(),
            source,
        })?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// A connection: plain TCP, or TLS over it. Reads and writes go to whichever it is
/// ([`wspp::stream`] forwards them), so hyper, tungstenite and the
/// [`crate::tap::Tap`] need not know.
pub type Stream = PlainOrTls<StampedTcp, Layered<TlsStream<StampedTcp>, CloseNotifyOptional>>;

/// Reads a TLS server's hang-up without `close_notify` as an ordinary end.
///
/// Many servers hang up that way. HTTP (by its lengths) and WebSocket (by its Close
/// frames) know where they end on their own, and report a truncation themselves, so
/// the missing `close_notify` says nothing they need.
#[derive(Debug)]
pub struct CloseNotifyOptional;

impl Layer for CloseNotifyOptional {
    fn poll_read<S: AsyncRead + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match ready!(Pin::new(inner).poll_read(cx, buf)) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                tracing::debug!("the server closed tls without close_notify");
                Poll::Ready(Ok(()))
            }
            other => Poll::Ready(other),
        }
    }
}

/// Where to connect: `HOST:PORT`, and whether TLS runs over the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `HOST:PORT`.
    pub addr: String,
    /// Whether to shake hands in TLS once connected.
    pub tls: bool,
}

impl Endpoint {
    /// The configured server (`--server`, `--tls`).
    pub fn server(config: &Config) -> Endpoint {
        Endpoint {
            addr: config.server.clone(),
            tls: config.server_tls,
        }
    }
}

/// How a connection was opened, and what each step took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Our address (its port isolates the connection in Wireshark).
    pub local: SocketAddr,
    /// The server's address.
    pub peer: SocketAddr,
    /// Looking the host name up (next to nothing for an IP address).
    pub resolve: Duration,
    /// From `connect()` to an established TCP connection, the name already resolved.
    pub tcp_connect: Duration,
    /// The proxy's handshake, when the connection goes through one.
    pub proxy: Option<ProxyInfo>,
    /// The TLS handshake, when there was one.
    pub tls: Option<TlsInfo>,
    /// Why the kernel will not stamp what this connection receives, if it will not.
    pub no_kernel_stamps: Option<String>,
}

/// Opens a connection to `endpoint`: the name lookup, TCP (`TCP_NODELAY`), the
/// proxy's tunnel when `config.proxy` names one for it, then TLS if it asks for it,
/// each step timed apart and bounded by `config.connect_timeout`.
pub async fn open(config: &Config, endpoint: &Endpoint) -> Result<(Stream, Opened), Error> {
    open_from(config, endpoint, None).await
}

/// [`open`] from the local address `source` (any port), when given.
pub async fn open_from(
    config: &Config,
    endpoint: &Endpoint,
    source: Option<IpAddr>,
) -> Result<(Stream, Opened), Error> {
    let route = config.proxy.route(&endpoint.addr, endpoint.tls)?;
    let dial = route
        .as_ref()
        .map_or(endpoint.addr.as_str(), |r| r.addr.as_str());
    let start = Instant::now();
    let resolved = resolve(dial, config.connect_timeout)
        .await
        .map_err(|e| through(route.as_ref(), e))?;
    let resolve = start.elapsed();
    let start = Instant::now();
    let tcp = tcp_to(dial, &resolved, source, config.connect_timeout)
        .await
        .map_err(|e| through(route.as_ref(), e))?;
    let tcp_connect = start.elapsed();
    let local = tcp.local_addr()?;
    let peer = tcp.peer_addr()?;
    let (tcp, proxy) = match &route {
        Some(route) => {
            let (tcp, info) =
                proxy::tunnel(tcp, route, &endpoint.addr, config.connect_timeout).await?;
            (tcp, Some(info))
        }
        None => (tcp, None),
    };
    let (tcp, no_kernel_stamps) = StampedTcp::wrap(tcp);
    let (stream, tls) = if endpoint.tls {
        let (stream, info) =
            tls::handshake(tcp, &endpoint.addr, &config.tls, config.connect_timeout).await?;
        (
            Stream::Tls(Box::new(Layered::new(stream, CloseNotifyOptional))),
            Some(info),
        )
    } else {
        (Stream::Plain(tcp), None)
    };
    let opened = Opened {
        local,
        peer,
        resolve,
        tcp_connect,
        proxy,
        tls,
        no_kernel_stamps,
    };
    Ok((stream, opened))
}

/// A failure to reach `route`'s proxy, said as such: "cannot connect to 127.0.0.1:9"
/// would read as if the server were down.
fn through(route: Option<&Route>, err: Error) -> Error {
    let Some(route) = route else {
        return err;
    };
    let source = match err {
        Error::Connect { source, .. } => source,
        Error::ConnectTimeout { after, .. } => io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {}", humantime::format_duration(after)),
        ),
        other => return other,
    };
    Error::ProxyUnreachable {
        proxy: route.addr.clone(),
        from: route.from.clone(),
        source,
    }
}

/// A `ws://` or `wss://` URL, checked and split into what connecting needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// The URL as it is shown to the user.
    pub text: String,
    /// `HOST:PORT` to open the TCP connection to (port 80, or 443 for `wss://`, when
    /// the URL has none).
    pub addr: String,
    /// Whether it is `wss://`.
    pub tls: bool,
    /// The parsed URL, for the upgrade request.
    pub uri: Uri,
}

impl WsUrl {
    /// Checks a URL given by the user.
    pub fn parse(url: &str) -> Result<WsUrl, Error> {
        let bad = |reason: &str| Error::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri = Uri::from_str(url).map_err(|e| bad(&e.to_string()))?;
        let (tls, default_port) = match uri.scheme_str() {
            Some("ws") => (false, 80),
            Some("wss") => (true, 443),
            Some(_) | None => return Err(bad("expected a ws:// or wss:// URL")),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?;
        let port = uri.port_u16().unwrap_or(default_port);
        Ok(WsUrl {
            text: url.to_owned(),
            addr: format!("{host}:{port}"),
            tls,
            uri,
        })
    }

    /// `ws://{server}{route}`, or `wss://` when the configured server speaks TLS.
    pub fn for_route(config: &Config, route: &str) -> Result<WsUrl, Error> {
        let scheme = if config.server_tls { "wss" } else { "ws" };
        WsUrl::parse(&format!("{scheme}://{}{route}", config.server))
    }

    /// Where to connect for it.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            addr: self.addr.clone(),
            tls: self.tls,
        }
    }
}

/// The upgrade request for `url`: tungstenite's standard handshake headers, then
/// `User-Agent`, `Origin` and every `-H` header, and the `--subprotocol` names in one
/// `Sec-WebSocket-Protocol` header, in the order given (the server picks the first it
/// speaks). They replace a `-H Sec-WebSocket-Protocol`: tungstenite checks the server's
/// choice against the first such header only.
pub fn upgrade_request(config: &Config, url: &WsUrl) -> Result<UpgradeRequest, Error> {
    let mut request = url.uri.clone().into_client_request()?;
    let headers = request.headers_mut();
    for (name, value) in config.extra_headers() {
        headers.append(name, value);
    }
    if !config.subprotocols.is_empty() {
        let offered = config.subprotocols.join(", ");
        let value = offered.parse().map_err(|_| Error::BadHeader {
            header: format!("Sec-WebSocket-Protocol: {offered}"),
            reason: "invalid header value".into(),
        })?;
        headers.insert(hyper::header::SEC_WEBSOCKET_PROTOCOL, value);
    }
    Ok(request)
}

/// The subprotocol the server chose in its 101, if it chose one.
pub fn subprotocol(response: &Response) -> Option<String> {
    response
        .headers()
        .get(hyper::header::SEC_WEBSOCKET_PROTOCOL)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
}

/// The WebSocket settings of this client. A client holds one or a few connections,
/// so memory is not the concern it is on the server; latency is. Nothing is batched
/// (`write_buffer_size` 0 writes each frame at once), and the read buffer is 512 bytes
/// instead of the 128 KiB default: tungstenite zero-fills its whole read buffer before
/// every read, so the buffer's size is paid per message (at 4 KiB, a third of the
/// client's instructions per ping went to `memset`), while a Pong is at most 127
/// bytes. A large message takes one read per 512 bytes, which a client can afford.
pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(512)
        .write_buffer_size(0)
}

/// Performs the upgrade handshake for `url` over `stream`, bounded by
/// `config.connect_timeout`.
pub async fn upgrade<S>(
    stream: S,
    config: &Config,
    url: &WsUrl,
) -> Result<(WebSocketStream<S>, Response), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = upgrade_request(config, url)?;
    let offered = request
        .headers()
        .get(hyper::header::SEC_WEBSOCKET_PROTOCOL)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let handshake =
        tokio_tungstenite::client_async_with_config(request, stream, Some(websocket_config()));
    match tokio::time::timeout(config.connect_timeout, handshake).await {
        Err(_) => Err(Error::Timeout {
            what: "the upgrade",
            after: config.connect_timeout,
        }),
        Ok(Ok(done)) => Ok(done),
        Ok(Err(tungstenite::Error::Http(response))) => Err(refusal(url, &response)),
        Ok(Err(tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::SecWebSocketSubProtocolError(problem),
        ))) => Err(Error::Subprotocol {
            url: url.text.clone(),
            problem: subprotocol_problem(&problem, offered.as_deref()),
        }),
        Ok(Err(other)) => Err(Error::handshake(&url.text, other, 0, &[])),
    }
}

/// [`Error::UpgradeRefused`] for an answer other than 101: its status, and the first
/// line of its body when that says more than the status text.
pub fn refusal(url: &WsUrl, response: &tungstenite::http::Response<Option<Vec<u8>>>) -> Error {
    let status = response.status();
    let mut reason = status.canonical_reason().unwrap_or("").to_owned();
    let first_line = response
        .body()
        .as_deref()
        .map(String::from_utf8_lossy)
        .and_then(|body| body.lines().next().map(str::trim).map(str::to_owned))
        .filter(|line| !line.is_empty() && !line.eq_ignore_ascii_case(&reason));
    if let Some(line) = first_line {
        reason = format!("{reason} ({line})");
    }
    Error::UpgradeRefused {
        url: url.text.clone(),
        status: status.as_u16(),
        reason,
        retry_after: response
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned()),
    }
}

/// What is wrong with the server's choice of subprotocol, in words, with the offer
/// (the `Sec-WebSocket-Protocol` value sent, if any).
pub fn subprotocol_problem(
    problem: &tungstenite::error::SubProtocolError,
    offered: Option<&str>,
) -> String {
    use tungstenite::error::SubProtocolError;
    let offered = offered.unwrap_or("");
    match problem {
        SubProtocolError::InvalidSubProtocol => format!(
            "the server chose a subprotocol that was not offered (offered: {offered}), \
             which RFC 6455 says to refuse"
        ),
        SubProtocolError::NoSubProtocol => format!(
            "the server accepted none of the subprotocols offered ({offered}): \
             it may not speak them; try another --subprotocol, or none"
        ),
        SubProtocolError::ServerSentSubProtocolNoneRequested => "the server chose a \
             subprotocol although none was offered; offer the one it speaks with \
             --subprotocol NAME"
            .to_owned(),
    }
}

/// Ends the connection under a finished WebSocket: over TLS with `close_notify` first,
/// as TLS asks of each side before it closes (RFC 8446, 6.1) and as a decrypted capture
/// then shows; over TCP with a FIN. Bounded and quiet: the server may have gone
/// already, which at this point is no error.
pub async fn end_transport<S>(ws: &mut WebSocketStream<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let shutdown = tokio::io::AsyncWriteExt::shutdown(ws.get_mut());
    if let Ok(Err(error)) = tokio::time::timeout(CLOSE_WAIT, shutdown).await {
        tracing::debug!(%error, "the connection ended before our own end");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_urls_are_split_for_connecting() {
        let url = WsUrl::parse("ws://127.0.0.1:8080/pingpong").expect("valid url");
        assert_eq!(url.addr, "127.0.0.1:8080");
        assert_eq!(url.uri.path(), "/pingpong");
        let no_port = WsUrl::parse("ws://example.test/x?y=1").expect("valid url");
        assert_eq!(no_port.addr, "example.test:80");
    }

    #[test]
    fn wss_urls_ask_for_tls_on_443() {
        let url = WsUrl::parse("wss://example.test/x").expect("valid url");
        assert_eq!(url.addr, "example.test:443");
        assert!(url.tls);
        let url = WsUrl::parse("wss://[::1]:8443/pingpong").expect("valid url");
        assert_eq!(url.endpoint().addr, "[::1]:8443");
        assert!(!WsUrl::parse("ws://h:1/").expect("valid url").tls);
    }

    #[test]
    fn routes_follow_the_servers_scheme() {
        let mut config = Config::new("h:1");
        let url = WsUrl::for_route(&config, "/pingpong").expect("valid url");
        assert_eq!((url.text.as_str(), url.tls), ("ws://h:1/pingpong", false));
        config.server_tls = true;
        let url = WsUrl::for_route(&config, "/pingpong").expect("valid url");
        assert_eq!((url.text.as_str(), url.tls), ("wss://h:1/pingpong", true));
    }

    #[test]
    fn other_schemes_are_refused_clearly() {
        for bad in ["http://x/", "x:1", "ws://", "not a url"] {
            let err = WsUrl::parse(bad).expect_err(bad);
            assert!(matches!(err, Error::BadUrl { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn the_upgrade_request_carries_the_users_headers() {
        let mut config = Config::new("h:1");
        config
            .headers
            .push("X-Test: 1".parse().expect("valid header"));
        let url = WsUrl::for_route(&config, "/pingpong").expect("valid url");
        let request = upgrade_request(&config, &url).expect("valid request");
        let headers = request.headers();
        assert_eq!(headers["x-test"], "1");
        assert!(
            headers["user-agent"]
                .to_str()
                .is_ok_and(|ua| ua.starts_with("wsppclient/"))
        );
        assert!(headers.contains_key("sec-websocket-key"));
    }
}
