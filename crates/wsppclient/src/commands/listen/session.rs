//! One client's WebSocket session, after our 101: its messages read (and echoed with
//! `--echo`), the lines typed for it sent, our Pings timed, and the close handshake,
//! whoever starts it. Every frame is in the transcript already (the tap sees them);
//! this adds what they mean: round trips, who closed and why.
//!
//! Pings are timed as wsppsrv times them: from the kernel's transmit stamp of the
//! write that carried the Ping (or the clock just before it) to the kernel's receive
//! stamp of the read that completed the Pong ([`wspp::wire_clock`]), matched by
//! [`PingTracker`], so a late or unsolicited Pong is never taken for an answer.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;
use wspp::deflate::{Deflate, InvalidDeflate};
use wspp::stream::{EarlyBytes, Layered, PlainOrTls};
use wspp::tracker::{PingTracker, PongOutcome};
use wspp::wire_clock::{Clock, StampedTcp, WireStamps};

use super::event::{Closing, Side, Summary};
use super::options::ListenOptions;
use crate::net::connect::CLOSE_WAIT;
use crate::watch::tap::Tap;
use crate::watch::transcript::{Transcript, describe_close};
use crate::watch::wire::CloseInfo;

/// An accepted connection: plain or TLS over a kernel-stamped socket.
pub(super) type Transport = PlainOrTls<StampedTcp, tokio_rustls::server::TlsStream<StampedTcp>>;

/// The WebSocket over the tapped connection: first the bytes hyper read past the
/// request, then permessage-deflate when the 101 took it.
pub(super) type Socket =
    WebSocketStream<Layered<Layered<Tap<Transport>, EarlyBytes>, Option<Deflate>>>;

/// The tap under a session's layers.
pub(super) fn tap(ws: &Socket) -> &Tap<Transport> {
    ws.get_ref().get_ref().get_ref()
}

/// The tap under a session's layers, to act on it.
pub(super) fn tap_mut(ws: &mut Socket) -> &mut Tap<Transport> {
    ws.get_mut().get_mut().get_mut()
}

/// How the loop ended.
enum Ending {
    /// We close with this code and reason.
    Ours(CloseCode, String),
    /// The client sent a Close; tungstenite queued our answer.
    Theirs,
    /// The connection is gone without a close handshake.
    Gone,
}

/// What a session borrows.
pub(super) struct SessionCtx<'a> {
    pub options: &'a ListenOptions,
    pub transcript: &'a Transcript,
    /// Cancelled when `listen` stops: every session then closes with 1001.
    pub stop: &'a CancellationToken,
}

/// Runs the session to its end, counting into `summary`.
pub(super) async fn run(
    ws: &mut Socket,
    ctx: &SessionCtx<'_>,
    typed: &mut mpsc::UnboundedReceiver<String>,
    summary: &mut Summary,
) {
    let ending = serve(ws, ctx, typed, summary).await;
    match ending {
        Ending::Ours(code, reason) => {
            let close = CloseInfo {
                code: Some(u16::from(code)),
                reason: reason.clone(),
            };
            ctx.transcript
                .note(format!("closing with {}", describe_close(&close)));
            summary.closing = Some(Closing {
                close,
                by: Side::Us,
            });
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            if ws.close(Some(frame)).await.is_ok() {
                drain(ws, ctx.transcript, "the client answered").await;
            }
        }
        Ending::Theirs => {
            // Reading on flushes tungstenite's answer, then ends.
            let _ = ws.flush().await;
            drain(ws, ctx.transcript, "the client closed again").await;
        }
        Ending::Gone => {}
    }
}

async fn serve(
    ws: &mut Socket,
    ctx: &SessionCtx<'_>,
    typed: &mut mpsc::UnboundedReceiver<String>,
    summary: &mut Summary,
) -> Ending {
    let options = ctx.options;
    let mut tracker = PingTracker::new(Instant::now(), wspp::payload::MIN_LEN);
    let interval = options.ping_interval;
    let mut next_ping = interval.map(|_| tokio::time::Instant::now());
    loop {
        let ping_at = next_ping.unwrap_or_else(far_future);
        tokio::select! {
            () = ctx.stop.cancelled() => {
                return Ending::Ours(CloseCode::Away, "going away".into());
            }
            Some(text) = typed.recv() => {
                if ws.send(Message::text(text)).await.is_err() {
                    return gone(ws, ctx.transcript);
                }
                summary.messages_out += 1;
            }
            () = tokio::time::sleep_until(ping_at), if next_ping.is_some() => {
                next_ping = interval.map(|i| tokio::time::Instant::now() + i);
                if ping(ws, &mut tracker).await.is_err() {
                    return gone(ws, ctx.transcript);
                }
                summary.pings += 1;
            }
            next = ws.next() => match next {
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                    summary.messages_in += 1;
                    if options.echo {
                        if ws.send(message).await.is_err() {
                            return gone(ws, ctx.transcript);
                        }
                        summary.messages_out += 1;
                    }
                    if options.close_after.is_some_and(|n| summary.messages_in >= n) {
                        let code = CloseCode::from(options.close_code);
                        let reason = format!("after {} messages (--close-after)", summary.messages_in);
                        return Ending::Ours(code, reason);
                    }
                }
                Some(Ok(Message::Pong(payload))) => {
                    let received = tap(ws).stamped().last_rx();
                    if let PongOutcome::Reply { seq, rtt, .. } = tracker.pong(&payload, Instant::now(), received) {
                        let clock = rtt.clock(Clock::Kernel);
                        let on_clock = rtt.on(clock);
                        summary.rtt.add(on_clock);
                        ctx.transcript.rtt("pong", seq, on_clock, clock);
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let close = close_info(frame.as_ref());
                    ctx.transcript.note(format!("the client closed: {}", describe_close(&close)));
                    summary.closing = Some(Closing { close, by: Side::Client });
                    return Ending::Theirs;
                }
                // A Ping is answered by tungstenite as we read on; the tap shows both.
                Some(Ok(Message::Ping(_) | Message::Frame(_))) => {}
                Some(Err(err)) => return broke(ws, ctx.transcript, err),
                None => return gone(ws, ctx.transcript),
            },
        }
    }
}

/// Sends the next Ping, asking the kernel when it met the wire.
async fn ping(ws: &mut Socket, tracker: &mut PingTracker) -> Result<(), tungstenite::Error> {
    let ping = tracker.ping(Instant::now());
    tap(ws).stamped().stamp_sends();
    let result = ws.send(Message::Ping(ping.payload.into())).await;
    // Asked even after a failure: it ends the request for stamps.
    let sent = tap(ws).stamped().sent();
    result?;
    if let Some(sent) = sent {
        tracker.on_wire(ping.seq, sent.at);
    }
    Ok(())
}

/// A client that broke the protocol: said, and closed with 1002 (tungstenite's
/// errors for a peer's bad frames; 1007 for bad UTF-8 or bad compressed data), or gone if the connection itself failed.
fn broke(ws: &Socket, transcript: &Transcript, err: tungstenite::Error) -> Ending {
    match err {
        tungstenite::Error::Protocol(problem) => {
            transcript.note(format!("the client broke the protocol: {problem}"));
            Ending::Ours(CloseCode::Protocol, "protocol error".into())
        }
        tungstenite::Error::Utf8(_) => {
            transcript.note("the client sent a Text message that is not UTF-8");
            Ending::Ours(CloseCode::Invalid, "invalid utf-8".into())
        }
        tungstenite::Error::Capacity(problem) => {
            transcript.note(format!("the client's message is too big: {problem}"));
            Ending::Ours(CloseCode::Size, "message too big".into())
        }
        tungstenite::Error::Io(err) if InvalidDeflate::is(&err) => {
            transcript.note("the client sent a compressed message that is not DEFLATE");
            Ending::Ours(CloseCode::Invalid, "invalid compressed data".into())
        }
        _ => gone(ws, transcript),
    }
}

/// The connection ended without a Close frame: 1006, as RFC 6455 names it.
fn gone(ws: &Socket, transcript: &Transcript) -> Ending {
    transcript.note(format!(
        "1006 (Abnormal Closure): the client went without a close frame; {} bytes had arrived",
        tap(ws).layer().received()
    ));
    Ending::Gone
}

/// Reads until the client ends the connection, for at most [`CLOSE_WAIT`], noting its
/// Close.
async fn drain(ws: &mut Socket, transcript: &Transcript, what: &str) {
    let until_end = async {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Close(frame) = message {
                let close = close_info(frame.as_ref());
                transcript.note(format!("{what}: {}", describe_close(&close)));
            }
        }
    };
    if tokio::time::timeout(CLOSE_WAIT, until_end).await.is_err() {
        transcript.note(format!(
            "the client did not end the connection within {} of the close handshake",
            humantime::format_duration(CLOSE_WAIT)
        ));
    }
}

/// What a Close frame tungstenite parsed says.
fn close_info(frame: Option<&CloseFrame>) -> CloseInfo {
    CloseInfo {
        code: frame.map(|f| u16::from(f.code)),
        reason: frame.map_or_else(String::new, |f| f.reason.to_string()),
    }
}

fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400 * 365)
}
