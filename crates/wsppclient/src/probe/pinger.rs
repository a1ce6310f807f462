//! [`Pinger`]: one connected WebSocket with its [`PingTracker`]s, the layer a
//! benchmark loop drives directly and ping's session schedules.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::time::Sleep;

use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Control, OpCode};
use tokio_tungstenite::tungstenite::{self, Message};
use wspp::busy_poll::BusyPoll;
use wspp::frame::apply_mask;
use wspp::payload::Encoding;
use wspp::tracker::{Counts, PingTracker, PongOutcome, Rtt};
use wspp::wire_clock::{Clock, StampedTcp, WireTime};

use super::kinds::Probe;
use super::report::Setup;
use crate::error::Error;
use crate::net::connect::{self, CLOSE_WAIT};
use crate::net::http2::{self, Carrier};
use crate::net::settings::ConnectSettings;
use crate::net::upgrade::{self, Upgraded};
use crate::net::url::WsUrl;

/// An HTTP/2 connection on which Pingers open their WebSockets, each on a stream of
/// its own ([`Pinger::on_stream`]): `load --streams` puts several on one connection.
#[derive(Debug)]
pub struct Http2Connection {
    http2: http2::Connection,
    /// How the TCP (and TLS) connection under it was opened.
    opened: connect::Opened,
    /// The HTTP/2 handshake, up to the server's SETTINGS.
    handshake: Duration,
}

impl Http2Connection {
    /// Opens a connection to `url` (from the local address `source`, when given) and
    /// shakes hands in HTTP/2: ALPN `h2` over TLS, prior knowledge otherwise.
    pub async fn dial(
        settings: &ConnectSettings,
        url: &WsUrl,
        source: Option<IpAddr>,
    ) -> Result<Self, Error> {
        let (stream, mut opened) =
            connect::open_from(&settings.dial, &url.endpoint(), source).await?;
        let start = Instant::now();
        let http2 = http2::Connection::handshake(stream, settings.dial.timeout, url).await?;
        opened.no_kernel_stamps = Some(http2::NO_STAMPS.to_owned());
        Ok(Http2Connection {
            http2,
            opened,
            handshake: start.elapsed(),
        })
    }

    /// Whether the connection has ended: no WebSocket opens on it any more.
    pub fn is_closed(&self) -> bool {
        self.http2.is_closed()
    }
}

/// One connected WebSocket that pings.
#[derive(Debug)]
pub struct Pinger {
    ws: Upgraded<Carrier>,
    /// Every ping sent on `ws` and what became of it.
    tracker: PingTracker,
    /// Every echo message sent on `ws`, when echoing ([`Pinger::echo_as`]). Boxed:
    /// most pingers never echo, and `load` holds thousands of them.
    echo: Option<Box<PingTracker>>,
    /// What echo messages carry, from [`Pinger::connect`].
    payload_size: usize,
    /// Shared, not copied: the connections of a `load` run all hold the same one.
    url: Arc<WsUrl>,
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
    /// Probes sent on the kernel's clock whose transmission it did not stamp: timed
    /// from the clock read just before their write instead.
    send_unstamped: u64,
    /// A frame written below tungstenite did not complete (its send was dropped or
    /// failed half-way): the stream is inside that frame, and nothing more is sent.
    cut_short: bool,
}

/// Why nothing more is sent after a write was cut short.
const CUT_SHORT: &str = "a Ping's write was cut short, leaving the connection inside a frame";

/// The largest payload of a control frame (RFC 6455, 5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

/// A Ping frame as a client writes it: the two header bytes (a control frame's
/// length always fits the second), the masking key, the masked payload. On the heap,
/// for the moment of its write: held in the connection's task, it would make every
/// connection's task larger by a frame for good.
struct MaskedPing(Vec<u8>);

impl MaskedPing {
    /// The frame carrying `payload`, masked with a fresh key from a strong generator,
    /// as RFC 6455 (5.3) asks and tungstenite does for its own frames.
    fn new(payload: &[u8]) -> Result<Self, Error> {
        let n = payload.len();
        if n > MAX_CONTROL_PAYLOAD {
            return Err(Error::Unexpected(format!(
                "a Ping's payload is {n} bytes, past the {MAX_CONTROL_PAYLOAD} a control frame may carry"
            )));
        }
        let key: [u8; 4] = rand::random();
        let mut frame = Vec::with_capacity(6 + n);
        // FIN and the Ping opcode; the mask bit and the length.
        frame.extend_from_slice(&[
            0x80 | u8::from(OpCode::Control(Control::Ping)),
            0x80 | n as u8,
        ]);
        frame.extend_from_slice(&key);
        frame.extend_from_slice(payload);
        apply_mask(&mut frame[6..], key, 0);
        Ok(MaskedPing(frame))
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Pinger {
    /// Connects to `url` (shaking hands in TLS for `wss://`) and upgrades; each Ping
    /// will carry `payload_size` bytes. RTTs are timed on the kernel's clock where it
    /// stamps, and printed on the user's when `user_clock` asks for it (`-U`).
    pub async fn connect(
        settings: &ConnectSettings,
        url: &WsUrl,
        payload_size: usize,
        user_clock: bool,
    ) -> Result<Self, Error> {
        let url = Arc::new(url.clone());
        Pinger::connect_from(settings, &url, payload_size, user_clock, None).await
    }

    /// [`Pinger::connect`] from the local address `source`, when given, to a `url`
    /// the pinger shares with its caller.
    pub async fn connect_from(
        settings: &ConnectSettings,
        url: &Arc<WsUrl>,
        payload_size: usize,
        user_clock: bool,
        source: Option<IpAddr>,
    ) -> Result<Self, Error> {
        if settings.dial.http2 {
            let connection = Http2Connection::dial(settings, url, source).await?;
            return Pinger::on_stream(&connection, true, settings, url, payload_size, user_clock)
                .await;
        }
        let (stream, opened) = connect::open_from(&settings.dial, &url.endpoint(), source).await?;
        let upgrade_start = Instant::now();
        let (headers, timeout) = (&settings.headers, settings.dial.timeout);
        let (ws, response) = upgrade::upgrade(Carrier::Left(stream), headers, timeout, url).await?;
        let subprotocol = upgrade::subprotocol(&response);
        let upgrade = upgrade_start.elapsed();
        Ok(Pinger::new(
            ws,
            subprotocol,
            opened,
            upgrade,
            url,
            payload_size,
            user_clock,
        ))
    }

    /// A WebSocket on a new stream of `connection`, opened by an extended CONNECT.
    /// Its setup is the connection's, the upgrade being the CONNECT's round trip, and
    /// also the connection's HTTP/2 handshake when `with_handshake` (the connection's
    /// first WebSocket).
    pub async fn on_stream(
        connection: &Http2Connection,
        with_handshake: bool,
        settings: &ConnectSettings,
        url: &Arc<WsUrl>,
        payload_size: usize,
        user_clock: bool,
    ) -> Result<Self, Error> {
        let start = Instant::now();
        let (headers, timeout) = (&settings.headers, settings.dial.timeout);
        let (stream, h2) = connection.http2.open(headers, timeout, url).await?;
        let ws = http2::websocket(Carrier::Right(stream)).await;
        let mut upgrade = start.elapsed();
        if with_handshake {
            upgrade += connection.handshake;
        }
        let opened = connection.opened.clone();
        Ok(Pinger::new(
            ws,
            h2.subprotocol,
            opened,
            upgrade,
            url,
            payload_size,
            user_clock,
        ))
    }

    fn new(
        ws: Upgraded<Carrier>,
        subprotocol: Option<String>,
        opened: connect::Opened,
        upgrade: Duration,
        url: &Arc<WsUrl>,
        payload_size: usize,
        user_clock: bool,
    ) -> Self {
        // The kernel's clock is kept under `-U` too: it only changes what is printed.
        let clock = match opened.no_kernel_stamps {
            None => Clock::Kernel,
            Some(_) => Clock::User,
        };
        let printed = if user_clock { Clock::User } else { clock };
        let setup = Setup {
            resolve: opened.resolve,
            tcp_connect: opened.tcp_connect,
            proxy: opened.proxy,
            tls: opened.tls,
            upgrade,
            subprotocol,
            clock,
            printed,
            no_kernel_stamps: opened.no_kernel_stamps,
        };
        let pinger = Pinger {
            ws,
            tracker: PingTracker::new(Instant::now(), payload_size),
            echo: None,
            payload_size,
            url: Arc::clone(url),
            peer: opened.peer,
            local: opened.local,
            setup,
            peer_closed: false,
            busy: BusyPoll::off(),
            timer: None,
            send_unstamped: 0,
            cut_short: false,
        };
        // Nothing awaits an answer yet.
        pinger.stamp_reads_while_waiting();
        pinger
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
        self.echo = Some(Box::new(PingTracker::with_encoding(
            Instant::now(),
            self.payload_size,
            encoding,
        )));
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
        self.echo.as_deref().map(PingTracker::counts)
    }

    /// Probes of either kind awaiting their answer.
    pub fn waiting(&self) -> usize {
        self.tracker.waiting() + self.echo.as_deref().map_or(0, PingTracker::waiting)
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
        // Nothing is batched (`write_buffer_size` 0): the last write carried it.
        let kernel = self.before_timed_send()?;
        let result = self.ws.send(message).await;
        let sent = self.after_timed_send(kernel, result)?;
        if let (Some(at), Some(tracker)) = (sent, self.echo.as_mut()) {
            tracker.on_wire(probe.seq, at);
        }
        self.busy.touch();
        Ok(probe.seq)
    }

    /// Sends the next Ping and returns its sequence number.
    pub async fn send_ping(&mut self) -> Result<u64, Error> {
        // Only what the write needs is held across it: the send's state is part of
        // every `load` connection's task.
        let (seq, frame) = {
            let ping = self.tracker.ping(Instant::now());
            (ping.seq, MaskedPing::new(&ping.payload)?)
        };
        let kernel = self.before_timed_send()?;
        let written = self.write_below(frame.bytes()).await;
        // One write carried the whole Ping, so its time is the Ping's.
        if let Some(at) = self.after_timed_send(kernel, written)? {
            self.tracker.on_wire(seq, at);
        }
        self.busy.touch();
        Ok(seq)
    }

    /// Readies the stamps of the send about to be made: the probe's, to be timed.
    /// Whether RTTs are on the kernel's clock.
    fn before_timed_send(&self) -> Result<bool, Error> {
        if self.cut_short {
            return Err(Error::Unexpected(CUT_SHORT.into()));
        }
        let kernel = self.setup.clock == Clock::Kernel;
        if kernel && let Some(stamps) = self.stamps() {
            stamps.stamp_sends();
            stamps.stamp_reads(true);
        }
        Ok(kernel)
    }

    /// After a probe's send (`result`): when the write that carried it met the wire,
    /// the kernel's transmit stamp when RTTs are on its clock and it gave one.
    fn after_timed_send(
        &mut self,
        kernel: bool,
        result: Result<(), tungstenite::Error>,
    ) -> Result<Option<WireTime>, Error> {
        // Asked even after a failure: it ends the request for stamps.
        let sent = self.stamps().and_then(StampedTcp::sent);
        result.map_err(|err| Error::lost(&self.url.text, err))?;
        if kernel && sent.is_some_and(|s| s.clock == Clock::User) {
            self.send_unstamped += 1;
        }
        Ok(sent.map(|s| s.at))
    }

    /// Writes a whole frame on the stream under tungstenite, between its frames.
    ///
    /// A Ping needs nothing of tungstenite's: framed and masked through its sink, it
    /// went through the waker proxies, the message, the frame and the output buffer of
    /// a library that holds thousands of connections' state, which, at a load run's
    /// scale, are memory the probe had to bring back into the cache. Written here, it
    /// touches the stream alone. tungstenite's last frame goes out first if a full
    /// socket cut it short (its reply to a server's Ping, say).
    async fn write_below(&mut self, frame: &[u8]) -> Result<(), tungstenite::Error> {
        // What tungstenite would refuse to frame is refused here too: nothing follows
        // a Close.
        if self.peer_closed {
            return Err(tungstenite::Error::Protocol(
                ProtocolError::SendAfterClosing,
            ));
        }
        if !self.ws.get_ref().wrote_all() {
            self.ws.flush().await?;
        }
        // Marked until the write completes: a send dropped half-way through leaves
        // the stream inside the frame, and nothing may follow it.
        self.cut_short = true;
        self.ws.get_mut().write_all(frame).await?;
        self.cut_short = false;
        Ok(())
    }

    /// Has the socket read receive stamps only while a probe awaits its answer: the
    /// server's Pings and other messages need none, and a read without the control
    /// message costs less, in the kernel and here.
    fn stamp_reads_while_waiting(&self) {
        if let Some(stamps) = self.stamps() {
            stamps.stamp_reads(self.waiting() > 0);
        }
    }

    /// The socket whose stamps time this WebSocket's frames; none over HTTP/2.
    fn stamps(&self) -> Option<&StampedTcp> {
        http2::stamps(upgrade::transport(&self.ws))
    }

    /// Probes whose transmission the kernel did not stamp although RTTs are on its
    /// clock: their send time is the clock read just before their write.
    pub fn send_unstamped(&self) -> u64 {
        self.send_unstamped
    }

    /// Reads until a Pong arrives (or, when echoing, a Text or Binary message) and
    /// classifies it; returns it with its kind and payload size. Other messages are
    /// read and dropped (reading is what makes tungstenite answer the server's Pings).
    /// Cancel-safe: nothing is lost if the future is dropped.
    pub async fn next_answer(&mut self) -> Result<(Probe, PongOutcome, usize), Error> {
        std::future::poll_fn(|cx| self.poll_next_answer(cx)).await
    }

    /// [`Pinger::next_answer`] as a poll, for a caller that chooses the waker its
    /// reads are woken through (`load` polls only once they are).
    pub fn poll_next_answer(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(Probe, PongOutcome, usize), Error>> {
        loop {
            let answer = match ready!(self.ws.poll_next_unpin(cx)) {
                Some(Ok(Message::Pong(payload))) => {
                    let now = Instant::now();
                    // The read that completed this Pong was the last one: tungstenite
                    // parses what it has before it reads more.
                    let received = self.stamps().and_then(StampedTcp::last_rx);
                    let outcome = self.tracker.pong(&payload, now, received);
                    (Probe::Ping, outcome, payload.len())
                }
                // Echoes, when echoing; otherwise unrelated, and dropped.
                Some(Ok(Message::Text(text))) => {
                    let Some(answer) = self.echo_answer(text.as_bytes()) else {
                        continue;
                    };
                    answer
                }
                Some(Ok(Message::Binary(data))) => {
                    let Some(answer) = self.echo_answer(&data) else {
                        continue;
                    };
                    answer
                }
                Some(Ok(Message::Close(frame))) => {
                    self.peer_closed = true;
                    return Poll::Ready(Err(Error::Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    }));
                }
                Some(Ok(_)) => continue,
                // A server killed mid-session: say so, naming the session.
                Some(Err(err)) => return Poll::Ready(Err(Error::lost(&self.url.text, err))),
                None => return Poll::Ready(Err(Error::ended(&self.url.text))),
            };
            self.stamp_reads_while_waiting();
            return Poll::Ready(Ok(answer));
        }
    }

    /// Classifies an echoed message; `None` when not echoing.
    fn echo_answer(&mut self, payload: &[u8]) -> Option<(Probe, PongOutcome, usize)> {
        self.echo.as_ref()?;
        let now = Instant::now();
        let received = self.stamps().and_then(StampedTcp::last_rx);
        let echo = self.echo.as_mut()?;
        Some((
            Probe::Echo,
            echo.pong(payload, now, received),
            payload.len(),
        ))
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
        self.stamp_reads_while_waiting();
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
    /// the server closed first, sends tungstenite's reply to its Close instead. The
    /// pinger is borrowed, not moved, so that the future holds a reference rather
    /// than a copy of the whole connection: `load` closes thousands at once at the end
    /// of a run, and each such copy was a kilobyte more at the run's peak.
    pub async fn close(&mut self) -> Result<(), Error> {
        self.close_with(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        })
        .await
    }

    /// [`Pinger::close`] with `frame` (1001 Going Away on SIGTERM, say).
    pub async fn close_with(&mut self, frame: CloseFrame) -> Result<(), Error> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ping_framed_here_is_one_a_peer_reads_as_tungstenite_would_write_it() {
        let payload: Vec<u8> = (0..16).collect();
        let frame = MaskedPing::new(&payload).expect("a short payload");
        let (header, size) = wspp::frame::decode(frame.bytes()).expect("a whole header");
        assert_eq!((header.fin, header.rsv, header.opcode), (true, 0, 0x9));
        assert_eq!((header.len, size), (16, 6));
        let key = header.mask.expect("a client masks its frames");
        let mut unmasked = frame.bytes()[size..].to_vec();
        apply_mask(&mut unmasked, key, 0);
        assert_eq!(unmasked, payload);
        // Keys are fresh for every frame.
        let keys: std::collections::HashSet<_> = (0..8)
            .map(|_| MaskedPing::new(&payload).expect("frame").bytes()[2..6].to_vec())
            .collect();
        assert!(keys.len() > 1, "{keys:?}");
        assert!(MaskedPing::new(&[0; 125]).is_ok());
        assert!(matches!(
            MaskedPing::new(&[0; 126]),
            Err(Error::Unexpected(_))
        ));
    }
}
