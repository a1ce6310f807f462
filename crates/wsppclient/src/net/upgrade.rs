//! The WebSocket upgrade, one path for every request that makes one: the request with
//! the user's headers and subprotocols ([`request`]), the handshake within its time
//! limit, and what a failed one means in the client's words ([`Failure::into_error`]:
//! a refusal with its status, a timeout, a subprotocol the server got wrong).
//!
//! `ping`, `hold` and `open-close` call [`upgrade`]; `inspect` calls [`handshake`],
//! which keeps the failure as it came so that the transcript can show the rest of a
//! refusal first, then puts it in the same words.
//!
//! Every upgrade goes through a [`Deflate`] layer put under tungstenite, which has no
//! extensions: it reads the 101's `Sec-WebSocket-Extensions` against what the request
//! offered (`--deflate`, or a `-H` header), and compresses and inflates the messages
//! when permessage-deflate was agreed. A server that accepts what this client does not
//! implement is answered with Close 1010 (RFC 6455, 7.4.1) and an error that says so,
//! before its first frame could be misread as a protocol error; a request with a
//! transcript says so there too, under the 101 and before the Close. Above it, the
//! [`Utf8Guard`] fails a read as soon as a text message is known not to be UTF-8,
//! before its frame ends (RFC 6455, 8.1), as the server does with a client's text.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::{Request as UpgradeRequest, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use wspp::deflate::{Deflate, NegotiationError, negotiation};
use wspp::stream::Layered;
use wspp::utf8_guard::{Guarded, Utf8Guard};

use super::settings::Headers;
use super::url::WsUrl;
use crate::error::Error;
use crate::watch::transcript::Transcript;

/// The upgrade request for `url`: tungstenite's standard handshake headers, then
/// `User-Agent`, `Origin` and every `-H` header, and the `--subprotocol` names in one
/// `Sec-WebSocket-Protocol` header, in the order given (the server picks the first it
/// speaks). They replace a `-H Sec-WebSocket-Protocol`: tungstenite checks the server's
/// choice against the first such header only.
pub fn request(headers: &Headers, url: &WsUrl) -> Result<UpgradeRequest, Error> {
    let mut request = url.uri.clone().into_client_request()?;
    add_headers(request.headers_mut(), headers)?;
    Ok(request)
}

/// Adds `User-Agent`, `Origin`, every `-H` header and the subprotocols offered to a
/// WebSocket request's headers, over HTTP/1.1 or HTTP/2 alike.
pub fn add_headers(out: &mut hyper::HeaderMap, headers: &Headers) -> Result<(), Error> {
    for (name, value) in headers.extra_headers() {
        out.append(name, value);
    }
    if !headers.subprotocols.is_empty() {
        let offered = headers.subprotocols.join(", ");
        let value = offered.parse().map_err(|_| Error::BadHeader {
            header: format!("Sec-WebSocket-Protocol: {offered}"),
            reason: "invalid header value".into(),
        })?;
        out.insert(hyper::header::SEC_WEBSOCKET_PROTOCOL, value);
    }
    if headers.deflate {
        out.append(
            hyper::header::SEC_WEBSOCKET_EXTENSIONS,
            hyper::header::HeaderValue::from_static(negotiation::CLIENT_OFFER),
        );
    }
    Ok(())
}

/// A WebSocket over `S`, with the layer that carries its extensions (there for an
/// HTTP/1.1 upgrade, which reads the 101 to learn what was agreed; none over HTTP/2)
/// and above it the UTF-8 guard, which must read the frames tungstenite will.
pub type Upgraded<S> = WebSocketStream<Guarded<Layered<S, Option<Deflate>>>>;

/// The layers of a WebSocket over `stream`, without a handshake to make: an extended
/// CONNECT's stream, already open.
pub fn layers<S>(stream: S) -> Guarded<Layered<S, Option<Deflate>>> {
    Layered::new(
        Layered::new(stream, None),
        Utf8Guard::new(Role::Client, max_frame()),
    )
}

/// The stream under an upgraded WebSocket's layers.
pub fn transport<S: AsyncRead + AsyncWrite + Unpin>(ws: &Upgraded<S>) -> &S {
    ws.get_ref().get_ref().get_ref()
}

/// The stream under an upgraded WebSocket's layers, to change.
pub fn transport_mut<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut Upgraded<S>) -> &mut S {
    ws.get_mut().get_mut().get_mut()
}

/// The frame size tungstenite refuses past, which the UTF-8 guard must know: it leaves
/// such a frame to tungstenite's own error.
fn max_frame() -> u64 {
    websocket_config()
        .max_frame_size
        .map_or(u64::MAX, |n| n as u64)
}

/// The extensions the server agreed in its 101, as it said them; empty for none.
pub fn extensions(response: &Response) -> String {
    response
        .headers()
        .get_all(hyper::header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
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
/// every read, so the buffer's size is paid per message (at 4 KiB, `memset` was the
/// largest share of the client's instructions per ping: docs/benchmarks.md, section
/// 11), while a Pong is at most 127 bytes. A large message takes one read per 512
/// bytes, which a client can afford.
pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(512)
        .write_buffer_size(0)
}

/// Performs the upgrade handshake for `url` over `stream`, bounded by `timeout`, and
/// says what went wrong in the client's words: see [`Failure::into_error`].
pub async fn upgrade<S>(
    stream: S,
    headers: &Headers,
    timeout: Duration,
    url: &WsUrl,
) -> Result<(Upgraded<S>, Response), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    handshake(stream, headers, timeout, url, None)
        .await
        .map_err(|failure| failure.into_error(url, headers, 0, &[]))
}

/// The upgrade handshake, its failure kept as it came, for a caller that looks at the
/// connection before saying what went wrong (`inspect` reads the rest of a refusal's
/// body, and knows what the server had sent). Every caller ends with
/// [`Failure::into_error`], so a refusal, a timeout or a subprotocol problem reads the
/// same whichever request met it. With a `transcript`, a 101 that accepted an
/// extension this client does not implement gets a warning there before the Close.
pub async fn handshake<S>(
    stream: S,
    headers: &Headers,
    timeout: Duration,
    url: &WsUrl,
    transcript: Option<&Transcript>,
) -> Result<(Upgraded<S>, Response), Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = request(headers, url).map_err(Failure::Request)?;
    let offered = request
        .headers()
        .get_all(hyper::header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let stream = Layered::new(
        Layered::new(stream, Some(Deflate::client(offered))),
        Utf8Guard::after_response(max_frame()),
    );
    let handshake =
        tokio_tungstenite::client_async_with_config(request, stream, Some(websocket_config()));
    let (mut ws, response) = match tokio::time::timeout(timeout, handshake).await {
        Err(_) => return Err(Failure::TimedOut(timeout)),
        Ok(Ok(done)) => done,
        Ok(Err(tungstenite::Error::Http(response))) => return Err(Failure::Refused(response)),
        Ok(Err(other)) => return Err(Failure::Handshake(other)),
    };
    if let Some(Err(problem)) = ws
        .get_ref()
        .get_ref()
        .layer()
        .as_ref()
        .and_then(Deflate::outcome)
    {
        let problem = problem.clone();
        if let Some(transcript) = transcript {
            transcript.note(format!(
                "warning: {problem}: failing the connection with 1010 (Mandatory Extension)"
            ));
        }
        // Fail the connection as RFC 6455 (7.4.1) has it: the server must hear why.
        let frame = CloseFrame {
            code: CloseCode::Extension,
            reason: "unsupported extension".into(),
        };
        let _ = tokio::time::timeout(super::connect::CLOSE_WAIT, ws.close(Some(frame))).await;
        return Err(Failure::Extension(problem));
    }
    // tungstenite makes what its handshake read past the response head the
    // WebSocket's read buffer, and keeps that buffer's 4 KiB capacity for the
    // connection's life, whatever `read_buffer_size` says: the largest share of a
    // `load` connection's memory. The layer under it held those bytes back (see
    // `Deflate::client`), so a WebSocket started afresh on the same stream, with the
    // configured 512 bytes, misses none of them.
    let mut stream = ws.into_inner();
    // Nothing agreed and nothing held back: the layer would stand aside for the
    // connection's life in a few hundred bytes of its own, which `load` pays per
    // connection.
    let deflate = stream.get_mut().layer_mut();
    if deflate
        .as_ref()
        .is_some_and(|d| matches!(d.outcome(), Some(Ok(None))) && d.is_idle())
    {
        *deflate = None;
    }
    let ws = WebSocketStream::from_raw_socket(stream, Role::Client, Some(websocket_config())).await;
    Ok((ws, response))
}

/// How an upgrade failed, before it is put in words.
#[derive(Debug)]
pub enum Failure {
    /// The upgrade request could not be made (a header value it cannot carry).
    Request(Error),
    /// No answer within the time limit.
    TimedOut(Duration),
    /// An HTTP answer other than 101, with what had arrived of its body.
    Refused(Box<tungstenite::http::Response<Option<Vec<u8>>>>),
    /// Anything else tungstenite found wrong.
    Handshake(tungstenite::Error),
    /// The server accepted an extension this client does not implement, or with
    /// parameters it may not give; the connection was closed with 1010.
    Extension(NegotiationError),
}

impl Failure {
    /// The refusal's answer, to read more of its body into.
    pub fn refusal_mut(&mut self) -> Option<&mut tungstenite::http::Response<Option<Vec<u8>>>> {
        match self {
            Failure::Refused(response) => Some(response),
            _ => None,
        }
    }

    /// The failure as the client says it: a refusal as [`Error::UpgradeRefused`] with
    /// its status, a subprotocol the server got wrong against what `headers` offered,
    /// and anything else by what the server had sent: `received` bytes, beginning with
    /// `first` (zero and empty where nobody counted).
    pub fn into_error(self, url: &WsUrl, headers: &Headers, received: u64, first: &[u8]) -> Error {
        match self {
            Failure::Request(err) => err,
            Failure::TimedOut(after) => Error::Timeout {
                what: "the upgrade",
                after,
            },
            Failure::Refused(response) => refusal(url, &response),
            Failure::Handshake(tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::SecWebSocketSubProtocolError(problem),
            )) => Error::Subprotocol {
                url: url.text.clone(),
                problem: subprotocol_problem(&problem, &headers.offered_subprotocols()),
            },
            Failure::Extension(problem) => Error::Extension {
                url: url.text.clone(),
                problem: problem.to_string(),
            },
            Failure::Handshake(other) => Error::handshake(&url.text, other, received, first),
        }
    }
}

/// [`Error::UpgradeRefused`] for an answer other than 101: its status, and the first
/// line of its body when that says more than the status text.
fn refusal(url: &WsUrl, response: &tungstenite::http::Response<Option<Vec<u8>>>) -> Error {
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
/// (the names offered, if any).
fn subprotocol_problem(problem: &tungstenite::error::SubProtocolError, offered: &str) -> String {
    use tungstenite::error::SubProtocolError;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upgrade_request_carries_the_users_headers() {
        let headers = Headers {
            custom: vec!["X-Test: 1".parse().expect("valid header")],
            ..Headers::default()
        };
        let url = WsUrl::parse("ws://h:1/pingpong").expect("valid url");
        let request = request(&headers, &url).expect("valid request");
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
