//! What the server's tasks share: the server-wide state, and one admitted connection.
//!
//! Both are made by the accept loop and read by everything under it (the route
//! table, the upgrade, the session), so they live here, below that flow, and not in
//! the module that runs the loop: each step imports them downward, none reaches back
//! up into the accept loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::server::conn::{http1, http2};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wspp::busy_poll::BusyPoll;

use crate::config::Config;
use crate::http2::Tracked;
use crate::metrics::Metrics;
use crate::registry::Registry;

/// What every connection task shares.
#[derive(Debug)]
pub(crate) struct ServerState {
    pub(crate) config: Config,
    pub(crate) registry: Registry,
    /// Cancelled once, when the server shuts down; every task watches it.
    pub(crate) shutdown: CancellationToken,
    /// Every connection and session task, so shutdown can wait for them all.
    pub(crate) tasks: TaskTracker,
    /// Touched by sessions when an answer is due; off unless `config.busy_poll`.
    pub(crate) busy: BusyPoll,
    /// What `/metrics` serves.
    pub(crate) metrics: Metrics,
    /// Whether the main listeners serve `/metrics` (no `--metrics-addr`).
    pub(crate) metrics_on_main: bool,
    /// One permit per WebSocket session, `config.max_connections` in all.
    pub(crate) sessions: Arc<Semaphore>,
    /// The HTTP/1.1 driver, shared by every connection (the `--metrics-addr` ones too).
    pub(crate) http1: http1::Builder,
    /// The HTTP/2 driver, shared by every connection that speaks it; `None` when
    /// `config.http2` is off.
    pub(crate) http2: Option<http2::Builder<Tracked>>,
    /// The next client id: a connection's, or an HTTP/2 WebSocket stream's.
    pub(crate) next_id: AtomicU64,
}

impl ServerState {
    /// A client id never given before in this server's life.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// One TCP connection let in under the connection limit: who it is, and its place.
#[derive(Debug)]
pub(crate) struct Admission {
    /// The connection's number, used as the client id if it upgrades.
    pub(crate) id: u64,
    pub(crate) peer: SocketAddr,
    /// Whether it arrived on the TLS listener.
    pub(crate) tls: bool,
    /// The connection's slot among all connections (sessions and the HTTP reserve).
    /// Shared by the HTTP task and, after an upgrade, the session task: the slot frees
    /// when both have finished.
    _permit: OwnedSemaphorePermit,
}

impl Admission {
    /// Connection `id` from `peer`, holding `permit` until the last of its tasks ends.
    pub(crate) fn new(id: u64, peer: SocketAddr, tls: bool, permit: OwnedSemaphorePermit) -> Self {
        Admission {
            id,
            peer,
            tls,
            _permit: permit,
        }
    }
}
