//! wsppclient's one integration-test binary: every module below links into it, so
//! the helpers are compiled once and shared.
//!
//! The tests start wsppsrv in-process on `127.0.0.1:0` (or a hand-written raw peer)
//! and drive the client as a library, or run the built binary for what only a
//! process shows: exit codes, stdout, stderr.

/// Servers and peers the client talks to, and ways to watch it.
mod support;

/// Shell completions and man pages.
mod docs;
/// `ping --echo`, `--echo --binary` and `--both`.
mod echo;
/// Servers killed mid-session, and `hold --reconnect` across a restart.
mod faults;
/// `ping -q`, `-D`, `-w`, `--ndjson`; Ctrl-C and SIGTERM on `ping` and `hold`.
mod habits;
/// `--http2`: WebSockets over HTTP/2, and a server that does not offer them.
mod http2;
/// Inputs refused with one line: durations, negative numbers, URLs and ports.
mod inputs;
/// `inspect`: any URL, against wsppsrv and peers that misbehave.
mod inspect;
/// `listen`: clients watched from the server's side.
mod listen;
/// `load`: many connections, open loop; its interval log and `merge`; its signals.
mod load;
/// The server started in-process when the user named none and none listens.
mod local_server;
/// The plain numbered menu fed through an in-memory stdin.
mod menu;
/// `ping`: sessions, matching, exit codes and JSON.
mod ping;
/// Proxies (HTTP CONNECT, SOCKS5, the environment's) and subprotocols.
mod proxy;
/// The menu requests' transcripts.
mod requests;
/// `wss://`: trust, refusals, key logging, handshake timing, requests over TLS.
mod tls;
/// The terminal UI's loop on a test backend, against the real server.
mod tui;
/// The transcript's frame follower against tungstenite's frame decoder, on random
/// frame sequences cut at random points.
mod wire_agreement;
