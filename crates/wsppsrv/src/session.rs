//! One WebSocket session: the server pings, the peer pongs, the RTT is recorded.
//!
//! A session is one task that owns its socket and runs one `select!` loop over four
//! events: a message from the peer, the time for the next ping, the deadline of the
//! oldest unanswered ping, and server shutdown. Reading never stops while pings are
//! outstanding, because a pong is only seen by reading, and tungstenite only sends its
//! automatic answers to the peer's pings (and close) while it is being read.
//!
//! Every session ends with a Close frame and a log line naming the code:
//!
//! | how it ends                        | close code            |
//! |------------------------------------|-----------------------|
//! | `/openandclosewebsocket` is done   | 1000 Normal Closure   |
//! | the server shuts down              | 1001 Going Away       |
//! | no pong within `--ping-timeout`    | 1001 Going Away       |
//! | the peer breaks the protocol       | 1002 Protocol Error   |
//! | invalid UTF-8 in a text message    | 1007 Invalid Payload  |
//! | compressed data that is not DEFLATE | 1007 Invalid Payload |
//! | a message over the size limit      | 1009 Message Too Big  |
//! | the peer closes                    | the peer's own code   |
//!
//! A peer that resets or vanishes is not a server error, and is logged at debug.
//!
//! RTTs run from the kernel's transmit stamp of the Ping (or, where none comes, the
//! clock read just before its write system call) to the kernel's receive stamp of the
//! Pong (see [`wspp::wire_clock`]): the network's round
//! trip, without the time this server takes to wake up and read the Pong, which on a
//! busy machine can be as long as the round trip itself (docs/benchmarks.md, section
//! 15). Each is logged with its clock and the user-to-user
//! figure beside it; where the kernel did not stamp, the user clock is the one recorded.
//! A session over HTTP/2 is always on the user clock: its frames are a stream's, which
//! hyper's HTTP/2 layer reads and writes, and no socket of its own is stamped (see
//! [`crate::transport`]). The same code serves both, compiled once for each stream
//! type, so an HTTP/1.1 session pays nothing for HTTP/2's.

use std::future::poll_fn;
use std::sync::{Arc, Once};
use std::task::Poll;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use hyper::upgrade::OnUpgrade;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::{debug, info, warn};
use wspp::deflate::{Agreement, Deflate, InvalidDeflate};
use wspp::rare_event::RareEvent;
use wspp::rtt_log;
use wspp::stream::Layered;
use wspp::tracker::{PingTracker, PongOutcome};
use wspp::utf8_guard::{self, Guarded, InvalidUtf8};
use wspp::wire_clock::{Clock, StampedTcp};

use crate::metrics::ClosedBy;
use crate::registry::{Arrival, ClientGuard};
use crate::state::{Admission, ServerState};
use crate::transport::SessionStream;
use crate::untrusted::Untrusted;

/// What a session does once open, which its route decides. On either route, each Text
/// and Binary message the peer sends is echoed back as it came; the peer's Pings are
/// answered with Pongs (by tungstenite), and its Pongs are matched to our Pings, never
/// echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteBehaviour {
    /// Ping `open_close_pings` times, one after the other, then close with 1000.
    OpenAndClose,
    /// Ping every `ping_interval` (the first after `first_ping_delay`) until the peer
    /// closes, stops answering, or the server shuts down.
    PingPong,
}

impl RouteBehaviour {
    /// The route this behaviour is served on.
    pub fn route(self) -> &'static str {
        match self {
            RouteBehaviour::OpenAndClose => wspp::routes::OPEN_AND_CLOSE,
            RouteBehaviour::PingPong => wspp::routes::PINGPONG,
        }
    }
}

/// The UTF-8 guard reads the frames tungstenite will, so it sits above the
/// permessage-deflate layer, which is there when the upgrade agreed on it.
type Socket<S> = WebSocketStream<Guarded<Layered<S, Option<Deflate>>>>;

/// How the main loop ended, and so what the close handshake looks like.
#[derive(Debug)]
enum Ending {
    /// We close: send this code and wait (bounded) for the peer's Close.
    Close(CloseCode, &'static str),
    /// The peer stopped answering: send a Close for the capture, wait for nothing.
    Dead,
    /// The peer sent Close; tungstenite has queued our reply, which must be flushed.
    PeerClosed(Option<CloseFrame>),
    /// The connection is gone (reset, EOF, write stalled): nothing more can be said.
    Gone(String),
}

/// Waits for the upgrade, registers the client and runs the session to its end, on a
/// stream of type `S` (the caller knows which from the request's HTTP version).
///
/// `conn` keeps the connection's slot alive for as long as the session runs, and
/// `slot` its place among the `--max-connections` WebSocket sessions.
pub(crate) async fn start<S: SessionStream>(
    on_upgrade: OnUpgrade,
    behaviour: RouteBehaviour,
    deflate: Option<Agreement>,
    arrival: Arrival,
    shared: Arc<ServerState>,
    conn: Arc<Admission>,
    slot: OwnedSemaphorePermit,
) {
    let upgraded = match on_upgrade.await {
        Ok(upgraded) => upgraded,
        Err(error) => {
            debug!(%error, "upgrade did not complete");
            return;
        }
    };
    // One function for the whole session, no `async fn` under it taking the stream and
    // the arrival: those would be stored twice in the task, once here and once there.
    // For the same reason the HTTP version is the stream type's, not the arrival's.
    let Some(stream) = S::from_upgraded(upgraded) else {
        warn!("upgraded connection of an unexpected kind; closing it");
        return;
    };
    let ws = WebSocketStream::from_raw_socket(
        utf8_guard::guard(
            Layered::new(stream, deflate.map(Deflate::new)),
            Role::Server,
            shared.config.max_message_size,
        ),
        Role::Server,
        Some(shared.config.websocket_config()),
    )
    .await;
    info!(
        route = behaviour.route(),
        user_agent = arrival
            .user_agent
            .as_deref()
            .map(Untrusted)
            .map(tracing::field::display),
        origin = arrival
            .origin
            .as_deref()
            .map(Untrusted)
            .map(tracing::field::display),
        "websocket open"
    );
    let client = shared.registry.register(arrival, S::HTTP_VERSION);
    let mut session = Session {
        ws,
        behaviour,
        client,
        tracker: PingTracker::new(Instant::now().into_std(), wspp::payload::MIN_LEN),
        shared,
        conn,
        _slot: slot,
    };
    let ending = session.serve().await;
    // Boxed: the close handshake's futures run once, at the end. Inline they would be
    // part of every session task's allocation for its whole life, most of it
    // (docs/benchmarks.md, section 3, has the sizes).
    Box::pin(session.finish(ending)).await;
}

struct Session<S> {
    ws: Socket<S>,
    behaviour: RouteBehaviour,
    /// Keeps the client listed; dropped with the session, whatever ends it.
    client: ClientGuard,
    /// Keeps the connection's slot, and says whether the session runs over TLS.
    conn: Arc<Admission>,
    /// The session's place under `--max-connections`; freed with the session.
    _slot: OwnedSemaphorePermit,
    tracker: PingTracker,
    shared: Arc<ServerState>,
}

impl<S: SessionStream> Session<S> {
    async fn serve(&mut self) -> Ending {
        let config = &self.shared.config;
        let (interval, patience) = (config.ping_interval, config.ping_timeout);
        let shutdown = self.shared.shutdown.clone();
        // One wait for the whole session: a fresh one each turn would add and remove a
        // waiter on the token for every message, on the path of every pong we send; and
        // polled only when the token says so, not on every turn (see `RareEvent`).
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        let mut cancelled = RareEvent::new(cancelled, || shutdown.is_cancelled());
        // Both routes ping at once by default: the first RTT is what most users wait for.
        // `--first-ping-delay` holds back only a /pingpong session's first ping.
        let first_delay = match self.behaviour {
            RouteBehaviour::OpenAndClose => Duration::ZERO,
            RouteBehaviour::PingPong => config.first_ping_delay,
        };
        let mut ping_due = first_delay.is_zero();
        // When the next scheduled ping is due. /openandclosewebsocket has no schedule:
        // it pings again as soon as a pong arrives.
        let mut next_ping = Some(Instant::now() + first_delay);
        // Not in the timer wheel until its first reset.
        let timer = sleep_until(far_future());
        tokio::pin!(timer);
        // Until the first ping, nothing read is timed.
        self.stamp_reads_while_waiting();
        loop {
            // A due ping goes out here, not through a timer: tokio's timers fire on
            // millisecond ticks, so even `sleep_until(now)` waits up to 1 ms, and
            // /openandclosewebsocket pings back to back.
            if ping_due {
                ping_due = false;
                if let Err(ending) = self.ping().await {
                    return ending;
                }
                next_ping = match self.behaviour {
                    RouteBehaviour::OpenAndClose => None,
                    // Skip missed ticks rather than burst to catch up.
                    RouteBehaviour::PingPong => {
                        next_ping.map(|t| (t + interval).max(Instant::now()))
                    }
                };
            }
            let deadline = self.tracker.deadline(patience).map(Instant::from_std);
            // One timer for whichever comes first, the next ping or the pong deadline,
            // moved only when that changes: a later deadline (the common case: each
            // pong moves it on) is one atomic store, where a fresh `sleep_until` per
            // turn was a timer-wheel insert and remove per message.
            let wake_at = match (next_ping, deadline) {
                (Some(ping), Some(pong)) => Some(ping.min(pong)),
                (ping, pong) => ping.or(pong),
            };
            if let Some(at) = wake_at
                && at != timer.deadline()
            {
                timer.as_mut().reset(at);
            }
            tokio::select! {
                biased;
                () = &mut cancelled => {
                    return Ending::Close(CloseCode::Away, "server shutting down");
                }
                message = self.ws.next() => {
                    let message = match message {
                        None => return Ending::Gone("connection closed".into()),
                        Some(Err(error)) => return ending_for(error),
                        Some(Ok(message)) => message,
                    };
                    // A peer that just spoke is likely to speak again soon.
                    self.shared.busy.touch();
                    match message {
                        Message::Pong(payload) => {
                            if self.pong(&payload) && self.behaviour == RouteBehaviour::OpenAndClose {
                                if self.open_close_done() {
                                    return Ending::Close(CloseCode::Normal, "done");
                                }
                                ping_due = true;
                            }
                        }
                        Message::Text(_) | Message::Binary(_) => {
                            if let Err(ending) = self.send(message).await {
                                return ending;
                            }
                        }
                        Message::Ping(_) => debug!("ping from peer, answered by tungstenite"),
                        Message::Close(frame) => return Ending::PeerClosed(frame),
                        Message::Frame(_) => {}
                    }
                }
                () = &mut timer, if wake_at.is_some() => {
                    if wake_at == deadline {
                        let lost = self.tracker.expire(Instant::now().into_std(), patience);
                        warn!(lost = lost.len(), timeout = ?patience, "no pong in time; dropping the peer");
                        return Ending::Dead;
                    }
                    // The ping is sent at the top of the loop.
                    ping_due = true;
                }
            }
        }
    }

    /// Sends the next ping.
    async fn ping(&mut self) -> Result<(), Ending> {
        let ping = self.tracker.ping(Instant::now().into_std());
        self.client.ping_sent();
        // The pong is due within an RTT: poll for it rather than sleep (if asked to).
        self.shared.busy.touch();
        debug!(seq = ping.seq, "ping");
        if let Some(stamps) = self.stamps() {
            stamps.stamp_sends();
            stamps.stamp_reads(true);
        }
        let result = self.send(Message::Ping(ping.payload.into())).await;
        // Asked even after a failure: it ends the request for stamps.
        let sent = self.stamps().and_then(StampedTcp::sent);
        result?;
        // Written at once unless the peer stopped reading: the last write carried it.
        if let Some(sent) = sent {
            if sent.clock == Clock::User
                && self.stamps().map(StampedTcp::clock) == Some(Clock::Kernel)
            {
                debug!(
                    seq = ping.seq,
                    "no transmit stamp: the ping is timed from the clock before its write"
                );
                static SAID: Once = Once::new();
                SAID.call_once(|| warn!("a ping went without a kernel transmit stamp: such pings are timed from the clock read before their write"));
            }
            self.tracker.on_wire(ping.seq, sent.at);
        }
        Ok(())
    }

    /// Has the socket read receive stamps only while a ping awaits its pong: the
    /// client's own Pings and messages need none, and a read without the control
    /// message is cheaper for the kernel and for us.
    fn stamp_reads_while_waiting(&self) {
        if let Some(stamps) = self.stamps() {
            stamps.stamp_reads(self.tracker.waiting() > 0);
        }
    }

    /// Records a pong; true if it answered one of our pings.
    fn pong(&mut self, payload: &[u8]) -> bool {
        // tungstenite parses what it has before it reads more, so the last read is
        // the one that completed this Pong.
        let received = self.stamps().and_then(StampedTcp::last_rx);
        let outcome = self
            .tracker
            .pong(payload, Instant::now().into_std(), received);
        self.stamp_reads_while_waiting();
        match outcome {
            PongOutcome::Reply { seq, rtt, skipped } => {
                let clock = rtt.clock(Clock::Kernel);
                let on_clock = rtt.on(clock);
                self.client.pong_received(on_clock, clock);
                // Nanosecond precision: loopback RTTs are tens of µs, where whole
                // microseconds would round by several percent.
                let us = |d: Duration| d.as_nanos() as f64 / 1e3;
                // Named through `rtt_log`: the benchmark reads these lines back.
                info!(
                    target: rtt_log::TARGET,
                    {
                        { rtt_log::SEQ } = seq,
                        { rtt_log::RTT_US } = us(on_clock),
                        { rtt_log::CLOCK } = %clock,
                        { rtt_log::USER_RTT_US } = us(rtt.user),
                    },
                    "{}",
                    rtt_log::MESSAGE
                );
                if skipped > 0 {
                    debug!(skipped, "older pings were answered only by this pong");
                }
                true
            }
            PongOutcome::Late { seq } => {
                self.client.pong_late();
                debug!(seq, "late pong ignored");
                false
            }
            PongOutcome::Unsolicited => {
                debug!(len = payload.len(), "unsolicited pong ignored");
                false
            }
        }
    }

    /// The socket that stamps this session's frames, if it has one to itself.
    fn stamps(&self) -> Option<&StampedTcp> {
        self.ws.get_ref().get_ref().get_ref().stamps()
    }

    fn open_close_done(&self) -> bool {
        let counts = self.tracker.counts();
        counts.answered + counts.lost >= u64::from(self.shared.config.open_close_pings)
    }

    /// Sends one message; a peer that does not take it within the ping timeout is gone.
    ///
    /// Not an `async fn`, whose state would keep a second copy of `message`: this
    /// future is part of every session's task, for the task's whole life.
    fn send(&mut self, message: Message) -> impl Future<Output = Result<(), Ending>> {
        let patience = self.shared.config.ping_timeout;
        let mut send = self.ws.send(message);
        async move {
            // A frame is written at once unless the peer has stopped reading, so a
            // timer is made only then, and boxed: inline, it too would be part of
            // every session's task.
            if let Poll::Ready(sent) = poll_fn(|cx| Poll::Ready(send.poll_unpin(cx))).await {
                return sent.map_err(ending_for);
            }
            match Box::pin(timeout(patience, send)).await {
                Ok(sent) => sent.map_err(ending_for),
                Err(_) => Err(Ending::Gone(
                    "write timed out: the peer is not reading".into(),
                )),
            }
        }
    }

    /// Says goodbye according to how the session ended, logs the close, and ends the
    /// transport.
    async fn finish(mut self, ending: Ending) {
        let patience = self.shared.config.ping_timeout;
        let say_goodbye_within = match &ending {
            Ending::Gone(_) => None,
            Ending::Dead => Some(Duration::from_millis(100)),
            _ => Some(patience),
        };
        self.close(ending, patience).await;
        // The WebSocket is closed, so the client leaves the list now, not when its TCP
        // connection finally goes.
        let Session {
            mut ws,
            client,
            conn,
            ..
        } = self;
        drop(client);
        // End the transport too: over TLS that sends close_notify first, without which
        // a client cannot tell the end from a truncation (over TCP, a FIN either way).
        // Over TLS, then read until the peer hangs up as well: its own close_notify
        // follows ours, and bytes that reach a socket already closed make the kernel
        // answer with a reset (an RST at the end of every wss:// session in a capture).
        // Over plain TCP nothing follows the peer's Close but its FIN, so the socket is
        // released at once instead of being held for a peer that is slow to hang up.
        // Over HTTP/2 the shutdown ends the stream alone (END_STREAM); the connection
        // is not the session's to close.
        if let Some(within) = say_goodbye_within {
            let io = ws.get_mut();
            let _ = timeout(within, async {
                io.shutdown().await?;
                if conn.tls && S::OWNS_CONNECTION {
                    let mut sink = [0u8; 512];
                    while io.read(&mut sink).await? > 0 {}
                }
                std::io::Result::Ok(())
            })
            .await;
        }
    }

    /// The close handshake `ending` calls for, and its log line.
    async fn close(&mut self, ending: Ending, patience: Duration) {
        // Counted before the handshake, so that whoever sees the Close sees it counted.
        let (code, by) = match &ending {
            Ending::Close(code, _) => (u16::from(*code), ClosedBy::Server),
            Ending::Dead => {
                self.client.dropped_silent();
                (u16::from(CloseCode::Away), ClosedBy::Server)
            }
            Ending::PeerClosed(frame) => (
                frame.as_ref().map_or(1005, |f| u16::from(f.code)),
                ClosedBy::Peer,
            ),
            // 1006 is RFC 6455's name for a connection lost without a Close.
            Ending::Gone(_) => (1006, ClosedBy::Peer),
        };
        self.shared.metrics.closed(code, by);
        match ending {
            Ending::Close(code, reason) => {
                let frame = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                let sent = timeout(patience, self.ws.close(Some(frame))).await;
                if matches!(sent, Ok(Ok(()))) {
                    // The peer's Close completes the handshake; what else it sends is dropped.
                    let _ = timeout(patience, async {
                        while let Some(Ok(_)) = self.ws.next().await {}
                    })
                    .await;
                }
                info!(
                    code = u16::from(code),
                    reason,
                    by = "server",
                    "websocket closed"
                );
            }
            Ending::Dead => {
                let frame = CloseFrame {
                    code: CloseCode::Away,
                    reason: "ping timeout".into(),
                };
                let _ = timeout(Duration::from_millis(100), self.ws.close(Some(frame))).await;
                info!(
                    code = u16::from(CloseCode::Away),
                    reason = "ping timeout",
                    by = "server",
                    "websocket closed"
                );
            }
            Ending::PeerClosed(frame) => {
                // Reading flushes tungstenite's queued Close reply and then ends.
                let _ = timeout(patience, async {
                    while let Some(Ok(_)) = self.ws.next().await {}
                })
                .await;
                match frame {
                    Some(f) => {
                        info!(code = u16::from(f.code), reason = %Untrusted(&f.reason), by = "peer", "websocket closed")
                    }
                    None => info!(code = 1005, by = "peer", "websocket closed without a code"),
                }
            }
            Ending::Gone(why) => {
                // At info, so an operator sees clients cut off; limited, as a network
                // cut can end thousands at once.
                let due = self
                    .shared
                    .logs
                    .gone
                    .lock()
                    .admit(std::time::Instant::now());
                match due {
                    Some(gone) => info!(
                        why,
                        route = self.behaviour.route(),
                        gone,
                        "websocket gone without a close handshake"
                    ),
                    None => debug!(
                        why,
                        route = self.behaviour.route(),
                        "websocket gone without a close handshake"
                    ),
                }
            }
        }
    }
}

/// Maps a read or write failure to the way the session must end.
fn ending_for(error: WsError) -> Ending {
    let (code, reason) = match &error {
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            return Ending::Gone("connection closed".into());
        }
        WsError::Io(e) if InvalidUtf8::is(e) => (CloseCode::Invalid, "invalid utf-8"),
        WsError::Io(e) if InvalidDeflate::is(e) => (CloseCode::Invalid, "invalid compressed data"),
        WsError::Io(e) => return Ending::Gone(e.to_string()),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            return Ending::Gone("reset without a closing handshake".into());
        }
        // Only a peer that does not read fills the write buffer: it is leaving, not
        // breaking the protocol, and no Close frame could get past the full buffer.
        WsError::WriteBufferFull(_) => {
            return Ending::Gone("write buffer full: the peer is not reading".into());
        }
        WsError::Protocol(_) => (CloseCode::Protocol, "protocol error"),
        WsError::Utf8(_) => (CloseCode::Invalid, "invalid utf-8"),
        WsError::Capacity(_) => (CloseCode::Size, "message too big"),
        _ => (CloseCode::Error, "internal error"),
    };
    warn!(%error, code = u16::from(code), "peer broke the protocol");
    Ending::Close(code, reason)
}

/// A time that never comes, for a timer that has nothing to wait for yet.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}
