//! Integration tests of `wsppsrv`, one binary so it links once.
//!
//! Every test starts its own server in-process on `127.0.0.1:0` and talks to it over
//! real sockets, mostly with a hand-written client (`support::raw`) that owes nothing
//! to the server's own libraries.

/// Starting servers, and a raw HTTP and WebSocket client.
mod support;

/// `completions` and `man`: print, do not serve.
mod docs;
/// `--trusted-proxy`: the client behind a proxy, and forged headers ignored.
mod forwarded;
/// Hostile clients: broken HTTP and frames, floods, deaf and abandoned peers, the
/// connection limit, origins and log injection; each beside a well-behaved client,
/// each ending with no client listed and no socket left open.
mod hostile;
/// WebSockets over HTTP/2 (RFC 8441): h2c and ALPN h2, the extended CONNECT and its
/// refusals, `http2: false`.
mod http2;
/// `/metrics`: every counter against the events that move it, the page's numbers
/// against the same clients', the server at its limit, `--metrics-addr`.
mod metrics;
/// The clients page: windows of rows, its query, its headers, its script.
mod page;
/// Every route and its answer: pages, JSON, 404, 405, a plain GET of an upgrade route.
mod routes;
/// WebSocket sessions: pings and pongs, echo, the registry, timeouts, limits.
mod sessions;
/// Graceful shutdown: Close 1001 for every session.
mod shutdown;
/// TLS next to plain HTTP: https and wss, broken handshakes, limits.
mod tls;
