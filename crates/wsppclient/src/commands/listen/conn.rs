//! One accepted connection, from its TCP handshake to its summary: TLS when asked,
//! the tap, hyper reading the request and writing our answer ([`super::handshake`]),
//! then, after a 101, the WebSocket session ([`super::session`]).
//!
//! hyper serves the tapped stream, so the request head in the transcript is the one
//! that arrived, byte for byte, and our answer the one that left. After the 101 the
//! session takes the tapped stream back out of hyper, with whatever hyper had read
//! past the request (a client that did not wait for our answer) served first, and
//! tungstenite speaks WebSocket over it, still tapped: with permessage-deflate agreed,
//! through the same [`Deflate`] layer wsppsrv uses, so the tap below it sees the
//! compressed frames as they crossed the wire.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_util::sync::CancellationToken;
use wspp::deflate::{Agreement, Deflate};
use wspp::stream::{EarlyBytes, Layered, PlainOrTls};
use wspp::wire_clock::StampedTcp;

use super::event::{Event, EventKind, Summary};
use super::handshake::{self, Body};
use super::options::ListenOptions;
use super::session::{self, SessionCtx, Socket, Transport};
use crate::net::connect::end_transport;
use crate::watch::tap::{Tap, tap_accepted};
use crate::watch::transcript::{EntryKind, Transcript};

/// How long a client may take to send its request head (and, over TLS, to shake
/// hands): as long as wsppsrv gives it.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// What every connection shares.
pub(super) struct Shared {
    pub options: ListenOptions,
    /// Set for wss://.
    pub tls: Option<TlsAcceptor>,
    /// Where every connection reports.
    pub events: mpsc::UnboundedSender<Event>,
    /// One permit per open session under `--max-clients`.
    pub sessions: Option<Arc<Semaphore>>,
    /// Cancelled when `listen` stops.
    pub stop: CancellationToken,
}

/// What the request handler hands the connection when it answered 101.
struct Upgrade {
    on_upgrade: OnUpgrade,
    /// The session's place under `--max-clients`, for as long as it runs.
    permit: Option<OwnedSemaphorePermit>,
    /// The subprotocol our 101 chose.
    subprotocol: Option<String>,
    /// permessage-deflate, when our 101 took it.
    deflate: Option<Agreement>,
}

/// Serves connection number `id` to its end and reports it, ending with its summary.
/// `typed` brings the lines typed for it.
pub(super) async fn serve(
    id: u64,
    tcp: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut typed: mpsc::UnboundedReceiver<String>,
) {
    let report = |kind| {
        let _ = shared.events.send(Event { conn: id, kind });
    };
    let local = tcp.local_addr().unwrap_or(peer);
    report(EventKind::Open { peer, local });
    let (transcript, mut entries) = Transcript::new();
    let started = Instant::now();
    let work = async {
        // Owned here, so that the forwarding below ends when the connection does.
        let transcript = transcript;
        let mut summary = Summary::default();
        connection(
            tcp,
            peer,
            local,
            &shared,
            &transcript,
            &mut typed,
            &mut summary,
        )
        .await;
        transcript.send(EntryKind::Filter(format!("tcp.port == {}", peer.port())));
        summary
    };
    let forward = async {
        while let Some(entry) = entries.recv().await {
            report(EventKind::Entry(entry));
        }
    };
    let (mut summary, ()) = tokio::join!(work, forward);
    summary.lasted = started.elapsed();
    report(EventKind::Ended(summary));
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    shared: &Arc<Shared>,
    transcript: &Transcript,
    typed: &mut mpsc::UnboundedReceiver<String>,
    summary: &mut Summary,
) {
    let nodelay = match tcp.set_nodelay(true) {
        Ok(()) => " (TCP_NODELAY)",
        Err(_) => "",
    };
    transcript.note(format!(
        "accepted a connection from {peer} on {local}{nodelay}"
    ));
    let stamped = StampedTcp::new(tcp);
    let stream: Transport = match &shared.tls {
        None => PlainOrTls::Plain(stamped),
        Some(acceptor) => {
            match tokio::time::timeout(HEAD_TIMEOUT, acceptor.accept(stamped)).await {
                Ok(Ok(tls)) => {
                    transcript.note(tls_note(&tls));
                    PlainOrTls::Tls(Box::new(tls))
                }
                Ok(Err(err)) => return transcript.error(format!("tls handshake failed: {err}")),
                Err(_) => return transcript.error("no tls handshake within 10s"),
            }
        }
    };
    let tap = tap_accepted(stream, transcript.clone());
    let Some((mut ws, permit)) = handshake(tap, shared, transcript, summary).await else {
        return;
    };
    summary.upgraded = true;
    let ctx = SessionCtx {
        options: &shared.options,
        transcript,
        stop: &shared.stop,
    };
    session::run(&mut ws, &ctx, typed, summary).await;
    end_transport(&mut ws).await;
    drop(permit);
    transcript.note("connection closed");
}

/// Reads requests and answers them until one upgrades (the session's socket, and
/// its place under `--max-clients`), or the connection ends (`None`).
async fn handshake(
    tap: Tap<Transport>,
    shared: &Arc<Shared>,
    transcript: &Transcript,
    summary: &mut Summary,
) -> Option<(Socket, Option<OwnedSemaphorePermit>)> {
    let upgrade: Arc<Mutex<Option<Upgrade>>> = Arc::default();
    let status = Arc::new(Mutex::new(None));
    let service = {
        let (shared, transcript) = (Arc::clone(shared), transcript.clone());
        let (upgrade, status) = (Arc::clone(&upgrade), Arc::clone(&status));
        service_fn(move |mut req: Request<Incoming>| {
            let response = answer(&mut req, &shared, &transcript, &upgrade);
            *lock(&status) = Some(response.status().as_u16());
            std::future::ready(Ok::<Response<Body>, Infallible>(response))
        })
    };
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .serve_connection(TokioIo::new(tap), service)
        .with_upgrades();
    let served = tokio::select! {
        served = conn => served,
        () = shared.stop.cancelled() => {
            transcript.note("stopped before an upgrade");
            return None;
        }
    };
    summary.status = lock(&status).take();
    let Some(Upgrade {
        on_upgrade,
        permit,
        subprotocol,
        deflate,
    }) = lock(&upgrade).take()
    else {
        match served {
            Ok(()) => transcript.note("connection closed"),
            Err(err) => transcript.note(format!("connection ended: {err}")),
        }
        return None;
    };
    let upgraded = match on_upgrade.await {
        Ok(upgraded) => upgraded,
        Err(err) => {
            transcript.note(format!("the upgrade did not complete: {err}"));
            return None;
        }
    };
    let parts = match upgraded.downcast::<TokioIo<Tap<Transport>>>() {
        Ok(parts) => parts,
        Err(_) => {
            transcript.error("hyper upgraded a connection of another kind");
            return None;
        }
    };
    let early = Layered::new(parts.io.into_inner(), EarlyBytes::new(&parts.read_buf));
    let mut ws = WebSocketStream::from_raw_socket(
        Layered::new(early, deflate.map(Deflate::new)),
        Role::Server,
        None,
    )
    .await;
    let mut chosen = subprotocol.map_or_else(String::new, |name| format!(", subprotocol {name}"));
    if deflate.is_some() {
        chosen.push_str(", permessage-deflate");
    }
    session::tap_mut(&mut ws).layer_mut().note_upgrade(format!(
        "upgraded to WebSocket (101 Switching Protocols{chosen})"
    ));
    Some((ws, permit))
}

/// The answer to one request; when it is our 101, leaves the upgrade in `upgrade`.
fn answer(
    req: &mut Request<Incoming>,
    shared: &Shared,
    transcript: &Transcript,
    upgrade: &Mutex<Option<Upgrade>>,
) -> Response<Body> {
    let permit = shared
        .sessions
        .as_ref()
        .map(|sessions| Arc::clone(sessions).try_acquire_owned());
    let full = matches!(permit, Some(Err(_)));
    let decision = handshake::decide(req, &shared.options, full);
    transcript.note(format!("answering {}", decision.note));
    if decision.upgrades {
        *lock(upgrade) = Some(Upgrade {
            on_upgrade: hyper::upgrade::on(req),
            permit: permit.and_then(Result::ok),
            subprotocol: decision.subprotocol,
            deflate: decision.deflate,
        });
    }
    decision.response
}

/// A lock never held across `.await`; a poisoned one still holds a whole value.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// `tls: TLSv1.3, TLS13_AES_256_GCM_SHA384, ALPN http/1.1, SNI localhost`.
fn tls_note(tls: &tokio_rustls::server::TlsStream<StampedTcp>) -> String {
    let (_, conn) = tls.get_ref();
    let mut parts = Vec::new();
    if let Some(version) = conn.protocol_version() {
        parts.push(format!("{version:?}"));
    }
    if let Some(suite) = conn.negotiated_cipher_suite() {
        parts.push(format!("{:?}", suite.suite()));
    }
    if let Some(alpn) = conn.alpn_protocol() {
        parts.push(format!("ALPN {}", String::from_utf8_lossy(alpn)));
    }
    if let Some(sni) = conn.server_name() {
        parts.push(format!("SNI {sni}"));
    }
    format!("tls handshake done: {}", parts.join(", "))
}
