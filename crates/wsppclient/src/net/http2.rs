//! A WebSocket over HTTP/2 (RFC 8441), client side: `--http2`.
//!
//! Over HTTP/2 a WebSocket is one stream of a connection, opened with an extended
//! CONNECT (`:method CONNECT`, `:protocol websocket`, `sec-websocket-version: 13`, no
//! key) and accepted with a 200. The connection is HTTP/2 by ALPN over TLS, or by
//! prior knowledge (h2c) over `ws://`; hyper drives it in a task of its own.
//!
//! A client may send that CONNECT only once the server's SETTINGS have enabled it
//! (`SETTINGS_ENABLE_CONNECT_PROTOCOL`), and neither hyper nor h2 waits for them, so
//! [`upgrade`] reads them as they arrive under hyper ([`wspp::h2_settings`]) and
//! refuses, in one line, a server that does not offer it.
//!
//! The WebSocket then runs on hyper's [`Upgraded`] stream, not on the socket: the
//! kernel stamps the connection's segments, which carry every stream, and reads them
//! for hyper, so RTTs over HTTP/2 are on the user clock. [`Carrier`] is the stream
//! under a WebSocket, whichever HTTP opened it.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::client::conn::http2;
use hyper::ext::Protocol;
use hyper::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION};
use hyper::upgrade::Upgraded;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_util::either::Either;
use wspp::h2_settings::{self, FirstFrame};
use wspp::stream::Layered;
use wspp::wire_clock::{StampedTcp, WireStamps};

use super::connect::Stream;
use super::settings::Headers;
use super::upgrade::{add_headers, websocket_config};
use super::url::WsUrl;
use crate::error::Error;

/// The stream under a WebSocket: the connection itself after an HTTP/1.1 upgrade, or
/// one stream of an HTTP/2 connection.
pub type Carrier = Either<Stream, TokioIo<Upgraded>>;

/// The socket whose kernel stamps time a WebSocket's frames: over HTTP/1.1 its own
/// connection's; over HTTP/2 none (see the module doc).
pub fn stamps(carrier: &Carrier) -> Option<&StampedTcp> {
    match carrier {
        Either::Left(stream) => Some(stream.stamped()),
        Either::Right(_) => None,
    }
}

/// Why RTTs over HTTP/2 are on the user clock, in the words `ping` prints.
pub const NO_STAMPS: &str = "over HTTP/2 the WebSocket is one stream of the connection, read by hyper, not a socket of its own";

/// What the HTTP/2 side of an upgrade said, for the transcript and `ping`'s header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The server's SETTINGS, `(identifier, value)` as sent.
    pub settings: Vec<(u16, u32)>,
    /// The subprotocol the server chose, if it chose one.
    pub subprotocol: Option<String>,
}

/// Opens a WebSocket on `url` over `stream`, an HTTP/2 connection in the making:
/// waits for the server's SETTINGS, sends the extended CONNECT with the user's headers
/// and subprotocols, and returns the stream a 200 hands over, for the caller to run
/// the WebSocket on ([`websocket`]). Each wait is bounded by `timeout`.
pub async fn upgrade<S>(
    stream: S,
    headers: &Headers,
    timeout: Duration,
    url: &WsUrl,
) -> Result<(TokioIo<Upgraded>, Opened), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Connection::handshake(stream, timeout, url)
        .await?
        .open(headers, timeout, url)
        .await
}

/// An HTTP/2 connection whose server enabled the extended CONNECT: each
/// [`Connection::open`] is a WebSocket on a stream of its own, so that many share one
/// TCP connection (`load --streams`). hyper drives the connection in a task, which
/// ends when the server closes it or every clone of this is dropped.
#[derive(Debug, Clone)]
pub struct Connection {
    send: http2::SendRequest<Empty<Bytes>>,
    /// The server's SETTINGS, `(identifier, value)` as sent.
    settings: Vec<(u16, u32)>,
}

impl Connection {
    /// The HTTP/2 handshake on `stream`, and the server's SETTINGS, which must enable
    /// the extended CONNECT. Each wait is bounded by `timeout`.
    pub async fn handshake<S>(stream: S, timeout: Duration, url: &WsUrl) -> Result<Self, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let bounded = |what| Error::Timeout {
            what,
            after: timeout,
        };
        let (watch, mut first) = h2_settings::watch();
        let io = TokioIo::new(Layered::new(stream, watch));
        let (send, connection) = tokio::time::timeout(
            timeout,
            http2::Builder::new(TokioExecutor::new()).handshake::<_, Empty<Bytes>>(io),
        )
        .await
        .map_err(|_| bounded("the HTTP/2 handshake"))?
        .map_err(|e| not_http2(url, &e.to_string()))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "the http/2 connection ended with an error");
            }
        });
        let settings = match tokio::time::timeout(timeout, first.wait())
            .await
            .map_err(|_| bounded("the server's HTTP/2 SETTINGS"))?
        {
            None => {
                return Err(not_http2(
                    url,
                    "it closed the connection without a SETTINGS frame",
                ));
            }
            Some(FirstFrame::Other(kind)) => {
                return Err(not_http2(
                    url,
                    &format!("its first frame was of type {kind:#x}, not SETTINGS"),
                ));
            }
            Some(frame) if !frame.enables_connect_protocol() => {
                return Err(Error::NoWebSocketOverHttp2 {
                    url: url.text.clone(),
                });
            }
            Some(FirstFrame::Settings(settings)) => settings,
        };
        Ok(Connection { send, settings })
    }

    /// Whether the connection has ended (the server closed it, or it broke): no
    /// stream opens on it any more.
    pub fn is_closed(&self) -> bool {
        self.send.is_closed()
    }

    /// Opens a WebSocket on a new stream: the extended CONNECT for `url` with the
    /// user's headers and subprotocols, answered 200 within `timeout`; returns the
    /// stream for the caller to run the WebSocket on ([`websocket`]).
    pub async fn open(
        &self,
        headers: &Headers,
        timeout: Duration,
        url: &WsUrl,
    ) -> Result<(TokioIo<Upgraded>, Opened), Error> {
        let request = connect_request(headers, url)?;
        let mut send = self.send.clone();
        let response = tokio::time::timeout(timeout, async {
            send.ready().await?;
            send.send_request(request).await
        })
        .await
        .map_err(|_| Error::Timeout {
            what: "the answer to the extended CONNECT",
            after: timeout,
        })?
        .map_err(|e| Error::Http2 {
            url: url.text.clone(),
            reason: e.to_string(),
        })?;
        if response.status() != StatusCode::OK {
            let status = response.status();
            return Err(Error::UpgradeRefused {
                url: url.text.clone(),
                status: status.as_u16(),
                reason: status.canonical_reason().unwrap_or("").to_owned(),
                retry_after: response
                    .headers()
                    .get(hyper::header::RETRY_AFTER)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned()),
            });
        }
        let subprotocol = response
            .headers()
            .get(SEC_WEBSOCKET_PROTOCOL)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned());
        let upgraded = hyper::upgrade::on(response)
            .await
            .map_err(|e| Error::Http2 {
                url: url.text.clone(),
                reason: e.to_string(),
            })?;
        Ok((
            TokioIo::new(upgraded),
            Opened {
                settings: self.settings.clone(),
                subprotocol,
            },
        ))
    }
}

/// The client side of a WebSocket on `stream`, an extended CONNECT's stream already
/// open: no handshake is left to make.
pub async fn websocket<S>(stream: S) -> super::upgrade::Upgraded<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let stream = super::upgrade::layers(stream);
    WebSocketStream::from_raw_socket(stream, Role::Client, Some(websocket_config())).await
}

/// The extended CONNECT for `url`: its path as `:path`, the user's headers, and the
/// subprotocols offered; no key, which HTTP/2 has no use for.
fn connect_request(headers: &Headers, url: &WsUrl) -> Result<Request<Empty<Bytes>>, Error> {
    let scheme = if url.tls { "https" } else { "http" };
    let path = url
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let authority = url.uri.authority().map_or("", |a| a.as_str());
    let mut request = Request::builder()
        .method(Method::CONNECT)
        .uri(format!("{scheme}://{authority}{path}"))
        .header(
            SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static(wspp::routes::WEBSOCKET_VERSION),
        )
        .extension(Protocol::from_static("websocket"))
        .body(Empty::new())
        .map_err(|e| Error::BadHeader {
            header: url.text.clone(),
            reason: e.to_string(),
        })?;
    add_headers(request.headers_mut(), headers)?;
    Ok(request)
}

/// A server that does not speak HTTP/2 where it was asked to.
fn not_http2(url: &WsUrl, why: &str) -> Error {
    Error::Http2 {
        url: url.text.clone(),
        reason: format!("the server does not speak HTTP/2 here: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connect_carries_path_query_headers_and_protocol() {
        let headers = Headers {
            custom: vec!["X-Test: 1".parse().expect("valid header")],
            subprotocols: vec!["chat.v1".into()],
            ..Headers::default()
        };
        let url = WsUrl::parse("wss://h:1/pingpong?a=1").expect("valid url");
        let request = connect_request(&headers, &url).expect("valid request");
        assert_eq!(request.method(), Method::CONNECT);
        assert_eq!(request.uri().to_string(), "https://h:1/pingpong?a=1");
        assert_eq!(
            request.extensions().get::<Protocol>().map(Protocol::as_str),
            Some("websocket")
        );
        let h = request.headers();
        assert_eq!(h["sec-websocket-version"], "13");
        assert_eq!(h["x-test"], "1");
        assert_eq!(h["sec-websocket-protocol"], "chat.v1");
        assert!(!h.contains_key("sec-websocket-key"));
    }
}
