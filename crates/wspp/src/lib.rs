//! The pieces of wspp that the server and the client must agree on.
//!
//! wspp measures WebSocket latency with RFC 6455 Ping and Pong control frames. Both
//! ends do it the same way, so the shared logic lives here, free of I/O and of clocks:
//!
//! * [`routes`]: the request paths the server answers and the client fires at it,
//!   plus the default address, so the two programs cannot drift apart.
//! * [`payload`]: the bytes a Ping carries, so that a Pong can be matched to the
//!   Ping it answers instead of being trusted blindly.
//! * [`tracker`]: the bookkeeping of outstanding pings: which pong answers which
//!   ping, which pings were lost, which pongs were unsolicited or late.
//! * [`stats`]: latency statistics (min/avg/max/mdev and HDR percentiles).
//! * [`clients`]: the JSON schema of the server's `/clients.json`.
//! * [`frame`]: WebSocket frame headers read from bytes that arrive in pieces, with
//!   tungstenite's parser, reserved bits and opcodes kept, for the code that follows
//!   frames below a WebSocket library (and, for tests, frames laid out by hand).
//! * [`stream`]: the forwarding of reads and writes through a connection that is
//!   plain or TLS, and through the layers both programs put over a socket.
//! * [`busy_poll`]: keeping a runtime awake while an answer is due, which both ends
//!   offer to take their own wake-up out of the RTT.
//! * [`rare_event`]: waiting for shutdown or Ctrl-C from a loop that turns on every
//!   message, without paying for the wait on every turn.
//! * [`duration`]: the durations both programs read from their command lines, with
//!   one cap, so that no flag can overflow a clock.
//! * [`rtt_log`]: the names in the server's log line of each RTT, which the benchmark
//!   reads back.
//! * [`wire_clock`]: the TCP socket under both ends, whose reads carry the kernel's
//!   receive timestamps, so that an RTT is the network's and names its clock.
//!
//! Except in [`busy_poll`], which exists to spend time, and [`wire_clock`], which
//! exists to read the clock at the system call, every function that needs a time
//! takes an `Instant` or a `Duration` argument and never reads a clock itself, so the
//! unit tests are exact.

#![deny(missing_docs)]

pub mod busy_poll;
pub mod clients;
pub mod duration;
pub mod frame;
pub mod payload;
pub mod rare_event;
pub mod routes;
pub mod rtt_log;
pub mod stats;
pub mod stream;
pub mod tracker;
pub mod wire_clock;
