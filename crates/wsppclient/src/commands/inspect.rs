//! `inspect`: any `ws://` or `wss://` URL, watched on the wire.
//!
//! The other requests know wsppsrv's routes; this one knows nothing of the server. It
//! upgrades on the URL as given (path and query), sends the user's messages in order,
//! answers the server's Pings (tungstenite does, while we read; the tap shows both),
//! listens for a while after the last message, then closes with 1000 and shows the
//! close handshake. Everything it sees goes through the same [`Tap`] as the menu's
//! requests, so the transcript is the same kind of evidence.
//!
//! What a strange server does is shown rather than only reported: a refused upgrade
//! has its status line, headers and the first bytes of its body in the transcript
//! (the body is read on after tungstenite gives up, so it is whole when it arrived
//! in several pieces); a connection that ends without a Close frame is named as close
//! code 1006 with how many bytes had arrived; a server that hangs up before its answer,
//! or answers in something other than HTTP, is said in words.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncReadExt;

use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use wspp::routes;

use super::ctx::Ctx;
use super::websocket::describe_close;
use crate::error::Error;
use crate::net::connect::{self, CLOSE_WAIT};
use crate::net::http2::{self, Carrier};
use crate::net::upgrade::{self, Upgraded};
use crate::net::url::WsUrl;
use crate::watch::tap::Tap;
use crate::watch::wire::{Direction, WireEvent};

/// How long the rest of a refusal's body may take to arrive once its head has.
const REFUSAL_BODY_WAIT: Duration = Duration::from_secs(1);
/// How many more bytes of a refusal are read at most, looking for the end of its body.
const REFUSAL_BODY_MAX: usize = 64 * 1024;

/// How long `inspect` listens after its last message before it closes.
pub const DEFAULT_INSPECT_WAIT: Duration = Duration::from_secs(2);

/// One message `inspect` sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A Text message (`--send`).
    Text(String),
    /// A Binary message (`--send-binary`).
    Binary(Vec<u8>),
}

/// What `inspect` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectOptions {
    /// The `ws://` or `wss://` URL; the server's `/pingpong` when absent.
    pub url: Option<String>,
    /// The messages to send once upgraded, in order.
    pub messages: Vec<Outgoing>,
    /// How long to listen after the last message before closing with 1000.
    pub wait: Duration,
}

impl Default for InspectOptions {
    fn default() -> Self {
        InspectOptions {
            url: None,
            messages: Vec::new(),
            wait: DEFAULT_INSPECT_WAIT,
        }
    }
}

type Socket<'t> = Upgraded<&'t mut Tap<Carrier>>;

/// How the listening part of a session ended.
enum Ended {
    /// The wait after the last message ran out, or the user stopped it: we close.
    Ours(&'static str),
    /// The server sent a Close frame.
    ServerClosed(Option<CloseFrame>),
}

/// Runs `inspect` on `options.url` (the server's `/pingpong` when absent).
pub(super) async fn inspect(ctx: &Ctx<'_>, options: &InspectOptions) -> Result<(), Error> {
    let url = match &options.url {
        Some(url) => WsUrl::parse(url)?,
        None => WsUrl::for_route(&ctx.settings.server, routes::PINGPONG)?,
    };
    let offer = &ctx.settings.headers;
    if ctx.settings.dial.http2 {
        let mut tap = tokio::select! {
            tap = ctx.connect_http2(&url) => tap?,
            () = ctx.cancel.cancelled() => return Err(Error::Interrupted),
        };
        ctx.transcript
            .note("upgraded to WebSocket (200 to the extended CONNECT, RFC 8441)");
        let mut ws = http2::websocket(&mut tap).await;
        let result = session(ctx, options, &mut ws, &url).await;
        connect::end_transport(&mut ws).await;
        return result;
    }
    let mut tap = ctx.connect(&url.endpoint()).await?;
    let upgraded = tokio::select! {
        upgraded = upgrade::handshake(&mut tap, offer, ctx.settings.dial.timeout, &url, Some(ctx.transcript)) => upgraded,
        () = ctx.cancel.cancelled() => return Err(Error::Interrupted),
    };
    let (mut ws, response) = match upgraded {
        Ok(done) => done,
        Err(mut failure) => {
            if let Some(response) = failure.refusal_mut() {
                let rest = read_rest_of_refusal(&mut tap).await;
                response.body_mut().get_or_insert_default().extend(rest);
            }
            let wiretap = tap.layer();
            let err = failure.into_error(&url, offer, wiretap.received(), wiretap.first_received());
            if let Error::NotHttp {
                answer: Some(answer),
                ..
            } = &err
            {
                ctx.transcript.wire(
                    Direction::Incoming,
                    WireEvent::Problem(format!(
                        "not HTTP: {} bytes, beginning {:?}",
                        wiretap.received(),
                        String::from_utf8_lossy(answer)
                    )),
                );
            }
            return Err(err);
        }
    };
    upgrade::transport_mut(&mut ws)
        .layer_mut()
        .note_upgrade(super::ctx::upgraded_note(offer, &response));
    let result = session(ctx, options, &mut ws, &url).await;
    connect::end_transport(&mut ws).await;
    result
}

/// Sends the messages, listens, and closes; an abnormal end is
/// [`Error::AbnormalClosure`], a server's Close with a code other than 1000 or 1001
/// is [`Error::Closed`] (both after the transcript has shown them).
async fn session(
    ctx: &Ctx<'_>,
    options: &InspectOptions,
    ws: &mut Socket<'_>,
    url: &WsUrl,
) -> Result<(), Error> {
    let mut ended = None;
    for message in &options.messages {
        let message = match message {
            Outgoing::Text(text) => Message::text(text.as_str()),
            Outgoing::Binary(bytes) => Message::binary(bytes.clone()),
        };
        if let Err(err) = ws.send(message).await {
            return Err(abnormal(ctx, ws, url, err));
        }
    }
    let wait = humantime::format_duration(options.wait);
    ctx.transcript.note(match options.messages.len() {
        0 => format!("listening for {wait}"),
        1 => format!("sent 1 message; listening for {wait} after it"),
        n => format!("sent {n} messages; listening for {wait} after the last"),
    });
    let deadline = tokio::time::Instant::now() + options.wait;
    while ended.is_none() {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => ended = Some(Ended::Ours("done")),
            () = ctx.cancel.cancelled() => ended = Some(Ended::Ours("cancelled")),
            next = ws.next() => match next {
                Some(Ok(Message::Close(frame))) => {
                    ctx.transcript.note(format!("the server closed: {}", describe_close(frame.as_ref())));
                    ended = Some(Ended::ServerClosed(frame));
                }
                // The tap has shown it; a Ping is answered by tungstenite as we read on.
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(abnormal(ctx, ws, url, err)),
                None => return Err(abnormal(ctx, ws, url, tungstenite::Error::ConnectionClosed)),
            },
        }
    }
    match ended {
        Some(Ended::Ours(reason)) => {
            ctx.transcript.note("closing with 1000 (Normal Closure)");
            let frame = CloseFrame {
                code: CloseCode::Normal,
                reason: reason.into(),
            };
            if let Err(err) = ws.close(Some(frame)).await {
                return Err(abnormal(ctx, ws, url, err));
            }
            drain(ctx, ws, url).await
        }
        Some(Ended::ServerClosed(frame)) => {
            // tungstenite queued the echo of the server's Close; send it.
            if let Err(err) = ws.flush().await {
                return Err(abnormal(ctx, ws, url, err));
            }
            drain(ctx, ws, url).await?;
            match frame.map(|f| (u16::from(f.code), f.reason.to_string())) {
                Some((code, reason)) if !matches!(code, 1000 | 1001) => Err(Error::Closed {
                    code: Some(code),
                    reason,
                }),
                _ => Ok(()),
            }
        }
        None => Ok(()),
    }
}

/// Reads until the server ends the connection after the close handshake, for at most
/// [`CLOSE_WAIT`], noting its Close if it answers ours.
async fn drain(ctx: &Ctx<'_>, ws: &mut Socket<'_>, url: &WsUrl) -> Result<(), Error> {
    let until_end = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => ctx.transcript.note(format!(
                    "the server answered: {}",
                    describe_close(frame.as_ref())
                )),
                Some(Ok(_)) => {}
                // After both Close frames an end of the stream is the normal end.
                None
                | Some(Err(
                    tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed,
                )) => {
                    ctx.transcript.note("connection closed");
                    return Ok(());
                }
                Some(Err(err)) => return Err(err),
            }
        }
    };
    match tokio::time::timeout(CLOSE_WAIT, until_end).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(abnormal(ctx, ws, url, err)),
        Err(_) => {
            ctx.transcript.note(format!(
                "the server did not end the connection within {} of the close handshake",
                humantime::format_duration(CLOSE_WAIT)
            ));
            Ok(())
        }
    }
}

/// `err`, read or written on the session: a reset or an end without a Close frame is
/// noted as 1006 and becomes [`Error::AbnormalClosure`]; anything else (a server that
/// broke the protocol, say) converts as usual.
fn abnormal(ctx: &Ctx<'_>, ws: &Socket<'_>, url: &WsUrl, err: tungstenite::Error) -> Error {
    use std::io::ErrorKind;
    use tungstenite::error::ProtocolError;
    let reset = match &err {
        tungstenite::Error::Io(io) => match io.kind() {
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
                true
            }
            ErrorKind::UnexpectedEof => false,
            _ => return err.into(),
        },
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)
        | tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed => false,
        _ => {
            let err = Error::from(err);
            ctx.transcript
                .note(format!("ended: {}", crate::error::one_line(&err)));
            return err;
        }
    };
    let received = upgrade::transport(ws).layer().received();
    ctx.transcript.note(format!(
        "1006 (Abnormal Closure): the server {} without a close frame; {received} bytes had arrived",
        if reset {
            "reset the connection"
        } else {
            "ended the connection"
        }
    ));
    Error::AbnormalClosure {
        url: url.text.clone(),
        reset,
        received,
    }
}

/// After a refusal's head: reads on until the parser has seen the whole body (or the
/// connection ends), within [`REFUSAL_BODY_WAIT`] and [`REFUSAL_BODY_MAX`], so that
/// the transcript shows the body even when it came after the head, and returns what
/// it read. Then hangs up.
async fn read_rest_of_refusal(tap: &mut Tap<Carrier>) -> Vec<u8> {
    let deadline = Instant::now() + REFUSAL_BODY_WAIT;
    let mut buf = [0u8; 4096];
    let mut rest = Vec::new();
    while !tap.layer().incoming_at_boundary()
        && !tap.layer().read_closed()
        && rest.len() < REFUSAL_BODY_MAX
    {
        match tokio::time::timeout_at(deadline.into(), tap.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => rest.extend_from_slice(&buf[..n]),
        }
    }
    let _ = tokio::time::timeout(CLOSE_WAIT, tokio::io::AsyncWriteExt::shutdown(tap)).await;
    rest
}
