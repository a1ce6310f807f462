//! The listener, its accept loop and the life of each TCP connection.
//!
//! The server is hyper's HTTP/1.1 connection driver under our own accept loop, so every
//! setting is ours and visible here: `TCP_NODELAY` on each socket (a ping held back by
//! Nagle's algorithm is a wrong RTT), the header read timeout, the header size limit,
//! keep-alive, upgrades, and the connection limit. A connection that speaks HTTP/2
//! (ALPN `h2`, or the preface on the plain port: see [`crate::http2`]) gets hyper's
//! HTTP/2 driver instead, on a path of its own, boxed, so that HTTP/1.1 connections
//! carry nothing of it.
//!
//! Two limits: WebSocket sessions (`--max-connections`, checked at the upgrade, which
//! gets 503 past it) and connections in all, sessions plus `--http-reserve` more, so
//! that the page and `/metrics` stay reachable when sessions fill the server. The
//! second is enforced *after* accept, so that a client over it is told so with a 503
//! instead of waiting unanswered in the kernel's backlog. Accept errors
//! (running out of descriptors, most often) are logged and waited out with a back-off:
//! they are the machine's trouble, not a reason to stop serving the clients we have.
//!
//! TLS (see [`crate::tls`]) changes only the start of a connection's task: the
//! handshake runs there, then hyper serves the decrypted stream as it serves TCP.
//!
//! Every socket is a [`StampedTcp`]: the kernel stamps what it receives, so that a
//! session can time its pongs by their arrival rather than by its own wake-up.
//!
//! Shutdown: stop accepting, cancel the shutdown token (sessions send Close 1001, idle
//! HTTP connections are closed gracefully), then wait for every task, up to
//! `shutdown_grace`.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{sleep, timeout};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, error, field, info, info_span, warn};
use wspp::busy_poll::BusyPoll;
use wspp::wire_clock::{Inherited, StampedTcp, pass_on};

use crate::config::Config;
use crate::dispatch::dispatch;
use crate::http2;
use crate::listeners::{Accepted, Listeners};
use crate::log_limit::LogLimit;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::reply::Body;
use crate::state::{Admission, Logs, ServerState};
use crate::tls;
use crate::transport::Transport;

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
    // Inherited by every connection, and keeps the kernel stamping from the first
    // segment of each (see the function's doc).
    wspp::wire_clock::prepare(&socket);
    socket.listen(LISTEN_BACKLOG)
}

/// Serves plain HTTP and WebSocket on `listener` until `shutdown` resolves, then
/// shuts down gracefully. [`run_with`] serves TLS as well.
///
/// Errors on individual connections are logged and never end the server; the only
/// error returned is failing to read the listener's own address.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    run_with(Listeners::plain(listener), config, shutdown).await
}

/// [`run`] on every listener of `listeners`: plain, TLS, or both side by side.
///
/// Fails at once if `listeners` holds none.
pub async fn run_with(
    mut listeners: Listeners,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    if let Some(listener) = &listeners.plain {
        info!(addr = %listener.local_addr()?, "listening");
    }
    if let Some(listener) = &listeners.tls {
        info!(addr = %listener.local_addr()?, "listening (tls)");
    }
    if let Some(listener) = &listeners.metrics {
        info!(addr = %listener.local_addr()?, "serving /metrics");
    }
    if listeners.plain.is_none() && listeners.tls.is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no listener to serve on",
        ));
    }
    if config.allowed_origins.is_empty() {
        info!("websocket upgrades accepted from every origin; --allowed-origin restricts them");
    }
    let grace = config.shutdown_grace;
    let busy = BusyPoll::start(config.busy_poll);
    if busy.is_on() {
        info!(budget = ?busy.budget(), "busy polling after each ping and message");
    }
    if let Some(tls) = listeners.tls.as_mut() {
        http2::offer_alpn(&mut tls.config, config.http2);
    }
    let metrics = Metrics::default();
    let tasks = TaskTracker::new();
    let shared = Arc::new(ServerState {
        http1: http_builder(&config),
        http2: config.http2.then(|| http2::builder(&config, &tasks)),
        next_id: AtomicU64::new(1),
        busy,
        sessions: Arc::new(Semaphore::new(config.max_connections)),
        registry: Registry::new(metrics.clone(), config.ping_interval, config.ping_timeout),
        config,
        metrics,
        metrics_on_main: listeners.metrics.is_none(),
        shutdown: CancellationToken::new(),
        tasks,
        logs: Logs::default(),
    });
    tokio::select! {
        () = accept_loop(&listeners, &shared) => {}
        () = metrics_loop(listeners.metrics.as_ref(), &shared) => {}
        () = shutdown => {}
    }
    // The tasks still running are the connections being closed; with no client left,
    // anything above zero is a leaked task (scripts/soak.sh checks this figure).
    info!(
        tasks = shared.tasks.len(),
        clients = shared.registry.len(),
        "shutting down"
    );
    drop(listeners);
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

/// How long an accept loop waits after a failed accept: doubling from 10 ms to 1 s
/// while the failures go on, so a process out of descriptors neither spins nor stops.
///
/// A single accept that succeeds does not start it again from 10 ms: out of
/// descriptors, every connection that closes frees one, the next accept takes it, and
/// the one after fails again. Only a second without failure does. The log says so at
/// most once a second, with the failures since.
#[derive(Debug)]
struct Backoff {
    delay: Duration,
    /// The latest failure.
    failed_at: Option<Instant>,
    log: LogLimit,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            delay: Self::FIRST,
            failed_at: None,
            log: LogLimit::default(),
        }
    }
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MOST: Duration = Duration::from_secs(1);
    /// How long without failure before the delay starts again from [`Backoff::FIRST`].
    const CALM: Duration = Duration::from_secs(1);

    /// Logs the failure of the `listener` listener's accept (or counts it for the next
    /// line) and waits.
    async fn wait_out(&mut self, error: &io::Error, listener: &'static str) {
        let now = Instant::now();
        if self
            .failed_at
            .is_none_or(|at| now.duration_since(at) > Self::CALM)
        {
            self.delay = Self::FIRST;
        }
        self.failed_at = Some(now);
        if let Some(failures) = self.log.admit(now) {
            error!(%error, listener, backoff = ?self.delay, failures, "accept failed; backing off");
        }
        sleep(self.delay).await;
        self.delay = (self.delay * 2).min(Self::MOST);
    }
}

/// Refusals (`503` and a close) in progress at once. Each holds a descriptor for up to
/// [`REFUSE_TIME`]; past this many, a connection over the limit is closed at once
/// without a word, so that a connect flood costs at most this many descriptors more
/// than the limit.
pub const MAX_REFUSALS: usize = 64;

/// Accepts forever; returns only by being dropped.
async fn accept_loop(listeners: &Listeners, shared: &Arc<ServerState>) {
    let limit = shared
        .config
        .max_connections
        .saturating_add(shared.config.http_reserve)
        .min(Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(limit));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let mut backoff = Backoff::default();
    // Asked once per listener, so that no connection needs a system call for them.
    let plain_passes = listeners.plain.as_ref().map(pass_on).unwrap_or_default();
    let tls_passes = listeners
        .tls
        .as_ref()
        .map(|t| pass_on(&t.listener))
        .unwrap_or_default();
    loop {
        let Accepted { stream, peer, tls } = match listeners.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                backoff.wait_out(&error, "main").await;
                continue;
            }
        };
        let id = shared.next_id();
        // Behind a trusted proxy, `peer` is the client it names, recorded when its
        // request is read; `via` is the proxy.
        let proxy = shared.config.trusts(peer.ip());
        let span = info_span!(
            "conn",
            client_id = id,
            peer = field::Empty,
            via = field::Empty,
            tls = field::Empty
        );
        if proxy {
            span.record("via", field::display(peer));
        } else {
            span.record("peer", field::display(peer));
        }
        if tls.is_some() {
            span.record("tls", true);
        }
        let inherited = if tls.is_some() {
            tls_passes
        } else {
            plain_passes
        };
        if !inherited.nodelay
            && let Err(error) = stream.set_nodelay(true)
        {
            debug!(parent: &span, %error, "cannot set TCP_NODELAY");
        }
        match Arc::clone(&slots).try_acquire_owned() {
            Ok(permit) => {
                let conn = Arc::new(Admission::new(id, peer, proxy, tls.is_some(), permit));
                shared.tasks.spawn(
                    start_connection(stream, inherited, tls, conn, Arc::clone(shared))
                        .instrument(span),
                );
            }
            Err(_) => {
                shared.metrics.connection_refused();
                let Some(refusal) = refusal_slot(&refusals, &span) else {
                    continue;
                };
                warn!(parent: &span, limit, "connection limit reached; answering 503");
                shared.tasks.spawn(
                    async move {
                        start_refusal(stream, tls).await;
                        drop(refusal);
                    }
                    .instrument(span),
                );
            }
        }
    }
}

/// One of the [`MAX_REFUSALS`] places for a refusal; `None` when they are all taken, and
/// the connection (dropped by the caller) is then closed without an answer.
fn refusal_slot(refusals: &Arc<Semaphore>, span: &tracing::Span) -> Option<OwnedSemaphorePermit> {
    let slot = Arc::clone(refusals).try_acquire_owned().ok();
    if slot.is_none() {
        debug!(parent: span, refusals = MAX_REFUSALS, "over the limit with every refusal under way; closing at once");
    }
    slot
}

/// Connections served at once on the `--metrics-addr` listener: a scraper or two and an
/// operator's curl, never a crowd.
const METRICS_CONNECTIONS: usize = 16;

/// Serves `/metrics` alone on `listener`; never resolves (without one, at all).
async fn metrics_loop(listener: Option<&TcpListener>, shared: &Arc<ServerState>) {
    let Some(listener) = listener else {
        return std::future::pending().await;
    };
    let slots = Arc::new(Semaphore::new(METRICS_CONNECTIONS));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let mut backoff = Backoff::default();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                backoff.wait_out(&error, "metrics").await;
                continue;
            }
        };
        let span = info_span!("metrics", %peer);
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            let Some(refusal) = refusal_slot(&refusals, &span) else {
                continue;
            };
            warn!(parent: &span, limit = METRICS_CONNECTIONS, "metrics connection limit reached; answering 503");
            shared.tasks.spawn(
                async move {
                    refuse(stream).await;
                    drop(refusal);
                }
                .instrument(span),
            );
            continue;
        };
        let task_shared = Arc::clone(shared);
        let answer = move |req| {
            let _held = &permit;
            crate::dispatch::metrics_only(req, &task_shared)
        };
        let (driver, shutdown) = (Arc::clone(shared), shared.shutdown.clone());
        shared.tasks.spawn(
            async move { serve_http(stream, shutdown, &driver.http1, answer).await }
                .instrument(span),
        );
    }
}

/// A connection's task: the TLS handshake when it came in on the TLS listener, then HTTP.
async fn start_connection(
    stream: TcpStream,
    inherited: Inherited,
    tls: Option<Arc<ServerConfig>>,
    conn: Arc<Admission>,
    shared: Arc<ServerState>,
) {
    let (stream, refused) = StampedTcp::accepted(stream, inherited);
    if let Some(why) = refused {
        // Once: the reason is the same for every connection of the process.
        static SAID: Once = Once::new();
        SAID.call_once(|| warn!(%why, "no kernel receive timestamps: RTTs are on the user clock"));
    }
    let Some(tls) = tls else {
        if shared.http2.is_some() {
            let limit = shared.config.header_read_timeout;
            let h2c = tokio::select! {
                h2c = http2::opens_with_preface(stream.socket(), limit) => h2c,
                () = shared.shutdown.cancelled() => return,
            };
            if h2c {
                return Box::pin(serve_h2(Transport::Plain(stream), conn, shared)).await;
            }
        }
        return serve_connection(Transport::Plain(stream), conn, shared).await;
    };
    // Boxed: a task's future is as large as its largest path, and the TLS path (the
    // handshake, then HTTP over a TLS stream) is several times the plain one. Inline,
    // every plain connection would pay for it, and the allocator keeps those freed
    // blocks scattered among the sessions' long-lived ones (resident memory).
    Box::pin(serve_tls(stream, tls, conn, shared)).await;
}

async fn serve_tls(
    stream: StampedTcp,
    tls: Arc<ServerConfig>,
    conn: Arc<Admission>,
    shared: Arc<ServerState>,
) {
    // The header read timeout bounds the handshake too: in both, a client has yet to
    // say what it wants, and holds a connection slot meanwhile.
    let limit = shared.config.header_read_timeout;
    let handshake = tokio::select! {
        stream = tls::handshake(tls, stream, limit) => stream,
        // As hyper closes a connection still waiting for its request head.
        () = shared.shutdown.cancelled() => return,
    };
    let stream = match handshake {
        Ok(stream) => stream,
        Err(failure) => {
            shared.metrics.tls_handshake_failed(failure.reason);
            if let Some(failures) = shared.logs.tls_failures.lock().admit(Instant::now()) {
                info!(reason = failure.reason, detail = %failure.detail, failures, "tls handshake failed");
            }
            return;
        }
    };
    let h2 = http2::negotiated(stream.get_ref().1.alpn_protocol());
    let stream = Transport::Tls(Box::new(stream));
    if h2 {
        Box::pin(serve_h2(stream, conn, shared)).await;
    } else {
        serve_connection(stream, conn, shared).await;
    }
}

/// [`refuse`], said in TLS to a client of the TLS listener: in plain text, it would
/// read the 503 as a broken handshake.
async fn start_refusal(stream: TcpStream, tls: Option<Arc<ServerConfig>>) {
    match tls {
        None => refuse(stream).await,
        Some(tls) => {
            if let Ok(stream) = tls::handshake(tls, stream, REFUSE_TIME).await {
                refuse(stream).await;
            }
        }
    }
}

/// The HTTP/1.1 driver of every connection, kept once in the server's state rather
/// than copied into each connection's task.
fn http_builder(config: &Config) -> http1::Builder {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .keep_alive(true)
        .max_buf_size(config.max_header_bytes.max(8192));
    http
}

/// Serves HTTP on `stream`. One concrete type for both listeners: a session takes its
/// connection back out of hyper by that type ([`crate::transport::upgraded`]).
async fn serve_connection(stream: Transport, conn: Arc<Admission>, shared: Arc<ServerState>) {
    let (driver, shutdown) = (Arc::clone(&shared), shared.shutdown.clone());
    serve_http(stream, shutdown, &driver.http1, move |req| {
        dispatch(req, &shared, &conn)
    })
    .await;
}

/// Serves HTTP/2 on `stream`: its requests, and its WebSockets, each a stream.
/// Only called when the server has an HTTP/2 driver.
async fn serve_h2(stream: Transport, conn: Arc<Admission>, shared: Arc<ServerState>) {
    let Some(http) = shared.http2.clone() else {
        return;
    };
    let (shutdown, limit) = (shared.shutdown.clone(), shared.config.header_read_timeout);
    let requests = Arc::new(http2::Requests::new());
    // Each WebSocket session on this connection holds a clone of its admission for its
    // whole life; the two beyond them are the service's and this one.
    let (admission, noted) = (Arc::clone(&conn), Arc::clone(&requests));
    let service = service_fn(move |req| {
        noted.arrived();
        let response = dispatch(req, &shared, &conn);
        async move { Ok::<_, Infallible>(response) }
    });
    let connection = http.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let stop = async {
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = http2::idle(&requests, || Arc::strong_count(&admission) > 2, limit) => {
                debug!(?limit, "idle http/2 connection: closing it with goaway");
            }
        }
    };
    // GOAWAY, then the streams in flight finish: on shutdown, the sessions among them
    // close with 1001; an idle connection has none.
    until_shutdown(connection, stop, |c| c.graceful_shutdown()).await;
}

/// Drives hyper's HTTP/1.1 on `stream`, each request answered by `answer`, until the
/// client leaves or the server shuts down.
async fn serve_http<S, F>(stream: S, shutdown: CancellationToken, http: &http1::Builder, answer: F)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn(Request<Incoming>) -> Response<Body> + Send + 'static,
{
    let service = service_fn(move |req| {
        let response = answer(req);
        async move { Ok::<_, Infallible>(response) }
    });
    let connection = http
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    // Finishes a request in flight, then closes; an idle connection closes now.
    until_shutdown(connection, shutdown.cancelled(), |c| c.graceful_shutdown()).await;
}

/// Drives `connection` until it ends, or until `stop` (shutdown, or an HTTP/2
/// connection gone idle), when `graceful` asks it to finish, and it is driven to its end.
///
/// Takes the connection pinned where it is: moved in, it would be stored twice in the
/// connection task (the caller's copy and this future's), hundreds of bytes a task.
async fn until_shutdown<C>(
    mut connection: Pin<&mut C>,
    stop: impl Future<Output = ()>,
    graceful: impl FnOnce(Pin<&mut C>),
) where
    C: Future<Output = hyper::Result<()>>,
{
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stop => {
            graceful(connection.as_mut());
            connection.await
        }
    };
    if let Err(error) = result {
        // Malformed requests, header timeouts and resets end here; hyper has already
        // answered what deserved an answer (400, 408, 431).
        debug!(%error, "http connection ended with an error");
    }
}

/// How long a refused client gets to hear why (its TLS handshake included).
const REFUSE_TIME: Duration = Duration::from_secs(1);

/// Tells a client over the connection limit to come back later, then hangs up.
async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
        Content-Type: text/plain; charset=utf-8\r\n\
        Retry-After: 1\r\n\
        Connection: close\r\n\
        Content-Length: 32\r\n\r\n\
        too many connections; try later\n";
    let _ = timeout(REFUSE_TIME, async {
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
