//! ping(8) over WebSocket, against any RFC 6455 server.
//!
//! Two layers, so that the printing front-end, the terminal UI and the benchmark
//! share one implementation:
//!
//! * [`Pinger`]: one connected WebSocket with its [`PingTracker`]. It sends Ping
//!   frames, classifies Pongs, and can do one sequential round trip
//!   ([`Pinger::ping_once`]), which is what a benchmark loop needs.
//! * [`ping`]: the ping(8) session: a Ping every interval (or, with a zero interval,
//!   as soon as the previous one is answered), a per-ping timeout, a count, and
//!   Ctrl-C. It reports each [`PingEvent`] through a callback and returns a
//!   [`PingReport`]; [`output`] turns both into ping(8)-style text or JSON.
//!
//! The connection is read all the time, even between pings: a Pong that waits in the
//! socket would be timed late, and tungstenite only answers the server's own Pings
//! while it is read. The socket is not tapped (see [`crate::tap`]): the measured RTT
//! should be the network's, not the transcript's.
//!
//! Over `wss://`, the TLS handshake happens once, before the first Ping; its time is
//! reported apart ([`Setup`]), next to the TCP connect and the upgrade, and never
//! counted in an RTT.

pub mod output;

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::time::Sleep;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;
use wspp::busy_poll::BusyPoll;
use wspp::rare_event::RareEvent;
use wspp::stats::Latency;
use wspp::tracker::{Counts, PingTracker, PongOutcome};

use crate::config::Config;
use crate::connect::{self, Stream, WsUrl};
use crate::error::Error;
use crate::tls::TlsInfo;

/// How long closing waits for the server's Close reply; closing is a courtesy, and
/// the summary should not wait on a server that never answers.
pub const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// How a ping session runs; the defaults follow ping(8) where it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingOptions {
    /// The URL to ping; `None` means `ws://{server}/pingpong`.
    pub url: Option<String>,
    /// Stop after this many pings have been answered or given up; `None` runs until cancelled.
    pub count: Option<u64>,
    /// Time between pings; zero sends the next ping as soon as the previous one is
    /// answered or given up.
    pub interval: Duration,
    /// How long a ping may wait for its pong before it counts as lost.
    pub timeout: Duration,
    /// Bytes of Ping payload (16..=125; clamped).
    pub payload_size: usize,
    /// How long to keep polling the socket after each Ping instead of sleeping until
    /// the Pong wakes us: takes the client's own wake-up out of the RTT, for a busy
    /// core while it polls. Zero never polls.
    pub busy_poll: Duration,
}

impl Default for PingOptions {
    fn default() -> Self {
        PingOptions {
            url: None,
            count: None,
            interval: Duration::from_secs(1),
            // ping(8) waits 10 s; 5 s matches the server's default dead-peer timeout.
            timeout: Duration::from_secs(5),
            payload_size: wspp::payload::MIN_LEN,
            busy_poll: Duration::ZERO,
        }
    }
}

/// How the session was opened, step by step, before the first Ping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Setup {
    /// Looking the host name up.
    pub resolve: Duration,
    /// From `connect()` to an established TCP connection.
    pub tcp_connect: Duration,
    /// The TLS handshake and what it negotiated, for `wss://`.
    pub tls: Option<TlsInfo>,
    /// From sending the upgrade request to reading the 101.
    pub upgrade: Duration,
}

/// Something that happened during a ping session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PingEvent {
    /// Connected and upgraded; pings follow.
    Started {
        /// The URL pinged.
        url: String,
        /// The server's address.
        peer: SocketAddr,
        /// Our address (its port isolates the session in Wireshark).
        local: SocketAddr,
        /// Bytes of payload per Ping.
        payload_size: usize,
        /// How long the client polls after each Ping (zero: it sleeps).
        busy_poll: Duration,
        /// How the connection was opened, and what each step took (boxed: it is
        /// most of the event's size, and only this variant has it).
        setup: Box<Setup>,
    },
    /// A pong answered ping `seq`.
    Reply {
        /// The ping answered.
        seq: u64,
        /// Its round-trip time.
        rtt: Duration,
        /// Payload bytes in the pong.
        bytes: usize,
        /// Older pings still waiting that this answer made count as lost.
        skipped: u64,
    },
    /// Ping `seq` got no pong within the timeout.
    Timeout {
        /// The ping given up on.
        seq: u64,
    },
    /// A pong for a ping already answered or given up on.
    Late {
        /// The ping it echoes.
        seq: u64,
    },
    /// A pong that echoes no ping of ours.
    Unsolicited {
        /// Its payload size.
        bytes: usize,
    },
}

/// The outcome of a ping session.
#[derive(Debug)]
pub struct PingReport {
    /// The URL pinged.
    pub url: String,
    /// How the connection was opened, before the first Ping.
    pub setup: Setup,
    /// What the tracker counted.
    pub counts: Counts,
    /// RTTs of the answered pings.
    pub latency: Latency,
    /// From the first ping to the end of the session.
    pub elapsed: Duration,
    /// How long the client polled after each Ping (zero: it slept).
    pub busy_poll: Duration,
    /// Set when the connection failed mid-session rather than ending as asked.
    pub ended_by: Option<Error>,
}

impl PingReport {
    /// Pings answered by their pong.
    pub fn received(&self) -> u64 {
        self.counts.answered
    }

    /// Pings not answered, including any still in flight when the session ended (as ping(8)).
    pub fn lost(&self) -> u64 {
        self.counts.sent.saturating_sub(self.counts.answered)
    }

    /// [`PingReport::lost`] as a percentage of pings sent (0 when none was sent).
    pub fn loss_pct(&self) -> f64 {
        if self.counts.sent == 0 {
            0.0
        } else {
            self.lost() as f64 * 100.0 / self.counts.sent as f64
        }
    }

    /// Whether at least one ping was sent and every one was answered (exit status 0).
    pub fn all_answered(&self) -> bool {
        self.counts.sent > 0 && self.lost() == 0
    }
}

/// One connected WebSocket that pings.
#[derive(Debug)]
pub struct Pinger {
    ws: WebSocketStream<Stream>,
    /// Every ping sent on `ws` and what became of it.
    tracker: PingTracker,
    url: WsUrl,
    peer: SocketAddr,
    local: SocketAddr,
    setup: Setup,
    /// Set once the server's Close arrived: tungstenite has queued the reply, and
    /// sending a Close of our own is then an error.
    peer_closed: bool,
    /// Touched as each Ping leaves; off unless [`Pinger::busy_poll`] turned it on.
    busy: BusyPoll,
    /// [`Pinger::ping_once`]'s deadline, kept between calls.
    timer: Option<Pin<Box<Sleep>>>,
}

impl Pinger {
    /// Connects to `url` (shaking hands in TLS for `wss://`) and upgrades; each Ping
    /// will carry `payload_size` bytes.
    pub async fn connect(config: &Config, url: &WsUrl, payload_size: usize) -> Result<Self, Error> {
        let (stream, opened) = connect::open(config, &url.endpoint()).await?;
        let upgrade_start = Instant::now();
        let (ws, _response) = connect::upgrade(stream, config, url).await?;
        let setup = Setup {
            resolve: opened.resolve,
            tcp_connect: opened.tcp_connect,
            tls: opened.tls,
            upgrade: upgrade_start.elapsed(),
        };
        Ok(Pinger {
            ws,
            tracker: PingTracker::new(Instant::now(), payload_size),
            url: url.clone(),
            peer: opened.peer,
            local: opened.local,
            setup,
            peer_closed: false,
            busy: BusyPoll::off(),
            timer: None,
        })
    }

    /// From now on, keeps the runtime polling for `budget` after each Ping rather than
    /// sleeping until its Pong arrives (zero: sleep as usual). Needs the current-thread
    /// runtime; see [`wspp::busy_poll`].
    pub fn busy_poll(&mut self, budget: Duration) {
        self.busy = BusyPoll::start(budget);
    }

    /// How the connection was opened.
    pub fn setup(&self) -> &Setup {
        &self.setup
    }

    /// The URL this pinger is connected to.
    pub fn url(&self) -> &WsUrl {
        &self.url
    }

    /// The server's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Our address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// What the tracker has counted so far.
    pub fn counts(&self) -> Counts {
        self.tracker.counts()
    }

    /// Pings awaiting their pong.
    pub fn waiting(&self) -> usize {
        self.tracker.waiting()
    }

    /// Sends the next Ping and returns its sequence number.
    pub async fn send_ping(&mut self) -> Result<u64, Error> {
        let ping = self.tracker.ping(Instant::now());
        self.ws
            .send(Message::Ping(ping.payload.into()))
            .await
            .map_err(|err| Error::lost(&self.url.text, err))?;
        self.busy.touch();
        Ok(ping.seq)
    }

    /// Reads until a Pong arrives and classifies it; returns it with its payload size.
    /// Other messages are read and dropped (reading is what makes tungstenite answer
    /// the server's Pings). Cancel-safe: nothing is lost if the future is dropped.
    pub async fn next_pong(&mut self) -> Result<(PongOutcome, usize), Error> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Pong(payload))) => {
                    let now = Instant::now();
                    return Ok((self.tracker.pong(&payload, now), payload.len()));
                }
                Some(Ok(Message::Close(frame))) => {
                    self.peer_closed = true;
                    return Err(Error::Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    });
                }
                Some(Ok(_)) => {}
                // A server killed mid-session: say so, naming the session.
                Some(Err(err)) => return Err(Error::lost(&self.url.text, err)),
                None => return Err(Error::ended(&self.url.text)),
            }
        }
    }

    /// When the oldest waiting ping times out, if one is waiting.
    pub fn deadline(&self, timeout: Duration) -> Option<Instant> {
        self.tracker.deadline(timeout)
    }

    /// Gives up on the pings older than `timeout`; returns their sequence numbers.
    pub fn expire(&mut self, timeout: Duration) -> Vec<u64> {
        self.tracker.expire(Instant::now(), timeout)
    }

    /// One sequential round trip: sends a Ping and waits for its Pong. `None` when no
    /// pong came within `timeout` (the ping then counts as lost).
    pub async fn ping_once(&mut self, timeout: Duration) -> Result<Option<Duration>, Error> {
        let seq = self.send_ping().await?;
        let deadline = tokio::time::Instant::now() + timeout;
        // One timer for the pinger's life, moved on for each ping (a later deadline is
        // cheap to set): a fresh one per ping was a timer-wheel insert and remove on
        // every round trip.
        let mut timer = match self.timer.take() {
            Some(mut timer) => {
                timer.as_mut().reset(deadline);
                timer
            }
            None => Box::pin(tokio::time::sleep_until(deadline)),
        };
        let outcome = loop {
            tokio::select! {
                biased;
                pong = self.next_pong() => match pong {
                    Err(err) => break Err(err),
                    Ok((PongOutcome::Reply { seq: s, rtt, .. }, _)) if s == seq => break Ok(Some(rtt)),
                    Ok(_) => {}
                },
                () = timer.as_mut() => {
                    self.expire(timeout);
                    break Ok(None);
                }
            }
        };
        self.timer = Some(timer);
        outcome
    }

    /// Sends Close 1000 and waits (at most [`CLOSE_WAIT`]) for the server's reply. If
    /// the server closed first, sends tungstenite's reply to its Close instead.
    pub async fn close(mut self) -> Result<(), Error> {
        if self.peer_closed {
            self.ws.flush().await?;
        } else {
            let frame = CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            };
            self.ws.close(Some(frame)).await?;
        }
        let drain = async {
            while let Some(msg) = self.ws.next().await {
                msg?;
            }
            Ok::<(), Error>(())
        };
        let drained = match tokio::time::timeout(CLOSE_WAIT, drain).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout {
                what: "the close handshake",
                after: CLOSE_WAIT,
            }),
        };
        connect::end_transport(&mut self.ws).await;
        drained
    }
}

/// The URL `config.ping` asks for: its own, or the server's `/pingpong`.
pub fn target(config: &Config) -> Result<WsUrl, Error> {
    match &config.ping.url {
        Some(url) => WsUrl::parse(url),
        None => WsUrl::for_route(config, wspp::routes::PINGPONG),
    }
}

/// Runs a ping session as `config.ping` describes, until its count is done or
/// `cancel` fires, reporting each event to `on_event`.
///
/// Fails only if the session cannot start (bad URL, connection or upgrade refused).
/// A connection lost later ends the session; the report says so in `ended_by`.
pub async fn ping(
    config: &Config,
    cancel: &CancellationToken,
    mut on_event: impl FnMut(&PingEvent),
) -> Result<PingReport, Error> {
    let options = &config.ping;
    let url = target(config)?;
    let mut pinger = tokio::select! {
        pinger = Pinger::connect(config, &url, options.payload_size) => pinger?,
        () = cancel.cancelled() => return Err(Error::Interrupted),
    };
    pinger.busy_poll(options.busy_poll);
    on_event(&PingEvent::Started {
        url: url.text.clone(),
        peer: pinger.peer_addr(),
        local: pinger.local_addr(),
        payload_size: options
            .payload_size
            .clamp(wspp::payload::MIN_LEN, wspp::payload::MAX_LEN),
        busy_poll: options.busy_poll,
        setup: Box::new(pinger.setup().clone()),
    });

    let start = Instant::now();
    let mut latency = Latency::default();
    let mut next_ping = Some(start);
    let mut ended_by = None;
    // One wait for the whole session rather than a new waiter on the token per pong,
    // polled only when the token says so (see `RareEvent`).
    let cancelled = cancel.cancelled();
    tokio::pin!(cancelled);
    let mut cancelled = RareEvent::new(cancelled, || cancel.is_cancelled());
    // Not in the timer wheel until first reset.
    let timer = tokio::time::sleep(Duration::MAX);
    tokio::pin!(timer);
    loop {
        let all_sent = options.count.is_some_and(|c| pinger.counts().sent >= c);
        if all_sent && pinger.waiting() == 0 {
            break;
        }
        let ping_at = if all_sent { None } else { next_ping };
        // A due ping goes out now, not through a timer: tokio's timers fire on
        // millisecond ticks, so with `-i 0` every ping would wait up to 1 ms, and the
        // idle gap (both ends asleep) would show in the next RTT.
        if ping_at.is_some_and(|at| at <= Instant::now()) && !cancel.is_cancelled() {
            if let Err(err) = pinger.send_ping().await {
                ended_by = Some(err);
                break;
            }
            next_ping = match ping_at {
                _ if options.interval.is_zero() => None,
                // Like ping(8), keep the schedule; after a stall, resume from now
                // rather than firing a burst to catch up.
                Some(at) => Some((at + options.interval).max(Instant::now())),
                None => None,
            };
            continue;
        }
        let deadline = pinger.deadline(options.timeout);
        // One timer for whichever comes first, the next ping or the oldest ping's
        // deadline, moved only when that changes: a later deadline (each ping's is) is
        // one atomic store, where a fresh sleep per turn was a timer-wheel insert and
        // remove per pong.
        let wake_at = match (ping_at, deadline) {
            (Some(ping), Some(pong)) => Some(ping.min(pong)),
            (ping, pong) => ping.or(pong),
        };
        if let Some(at) = wake_at.map(tokio::time::Instant::from_std)
            && at != timer.deadline()
        {
            timer.as_mut().reset(at);
        }
        tokio::select! {
            biased;
            () = &mut cancelled => break,
            pong = pinger.next_pong() => match pong {
                Ok((outcome, bytes)) => {
                    match outcome {
                        PongOutcome::Reply { seq, rtt, skipped } => {
                            latency.record(rtt);
                            on_event(&PingEvent::Reply { seq, rtt, bytes, skipped });
                        }
                        PongOutcome::Late { seq } => on_event(&PingEvent::Late { seq }),
                        PongOutcome::Unsolicited => on_event(&PingEvent::Unsolicited { bytes }),
                    }
                    if options.interval.is_zero() && pinger.waiting() == 0 {
                        next_ping = Some(Instant::now());
                    }
                }
                Err(err) => {
                    ended_by = Some(err);
                    break;
                }
            },
            // A due ping is sent at the top of the loop; expiring finds nothing then.
            () = &mut timer, if wake_at.is_some() => {
                for seq in pinger.expire(options.timeout) {
                    on_event(&PingEvent::Timeout { seq });
                }
                if options.interval.is_zero() && pinger.waiting() == 0 {
                    next_ping = Some(Instant::now());
                }
            }
        }
    }
    let elapsed = start.elapsed();
    let counts = pinger.counts();
    let setup = pinger.setup().clone();
    // Close politely: our Close 1000, or the reply tungstenite queued to the server's
    // Close. The session is over either way, so a server that does not finish the
    // handshake changes nothing in the report.
    if matches!(ended_by, None | Some(Error::Closed { code: Some(_), .. }))
        && let Err(err) = pinger.close().await
    {
        tracing::debug!(error = %err, "close handshake did not complete");
    }
    Ok(PingReport {
        url: url.text,
        setup,
        counts,
        latency,
        elapsed,
        busy_poll: options.busy_poll,
        ended_by,
    })
}
