//! From an [`Invocation`] to output and an [`Outcome`]: the glue between the command
//! line and the library.
//!
//! It picks the front-end (the terminal UI or the numbered menu, one request with its
//! transcript, or ping(8)), wires Ctrl-C to cancellation, and writes to the `out` it
//! is given rather than to stdout directly, so tests run it in-process and check what
//! a user would see. The terminal UI is the exception: it draws on the terminal itself.
//! Errors are returned, never printed: `main` prints them once, on stderr.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::BufReader;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::catalog::Request;
use crate::config::{Config, Invocation, Mode};
use crate::error::Error;
use crate::local_server::{self, LocalServer};
use crate::menu;
use crate::ping::{self, PingEvent, output};
use crate::requests;
use crate::transcript::Transcript;
use crate::tui;

/// How a run ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything went as asked.
    Success,
    /// `ping` lost at least one ping (or sent none).
    Loss,
    /// The user quit the menu with Ctrl-C.
    Interrupted,
    /// The terminal UI was asked to end by SIGTERM.
    Terminated,
}

impl Outcome {
    /// The process exit status: 0, 1 (as ping(8) on loss), or the shell's 128 + signal
    /// for a run ended by a signal: 130 (SIGINT, Ctrl-C) and 143 (SIGTERM).
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::Loss => 1,
            Outcome::Interrupted => 130,
            Outcome::Terminated => 143,
        }
    }
}

/// How long, after SIGTERM has stopped the server started in this process, the run
/// may take to notice and end before it is abandoned.
const TERMINATE_GRACE: Duration = Duration::from_secs(2);

/// Runs what `invocation` asks for, writing to `out`; first starts wsppsrv in this
/// process if the user named no server and none listens (see [`crate::local_server`]),
/// and stops it at the end.
pub async fn run(invocation: Invocation, out: &mut (dyn Write + Send)) -> Result<Outcome, Error> {
    let Invocation { mut config, mode } = invocation;
    let local = match config.server.parse::<SocketAddr>() {
        Ok(addr) if local_server::wanted(&config, &mode) => LocalServer::start(addr),
        _ => None,
    };
    let Some(local) = local else {
        return run_mode(&config, mode, out).await;
    };
    // On stderr, so that stdout stays the transcript (or ping's JSON).
    eprintln!("wsppclient: {}", local.notice(&config.server));
    config.server = local.addr().to_string();
    config.server_is_local = true;
    let result = {
        let work = run_mode(&config, mode, out);
        tokio::pin!(work);
        tokio::select! {
            result = &mut work => result,
            () = terminated() => {
                // Stopping the server sends our own session its Close 1001, which ends
                // it the way a separate wsppsrv stopped by SIGTERM would; both run on
                // this thread, so the session must go on being polled meanwhile.
                let _ = tokio::join!(
                    local.stop(),
                    tokio::time::timeout(TERMINATE_GRACE, &mut work)
                );
                return Ok(Outcome::Terminated);
            }
        }
    };
    local.stop().await;
    result
}

/// Runs `mode` against `config.server`.
async fn run_mode(
    config: &Config,
    mode: Mode,
    out: &mut (dyn Write + Send),
) -> Result<Outcome, Error> {
    match mode {
        Mode::Menu { plain } if tui::wanted(plain) => tui::run(config).await,
        Mode::Menu { .. } => {
            let mut interrupts = forward_interrupts();
            let input = BufReader::new(tokio::io::stdin());
            menu::run(config, input, out, &mut interrupts).await
        }
        Mode::Request(request) => {
            run_printed(request, config, out, interrupted()).await?;
            Ok(Outcome::Success)
        }
        Mode::Ping { json } => run_ping(config, json, out).await,
    }
}

/// Runs `request`, printing its transcript to `out` as entries arrive. When `stop`
/// resolves the request is cancelled, and still runs to its (bounded) end.
pub async fn run_printed(
    request: Request,
    config: &Config,
    out: &mut (dyn Write + Send),
    stop: impl Future<Output = ()>,
) -> Result<(), Error> {
    let (transcript, mut entries) = Transcript::new();
    let cancel = CancellationToken::new();
    let work = async {
        // Owning the transcript here means the printer sees the channel close (and
        // stops) as soon as the request has returned.
        let transcript = transcript;
        let run = requests::run(request, config, &transcript, &cancel);
        tokio::pin!(run);
        tokio::select! {
            result = &mut run => result,
            () = stop => {
                cancel.cancel();
                run.await
            }
        }
    };
    let printer = async {
        while let Some(entry) = entries.recv().await {
            if config.hex {
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

/// `wsppclient ping`: ping(8)'s output, or one JSON line with `--json`.
///
/// With `--json` nothing else is printed, so stdout is exactly one JSON object (its
/// last line, as scripts expect). A connection lost mid-session still prints the
/// summary first, then fails.
async fn run_ping(
    config: &Config,
    json: bool,
    out: &mut (dyn Write + Send),
) -> Result<Outcome, Error> {
    let cancel = CancellationToken::new();
    let ctrl_c = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            interrupted().await;
            cancel.cancel();
        })
    };
    let mut url = String::new();
    let mut local = None;
    let mut write_error = None;
    let result = ping::ping(config, &cancel, |event| {
        if json || write_error.is_some() {
            return;
        }
        let line = match event {
            PingEvent::Started {
                url: u,
                peer,
                local: l,
                payload_size,
                busy_poll,
                setup,
            } => {
                url.clone_from(u);
                local = Some(*l);
                let mut lines = output::header(u, *peer, *payload_size, *busy_poll);
                if let Some(line) = output::setup_line(setup) {
                    lines.push('\n');
                    lines.push_str(&line);
                }
                lines
            }
            other => match output::event_line(&url, other) {
                Some(line) => line,
                None => return,
            },
        };
        if let Err(err) = writeln!(out, "{line}") {
            // Nobody reads any more (e.g. `| head`): stop pinging.
            write_error = Some(err);
            cancel.cancel();
        }
    })
    .await;
    ctrl_c.abort();
    let report = result?;
    if let Some(err) = write_error {
        return Err(err.into());
    }
    if json {
        writeln!(out, "{}", output::json(&report))?;
    } else {
        writeln!(out)?;
        for line in output::summary(&report) {
            writeln!(out, "{line}")?;
        }
        if let Some(local) = local {
            writeln!(out, "{}", output::wireshark_filter(local))?;
        }
    }
    out.flush()?;
    if let Some(err) = report.ended_by {
        return Err(err);
    }
    Ok(if report.all_answered() {
        Outcome::Success
    } else {
        Outcome::Loss
    })
}

/// Resolves on Ctrl-C; never, if the handler cannot be installed.
async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Resolves on SIGTERM; never, if the handler cannot be installed (or off Unix).
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut sigterm) = signal(SignalKind::terminate()) {
            sigterm.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await;
}

/// Every Ctrl-C from now on, as a message: the menu needs more than one.
fn forward_interrupts() -> mpsc::UnboundedReceiver<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            interrupted().await;
            if tx.send(()).is_err() {
                break;
            }
        }
    });
    rx
}
