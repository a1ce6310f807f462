//! Opening connections: TCP with `TCP_NODELAY` and a timeout, `ws://` URLs, and the
//! WebSocket upgrade with the user's headers.
//!
//! Every request and `ping` start here, so they fail the same way: a refused or
//! silent server becomes [`Error::Connect`] or [`Error::ConnectTimeout`], and a server
//! that answers the upgrade with anything but 101 becomes [`Error::UpgradeRefused`]
//! carrying its status. Nagle's algorithm is off on every socket: it would hold a
//! small frame back waiting for an ACK and add that wait to every measured RTT.

use std::str::FromStr;
use std::time::Duration;

use hyper::Uri;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::{Request as UpgradeRequest, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::config::Config;
use crate::error::Error;

/// Opens a TCP connection to `addr` (`HOST:PORT`) with `TCP_NODELAY` set.
pub async fn tcp(addr: &str, timeout: Duration) -> Result<TcpStream, Error> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
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

/// A `ws://` URL, checked and split into what connecting needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// The URL as it is shown to the user.
    pub text: String,
    /// `HOST:PORT` to open the TCP connection to (port 80 when the URL has none).
    pub addr: String,
    /// The parsed URL, for the upgrade request.
    pub uri: Uri,
}

impl WsUrl {
    /// Checks a URL given by the user; `wss://` is refused until TLS support lands.
    pub fn parse(url: &str) -> Result<WsUrl, Error> {
        let bad = |reason: &str| Error::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri = Uri::from_str(url).map_err(|e| bad(&e.to_string()))?;
        match uri.scheme_str() {
            Some("ws") => {}
            Some("wss") => {
                return Err(Error::UnsupportedScheme {
                    scheme: "wss".into(),
                });
            }
            Some(_) | None => return Err(bad("expected a ws:// URL")),
        }
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?;
        let port = uri.port_u16().unwrap_or(80);
        Ok(WsUrl {
            text: url.to_owned(),
            addr: format!("{host}:{port}"),
            uri,
        })
    }

    /// `ws://{server}{route}`.
    pub fn for_route(server: &str, route: &str) -> Result<WsUrl, Error> {
        WsUrl::parse(&format!("ws://{server}{route}"))
    }
}

/// The upgrade request for `url`: tungstenite's standard handshake headers, then
/// `User-Agent`, `Origin` and every `-H` header.
pub fn upgrade_request(config: &Config, url: &WsUrl) -> Result<UpgradeRequest, Error> {
    let mut request = url.uri.clone().into_client_request()?;
    let headers = request.headers_mut();
    for (name, value) in config.extra_headers() {
        headers.append(name, value);
    }
    Ok(request)
}

/// The WebSocket settings of this client. A client holds one or a few connections,
/// so memory is not the concern it is on the server; latency is. Nothing is batched
/// (`write_buffer_size` 0 writes each frame at once), and the read buffer is 4 KiB
/// instead of the 128 KiB default: a Pong is at most 127 bytes, and one read of a
/// small buffer is as fast as one read of a big one.
pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
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
    let handshake =
        tokio_tungstenite::client_async_with_config(request, stream, Some(websocket_config()));
    match tokio::time::timeout(config.connect_timeout, handshake).await {
        Err(_) => Err(Error::Timeout {
            what: "the upgrade",
            after: config.connect_timeout,
        }),
        Ok(Ok(done)) => Ok(done),
        Ok(Err(tungstenite::Error::Http(response))) => {
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
            Err(Error::UpgradeRefused {
                url: url.text.clone(),
                status: status.as_u16(),
                reason,
            })
        }
        Ok(Err(other)) => Err(other.into()),
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
    fn other_schemes_are_refused_clearly() {
        let wss = WsUrl::parse("wss://example.test/").expect_err("no TLS yet");
        assert_eq!(wss.to_string(), "wss:// is not supported yet");
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
        let url = WsUrl::for_route("h:1", "/pingpong").expect("valid url");
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
