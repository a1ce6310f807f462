//! HTTP/2 beside HTTP/1.1, on both listeners: how a connection is found to speak it,
//! and the driver hyper serves it with.
//!
//! A TLS connection says so in its handshake (ALPN `h2`); a plain one by opening with
//! HTTP/2's connection preface (prior knowledge, "h2c"). Both are decided before hyper
//! sees a byte, so that an HTTP/1.1 connection is served exactly as it was without
//! HTTP/2: the same driver over the same stream type, which a session takes back out of
//! hyper after its upgrade (see [`crate::transport`]). hyper-util's `auto` builder
//! would decide by reading the first bytes into a buffer of its own and serve every
//! connection, HTTP/1.1 included, through a private wrapper type: no session could then
//! take its socket back, nor time its pongs by the kernel's stamps.
//!
//! The driver enables the extended CONNECT protocol (RFC 8441): its SETTINGS carry
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL`, which tells a client (a browser, say) that it may
//! open WebSockets on this connection. Every WebSocket route of the server handles such
//! a CONNECT (see [`crate::extended_connect`]); a server that advertised the setting
//! without handling it would break its clients' WebSockets.
//!
//! An HTTP/2 connection is closed (GOAWAY) once it has carried nothing for the header
//! read timeout, as an idle HTTP/1.1 connection is closed by hyper when no request
//! head arrives within it: hyper's HTTP/2 has no such timer, and a client that sent
//! the preface and then nothing would otherwise hold a connection slot for ever
//! ([`idle`]).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::server::conn::http2;
use hyper_util::rt::TokioTimer;
use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::config::Config;

/// What an HTTP/2 client sends first on a connection (RFC 9113, 3.4).
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The ALPN protocol id of HTTP/2 over TLS.
const ALPN_H2: &[u8] = b"h2";

/// The executor hyper hands its HTTP/2 tasks to: a task per request stream, and one per
/// upgraded stream (since hyper 1.8, an extended CONNECT's stream is pumped between the
/// connection and the session by a task of its own). Tracked like every other task of
/// the server, so that shutdown waits for them, and in the span of their connection.
#[derive(Debug, Clone)]
pub(crate) struct Tracked(TaskTracker);

impl<F> hyper::rt::Executor<F> for Tracked
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        self.0.spawn(future.in_current_span());
    }
}

/// The HTTP/2 driver for every connection of a server whose tasks are `tasks`.
pub(crate) fn builder(config: &Config, tasks: &TaskTracker) -> http2::Builder<Tracked> {
    let mut http = http2::Builder::new(Tracked(tasks.clone()));
    http.timer(TokioTimer::new())
        .enable_connect_protocol()
        // The same bound on a request's headers as HTTP/1.1's head (431 past it there,
        // a stream reset here).
        .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX));
    http
}

/// Offers HTTP/2 in the TLS handshake when `http2` is on (`h2` first: a client that
/// speaks both takes it), HTTP/1.1 alone otherwise.
pub(crate) fn offer_alpn(tls: &mut Arc<ServerConfig>, http2: bool) {
    let mut protocols = vec![b"http/1.1".to_vec()];
    if http2 {
        protocols.insert(0, ALPN_H2.to_vec());
    }
    Arc::make_mut(tls).alpn_protocols = protocols;
}

/// Whether the TLS handshake agreed on HTTP/2.
pub(crate) fn negotiated(alpn: Option<&[u8]>) -> bool {
    alpn == Some(ALPN_H2)
}

/// Whether a plain connection opens with HTTP/2's preface, looked at without taking
/// its bytes, for at most `limit` (the header read timeout, which hyper then starts
/// again for HTTP/1.1).
///
/// Decided on the first bytes that arrive: a client sends its preface, or its request
/// line, in one write. Bytes that begin the preface are HTTP/2 once they are more than
/// the `P` a `POST` or `PUT` begins with too (the rest of the preface is hyper's to
/// check); a lone `P`, the end of the stream, a timeout or an error leave the
/// connection to HTTP/1.1, which answers or closes it as it always did.
pub(crate) async fn opens_with_preface(socket: &TcpStream, limit: Duration) -> bool {
    let mut start = [0u8; PREFACE.len()];
    match timeout(limit, socket.peek(&mut start)).await {
        Ok(Ok(n)) => is_preface_start(&start[..n]),
        _ => false,
    }
}

fn is_preface_start(bytes: &[u8]) -> bool {
    bytes.len() > 1 && PREFACE.starts_with(bytes)
}

/// When an HTTP/2 connection last received a request: written by its service, read by
/// [`idle`], both in the connection's task (an atomic only because the service must
/// be `Sync`).
#[derive(Debug)]
pub(crate) struct Requests {
    /// When the connection began.
    origin: Instant,
    /// The last request's arrival, in milliseconds after `origin`; 0 before any.
    last_ms: AtomicU64,
}

impl Requests {
    pub(crate) fn new() -> Self {
        Requests {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    /// Notes a request arriving now.
    pub(crate) fn arrived(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.origin + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// Resolves once the connection has had no request for `limit` and, each time it is
/// looked at, no stream still open (`open_streams`: a WebSocket runs on its stream long
/// after its request). A connection whose streams are open is looked at again a
/// `limit` later, so one is closed between one and two `limit`s after its last
/// WebSocket ends; one that never opens a stream, exactly `limit` after its preface.
pub(crate) async fn idle(requests: &Requests, open_streams: impl Fn() -> bool, limit: Duration) {
    let mut deadline = requests.last() + limit;
    loop {
        sleep_until(deadline).await;
        if open_streams() {
            deadline = Instant::now() + limit;
            continue;
        }
        let quiet_until = requests.last() + limit;
        if quiet_until <= Instant::now() {
            return;
        }
        deadline = quiet_until;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preface_is_told_from_a_request_line() {
        assert!(is_preface_start(PREFACE));
        assert!(is_preface_start(b"PRI * HTTP/2.0"));
        assert!(!is_preface_start(b"P"));
        assert!(!is_preface_start(b""));
        assert!(!is_preface_start(b"POST / HTTP/1.1\r\n"));
        assert!(!is_preface_start(b"PUT / HTTP/1.1\r\n"));
        assert!(!is_preface_start(b"GET /pingpong HTTP/1.1\r\n"));
        assert!(!is_preface_start(b"PRI * HTTP/1.1\r\n"));
    }

    #[test]
    fn alpn_offers_h2_only_when_on() {
        let identity = crate::tls::Identity::self_signed()
            .expect("generated")
            .identity;
        let mut tls = identity.server_config().expect("rustls takes it");
        offer_alpn(&mut tls, true);
        assert_eq!(tls.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
        offer_alpn(&mut tls, false);
        assert_eq!(tls.alpn_protocols, [b"http/1.1".to_vec()]);
        assert!(negotiated(Some(b"h2")));
        assert!(!negotiated(Some(b"http/1.1")));
        assert!(!negotiated(None));
    }
}
