//! The deliberately broken upgrades, written byte by byte.
//!
//! tungstenite's client only sends valid handshakes, and hyper rewrites header names
//! (title case turns `Sec-WebSocket-Key` into `Sec-Websocket-Key`). These requests
//! exist to be read in a capture next to RFC 6455, so their bytes are spelled out
//! here exactly: the RFC's header names, one thing wrong in each. The answer is read
//! with the same [`WireParser`] that feeds the transcript.

use hyper::StatusCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use wspp::routes;

use super::ctx::Ctx;
use super::http::status_text;
use crate::commands::catalog::Request;
use crate::error::Error;
use crate::net::url::Endpoint;
use crate::watch::wire::{Body, Direction, Head, WireEvent, WireParser};

/// Sends the broken upgrade `request` stands for and notes the server's refusal.
pub(super) async fn broken_upgrade(ctx: &Ctx<'_>, request: Request) -> Result<(), Error> {
    let (bytes, expected) = request_bytes(ctx, request);
    let mut stream = ctx.connect(&Endpoint::server(&ctx.settings.server)).await?;
    stream.write_all(&bytes).await?;
    let (head, body) = read_response(&mut stream).await?;
    // Our half-close shows as FIN in the capture; the server may have closed first.
    let _ = stream.shutdown().await;

    let status = head.status.unwrap_or(0);
    let mut note = StatusCode::from_u16(status).map_or_else(|_| status.to_string(), status_text);
    let reason = body
        .as_ref()
        .map(|b| String::from_utf8_lossy(&b.preview).into_owned())
        .unwrap_or_default();
    if let Some(line) = reason
        .lines()
        .next()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        note.push_str(&format!(": {line}"));
    }
    ctx.transcript.note(note);
    if let Some(version) = head.header("Sec-WebSocket-Version") {
        ctx.transcript.note(format!(
            "the server speaks Sec-WebSocket-Version: {version}"
        ));
    }
    if status != expected.as_u16() {
        ctx.transcript.note(format!(
            "unexpected: an RFC 6455 server answers {}",
            status_text(expected)
        ));
    }
    Ok(())
}

/// The request's bytes, and the status an RFC 6455 server answers it with.
fn request_bytes(ctx: &Ctx<'_>, request: Request) -> (Vec<u8>, StatusCode) {
    let (special, expected): (Vec<String>, StatusCode) = match request {
        Request::NoKey => (
            vec![
                "Connection: Upgrade".into(),
                "Upgrade: websocket".into(),
                format!("Sec-WebSocket-Version: {}", routes::WEBSOCKET_VERSION),
            ],
            StatusCode::BAD_REQUEST,
        ),
        Request::BadVersion => (
            vec![
                "Connection: Upgrade".into(),
                "Upgrade: websocket".into(),
                format!("Sec-WebSocket-Key: {}", generate_key()),
                "Sec-WebSocket-Version: 8".into(),
            ],
            StatusCode::UPGRADE_REQUIRED,
        ),
        _ => (Vec::new(), StatusCode::BAD_REQUEST),
    };
    let offer = &ctx.settings.headers;
    let mut out = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\n",
        request.route(),
        ctx.settings.server.addr,
        offer.user_agent
    )
    .into_bytes();
    if let Some(origin) = &offer.origin {
        out.extend_from_slice(format!("Origin: {origin}\r\n").as_bytes());
    }
    for line in special {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for header in &offer.custom {
        out.extend_from_slice(header.name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(header.value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    (out, expected)
}

/// Reads one response: its head, and its body if it has one.
async fn read_response(
    stream: &mut (impl AsyncRead + Unpin),
) -> Result<(Head, Option<Body>), Error> {
    let mut parser = WireParser::new(Direction::Incoming);
    let mut head = None;
    let mut body = None;
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        let events = if n == 0 {
            parser.finish()
        } else {
            parser.feed(&buf[..n])
        };
        for event in events {
            match event {
                WireEvent::Head(h) if head.is_none() => head = Some(h),
                WireEvent::Body(b) if body.is_none() => body = Some(b),
                WireEvent::Problem(problem) => return Err(Error::Unexpected(problem)),
                _ => {}
            }
        }
        if n == 0 || (head.is_some() && parser.at_boundary()) {
            break;
        }
    }
    let head = head.ok_or_else(|| {
        Error::Unexpected("the server closed the connection without answering".into())
    })?;
    Ok((head, body))
}
