//! The wspp client: fire requests at wsppsrv and watch the WebSocket protocol on the
//! wire, or measure latency like ping(8) against any WebSocket server.
//!
//! The binary is a thin shell over this library, so the tests and `wsppbench`
//! drive the same code in-process.
//!
//! # Layout
//!
//! Five folders, one layer each, read bottom up; each uses only the layers below it
//! (`scripts/module_cycles.py` checks there is no circle):
//!
//! 1. [`net`]: how bytes get to a server. The settings a connection needs, parsed
//!    once ([`net::settings`]); the URL ([`net::url`]); the name lookup, TCP with the
//!    kernel's stamps, the proxy's tunnel and TLS ([`net::connect`]); and the one
//!    WebSocket upgrade path, with its refusals, timeouts and subprotocol errors said
//!    in one place ([`net::upgrade`]).
//! 2. [`watch`]: what the bytes mean. The HTTP and frame follower ([`watch::wire`]),
//!    the [`Layer`](wspp::stream::Layer) that feeds it every byte ([`watch::tap`]),
//!    and the [`watch::transcript`] a person reads.
//! 3. [`probe`]: what measures a round trip: a [`probe::Pinger`] on one connection,
//!    and what a session reports ([`probe::report`]).
//! 4. [`commands`]: what the client runs. The requests of the [`commands::catalog`]
//!    over a tapped connection, ping(8)'s session and output ([`commands::ping`]),
//!    inspect and hold, the load generator ([`commands::load`]: many connections
//!    probed open loop, and `merge` of their interval logs), and
//!    [`commands::listen`], a server that shows its clients; each command keeps its
//!    own options beside it.
//! 5. [`front`]: how a person asks. The command line ([`front::cli`]) makes an
//!    [`Invocation`](front::invocation::Invocation), [`front::invoke`] settles the
//!    server (starting one in this process, [`front::local_server`], when none was
//!    named and none runs) and hands the settings to the terminal UI
//!    ([`front::tui`]), the numbered [`front::menu`], one request, or ping.
//!
//! Below all five, using nothing else of the crate: [`error`] (what went wrong, in one
//! line), [`outcome`] (how a run ended, and its exit status), [`stop`] (why a session
//! was stopped: 1000 or 1001), [`backoff`] (`hold --reconnect`'s pacing),
//! [`duration`] (one short way to write a duration) and [`hex`].

#![deny(missing_docs)]

pub mod backoff;
pub mod commands;
pub mod duration;
pub mod error;
pub mod front;
pub mod hex;
pub mod net;
pub mod outcome;
pub mod probe;
pub mod stop;
pub mod watch;

pub use error::Error;
