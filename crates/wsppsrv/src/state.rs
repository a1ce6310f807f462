//! What the server's tasks share: the server-wide state, and one admitted connection.
//!
//! Both are made by the accept loop and read by everything under it (the route
//! table, the upgrade, the session), so they live here, below that flow, and not in
//! the module that runs the loop: each step imports them downward, none reaches back
//! up into the accept loop.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};

use hyper::server::conn::{http1, http2};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wspp::busy_poll::BusyPoll;

use crate::config::Config;
use crate::http2::Tracked;
use crate::log_limit::LogLimit;
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
    /// The log lines every connection may cause, each kind at most once a second.
    pub(crate) logs: Logs,
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

/// The limits of the lines any client can cause at will, one per kind of line.
#[derive(Debug, Default)]
pub(crate) struct Logs {
    /// A TLS handshake that failed.
    pub(crate) tls_failures: Limited,
    /// A WebSocket gone without a close handshake.
    pub(crate) gone: Limited,
}

/// A [`LogLimit`] every task may take its turn at. A std mutex: held only for
/// [`LogLimit::admit`], never across an `.await`.
#[derive(Debug, Default)]
pub(crate) struct Limited(Mutex<LogLimit>);

impl Limited {
    /// The limit, even after a panic while it was held (it is two plain numbers).
    pub(crate) fn lock(&self) -> MutexGuard<'_, LogLimit> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One TCP connection let in under the connection limit: who it is, and its place.
#[derive(Debug)]
pub(crate) struct Admission {
    /// The connection's number, used as the client id if it upgrades.
    pub(crate) id: u64,
    pub(crate) peer: SocketAddr,
    /// Whether `peer` is a trusted proxy, whose requests name the client they carry.
    pub(crate) proxy: bool,
    /// Set when the connection's log span has been told the client behind the proxy:
    /// a proxy's connection is one client's (nginx opens one per WebSocket).
    pub(crate) client_logged: Once,
    /// Whether it arrived on the TLS listener.
    pub(crate) tls: bool,
    /// The connection's slot among all connections (sessions and the HTTP reserve).
    /// Shared by the HTTP task and, after an upgrade, the session task: the slot frees
    /// when both have finished.
    _permit: OwnedSemaphorePermit,
}

impl Admission {
    /// Connection `id` from `peer` (a trusted `proxy` or not), holding `permit` until the last of its tasks ends.
    pub(crate) fn new(
        id: u64,
        peer: SocketAddr,
        proxy: bool,
        tls: bool,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        Admission {
            id,
            peer,
            proxy,
            client_logged: Once::new(),
            tls,
            _permit: permit,
        }
    }
}
