//! The wspp client: fire requests at wsppsrv and watch the WebSocket protocol on the
//! wire, or measure latency like ping(8) against any WebSocket server.
//!
//! The binary is a thin shell over this library, so the tests and `wsppbench`
//! drive the same code in-process.
//!
//! # Layout
//!
//! From the command line down to the socket:
//!
//! * [`cli`] parses arguments (clap) into an [`config::Invocation`]: plain data that
//!   tests build without clap.
//! * [`invoke`] runs an invocation: the [`tui`] (or the plain [`menu`] without a
//!   terminal), one request, or `ping`, and maps how it ended to an
//!   [`outcome::Outcome`] (the exit status).
//! * [`catalog`] is the list of requests; the subcommands and the menu are generated
//!   from it so they cannot drift.
//! * [`requests`] runs each request over a [`tap::Tap`]ped connection: every byte goes
//!   through a pure [`wire`] parser, and what it sees (heads, frames with their real
//!   FIN and mask bits, close codes) flows to a [`transcript::Transcript`].
//! * [`ping`] is ping(8) over WebSocket: a [`ping::Pinger`] for sequential round trips
//!   and the [`ping::ping`] session, both on top of `wspp`'s tracker and statistics,
//!   with Pings, echo messages, or both.
//! * [`stop`] says why a session was stopped, so that SIGTERM closes with 1001 and
//!   the user's Ctrl-C with 1000.
//! * [`connect`] opens connections the same way for all of them (`TCP_NODELAY`,
//!   timeouts, a [`proxy`]'s tunnel, TLS for `wss://` through [`tls`], the upgrade and
//!   its refusal), and
//!   [`error`] says what went wrong; [`backoff`] paces `hold --reconnect`.
//! * [`local_server`] serves wsppsrv in this process when the user named no server
//!   and none listens on the default address.

#![deny(missing_docs)]

pub mod backoff;
pub mod catalog;
pub mod cli;
pub mod clients_table;
pub mod config;
pub mod connect;
pub mod duration;
pub mod error;
pub mod hex;
pub mod invoke;
pub mod local_server;
pub mod menu;
pub mod outcome;
pub mod ping;
pub mod proxy;
pub mod requests;
pub mod stop;
pub mod tap;
pub mod tls;
pub mod transcript;
pub mod tui;
pub mod wire;

pub use error::Error;
