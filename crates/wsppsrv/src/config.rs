//! The server's settings, as plain data.
//!
//! [`Config`] is what the library runs on; the command line ([`crate::cli`]) is only
//! one way to fill it, so tests build a `Config` directly and change what they need.

use std::time::Duration;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::forwarded::Cidr;

/// Everything `wsppsrv` can be told.
#[derive(Debug, Clone)]
pub struct Config {
    /// How often a `/pingpong` session is pinged.
    pub ping_interval: Duration,
    /// How long a `/pingpong` session waits before its first ping; zero pings at once.
    /// Conformance suites (Autobahn) script every frame they expect, so a server ping
    /// in the middle of a case reads as a wrong answer; a long delay keeps pings out of
    /// such runs without changing what the server does by default.
    pub first_ping_delay: Duration,
    /// How long a ping may stay unanswered before the peer is dropped as dead. Also
    /// bounds every write to a peer and the wait for its half of a close handshake.
    pub ping_timeout: Duration,
    /// Pings sent on `/openandclosewebsocket` before the server closes.
    pub open_close_pings: u32,
    /// WebSocket sessions served at once; the next upgrade gets 503.
    pub max_connections: usize,
    /// Connection slots plain HTTP (the page, `/clients.json`, `/metrics`, an upgrade
    /// still being read) keeps on top of `max_connections`, so the server can be looked
    /// at when sessions fill it. Connections in all are at most the sum: a connection
    /// beyond it gets 503 before its request is read.
    pub http_reserve: usize,
    /// The largest WebSocket message (and frame) accepted; a larger one closes with 1009.
    pub max_message_size: usize,
    /// How long a client may take to send a complete request head (on a keep-alive
    /// connection, counted from the previous answer). Also the idle timeout of an HTTP/2
    /// connection: with no request and no stream open for that long, it gets GOAWAY.
    pub header_read_timeout: Duration,
    /// The largest request head; a larger one gets 431. hyper's floor is 8 KiB: a
    /// smaller value counts as 8 KiB.
    pub max_header_bytes: usize,
    /// `Origin`s allowed to open a WebSocket; empty means every origin.
    pub allowed_origins: Vec<String>,
    /// Reverse proxies whose `Forwarded` or `X-Forwarded-For` name the client; from
    /// any other peer those headers are ignored. Empty: no proxy is believed.
    pub trusted_proxies: Vec<Cidr>,
    /// How long shutdown waits for sessions to finish their close handshakes.
    pub shutdown_grace: Duration,
    /// Bytes tungstenite reads from the socket at a time. Allocated and zero-filled
    /// per connection for its whole life, so it is most of an idle client's memory.
    pub read_buffer_size: usize,
    /// How long the server keeps polling its sockets after each ping it sends and each
    /// message it reads, instead of sleeping; zero never does. It takes the server's own
    /// wake-up out of the RTTs at the price of a busy core while it polls, and needs the
    /// current-thread runtime (see [`wspp::busy_poll`]).
    pub busy_poll: Duration,
    /// Whether HTTP/2 is served beside HTTP/1.1: ALPN `h2` on the TLS listener, prior
    /// knowledge (h2c) on the plain one, each with the extended CONNECT of RFC 8441 so
    /// that WebSockets run over it. Off, both listeners speak HTTP/1.1 alone.
    pub http2: bool,

    /// Whether a client's permessage-deflate offer (RFC 7692) is taken. On by default,
    /// as production servers do, so that a browser's session here is compressed as it
    /// would be there.
    pub deflate: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ping_interval: Duration::from_secs(1),
            first_ping_delay: Duration::ZERO,
            ping_timeout: Duration::from_secs(5),
            open_close_pings: 3,
            max_connections: 10_000,
            // A few operators, a scraper and a browser reloading the page, with room for
            // upgrades in flight; small next to the descriptors the sessions hold.
            http_reserve: 64,
            max_message_size: 64 * 1024,
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            shutdown_grace: Duration::from_secs(2),
            // Any control frame (at most 131 bytes) and any small echo arrives in one
            // read, so pings pay nothing for it. A larger message takes one read per
            // 512 bytes: the price of a much smaller idle client, whose read buffer is
            // resident (docs/benchmarks.md, section 3).
            read_buffer_size: 512,
            busy_poll: Duration::ZERO,
            http2: true,
            deflate: true,
        }
    }
}

impl Config {
    /// The tungstenite settings for every session, built deliberately rather than taken
    /// from `WebSocketConfig::default()`: the default reads into a 128 KiB buffer that
    /// is allocated and zero-filled per connection, which would dominate the memory of
    /// an idle client. Pings and echoes are small, so a small buffer costs nothing.
    pub fn websocket_config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_size)
            // Write each frame at once: a ping that waits in a buffer is a ping whose
            // RTT is wrong.
            .write_buffer_size(0)
            // A peer that does not read must not make the server buffer without bound;
            // past this the write fails and the session ends.
            .max_write_buffer_size(self.max_message_size.saturating_mul(2).max(64 * 1024))
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_message_size))
    }

    /// Whether `peer` is one of the trusted proxies.
    pub fn trusts(&self, peer: std::net::IpAddr) -> bool {
        self.trusted_proxies
            .iter()
            .any(|range| range.contains(peer))
    }

    /// Whether a WebSocket upgrade carrying this `Origin` may proceed.
    ///
    /// The header is compared as bytes: an `Origin` that is not valid text matches no
    /// listed origin, and is refused like any other stranger, not mistaken for none.
    pub fn origin_allowed(&self, origin: Option<&[u8]>) -> bool {
        match origin {
            // Non-browser clients send no Origin; cross-site hijacking needs a browser.
            None => true,
            Some(origin) => {
                self.allowed_origins.is_empty()
                    || self
                        .allowed_origins
                        .iter()
                        .any(|allowed| allowed.as_bytes().eq_ignore_ascii_case(origin))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_origin_list_allows_everyone() {
        let config = Config::default();
        assert!(config.origin_allowed(Some(b"https://evil.example")));
        assert!(config.origin_allowed(Some(b"\xff")));
        assert!(config.origin_allowed(None));
    }

    #[test]
    fn a_listed_origin_is_matched_without_case() {
        let config = Config {
            allowed_origins: vec!["http://localhost:8080".into()],
            ..Config::default()
        };
        assert!(config.origin_allowed(Some(b"HTTP://LOCALHOST:8080")));
        assert!(!config.origin_allowed(Some(b"http://evil.example")));
        assert!(!config.origin_allowed(Some(b"http://localhost:8080\xe2\x80\xa8")));
        assert!(config.origin_allowed(None));
    }

    #[test]
    fn the_websocket_config_follows_the_limits() {
        let config = Config {
            max_message_size: 1 << 20,
            ..Config::default()
        };
        let ws = config.websocket_config();
        assert_eq!(ws.max_message_size, Some(1 << 20));
        assert_eq!(ws.max_frame_size, Some(1 << 20));
        assert_eq!(ws.read_buffer_size, 512);
        assert_eq!(ws.write_buffer_size, 0);
    }
}
