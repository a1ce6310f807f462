//! The WebSocket requests: `open-close` and `hold`.
//!
//! Both upgrade with tungstenite's client over a tapped socket, so the frames in the
//! transcript come from the wire, including the Pongs tungstenite sends on its own.
//! tungstenite answers a Ping only while the stream is being read, so both loops read
//! all the time, even while they wait for something else.

use std::collections::VecDeque;
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use wspp::routes;
use wspp::stats::{Running, as_ms};

use super::Ctx;
use crate::connect::{self, WsUrl};
use crate::error::Error;
use crate::ping::CLOSE_WAIT;
use crate::tap::Tap;
use crate::wire::close_code_name;

/// Echo messages awaiting their echo beyond this many are forgotten (a server that
/// does not echo must not make `hold` grow without bound).
const MAX_WAITING_ECHOES: usize = 1024;
/// The text every echo message starts with; the rest is its sequence number.
const ECHO_PREFIX: &str = "wspp echo seq=";

type Socket = WebSocketStream<Tap<TcpStream>>;

/// Upgrades on `/openandclosewebsocket` and reads until the server has closed.
pub(super) async fn open_close(ctx: &Ctx<'_>) -> Result<(), Error> {
    let mut ws = upgrade(ctx, routes::OPEN_AND_CLOSE).await?;
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
                    ctx.transcript.note("cancelled: closing with 1000");
                    ws.close(Some(normal_close("cancelled"))).await?;
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
            Some(Err(err)) => return Err(err.into()),
            None => {
                ctx.transcript.note("connection closed");
                return Ok(());
            }
        }
    }
}

/// Keeps a `/pingpong` session open, echoing a Text message every interval, until
/// cancelled; then closes with 1000 and waits (bounded) for the server's Close.
pub(super) async fn hold(ctx: &Ctx<'_>) -> Result<(), Error> {
    let interval = ctx.config.hold_interval;
    let mut ws = upgrade(ctx, routes::PINGPONG).await?;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut waiting: VecDeque<(u64, Instant)> = VecDeque::new();
    let mut next_seq = 0u64;
    let mut echoes = Running::default();
    ctx.transcript.note(format!(
        "echoing a Text message every {}; the server pings on its own schedule",
        humantime::format_duration(interval)
    ));
    let result = loop {
        tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => break Ok(()),
            next = ws.next() => match next {
                Some(Ok(Message::Text(text))) => {
                    let now = Instant::now();
                    match parse_echo(&text).and_then(|seq| waiting.iter().position(|&(s, _)| s == seq)) {
                        Some(pos) => {
                            let (seq, sent) = waiting.remove(pos).expect("position is in range");
                            let rtt = now.saturating_duration_since(sent);
                            echoes.record(rtt);
                            ctx.transcript.rtt("echo", seq, rtt);
                        }
                        None => ctx.transcript.note("a Text message that echoes nothing we sent"),
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    break Err(Error::Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    });
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => break Err(err.into()),
                None => break Err(Error::Closed { code: None, reason: String::new() }),
            },
            _ = ticker.tick() => {
                let seq = next_seq;
                next_seq += 1;
                if waiting.len() == MAX_WAITING_ECHOES {
                    waiting.pop_front();
                }
                waiting.push_back((seq, Instant::now()));
                ws.send(Message::text(format!("{ECHO_PREFIX}{seq}"))).await?;
            }
        }
    };
    if let (Some(min), Some(avg), Some(max)) = (echoes.min(), echoes.mean(), echoes.max()) {
        ctx.transcript.note(format!(
            "{} echoes, rtt min/avg/max = {:.3}/{:.3}/{:.3} ms",
            echoes.count(),
            as_ms(min),
            as_ms(avg),
            as_ms(max)
        ));
    }
    // After our cancel this sends Close 1000; after the server's Close it sends the
    // reply tungstenite queued. Either way the handshake completes on the wire.
    match result {
        Ok(()) => close_and_wait(ctx, &mut ws, Some("bye")).await?,
        Err(Error::Closed { code: Some(_), .. }) => close_and_wait(ctx, &mut ws, None).await?,
        Err(_) => {}
    }
    result
}

/// Connects to the server and upgrades on `route`, noting the server's answer.
async fn upgrade(ctx: &Ctx<'_>, route: &str) -> Result<Socket, Error> {
    let url = WsUrl::for_route(&ctx.config.server, route)?;
    let tap = ctx.connect(&url.addr).await?;
    let (ws, response) = connect::upgrade(tap, ctx.config, &url).await?;
    ctx.transcript.note(format!(
        "upgraded to WebSocket ({} {})",
        response.status().as_u16(),
        response.status().canonical_reason().unwrap_or("")
    ));
    Ok(ws)
}

/// Sends Close 1000 with `reason` (or, with `None` after the server's Close, the
/// reply tungstenite queued), then reads until the end of the connection, for at
/// most [`CLOSE_WAIT`].
async fn close_and_wait(
    ctx: &Ctx<'_>,
    ws: &mut Socket,
    reason: Option<&'static str>,
) -> Result<(), Error> {
    match reason {
        Some(reason) => ws.close(Some(normal_close(reason))).await?,
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

fn normal_close(reason: &'static str) -> CloseFrame {
    CloseFrame {
        code: CloseCode::Normal,
        reason: reason.into(),
    }
}

/// `1000 (Normal Closure) "bye"`, or `no close code`.
fn describe_close(frame: Option<&CloseFrame>) -> String {
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

    #[test]
    fn echo_texts_round_trip() {
        assert_eq!(parse_echo(&format!("{ECHO_PREFIX}42")), Some(42));
        assert_eq!(parse_echo("hello"), None);
    }

    #[test]
    fn close_frames_are_described_with_their_names() {
        let frame = normal_close("bye");
        assert_eq!(
            describe_close(Some(&frame)),
            "1000 (Normal Closure) \"bye\""
        );
        assert_eq!(describe_close(None), "no close code");
    }
}
