//! The pieces of wspp that the server and the client share.
//!
//! wspp measures WebSocket latency with RFC 6455 Ping and Pong control frames, and
//! both ends do it the same way. So what the two programs must agree on (paths,
//! payloads, schemas, frame headers) is defined here once, and so are the parts of
//! their I/O that both run alike (the layers over a socket, the kernel's timestamps,
//! busy polling). The modules, top down: each uses only modules listed below it.
//!
//! * [`routes`]: the request paths the server answers and the client fires at it,
//!   plus the default address, so the two programs cannot drift apart.
//! * [`clients`]: the JSON schema of the server's `/clients.json`.
//! * [`tracker`]: the bookkeeping of outstanding pings: which pong answers which
//!   ping, which pings were lost, which pongs were unsolicited or late.
//! * [`payload`]: the bytes a Ping carries, so that a Pong can be matched to the
//!   Ping it answers instead of being trusted blindly.
//! * [`stats`]: latency statistics (min/avg/max/mdev and HDR percentiles).
//! * [`rtt_log`]: the names in the server's log line of each RTT, which the benchmark
//!   reads back.
//! * [`host`]: the `Host` header of a request as RFC 9112 asks a server to check it,
//!   for wsppsrv and the client's `listen` alike.
//! * [`utf8_guard`]: the text of a peer's messages checked as its bytes arrive, so
//!   that invalid UTF-8 fails the connection before its frame ends, at either end.
//! * [`deflate`]: permessage-deflate (RFC 7692) as a layer under tungstenite, which
//!   has no extensions: the handshake's parameters, and the frames inflated on the way
//!   in and compressed on the way out.
//! * [`frame`]: WebSocket frame headers read from bytes that arrive in pieces, with
//!   tungstenite's parser, reserved bits and opcodes kept, for the code that follows
//!   frames below a WebSocket library (and, for tests, frames laid out by hand).
//! * [`h2_settings`]: the SETTINGS an HTTP/2 server opens with, read as they pass
//!   under the HTTP/2 client, so that a WebSocket over HTTP/2 waits for them.
//! * [`stream`]: the forwarding of reads and writes through a connection that is
//!   plain or TLS, and through the layers both programs put over a socket.
//! * [`busy_poll`]: keeping a runtime awake while an answer is due, which both ends
//!   offer to take their own wake-up out of the RTT.
//! * [`rare_event`]: waiting for shutdown or Ctrl-C from a loop that turns on every
//!   message, without paying for the wait on every turn.
//! * [`duration`]: the durations both programs read from their command lines, with
//!   one cap, so that no flag can overflow a clock.
//! * [`wire_clock`]: the TCP socket under both ends, whose reads carry the kernel's
//!   receive timestamps, so that an RTT is the network's and names its clock.
//!
//! With the `test-util` feature, `test_util` sits above them all: what the two
//! programs' integration tests share (a WebSocket peer written from the RFC, bounded
//! waits). No program links it.
//!
//! Only [`utf8_guard`], [`deflate`], [`h2_settings`], [`stream`], [`busy_poll`], [`rare_event`] and
//! [`wire_clock`] touch a socket or a task; the rest is plain data and arithmetic. Only [`busy_poll`], which exists to
//! spend time, and [`wire_clock`], which exists to read the clock at the system call,
//! read a clock: every other function that needs a time takes an `Instant` or a
//! `Duration` argument, so the unit tests are exact.

#![deny(missing_docs)]

pub mod busy_poll;
pub mod clients;
pub mod deflate;
pub mod duration;
pub mod frame;
pub mod h2_settings;
pub mod host;
pub mod payload;
pub mod rare_event;
pub mod routes;
pub mod rtt_log;
pub mod stats;
pub mod stream;
#[cfg(feature = "test-util")]
pub mod test_util;
pub mod tracker;
pub mod utf8_guard;
pub mod wire_clock;
