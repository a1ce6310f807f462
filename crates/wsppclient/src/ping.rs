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
//!
//! A probe need not be a Ping. Against an echo server, `--echo` sends Text (or
//! Binary) messages that carry the same sequence number and send time, and matches
//! each echo by its content with the same tracker; `--both` alternates the two, so the
//! server's application path and its control-frame path are measured side by side on
//! one connection ([`Probes`]).
//!
//! Every round trip is timed on two clocks ([`Rtt`]): the network's, from the clock
//! read just before the Ping's write system call to the kernel's receive stamp of the
//! Pong (see [`wspp::wire_clock`]), and the user's, from handing the Ping to tungstenite
//! to being handed the Pong. The first is reported unless `--user-latency` asks for the
//! second, as ping(8) does with `-U`, or the kernel does not stamp; which one a figure
//! is on is always said ([`Clock`]).

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
use wspp::busy_poll::BusyPoll;
use wspp::payload::Encoding;
use wspp::rare_event::RareEvent;
use wspp::stats::Latency;
use wspp::tracker::{Counts, PingTracker, PongOutcome, Rtt};
use wspp::wire_clock::{Clock, WireStamps};

use crate::config::Config;
use crate::connect::{self, Stream, WsUrl};
use crate::error::Error;
use crate::proxy::ProxyInfo;
use crate::stop::Stop;
use crate::tls::TlsInfo;

/// How long closing waits for the server's Close reply; closing is a courtesy, and
/// the summary should not wait on a server that never answers.
pub const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// One kind of probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Probe {
    /// A Ping control frame, answered by the peer's WebSocket layer with a Pong.
    Ping,
    /// A Text or Binary message, answered by the peer's application echoing it.
    Echo,
}

impl Probe {
    /// `ping` or `echo`, as the output and the JSON name it.
    pub fn name(self) -> &'static str {
        match self {
            Probe::Ping => "ping",
            Probe::Echo => "echo",
        }
    }
}

/// Which probes a session sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Probes {
    /// Pings only (the default, and ping(8)'s way).
    #[default]
    Ping,
    /// Messages to echo only, Text or Binary as the encoding says.
    Echo(Encoding),
    /// A Ping and a message on alternate turns.
    Both(Encoding),
}

impl Probes {
    /// The kinds sent, in turn order.
    pub fn kinds(self) -> &'static [Probe] {
        match self {
            Probes::Ping => &[Probe::Ping],
            Probes::Echo(_) => &[Probe::Echo],
            Probes::Both(_) => &[Probe::Ping, Probe::Echo],
        }
    }

    /// How echo messages are written, if any are sent.
    pub fn echo(self) -> Option<Encoding> {
        match self {
            Probes::Ping => None,
            Probes::Echo(encoding) | Probes::Both(encoding) => Some(encoding),
        }
    }
}

/// How a ping session runs; the defaults follow ping(8) where it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingOptions {
    /// The URL to ping; `None` means `ws://{server}/pingpong`.
    pub url: Option<String>,
    /// Stop after this many pings have been answered or given up (of each kind, with
    /// [`Probes::Both`]); `None` runs until cancelled. With a `deadline`, as in
    /// ping(8), this many *answers* end the run, lost probes being replaced.
    pub count: Option<u64>,
    /// End the run this long after the first probe, whatever the count (ping(8)'s
    /// `-w`); probes still unanswered then count as lost.
    pub deadline: Option<Duration>,
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
    /// Pings, echo messages, or both.
    pub probes: Probes,
    /// Report user-to-user RTTs (`-U`), the program's own wake-up included, instead
    /// of the network's.
    pub user_latency: bool,
}

impl Default for PingOptions {
    fn default() -> Self {
        PingOptions {
            url: None,
            count: None,
            deadline: None,
            interval: Duration::from_secs(1),
            // ping(8) waits 10 s; 5 s matches the server's default dead-peer timeout.
            timeout: Duration::from_secs(5),
            payload_size: wspp::payload::MIN_LEN,
            busy_poll: Duration::ZERO,
            probes: Probes::Ping,
            user_latency: false,
        }
    }
}

/// How the session was opened, step by step, before the first Ping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Setup {
    /// Looking the host name up.
    pub resolve: Duration,
    /// From `connect()` to an established TCP connection (to the proxy, if any).
    pub tcp_connect: Duration,
    /// The proxy's tunnel and how long it took to open, when there is a proxy.
    pub proxy: Option<ProxyInfo>,
    /// The TLS handshake and what it negotiated, for `wss://`.
    pub tls: Option<TlsInfo>,
    /// From sending the upgrade request to reading the 101.
    pub upgrade: Duration,
    /// The subprotocol the server chose, if it chose one.
    pub subprotocol: Option<String>,
    /// The clock RTTs are reported on.
    pub clock: Clock,
    /// Why they are not on the kernel's, when the kernel's was wanted and is missing.
    pub no_kernel_stamps: Option<String>,
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
        /// What the probes are.
        probes: Probes,
        /// How the connection was opened, and what each step took (boxed: it is
        /// most of the event's size, and only this variant has it).
        setup: Box<Setup>,
    },
    /// A pong (or an echo) answered probe `seq`.
    Reply {
        /// What kind of probe it answered.
        probe: Probe,
        /// The probe answered.
        seq: u64,
        /// Its round-trip time, on both clocks.
        rtt: Rtt,
        /// The clock it is reported on: the session's, unless the kernel did not
        /// time this one.
        clock: Clock,
        /// Payload bytes in the pong.
        bytes: usize,
        /// Older probes of the same kind still waiting that this answer made count as
        /// lost: the `skipped` sequence numbers just below `seq` (a tracker's waiting
        /// probes are always a run of consecutive numbers).
        skipped: u64,
    },
    /// Probe `seq` got no answer within the timeout, or none before the run ended.
    Timeout {
        /// What kind of probe it was.
        probe: Probe,
        /// The probe given up on.
        seq: u64,
    },
    /// An answer to a probe already answered or given up on.
    Late {
        /// What kind of probe it answers.
        probe: Probe,
        /// The probe it echoes.
        seq: u64,
    },
    /// A pong that echoes no ping of ours, or (with echoes) a message that echoes no
    /// message of ours.
    Unsolicited {
        /// A pong ([`Probe::Ping`]) or a message ([`Probe::Echo`]).
        probe: Probe,
        /// Its payload size.
        bytes: usize,
    },
}

/// What one kind of probe came to.
#[derive(Debug, Clone, Default)]
pub struct ProbeStats {
    /// What its tracker counted.
    pub counts: Counts,
    /// RTTs of the answered probes.
    pub latency: Latency,
}

impl ProbeStats {
    /// Probes not answered, including any still in flight when the session ended (as ping(8)).
    pub fn lost(&self) -> u64 {
        self.counts.unanswered()
    }

    /// [`ProbeStats::lost`] as a percentage of probes sent (0 when none was sent).
    pub fn loss_pct(&self) -> f64 {
        self.counts.loss_pct()
    }
}

/// The outcome of a ping session.
#[derive(Debug)]
pub struct PingReport {
    /// The URL pinged.
    pub url: String,
    /// How the connection was opened, before the first Ping.
    pub setup: Setup,
    /// What the probes were; `counts` and `latency` are the first kind's (the Pings',
    /// with [`Probes::Both`]) and `echo` the echo messages' beside them.
    pub probes: Probes,
    /// What the tracker counted.
    pub counts: Counts,
    /// RTTs of the answered pings, on `setup.clock` (or the user's for a ping the
    /// kernel did not time; see `unstamped`).
    pub latency: Latency,
    /// With [`Probes::Both`], the echo messages.
    pub echo: Option<ProbeStats>,
    /// The run's `-c` and `-w`, which decide what counts as success.
    pub count: Option<u64>,
    /// See [`PingOptions::deadline`].
    pub deadline: Option<Duration>,
    /// The same pings' user-to-user RTTs.
    pub user_latency: Latency,
    /// Replies reported on the user's clock although the kernel's was wanted: no
    /// stamp came with them (the kernel starts stamping a moment after it is asked).
    pub unstamped: u64,
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
        self.counts.unanswered()
    }

    /// [`PingReport::lost`] as a percentage of pings sent (0 when none was sent).
    pub fn loss_pct(&self) -> f64 {
        self.counts.loss_pct()
    }

    /// Whether at least one ping was sent and every one was answered.
    pub fn all_answered(&self) -> bool {
        self.counts.sent > 0 && self.lost() == 0 && self.echo.as_ref().is_none_or(|e| e.lost() == 0)
    }

    /// Replies of every kind.
    pub fn all_received(&self) -> u64 {
        self.received() + self.echo.as_ref().map_or(0, |e| e.counts.answered)
    }

    /// Whether the run did what it was asked (exit status 0). Without a deadline:
    /// every probe answered. With one, ping(8)'s rule: the `-c` count of answers
    /// arrived (with [`Probes::Both`], twice the count, of either kind), or without
    /// `-c` at least one, since the deadline cuts off whatever is in flight.
    pub fn passed(&self) -> bool {
        if self.deadline.is_none() {
            return self.all_answered();
        }
        let kinds = self.probes.kinds().len() as u64;
        let wanted = self.count.map_or(1, |c| c.saturating_mul(kinds));
        self.all_received() >= wanted
    }

    /// The figures of `probe`, if this run sent that kind.
    pub fn stats(&self, probe: Probe) -> Option<ProbeStats> {
        let first = self.probes.kinds().first().copied();
        if first == Some(probe) {
            return Some(ProbeStats {
                counts: self.counts,
                latency: self.latency.clone(),
            });
        }
        (probe == Probe::Echo).then(|| self.echo.clone()).flatten()
    }
}

/// One connected WebSocket that pings.
#[derive(Debug)]
pub struct Pinger {
    ws: WebSocketStream<Stream>,
    /// Every ping sent on `ws` and what became of it.
    tracker: PingTracker,
    /// Every echo message sent on `ws`, when echoing ([`Pinger::echo_as`]).
    echo: Option<PingTracker>,
    /// What echo messages carry, from [`Pinger::connect`].
    payload_size: usize,
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
        let (ws, response) = connect::upgrade(stream, config, url).await?;
        let clock = match (&opened.no_kernel_stamps, config.ping.user_latency) {
            (None, false) => Clock::Kernel,
            _ => Clock::User,
        };
        let setup = Setup {
            resolve: opened.resolve,
            tcp_connect: opened.tcp_connect,
            proxy: opened.proxy,
            tls: opened.tls,
            upgrade: upgrade_start.elapsed(),
            subprotocol: connect::subprotocol(&response),
            clock,
            no_kernel_stamps: opened.no_kernel_stamps,
        };
        Ok(Pinger {
            ws,
            tracker: PingTracker::new(Instant::now(), payload_size),
            echo: None,
            payload_size,
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

    /// From now on, matches Text ([`Encoding::Text`]) or Binary messages as echoes of
    /// the ones [`Pinger::send_echo`] sends; other messages count as unrelated.
    pub fn echo_as(&mut self, encoding: Encoding) {
        self.echo = Some(PingTracker::with_encoding(
            Instant::now(),
            self.payload_size,
            encoding,
        ));
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

    /// What the echo tracker has counted so far, when echoing.
    pub fn echo_counts(&self) -> Option<Counts> {
        self.echo.as_ref().map(PingTracker::counts)
    }

    /// Probes of either kind awaiting their answer.
    pub fn waiting(&self) -> usize {
        self.tracker.waiting() + self.echo.as_ref().map_or(0, PingTracker::waiting)
    }

    /// Sends the next probe of kind `probe`; returns its sequence number.
    pub async fn send(&mut self, probe: Probe) -> Result<u64, Error> {
        match probe {
            Probe::Ping => self.send_ping().await,
            Probe::Echo => self.send_echo().await,
        }
    }

    /// Sends the next echo message; returns its sequence number. Fails with
    /// [`Error::Unexpected`] unless [`Pinger::echo_as`] was called.
    pub async fn send_echo(&mut self) -> Result<u64, Error> {
        let Some(tracker) = self.echo.as_mut() else {
            return Err(Error::Unexpected("echo probes were not set up".into()));
        };
        let probe = tracker.ping(Instant::now());
        let message = match tracker.encoding() {
            Encoding::Binary => Message::Binary(probe.payload.into()),
            // The text encoding writes ASCII only.
            Encoding::Text => Message::text(String::from_utf8_lossy(&probe.payload).into_owned()),
        };
        self.ws
            .send(message)
            .await
            .map_err(|err| Error::lost(&self.url.text, err))?;
        // As for a Ping: the last write carried it.
        if let (Some(at), Some(tracker)) =
            (self.ws.get_ref().stamped().last_tx(), self.echo.as_mut())
        {
            tracker.on_wire(probe.seq, at);
        }
        self.busy.touch();
        Ok(probe.seq)
    }

    /// Sends the next Ping and returns its sequence number.
    pub async fn send_ping(&mut self) -> Result<u64, Error> {
        let ping = self.tracker.ping(Instant::now());
        self.ws
            .send(Message::Ping(ping.payload.into()))
            .await
            .map_err(|err| Error::lost(&self.url.text, err))?;
        // Nothing is batched (`write_buffer_size` 0), so the last write has just
        // carried this Ping, and its time is the Ping's.
        if let Some(at) = self.ws.get_ref().stamped().last_tx() {
            self.tracker.on_wire(ping.seq, at);
        }
        self.busy.touch();
        Ok(ping.seq)
    }

    /// Reads until a Pong arrives (or, when echoing, a Text or Binary message) and
    /// classifies it; returns it with its kind and payload size. Other messages are
    /// read and dropped (reading is what makes tungstenite answer the server's Pings).
    /// Cancel-safe: nothing is lost if the future is dropped.
    pub async fn next_answer(&mut self) -> Result<(Probe, PongOutcome, usize), Error> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Pong(payload))) => {
                    let now = Instant::now();
                    // The read that completed this Pong was the last one: tungstenite
                    // parses what it has before it reads more.
                    let received = self.ws.get_ref().stamped().last_rx();
                    let outcome = self.tracker.pong(&payload, now, received);
                    return Ok((Probe::Ping, outcome, payload.len()));
                }
                Some(Ok(Message::Text(text))) if self.echo.is_some() => {
                    let now = Instant::now();
                    let received = self.ws.get_ref().stamped().last_rx();
                    if let Some(echo) = self.echo.as_mut() {
                        let outcome = echo.pong(text.as_bytes(), now, received);
                        return Ok((Probe::Echo, outcome, text.len()));
                    }
                }
                Some(Ok(Message::Binary(data))) if self.echo.is_some() => {
                    let now = Instant::now();
                    let received = self.ws.get_ref().stamped().last_rx();
                    if let Some(echo) = self.echo.as_mut() {
                        let outcome = echo.pong(&data, now, received);
                        return Ok((Probe::Echo, outcome, data.len()));
                    }
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

    /// When the oldest waiting probe times out, if one is waiting.
    pub fn deadline(&self, timeout: Duration) -> Option<Instant> {
        let echo = self.echo.as_ref().and_then(|e| e.deadline(timeout));
        match (self.tracker.deadline(timeout), echo) {
            (Some(ping), Some(echo)) => Some(ping.min(echo)),
            (ping, echo) => ping.or(echo),
        }
    }

    /// Gives up on the probes older than `timeout`; returns their kinds and sequence
    /// numbers (zero gives up on every one still waiting).
    pub fn expire(&mut self, timeout: Duration) -> Vec<(Probe, u64)> {
        let now = Instant::now();
        let mut expired: Vec<_> = self
            .tracker
            .expire(now, timeout)
            .into_iter()
            .map(|seq| (Probe::Ping, seq))
            .collect();
        if let Some(echo) = self.echo.as_mut() {
            expired.extend(
                echo.expire(now, timeout)
                    .into_iter()
                    .map(|seq| (Probe::Echo, seq)),
            );
        }
        expired
    }

    /// The clock this pinger's RTTs are reported on.
    pub fn clock(&self) -> Clock {
        self.setup.clock
    }

    /// One sequential round trip: sends a Ping and waits for its Pong. `None` when no
    /// pong came within `timeout` (the ping then counts as lost).
    pub async fn ping_once(&mut self, timeout: Duration) -> Result<Option<Rtt>, Error> {
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
                pong = self.next_answer() => match pong {
                    Err(err) => break Err(err),
                    Ok((Probe::Ping, PongOutcome::Reply { seq: s, rtt, .. }, _)) if s == seq => {
                        break Ok(Some(rtt));
                    }
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
    pub async fn close(self) -> Result<(), Error> {
        self.close_with(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        })
        .await
    }

    /// [`Pinger::close`] with `frame` (1001 Going Away on SIGTERM, say).
    pub async fn close_with(mut self, frame: CloseFrame) -> Result<(), Error> {
        if self.peer_closed {
            self.ws.flush().await?;
        } else {
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

/// Runs a ping session as `config.ping` describes, until its count is done, its
/// deadline passes or `stop` fires, reporting each event to `on_event`. Stopped by
/// [`Stop::go_away`] (SIGTERM), it closes with 1001 rather than 1000.
///
/// Fails only if the session cannot start (bad URL, connection or upgrade refused).
/// A connection lost later ends the session; the report says so in `ended_by`.
pub async fn ping(
    config: &Config,
    stop: impl Into<Stop>,
    mut on_event: impl FnMut(&PingEvent),
) -> Result<PingReport, Error> {
    let stop: Stop = stop.into();
    let options = &config.ping;
    let url = target(config)?;
    let mut pinger = tokio::select! {
        pinger = Pinger::connect(config, &url, options.payload_size) => pinger?,
        () = stop.cancelled() => return Err(Error::Interrupted),
    };
    pinger.busy_poll(options.busy_poll);
    if let Some(encoding) = options.probes.echo() {
        pinger.echo_as(encoding);
    }
    on_event(&PingEvent::Started {
        url: url.text.clone(),
        peer: pinger.peer_addr(),
        local: pinger.local_addr(),
        payload_size: options
            .payload_size
            .clamp(wspp::payload::MIN_LEN, wspp::payload::MAX_LEN),
        busy_poll: options.busy_poll,
        probes: options.probes,
        setup: Box::new(pinger.setup().clone()),
    });

    let kinds = options.probes.kinds();
    // `-c` counts each kind: with both, that many Pings and that many messages.
    let target = options.count.map(|c| c.saturating_mul(kinds.len() as u64));
    let start = Instant::now();
    let run_deadline = options.deadline.map(|d| start + d);
    let clock = pinger.clock();
    let mut latency = Latency::default();
    let mut user_latency = Latency::default();
    let mut unstamped = 0;
    let mut echo_latency = Latency::default();
    let mut turn = 0usize;
    let mut next_ping = Some(start);
    let mut ended_by = None;
    // One wait for the whole session rather than a new waiter on the token per pong,
    // polled only when the token says so (see `RareEvent`).
    let cancelled = stop.cancelled();
    tokio::pin!(cancelled);
    let mut cancelled = RareEvent::new(cancelled, || stop.is_cancelled());
    // Not in the timer wheel until first reset.
    let timer = tokio::time::sleep(Duration::MAX);
    tokio::pin!(timer);
    loop {
        let all_sent = target.is_some_and(|target| {
            let (ping, echo) = (pinger.counts(), pinger.echo_counts().unwrap_or_default());
            if run_deadline.is_some() {
                // ping(8)'s -w with -c: the count is of answers; a lost probe is replaced.
                ping.answered + echo.answered + pinger.waiting() as u64 >= target
            } else {
                ping.sent + echo.sent >= target
            }
        });
        if all_sent && pinger.waiting() == 0 {
            break;
        }
        let now = Instant::now();
        if run_deadline.is_some_and(|at| at <= now) {
            // ping(8) counts what is still in flight at the deadline as lost.
            for (probe, seq) in pinger.expire(Duration::ZERO) {
                on_event(&PingEvent::Timeout { probe, seq });
            }
            break;
        }
        let ping_at = if all_sent { None } else { next_ping };
        // A due ping goes out now, not through a timer: tokio's timers fire on
        // millisecond ticks, so with `-i 0` every ping would wait up to 1 ms, and the
        // idle gap (both ends asleep) would show in the next RTT.
        if ping_at.is_some_and(|at| at <= now) && !stop.is_cancelled() {
            let probe = kinds[turn % kinds.len()];
            turn += 1;
            if let Err(err) = pinger.send(probe).await {
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
        // One timer for whichever comes first, the next ping, the oldest ping's
        // deadline or the run's, moved only when that changes: a later deadline (each
        // ping's is) is one atomic store, where a fresh sleep per turn was a
        // timer-wheel insert and remove per pong.
        let wake_at = [ping_at, deadline, run_deadline]
            .into_iter()
            .flatten()
            .min();
        if let Some(at) = wake_at.map(tokio::time::Instant::from_std)
            && at != timer.deadline()
        {
            timer.as_mut().reset(at);
        }
        tokio::select! {
            biased;
            () = &mut cancelled => break,
            answer = pinger.next_answer() => match answer {
                Ok((probe, outcome, bytes)) => {
                    match outcome {
                        PongOutcome::Reply { seq, rtt, skipped } => {
                            let on = rtt.clock(clock);
                            unstamped += u64::from(on != clock);
                            match probe {
                                Probe::Ping => latency.record(rtt.on(on)),
                                Probe::Echo => echo_latency.record(rtt.on(on)),
                            }
                            // The user's clock beside the first kind's figures, which
                            // the report leads with.
                            if Some(&probe) == options.probes.kinds().first() {
                                user_latency.record(rtt.user);
                            }
                            on_event(&PingEvent::Reply { probe, seq, rtt, clock: on, bytes, skipped });
                        }
                        PongOutcome::Late { seq } => on_event(&PingEvent::Late { probe, seq }),
                        PongOutcome::Unsolicited => {
                            on_event(&PingEvent::Unsolicited { probe, bytes });
                        }
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
            // A due ping is sent, and a passed run deadline ends the run, at the top of
            // the loop; expiring finds nothing then.
            () = &mut timer, if wake_at.is_some() => {
                for (probe, seq) in pinger.expire(options.timeout) {
                    on_event(&PingEvent::Timeout { probe, seq });
                }
                if options.interval.is_zero() && pinger.waiting() == 0 {
                    next_ping = Some(Instant::now());
                }
            }
        }
    }
    let elapsed = start.elapsed();
    let setup = pinger.setup().clone();
    let (counts, latency, echo) = match (options.probes, pinger.echo_counts()) {
        (Probes::Echo(_), Some(echo_counts)) => (echo_counts, echo_latency, None),
        (Probes::Both(_), Some(echo_counts)) => (
            pinger.counts(),
            latency,
            Some(ProbeStats {
                counts: echo_counts,
                latency: echo_latency,
            }),
        ),
        _ => (pinger.counts(), latency, None),
    };
    // Close politely: our Close (1000, or 1001 when the process is going away), or the
    // reply tungstenite queued to the server's Close. The session is over either way,
    // so a server that does not finish the handshake changes nothing in the report.
    if matches!(ended_by, None | Some(Error::Closed { code: Some(_), .. }))
        && let Err(err) = pinger.close_with(stop.close_frame("")).await
    {
        tracing::debug!(error = %err, "close handshake did not complete");
    }
    Ok(PingReport {
        url: url.text,
        setup,
        probes: options.probes,
        counts,
        latency,
        echo,
        count: options.count,
        deadline: options.deadline,
        user_latency,
        unstamped,
        elapsed,
        busy_poll: options.busy_poll,
        ended_by,
    })
}
