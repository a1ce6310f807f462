//! Request paths and defaults shared by `wsppsrv` and `wsppclient`.
//!
//! The server dispatches on these exact strings (no router, no normalisation), and the
//! client builds its requests from the same constants.

/// The HTML page listing every connected WebSocket client.
pub const PAGE: &str = "/";
/// The page's optional script: the "connect this browser" control and in-place refresh.
/// A file of its own, not inline, so the page can forbid inline script outright.
pub const PAGE_SCRIPT: &str = "/page.js";
/// The same list as JSON (see [`crate::clients`]).
pub const CLIENTS_JSON: &str = "/clients.json";
/// The server's figures in the Prometheus text format, for Prometheus to scrape.
pub const METRICS: &str = "/metrics";
/// Upgrade, let the server ping a few times, then the server closes with 1000.
pub const OPEN_AND_CLOSE: &str = "/openandclosewebsocket";
/// Upgrade to a long-lived session: periodic server pings and an echo of every message.
pub const PINGPONG: &str = "/pingpong";
/// Browsers ask for it unprompted; the server refuses it quietly.
pub const FAVICON: &str = "/favicon.ico";

/// Where the server listens, and the client connects, unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
/// Where the server listens for TLS (`https://`, `wss://`) when it has a certificate,
/// and where the client connects with `--tls` unless told otherwise.
pub const DEFAULT_TLS_ADDR: &str = "127.0.0.1:8443";

/// The only WebSocket protocol version there is (RFC 6455).
pub const WEBSOCKET_VERSION: &str = "13";
