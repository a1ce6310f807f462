//! `wsppsrv`: a WebSocket ping-pong server that measures every client's round-trip time.
//!
//! # Layout
//!
//! A request flows down through these, each using only the ones after it:
//!
//! * `server`: the listener ([`bind`]), the accept loop and hyper's HTTP/1.1 and
//!   HTTP/2 drivers, with explicit timeouts, limits and graceful shutdown ([`run`]).
//! * `dispatch`: the route table, one `match` on the request path, no router.
//! * [`extended_connect`]: a WebSocket over HTTP/2 (RFC 8441), its checks and answers.
//! * [`upgrade`]: the WebSocket handshake's checks, each refusal with its status, and
//!   the start of a session, over either HTTP version.
//! * `session`: one task per WebSocket, pinging and reading concurrently; what it does
//!   is its route's [`RouteBehaviour`].
//! * `state`: what those tasks share, made by the accept loop and kept below it: the
//!   server-wide state and each connection's admission (its id, peer and slot under
//!   the connection limit).
//! * [`registry`]: the connected clients, each removed when its session ends, and the
//!   reports of them the page and `/clients.json` show.
//! * [`metrics`]: the figures `/metrics` serves, moved by sessions through atomic
//!   handles, never by walking the clients.
//!
//! What the steps use, each knowing nothing of the flow above it:
//!
//! * [`Listeners`]: plain and TLS side by side, for [`run_with`]; [`tls`]: certificates
//!   and the TLS handshake; `http2`: how a connection is found to speak HTTP/2 (ALPN,
//!   or the preface on the plain port), and its driver.
//! * `transport`: the one stream type, plain or TLS over a kernel-stamped socket, that
//!   hyper serves and a session takes back after the upgrade.
//! * [`page`]: the HTML page of clients, a page of them at a time, and its optional
//!   script; `reply`: small response builders.
//! * [`cursor`]: `?after=&limit=`, which clients the page and `/clients.json` list.
//! * `log_limit`: one line a second for what clients can repeat at will (failed
//!   TLS handshakes, sessions gone without a Close), with the count folded in.
//! * [`untrusted`]: peer-supplied text, kept to a bounded length and escaped for log
//!   lines.
//! * [`config`]: the settings, as plain data, at the bottom, and under it
//!   [`forwarded`]: the trusted proxies' ranges and the client a proxy names.
//!
//! On top, for the binary: [`cli`] fills the settings from flags and `WSPP_*`
//! variables; [`logging`]: its log format and filter; [`shutdown`]: the signals it
//! stops on; [`docs`]: shell completions and man pages from the clap definitions of
//! both programs.
//!
//! Tests bind `127.0.0.1:0`, hand the listener to [`run`] (or [`run_with`], for TLS)
//! with a shutdown future they control, and talk to the server over real sockets.

#![deny(missing_docs)]

pub mod cli;
pub mod config;
pub mod cursor;
mod dispatch;
pub mod docs;
pub mod extended_connect;
pub mod forwarded;
mod http2;
mod listeners;
mod log_limit;
pub mod logging;
pub mod metrics;
pub mod page;
pub mod registry;
mod reply;
mod server;
mod session;
pub mod shutdown;
mod state;
pub mod tls;
mod transport;
pub mod untrusted;
pub mod upgrade;

pub use config::Config;
pub use listeners::Listeners;
pub use server::{LISTEN_BACKLOG, bind, run, run_with};
pub use session::RouteBehaviour;
