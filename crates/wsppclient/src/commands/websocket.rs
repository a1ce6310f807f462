//! The WebSocket requests: `open-close` and `hold` (with `--reconnect`, across
//! server restarts).
//!
//! Both upgrade with tungstenite's client over a tapped socket, so the frames in the
//! transcript come from the wire, including the Pongs tungstenite sends on its own.
//! tungstenite answers a Ping only while the stream is being read, so both loops read
//! all the time, even while they wait for something else.
//!
//! A server that vanishes mid-session (killed, or its connection reset) is
//! [`Error::ConnectionLost`]: one line naming the session, where tungstenite alone
//! would say "protocol error" or, for a write, a broken pipe that reads like a closed
//! stdout.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};

use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use wspp::routes;
use wspp::stats::{Running, as_ms};
use wspp::wire_clock::{Clock, StampedTcp, WireTime};

use super::ctx::Ctx;
use crate::backoff::Backoff;
use crate::error::Error;
use crate::net::connect::{self, CLOSE_WAIT};
use crate::net::http2::{self, Carrier};
use crate::net::upgrade::{self, Upgraded};
use crate::net::url::WsUrl;
use crate::watch::tap::Tap;
use crate::watch::wire::close_code_name;

/// Echo messages awaiting their echo beyond this many are forgotten (a server that
/// does not echo must not make `hold` grow without bound).
const MAX_WAITING_ECHOES: usize = 1024;
/// The text every echo message starts with; the rest is its sequence number.
const ECHO_PREFIX: &str = "wspp echo seq=";

/// How often `hold` sends an echo message unless told otherwise.
pub const DEFAULT_HOLD_INTERVAL: Duration = Duration::from_secs(1);

/// What `hold` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldOptions {
    /// How often it sends an echo message.
    pub interval: Duration,
    /// Whether it reconnects (with back-off, until cancelled) when the connection
    /// drops or the server closes, instead of failing.
    pub reconnect: bool,
}

impl Default for HoldOptions {
    fn default() -> Self {
        HoldOptions {
            interval: DEFAULT_HOLD_INTERVAL,
            reconnect: false,
        }
    }
}

type Socket = Upgraded<Tap<Carrier>>;

/// Upgrades on `/openandclosewebsocket` and reads until the server has closed.
pub(super) async fn open_close(ctx: &Ctx<'_>) -> Result<(), Error> {
    let url = WsUrl::for_route(&ctx.settings.server, routes::OPEN_AND_CLOSE)?;
    let mut ws = upgrade(ctx, &url).await?;
    let result = read_to_close(ctx, &mut ws, &url).await;
    connect::end_transport(&mut ws).await;
    result
}

/// Reads, answering the server's pings, until the close handshake is over (bounded
/// once a Close has gone either way); Ctrl-C closes with 1000 first, SIGTERM with 1001. A connection
/// that breaks first is [`Error::ConnectionLost`].
async fn read_to_close(ctx: &Ctx<'_>, ws: &mut Socket, url: &WsUrl) -> Result<(), Error> {
    let mut closing_since: Option<Instant> = None;
    loop {
        let next = match closing_since {
            // Once a Close has gone either way, the rest is bounded.
            Some(since) => match tokio::time::timeout_at((since + CLOSE_WAIT).into(), ws.next())
                .await
            {
                Ok(next) => next,
                Err(_) => {
                    ctx.transcript
                        .note("the server did not end the connection after the close handshake");
                    return Ok(());
                }
            },
            None => tokio::select! {
                next = ws.next() => next,
                () = ctx.cancel.cancelled() => {
                    let frame = ctx.cancel.close_frame("cancelled");
                    ctx.transcript.note(format!("cancelled: closing with {}", u16::from(frame.code)));
                    ws.close(Some(frame)).await?;
                    closing_since = Some(Instant::now());
                    continue;
                }
            },
        };
        match next {
            Some(Ok(Message::Close(frame))) => {
                ctx.transcript.note(format!(
                    "the server closed: {}",
                    describe_close(frame.as_ref())
                ));
                closing_since.get_or_insert_with(Instant::now);
            }
            // Pings are answered by tungstenite as we read on; the tap shows both.
            Some(Ok(_)) => {}
            Some(Err(err)) => return Err(Error::lost(&url.text, err)),
            None if closing_since.is_none() => return Err(Error::ended(&url.text)),
            None => {
                ctx.transcript.note("connection closed");
                return Ok(());
            }
        }
    }
}

/// The echo messages of a `hold`, across reconnections.
#[derive(Debug, Default)]
struct Echoes {
    /// Sent and not yet echoed, oldest first, at most [`MAX_WAITING_ECHOES`].
    /// Each with its send time, and when its write began on the wire clock.
    waiting: VecDeque<(u64, Instant, Option<WireTime>)>,
    /// The sequence number of the next message; never reused, even after a reconnection.
    next_seq: u64,
    /// RTTs of the echoed ones.
    rtts: Running,
    /// The clock of the latest of them: the kernel's where it stamps.
    clock: Clock,
}

/// Keeps a `/pingpong` session open, echoing a Text message every interval, until
/// cancelled; then closes with 1000 (1001 on SIGTERM) and waits (bounded) for the
/// server's Close.
///
/// When the session breaks or the server closes it, `hold` fails, unless
/// `options.reconnect`: then it says so in the transcript and reconnects with
/// [`Backoff`] until it is back or cancelled, and the echoes go on. The first
/// connection is not retried: a wrong address should fail at once, not spin.
pub(super) async fn hold(ctx: &Ctx<'_>, options: &HoldOptions) -> Result<(), Error> {
    let url = WsUrl::for_route(&ctx.settings.server, routes::PINGPONG)?;
    let mut ws = upgrade(ctx, &url).await?;
    ctx.transcript.note(format!(
        "echoing a Text message every {}; the server pings on its own schedule",
        humantime::format_duration(options.interval)
    ));
    let mut echoes = Echoes::default();
    let mut backoff = Backoff::default();
    let result = loop {
        let ended = hold_session(ctx, &mut ws, &url, options.interval, &mut echoes).await;
        // After our cancel this sends Close 1000; after the server's Close it sends the
        // reply tungstenite queued. Either way the handshake completes on the wire.
        let closed = match &ended {
            Ok(()) => close_and_wait(ctx, &mut ws, Some(ctx.cancel.close_frame("bye"))).await,
            Err(Error::Closed { code: Some(_), .. }) => close_and_wait(ctx, &mut ws, None).await,
            Err(_) => Ok(()),
        };
        connect::end_transport(&mut ws).await;
        let err = match ended {
            Err(err) if options.reconnect && err.is_transient() => err,
            ended => break closed.and(ended),
        };
        ctx.transcript
            .note(format!("disconnected: {}", crate::error::one_line(&err)));
        if !echoes.waiting.is_empty() {
            ctx.transcript.note(format!(
                "{} echo messages lost with the connection",
                echoes.waiting.len()
            ));
            echoes.waiting.clear();
        }
        match reconnect(ctx, &url, &mut backoff).await {
            Ok(Some(new)) => ws = new,
            Ok(None) => break Ok(()),
            Err(err) => break Err(err),
        }
    };
    let rtts = &echoes.rtts;
    if let (Some(min), Some(avg), Some(max)) = (rtts.min(), rtts.mean(), rtts.max()) {
        ctx.transcript.note(format!(
            "{} echoes, rtt min/avg/max = {:.3}/{:.3}/{:.3} ms ({} clock)",
            rtts.count(),
            as_ms(min),
            as_ms(avg),
            as_ms(max),
            echoes.clock
        ));
    }
    result
}

/// One connection's worth of `hold`: echo until cancelled (`Ok`), or until the server
/// closes ([`Error::Closed`]) or the connection breaks.
async fn hold_session(
    ctx: &Ctx<'_>,
    ws: &mut Socket,
    url: &WsUrl,
    interval: Duration,
    echoes: &mut Echoes,
) -> Result<(), Error> {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => return Ok(()),
            next = ws.next() => match next {
                Some(Ok(Message::Text(text))) => {
                    let now = Instant::now();
                    let received = stamps(ws).and_then(StampedTcp::last_rx);
                    let waiting = &mut echoes.waiting;
                    match parse_echo(&text).and_then(|seq| waiting.iter().position(|&(s, ..)| s == seq)) {
                        Some(pos) => {
                            let (seq, sent, wire) = waiting.remove(pos).expect("position is in range");
                            // The network's round trip where the kernel stamped both
                            // ends of it, as `ping` reports; else this program's.
                            let (rtt, clock) = match (wire, received) {
                                (Some(wire), Some(received)) => match received.since(wire) {
                                    Some(rtt) => (rtt, Clock::Kernel),
                                    None => (now.saturating_duration_since(sent), Clock::User),
                                },
                                _ => (now.saturating_duration_since(sent), Clock::User),
                            };
                            echoes.rtts.record(rtt);
                            echoes.clock = clock;
                            ctx.transcript.rtt("echo", seq, rtt, clock);
                        }
                        None => ctx.transcript.note("a Text message that echoes nothing we sent"),
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(Error::Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    });
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(Error::lost(&url.text, err)),
                None => return Err(Error::ended(&url.text)),
            },
            _ = ticker.tick() => {
                let seq = echoes.next_seq;
                echoes.next_seq += 1;
                if echoes.waiting.len() == MAX_WAITING_ECHOES {
                    echoes.waiting.pop_front();
                }
                echoes.waiting.push_back((seq, Instant::now(), None));
                if let Some(stamps) = stamps(ws) {
                    stamps.stamp_sends();
                }
                let result = ws.send(Message::text(format!("{ECHO_PREFIX}{seq}"))).await;
                // Written at once (nothing is batched): the last write carried it.
                let sent = stamps(ws).and_then(StampedTcp::sent);
                result.map_err(|err| Error::lost(&url.text, err))?;
                if let Some(last) = echoes.waiting.back_mut() {
                    last.2 = sent.map(|s| s.at);
                }
            }
        }
    }
}

/// Reconnects to `url`, waiting `backoff`'s delay before each attempt and noting each
/// in the transcript. `None` when cancelled first; an error that retrying cannot cure
/// (see [`Error::is_transient`]) ends it.
async fn reconnect(
    ctx: &Ctx<'_>,
    url: &WsUrl,
    backoff: &mut Backoff,
) -> Result<Option<Socket>, Error> {
    loop {
        let (delay, attempt) = backoff.next_delay();
        ctx.transcript.note(format!(
            "reconnecting in {} (attempt {attempt})",
            humantime::format_duration(delay)
        ));
        let attempted = tokio::select! {
            () = ctx.cancel.cancelled() => return Ok(None),
            attempted = async {
                tokio::time::sleep(delay).await;
                upgrade(ctx, url).await
            } => attempted,
        };
        match attempted {
            Ok(ws) => {
                ctx.transcript
                    .note(format!("reconnected after {attempt} attempt(s)"));
                backoff.reset();
                return Ok(Some(ws));
            }
            Err(err) if err.is_transient() => ctx.transcript.note(format!(
                "attempt {attempt} failed: {}",
                crate::error::one_line(&err)
            )),
            Err(err) => return Err(err),
        }
    }
}

/// The socket whose kernel stamps time `ws`'s echoes; none over HTTP/2.
fn stamps(ws: &Socket) -> Option<&StampedTcp> {
    http2::stamps(upgrade::transport(ws).get_ref())
}

/// Connects to the server and upgrades on `url`, noting the server's answer; with
/// `--http2`, opens the WebSocket as a stream of an HTTP/2 connection instead.
async fn upgrade(ctx: &Ctx<'_>, url: &WsUrl) -> Result<Socket, Error> {
    if ctx.settings.dial.http2 {
        let tap = ctx.connect_http2(url).await?;
        return Ok(http2::websocket(tap).await);
    }
    let tap = ctx.connect(&url.endpoint()).await?;
    let offer = &ctx.settings.headers;
    let timeout = ctx.settings.dial.timeout;
    let (mut ws, response) = upgrade::handshake(tap, offer, timeout, url, Some(ctx.transcript))
        .await
        .map_err(|failure| failure.into_error(url, offer, 0, &[]))?;
    upgrade::transport_mut(&mut ws)
        .layer_mut()
        .note_upgrade(super::ctx::upgraded_note(offer, &response));
    Ok(ws)
}

/// Sends `frame` (or, with `None` after the server's Close, the reply tungstenite
/// queued), then reads until the end of the connection, for at most [`CLOSE_WAIT`].
async fn close_and_wait(
    ctx: &Ctx<'_>,
    ws: &mut Socket,
    frame: Option<CloseFrame>,
) -> Result<(), Error> {
    match frame {
        Some(frame) => ws.close(Some(frame)).await?,
        // tokio-tungstenite refuses a Close of ours once the peer's has arrived.
        None => ws.flush().await?,
    }
    let drain = async {
        while let Some(next) = ws.next().await {
            if let Message::Close(frame) = next? {
                ctx.transcript.note(format!(
                    "the server answered: {}",
                    describe_close(frame.as_ref())
                ));
            }
        }
        Ok::<(), Error>(())
    };
    match tokio::time::timeout(CLOSE_WAIT, drain).await {
        Ok(result) => result,
        Err(_) => {
            ctx.transcript.note(format!(
                "no end of the close handshake within {}",
                humantime::format_duration(CLOSE_WAIT)
            ));
            Ok(())
        }
    }
}

/// `1000 (Normal Closure) "bye"`, or `no close code`.
pub(super) fn describe_close(frame: Option<&CloseFrame>) -> String {
    let Some(frame) = frame else {
        return "no close code".to_owned();
    };
    let code = u16::from(frame.code);
    let name = close_code_name(code).map_or(String::new(), |n| format!(" ({n})"));
    if frame.reason.is_empty() {
        format!("{code}{name}")
    } else {
        format!("{code}{name} {:?}", frame.reason.as_str())
    }
}

/// The sequence number of an echo message, if `text` is one of ours.
fn parse_echo(text: &str) -> Option<u64> {
    text.strip_prefix(ECHO_PREFIX)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    #[test]
    fn echo_texts_round_trip() {
        assert_eq!(parse_echo(&format!("{ECHO_PREFIX}42")), Some(42));
        assert_eq!(parse_echo("hello"), None);
    }

    #[test]
    fn close_frames_are_described_with_their_names() {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        };
        assert_eq!(
            describe_close(Some(&frame)),
            "1000 (Normal Closure) \"bye\""
        );
        assert_eq!(describe_close(None), "no close code");
    }
}
