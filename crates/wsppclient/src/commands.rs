//! The commands the client runs: the requests of the [`catalog`], run over a tapped connection.
//!
//! [`run`] is the one entry point for every front-end: it takes a [`Request`], the
//! [`ConnectSettings`] every connection is opened with, the [`Options`] of the
//! requests that take some, a [`Transcript`] to report to and a cancellation token, and
//! returns when the request is over. Each request opens its own TCP connection
//! (`TCP_NODELAY`) wrapped in a [`Tap`](crate::watch::tap::Tap), so the transcript shows what really crossed
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
//! * [`listen`]: the other way round, a server that shows its clients' transcripts.
//! * `http` also has [`fetch_clients`], the untapped `GET /clients.json` the terminal
//!   UI refreshes its clients pane with; the table both show is
//!   [`crate::commands::clients_table`].
//!
//! `ping` runs here too (for the menus), reporting RTTs to the transcript, but over an
//! untapped socket: see [`crate::commands::ping`]. [`run_observed`] also hands its
//! [`PingEvent`]s to the caller, for the terminal UI's latency pane.

mod broken;
pub mod catalog;
pub mod clients_table;
mod ctx;
mod http;
mod inspect;
pub mod listen;
pub mod load;
pub mod ping;
mod websocket;

use std::io::Write;
use std::sync::Mutex;

use crate::commands::catalog::Request;
use crate::error::Error;
use crate::net::settings::ConnectSettings;
use crate::probe::{PingEvent, Probe};
use crate::stop::{Reason, Stop};
use crate::watch::transcript::{EntryKind, Transcript};

use self::ctx::{Ctx, Ports};
pub use self::http::fetch_clients;
pub use self::inspect::{DEFAULT_INSPECT_WAIT, InspectOptions, Outgoing};
use self::ping::PingOptions;
pub use self::websocket::{DEFAULT_HOLD_INTERVAL, HoldOptions};

/// What the requests that take options run with; each takes its own part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `ping`'s.
    pub ping: PingOptions,
    /// `inspect`'s.
    pub inspect: InspectOptions,
    /// `hold`'s.
    pub hold: HoldOptions,
}

/// Runs `request` until it ends or `cancel` fires. Requests that run until stopped
/// (`hold`, and `ping` without a count) end cleanly when cancelled, with Close 1000,
/// or 1001 when `cancel` is a [`Stop`] that went away; the others are abandoned and
/// return [`Error::Interrupted`].
///
/// Failures are returned, not written to the transcript: the caller decides how to
/// show them. Every entry is sent before this returns.
pub async fn run(
    request: Request,
    settings: &ConnectSettings,
    options: &Options,
    transcript: &Transcript,
    cancel: impl Into<Stop>,
) -> Result<(), Error> {
    run_observed(request, settings, options, transcript, cancel, |_| {}).await
}

/// [`run`], also handing every [`PingEvent`] of a `ping` request to `on_ping` as it
/// happens (other requests never call it). The transcript has the same events as
/// text; the typed form is for a display that keeps its own statistics, such as the
/// terminal UI's latency pane (a timeout, for one, is only a note in the transcript).
pub async fn run_observed(
    request: Request,
    settings: &ConnectSettings,
    options: &Options,
    transcript: &Transcript,
    cancel: impl Into<Stop>,
    on_ping: impl FnMut(&PingEvent) + Send,
) -> Result<(), Error> {
    let cancel: Stop = cancel.into();
    let ctx = Ctx {
        settings,
        transcript,
        cancel: &cancel,
        local: Mutex::new(Ports::default()),
    };
    let result = match request {
        Request::Page => ctx.abandon_on_cancel(http::page(&ctx)).await,
        Request::Favicon => ctx.abandon_on_cancel(http::favicon(&ctx)).await,
        Request::NoKey | Request::BadVersion | Request::NoUpgrade => {
            ctx.abandon_on_cancel(broken::broken_upgrade(&ctx, request))
                .await
        }
        Request::OpenClose => websocket::open_close(&ctx).await,
        Request::Hold => websocket::hold(&ctx, &options.hold).await,
        Request::Inspect => inspect::inspect(&ctx, &options.inspect).await,
        Request::Ping => ping_to_transcript(&ctx, &options.ping, on_ping).await,
    };
    if let Some((filter, left_out)) = ctx.filter() {
        transcript.send(EntryKind::Filter(filter));
        if left_out > 0 {
            transcript.note(format!(
                "the filter names the last connections' ports; {left_out} earlier ones are left out"
            ));
        }
        transcript.note(format!("look for: {}", request.wireshark()));
    }
    result
}

/// Runs `request`, printing its transcript to `out` as entries arrive. When `stop`
/// resolves the request is stopped for the reason it gives (a session closes with
/// 1001 when the process is going away), and still runs to its (bounded) end. With
/// `hex`, every payload is also shown as a hex dump.
pub async fn run_printed(
    request: Request,
    settings: &ConnectSettings,
    options: &Options,
    hex: bool,
    out: &mut (dyn Write + Send),
    stop: impl Future<Output = Reason>,
) -> Result<(), Error> {
    let (transcript, mut entries) = Transcript::new();
    let cancel = Stop::new();
    let work = async {
        // Owning the transcript here means the printer sees the channel close (and
        // stops) as soon as the request has returned.
        let transcript = transcript;
        let run = run(request, settings, options, &transcript, &cancel);
        tokio::pin!(run);
        tokio::select! {
            result = &mut run => result,
            reason = stop => {
                cancel.stop(reason);
                run.await
            }
        }
    };
    let printer = async {
        while let Some(entry) = entries.recv().await {
            if hex {
                writeln!(out, "{entry:#}")?;
            } else {
                writeln!(out, "{entry}")?;
            }
        }
        out.flush()
    };
    let (result, printed) = tokio::join!(work, printer);
    printed?;
    result
}

/// The menu's `ping`: the same session as the subcommand, its events as transcript
/// lines, each also handed to `on_ping`.
async fn ping_to_transcript(
    ctx: &Ctx<'_>,
    options: &PingOptions,
    mut on_ping: impl FnMut(&PingEvent) + Send,
) -> Result<(), Error> {
    let transcript = ctx.transcript;
    let mut url = String::new();
    let report = ping::ping(ctx.settings, options, ctx.cancel, |event| {
        on_ping(event);
        match event {
            PingEvent::Started { url: u, local, .. } => {
                ctx.set_local(*local);
                url.clone_from(u);
                for line in ping::output::start_lines(event).unwrap_or_default() {
                    transcript.note(line);
                }
            }
            PingEvent::Reply {
                probe,
                seq,
                rtt,
                clock,
                ..
            } => {
                let answer = match probe {
                    Probe::Ping => "pong",
                    Probe::Echo => "echo",
                };
                transcript.rtt(answer, *seq, rtt.on(*clock), *clock);
            }
            other => {
                if let Some(line) = ping::output::event_line(&url, options.probes, other) {
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
