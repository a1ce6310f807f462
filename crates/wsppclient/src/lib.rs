//! The wspp client: fire requests at wsppsrv and watch the WebSocket protocol on the
//! wire, or measure latency like ping(8) against any WebSocket server.
//!
//! The binary is a thin shell over this library, so the tests and `wsppbench`
//! drive the same code in-process.
//!
//! # Layout
//!
//! Top down: each module uses only modules listed after it, never one before
//! (`scripts/module_cycles.py` checks there is no circle).
//!
//! The front-ends, which nothing in the library calls:
//!
//! * [`cli`] parses arguments (clap) into a [`config::Invocation`], plain data that
//!   tests build without clap: the global options in `cli.rs`, the subcommands and
//!   their options in `cli/subcommands.rs`, the checks of option values in
//!   `cli/values.rs`.
//! * [`invoke`] runs an invocation: the [`tui`] (or the plain [`menu`] without a
//!   terminal), one request with its transcript printed, or ping(8)'s output, after
//!   starting the [`local_server`] when the user named no server and none listens.
//! * [`load`] is `wsppclient load`: many connections from one process, one task each
//!   over a [`ping::Pinger`], probing open loop on a fixed schedule, their counts
//!   summed once a second into a line on stderr, a summary and an HdrHistogram
//!   interval log; and `merge`, which adds such logs up. Its options
//!   (`load/options.rs`) sit below [`config`], which names them in the front-end.
//! * [`tui`] is the terminal UI: one file a pane (`tui/transcript.rs`,
//!   `tui/latency.rs`, `tui/clients.rs`), under `tui/app.rs` and drawn by
//!   `tui/ui.rs`. [`menu`] is the numbered menu.
//!
//! What they run:
//!
//! * [`requests`] runs each request of the [`catalog`] over a [`tap::Tap`]ped
//!   connection, one file a kind (`requests/http.rs`, `broken.rs`, `websocket.rs`,
//!   `inspect.rs`) over what they all borrow (`requests/ctx.rs`);
//!   [`requests::run_printed`] prints a transcript as it comes, and
//!   [`requests::fetch_clients`] is the untapped `GET /clients.json`.
//! * [`clients_table`] lays those clients out in rows and cells, for `page`'s table
//!   and the terminal UI's clients pane.
//! * [`ping`] is ping(8) over WebSocket, on top of `wspp`'s tracker and statistics,
//!   with Pings, echo messages, or both: the session in `ping.rs`, a [`ping::Pinger`]
//!   for sequential round trips, what a session tells in [`ping::report`], and its
//!   ping(8) lines and JSON in [`ping::output`].
//!
//! Watching the wire and opening connections:
//!
//! * [`tap`] hands every byte of a connection to a pure [`wire`] parser, and what it
//!   sees (heads, frames with their real FIN and mask bits, close codes) flows to a
//!   [`transcript::Transcript`].
//! * [`connect`] opens connections the same way for all of them (`TCP_NODELAY`,
//!   timeouts, the upgrade and its refusal, how long a close may take).
//! * [`config`] is what a run was asked to do, as plain data: the settings, `ping`'s
//!   options and output format, the front-end.
//! * [`proxy`] (the proxy settings in `proxy/route.rs`, and the `CONNECT` and SOCKS5
//!   tunnels through them in `proxy/tunnel.rs`) and [`tls`] (whom to trust, the key log, the handshake): their settings
//!   are part of `config`, their tunnels and handshakes what `connect` opens with.
//!
//! Below everything, using nothing else of the crate:
//!
//! * [`catalog`] is the list of requests; the subcommands and the menu are generated
//!   from it so they cannot drift.
//! * [`outcome`] is how a run ended and the exit status that says so.
//! * [`stop`] says why a session was stopped, so that SIGTERM closes with 1001 and
//!   the user's Ctrl-C with 1000; [`backoff`] paces `hold --reconnect`.
//! * [`duration`] reads durations from the command line and writes them short, one
//!   way for the whole client; [`hex`] reads and dumps bytes.
//! * [`resolve`] looks a `HOST:PORT` up within a time limit, for `connect` and the
//!   proxies' tunnels.
//! * [`error`] says what went wrong, in one line.
//! * [`wire`] parses what crossed a connection: HTTP heads and bodies
//!   (`wire/http.rs`), then WebSocket frames (`wire/frames.rs`).

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
pub mod load;
pub mod local_server;
pub mod menu;
pub mod outcome;
pub mod ping;
pub mod proxy;
pub mod requests;
pub mod resolve;
pub mod stop;
pub mod tap;
pub mod tls;
pub mod transcript;
pub mod tui;
pub mod wire;

pub use error::Error;
