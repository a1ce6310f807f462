//! The listener, its accept loop and the life of each TCP connection.
//!
//! The server is hyper's HTTP/1.1 connection driver under our own accept loop, so every
//! setting is ours and visible here: `TCP_NODELAY` on each socket (a ping held back by
//! Nagle's algorithm is a wrong RTT), the header read timeout, the header size limit,
//! keep-alive, upgrades, and the connection limit.
//!
//! The limit is enforced *after* accept, so that a client over the limit is told so
//! with a 503 instead of waiting unanswered in the kernel's backlog. Accept errors
//! (running out of descriptors, most often) are logged and waited out with a back-off:
//! they are the machine's trouble, not a reason to stop serving the clients we have.
//!
//! Shutdown: stop accepting, cancel the shutdown token (sessions send Close 1001, idle
//! HTTP connections are closed gracefully), then wait for every task, up to
//! `shutdown_grace`.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{sleep, timeout};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, error, info, info_span, warn};
use wspp::clients::ClientsReport;

use crate::config::Config;
use crate::dispatch::dispatch;
use crate::registry::Registry;

/// What every connection task shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) registry: Registry,
    /// Cancelled once, when the server shuts down; every task watches it.
    pub(crate) shutdown: CancellationToken,
    /// Every connection and session task, so shutdown can wait for them all.
    pub(crate) tasks: TaskTracker,
}

impl Shared {
    pub(crate) fn report(&self) -> ClientsReport {
        self.registry
            .report(self.config.ping_interval, self.config.ping_timeout)
    }

    /// The clients one page shows; see [`Registry::report_window`].
    pub(crate) fn report_window(&self, offset: usize, limit: usize) -> ClientsReport {
        self.registry.report_window(
            self.config.ping_interval,
            self.config.ping_timeout,
            offset,
            limit,
        )
    }
}

/// One accepted TCP connection.
#[derive(Debug)]
pub(crate) struct Connection {
    /// The connection's number, used as the client id if it upgrades.
    pub(crate) id: u64,
    pub(crate) peer: SocketAddr,
    /// The connection's slot under `--max-connections`. Shared by the HTTP task and,
    /// after an upgrade, the session task: the slot frees when both have finished.
    _permit: OwnedSemaphorePermit,
}

/// Finished TCP handshakes the kernel may queue before the server accepts them; the
/// kernel clamps it to `net.core.somaxconn`. std and tokio listen with 128, which a
/// burst of a few hundred connects overflows: the kernel then drops SYNs, and each
/// client so dropped waits a one-second retransmission before it is even seen.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds a listener for [`run`], with [`LISTEN_BACKLOG`]. Must be called inside a
/// tokio runtime.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As std does on Unix: a restarted server can bind while old connections linger
    // in TIME_WAIT. (On Windows the same option would allow port hijacking.)
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves on `listener` until `shutdown` resolves, then shuts down gracefully.
///
/// Errors on individual connections are logged and never end the server; the only
/// error returned is failing to read the listener's own address.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let addr = listener.local_addr()?;
    info!(%addr, "listening");
    if config.allowed_origins.is_empty() {
        info!("websocket upgrades accepted from every origin; --allowed-origin restricts them");
    }
    let grace = config.shutdown_grace;
    let shared = Arc::new(Shared {
        config,
        registry: Registry::default(),
        shutdown: CancellationToken::new(),
        tasks: TaskTracker::new(),
    });
    tokio::select! {
        () = accept_loop(&listener, &shared) => {}
        () = shutdown => {}
    }
    // The tasks still running are the connections being closed; with no client left,
    // anything above zero is a leaked task (scripts/soak.sh checks this figure).
    info!(
        tasks = shared.tasks.len(),
        clients = shared.registry.len(),
        "shutting down"
    );
    drop(listener);
    shared.shutdown.cancel();
    shared.tasks.close();
    if timeout(grace, shared.tasks.wait()).await.is_err() {
        warn!(
            remaining = shared.tasks.len(),
            ?grace,
            "grace period over; abandoning the remaining connections"
        );
    }
    info!("stopped");
    Ok(())
}

/// Accepts forever; returns only by being dropped.
async fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(shared.config.max_connections));
    let http = http_builder(&shared.config);
    let mut next_id: u64 = 1;
    let mut backoff = Duration::from_millis(10);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                error!(%error, ?backoff, "accept failed; backing off");
                sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        backoff = Duration::from_millis(10);
        let id = next_id;
        next_id += 1;
        let span = info_span!("conn", client_id = id, %peer);
        if let Err(error) = stream.set_nodelay(true) {
            debug!(parent: &span, %error, "cannot set TCP_NODELAY");
        }
        match Arc::clone(&slots).try_acquire_owned() {
            Ok(permit) => {
                let conn = Arc::new(Connection {
                    id,
                    peer,
                    _permit: permit,
                });
                shared.tasks.spawn(
                    serve_connection(stream, conn, Arc::clone(shared), http.clone())
                        .instrument(span),
                );
            }
            Err(_) => {
                warn!(parent: &span, limit = shared.config.max_connections, "connection limit reached; answering 503");
                shared.tasks.spawn(refuse(stream).instrument(span));
            }
        }
    }
}

fn http_builder(config: &Config) -> http1::Builder {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .keep_alive(true)
        .max_buf_size(config.max_header_bytes.max(8192));
    http
}

async fn serve_connection(
    stream: TcpStream,
    conn: Arc<Connection>,
    shared: Arc<Shared>,
    http: http1::Builder,
) {
    let shutdown = shared.shutdown.clone();
    let service = service_fn(move |req| {
        let response = dispatch(req, &shared, &conn);
        async move { Ok::<_, Infallible>(response) }
    });
    let connection = http
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = shutdown.cancelled() => {
            // Finishes a request in flight, then closes; an idle connection closes now.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        // Malformed requests, header timeouts and resets end here; hyper has already
        // answered what deserved an answer (400, 408, 431).
        debug!(%error, "http connection ended with an error");
    }
}

/// Tells a client over the connection limit to come back later, then hangs up.
async fn refuse(mut stream: TcpStream) {
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
        Content-Type: text/plain; charset=utf-8\r\n\
        Retry-After: 1\r\n\
        Connection: close\r\n\
        Content-Length: 32\r\n\r\n\
        too many connections; try later\n";
    let _ = timeout(Duration::from_secs(1), async {
        stream.write_all(BUSY).await?;
        stream.shutdown().await?;
        // Read what the client sent before closing: closing with unread bytes makes the
        // kernel send a reset, which can destroy the 503 before the client reads it.
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    })
    .await;
}
