//! The requests of the [`catalog`](crate::catalog), run over a tapped connection.
//!
//! [`run`] is the one entry point for every front-end: it takes a [`Request`], the
//! shared [`Config`], a [`Transcript`] to report to and a cancellation token, and
//! returns when the request is over. Each request opens its own TCP connection
//! (`TCP_NODELAY`) wrapped in a [`Tap`], so the transcript shows what really crossed
//! the wire, and ends with the Wireshark display filter that isolates it.
//!
//! Against a TLS server the tap sits *inside* TLS: the transcript shows the same HTTP
//! and frames as over plain TCP, which is what Wireshark shows too once it has the
//! key log. The handshake itself gets one note: what was negotiated, and how long it
//! took.
//!
//! * `http`: the page and the favicon, over hyper's client connection.
//! * `broken`: the deliberately broken upgrades, written byte by byte.
//! * `websocket`: `open-close` and `hold`, over tokio-tungstenite.
//! * `inspect`: any URL, the user's messages sent, the close handshake shown.
//! * [`clients`]: the clients table `page` prints from `/clients.json`, and
//!   [`clients::fetch`], the untapped fetch the terminal UI refreshes its clients pane with.
//!
//! `ping` runs here too (for the menus), reporting RTTs to the transcript, but over an
//! untapped socket: see [`crate::ping`]. [`run_observed`] also hands its
//! [`PingEvent`]s to the caller, for the terminal UI's latency pane.

mod broken;
pub mod clients;
mod http;
mod inspect;
mod websocket;

use std::net::SocketAddr;
use std::sync::Mutex;

use crate::catalog::Request;
use crate::config::Config;
use crate::connect::{self, Endpoint, Stream};
use crate::error::Error;
use crate::ping::{self, PingEvent};
use crate::proxy::{ProxyInfo, ProxyKind};
use crate::stop::Stop;
use crate::tap::Tap;
use crate::transcript::{EntryKind, Transcript};
use crate::wire::{Direction, Head, WireEvent};

/// Runs `request` until it ends or `cancel` fires. Requests that run until stopped
/// (`hold`, and `ping` without a count) end cleanly when cancelled, with Close 1000,
/// or 1001 when `cancel` is a [`Stop`] that went away; the others are abandoned and
/// return [`Error::Interrupted`].
///
/// Failures are returned, not written to the transcript: the caller decides how to
/// show them. Every entry is sent before this returns.
pub async fn run(
    request: Request,
    config: &Config,
    transcript: &Transcript,
    cancel: impl Into<Stop>,
) -> Result<(), Error> {
    run_observed(request, config, transcript, cancel, |_| {}).await
}

/// [`run`], also handing every [`PingEvent`] of a `ping` request to `on_ping` as it
/// happens (other requests never call it). The transcript has the same events as
/// text; the typed form is for a display that keeps its own statistics, such as the
/// terminal UI's latency pane (a timeout, for one, is only a note in the transcript).
pub async fn run_observed(
    request: Request,
    config: &Config,
    transcript: &Transcript,
    cancel: impl Into<Stop>,
    on_ping: impl FnMut(&PingEvent) + Send,
) -> Result<(), Error> {
    let cancel: Stop = cancel.into();
    let ctx = Ctx {
        config,
        transcript,
        cancel: &cancel,
        local: Mutex::new(None),
    };
    let result = match request {
        Request::Page => ctx.abandon_on_cancel(http::page(&ctx)).await,
        Request::Favicon => ctx.abandon_on_cancel(http::favicon(&ctx)).await,
        Request::NoKey | Request::BadVersion | Request::NoUpgrade => {
            ctx.abandon_on_cancel(broken::broken_upgrade(&ctx, request))
                .await
        }
        Request::OpenClose => websocket::open_close(&ctx).await,
        Request::Hold => websocket::hold(&ctx).await,
        Request::Inspect => inspect::inspect(&ctx).await,
        Request::Ping => ping_to_transcript(&ctx, on_ping).await,
    };
    if let Some(local) = ctx.local() {
        transcript.send(EntryKind::Filter(format!("tcp.port == {}", local.port())));
        transcript.note(format!("look for: {}", request.wireshark()));
    }
    result
}

/// What every request needs, borrowed for its duration.
struct Ctx<'a> {
    config: &'a Config,
    transcript: &'a Transcript,
    cancel: &'a Stop,
    /// Our end of the request's connection, once open (its port is the Wireshark filter).
    /// A mutex rather than a `Cell` so that `Ctx` is `Sync` and the request's future
    /// `Send`: the terminal UI runs requests on spawned tasks. Never held across `.await`.
    local: Mutex<Option<SocketAddr>>,
}

impl Ctx<'_> {
    /// Opens a tapped connection to `endpoint` and notes both ends (and, over TLS, what
    /// the handshake negotiated).
    async fn connect(&self, endpoint: &Endpoint) -> Result<Tap<Stream>, Error> {
        let (stream, opened) = connect::open(self.config, endpoint).await?;
        let (local, peer) = (opened.local, opened.peer);
        self.set_local(local);
        self.transcript.send(EntryKind::Connected { peer, local });
        if let Some(proxy) = &opened.proxy {
            self.proxy_exchange(proxy);
        }
        if let Some(tls) = &opened.tls {
            self.transcript.note(ping::output::tls_line(tls));
            if let Some(path) = &tls.key_log {
                self.transcript.note(format!(
                    "tls secrets appended to {} (Wireshark decrypts with it)",
                    path.display()
                ));
            }
        }
        Ok(Tap::new(stream, self.transcript.clone()))
    }

    /// The proxy's handshake as it went: the `CONNECT` and the proxy's answer as
    /// heads (recorded on the wire before the tap could see them), or the SOCKS5
    /// exchange in words, then how long the tunnel took to open.
    fn proxy_exchange(&self, proxy: &ProxyInfo) {
        self.transcript.note(format!(
            "{} proxy {} (from {}): a tunnel to {}",
            proxy.kind.scheme(),
            proxy.url,
            proxy.from,
            proxy.target
        ));
        for (direction, lines) in [
            (Direction::Outgoing, &proxy.request),
            (Direction::Incoming, &proxy.response),
        ] {
            let event = match proxy.kind {
                ProxyKind::Http => WireEvent::Head(Head {
                    lines: lines.clone(),
                    status: None,
                }),
                ProxyKind::Socks5 { .. } => {
                    self.transcript
                        .note(format!("{} {}", direction.arrow(), lines.join(" ")));
                    continue;
                }
            };
            self.transcript.wire(direction, event);
        }
        self.transcript.note(format!(
            "tunnel open in {:.3} ms; what follows goes through it",
            proxy.handshake.as_secs_f64() * 1e3
        ));
    }

    fn set_local(&self, local: SocketAddr) {
        // A poisoned lock only means another thread panicked mid-assignment of a
        // plain `Option`: the value is still whole, so use it.
        *self.local.lock().unwrap_or_else(|e| e.into_inner()) = Some(local);
    }

    fn local(&self) -> Option<SocketAddr> {
        *self.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a request that has no clean way to stop, dropping it if cancelled.
    async fn abandon_on_cancel(
        &self,
        request: impl Future<Output = Result<(), Error>>,
    ) -> Result<(), Error> {
        tokio::select! {
            result = request => result,
            () = self.cancel.cancelled() => Err(Error::Interrupted),
        }
    }
}

/// The menu's `ping`: the same session as the subcommand, its events as transcript
/// lines, each also handed to `on_ping`.
async fn ping_to_transcript(
    ctx: &Ctx<'_>,
    mut on_ping: impl FnMut(&PingEvent) + Send,
) -> Result<(), Error> {
    let transcript = ctx.transcript;
    let mut url = String::new();
    let report = ping::ping(ctx.config, ctx.cancel, |event| {
        on_ping(event);
        if let PingEvent::Started {
            url: u,
            peer,
            local,
            payload_size,
            busy_poll,
            probes,
            setup,
        } = event
        {
            ctx.set_local(*local);
            url.clone_from(u);
            transcript.note(ping::output::header(
                u,
                *peer,
                *payload_size,
                *busy_poll,
                *probes,
            ));
            for line in ping::output::setup_lines(setup) {
                transcript.note(line);
            }
            transcript.note(ping::output::clock_line(setup));
        }
        match event {
            PingEvent::Reply {
                probe,
                seq,
                rtt,
                clock,
                ..
            } => {
                let answer = match probe {
                    ping::Probe::Ping => "pong",
                    ping::Probe::Echo => "echo",
                };
                transcript.rtt(answer, *seq, rtt.on(*clock), *clock);
            }
            other => {
                if let Some(line) = ping::output::event_line(&url, ctx.config.ping.probes, other) {
                    transcript.note(line);
                }
            }
        }
    })
    .await?;
    transcript.output(ping::output::summary(&report).join("\n"));
    match report.ended_by {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

/// `upgraded to WebSocket (101 Switching Protocols, subprotocol chat)`: the server's
/// answer, and its choice of subprotocol when there was one to make.
fn upgraded_note(
    config: &Config,
    response: &tokio_tungstenite::tungstenite::handshake::client::Response,
) -> String {
    let chosen = match connect::subprotocol(response) {
        Some(name) => format!(", subprotocol {name}"),
        None if config.subprotocols.is_empty() => String::new(),
        None => ", no subprotocol".to_owned(),
    };
    format!(
        "upgraded to WebSocket ({} {}{chosen})",
        response.status().as_u16(),
        response.status().canonical_reason().unwrap_or("")
    )
}
