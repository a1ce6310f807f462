//! Runs an [`Invocation`], to output and an [`Outcome`]: the glue between the command
//! line and the library.
//!
//! It picks the front-end (the terminal UI or the numbered menu, one request with its
//! transcript, ping(8), or `listen`), wires Ctrl-C and SIGTERM to a [`Stop`], and writes to the `out` it
//! is given rather than to stdout directly, so tests run it in-process and check what
//! a user would see. The terminal UI is the exception: it draws on the terminal itself.
//! Errors are returned, never printed: `main` prints them once, on stderr.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use tokio::io::BufReader;
use tokio::sync::mpsc;

use super::invocation::{FrontEnd, Invocation};
use super::load_printer::{self, write_live};
use super::local_server;
use super::menu;
use super::tui;
use crate::commands::listen::{ListenOptions, Listener};
use crate::commands::load::{self, LoadOptions};
use crate::commands::ping::output::{self, Live, PingFormat};
use crate::commands::ping::{self, PingOptions};
use crate::commands::run_printed;
use crate::error::Error;
use crate::net::settings::ConnectSettings;
use crate::outcome::Outcome;
use crate::stop::{self, Reason, Stop};

/// How long, after SIGTERM has stopped the server started in this process, the run
/// may take to notice and end before it is abandoned.
const TERMINATE_GRACE: Duration = Duration::from_secs(2);

/// Runs what `invocation` asks for, writing to `out`; first starts wsppsrv in this
/// process if the user named no server and none listens (see
/// [`local_server`]), and stops it at the end.
pub async fn run(invocation: Invocation, out: &mut (dyn Write + Send)) -> Result<Outcome, Error> {
    let Invocation {
        server: choice,
        dial,
        headers,
        front_end,
    } = invocation;
    let (server, local) = local_server::settle(&choice, &front_end);
    if let Some(local) = &local {
        // On stderr, so that stdout stays the transcript (or ping's JSON).
        eprintln!("wsppclient: {}", local.notice(&choice.addr));
    }
    let settings = ConnectSettings::with(server, dial, headers);
    let Some(local) = local else {
        return run_front_end(&settings, front_end, out).await;
    };
    let result = {
        let work = run_front_end(&settings, front_end, out);
        tokio::pin!(work);
        tokio::select! {
            result = &mut work => result,
            () = stop::terminated() => {
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

/// Runs `front_end` against `settings.server`.
async fn run_front_end(
    settings: &ConnectSettings,
    front_end: FrontEnd,
    out: &mut (dyn Write + Send),
) -> Result<Outcome, Error> {
    match front_end {
        FrontEnd::Menu {
            plain,
            options,
            hex,
        } if tui::wanted(plain) => tui::run(settings, options, hex).await,
        FrontEnd::Menu { options, hex, .. } => {
            let mut interrupts = forward_interrupts();
            let input = BufReader::new(tokio::io::stdin());
            menu::run(settings, &options, hex, input, out, &mut interrupts).await
        }
        // Ctrl-C ends `hold` with its summary and exit 0; SIGTERM the same way but
        // with Close 1001 rather than 1000, and 143. With the server in this process,
        // `run` takes SIGTERM: stopping that server closes the session with 1001.
        FrontEnd::Request {
            request,
            options,
            hex,
        } => {
            let going_away = AtomicBool::new(false);
            let stop = async {
                let reason = stop::signalled(!settings.server.in_process).await;
                going_away.store(reason == Reason::GoingAway, Ordering::Relaxed);
                reason
            };
            run_printed(request, settings, &options, hex, out, stop).await?;
            Ok(if going_away.load(Ordering::Relaxed) {
                Outcome::Terminated
            } else {
                Outcome::Success
            })
        }
        FrontEnd::Ping { options, format } => run_ping(settings, &options, format, out).await,
        FrontEnd::Listen { options } => run_listen(options, out).await,
        FrontEnd::Load(options) => run_load(settings, &options, out).await,
        FrontEnd::Merge(options) => {
            let merged = load::merge(&options.files)?;
            if options.json {
                writeln!(out, "{}", load::output::merge_json(&merged))?;
            } else {
                for line in load::output::merge_summary(&merged) {
                    writeln!(out, "{line}")?;
                }
            }
            Ok(Outcome::Success)
        }
    }
}

/// `wsppclient load`: a line a second on stderr (and with `--ndjson` a JSON object a
/// second on stdout), then the summary as text or JSON.
///
/// Ctrl-C ends the run at once with the summary, exit 0 or 1 as for a run that ended
/// by itself; SIGTERM the same with Close 1001, and 143.
async fn run_load(
    settings: &ConnectSettings,
    options: &LoadOptions,
    out: &mut (dyn Write + Send),
) -> Result<Outcome, Error> {
    let (stop, signals) = stop_on_signals(settings);
    let result = load_printer::run_printed(settings, options, &stop, out).await;
    signals.abort();
    let report = result?;
    Ok(Outcome::measured(stop.is_going_away(), report.passed()))
}

/// `wsppclient listen`: says where it listens on stderr, then serves, reading the
/// lines to send from stdin, until Ctrl-C (exit 0) or SIGTERM (143).
async fn run_listen(
    options: ListenOptions,
    out: &mut (dyn Write + Send),
) -> Result<Outcome, Error> {
    let listener = Listener::bind(options).await?;
    eprintln!("{}", listener.banner()?);
    let going_away = AtomicBool::new(false);
    let stop = async {
        let reason = stop::signalled(true).await;
        going_away.store(reason == Reason::GoingAway, Ordering::Relaxed);
    };
    let input = BufReader::new(tokio::io::stdin());
    listener.serve(input, out, stop).await?;
    Ok(if going_away.load(Ordering::Relaxed) {
        Outcome::Terminated
    } else {
        Outcome::Success
    })
}

/// `wsppclient ping`: ping(8)'s output, or JSON as `format` asks.
///
/// With `--json` nothing else is printed, so stdout is exactly one JSON object (its
/// last line, as scripts expect); `--ndjson` prints a JSON object per probe, each
/// flushed as it ends, and the same summary object last. A connection lost
/// mid-session still prints the summary first, then fails.
///
/// Ctrl-C ends the session as ping(8)'s does: the summary, then exit 0 or 1 by loss.
/// SIGTERM prints the summary too, after closing with 1001 (Going Away) instead of
/// 1000, and exits 143 as a process ended by SIGTERM does (as the terminal UI and
/// wsppclient's in-process server do).
async fn run_ping(
    settings: &ConnectSettings,
    options: &PingOptions,
    format: PingFormat,
    out: &mut (dyn Write + Send),
) -> Result<Outcome, Error> {
    let (stop, signals) = stop_on_signals(settings);
    let mut live = Live::new(format, options.probes);
    let mut write_error = None;
    let result = ping::ping(settings, options, &stop, |event| {
        if write_error.is_some() {
            return;
        }
        let Some(text) = live.line(event, SystemTime::now()) else {
            return;
        };
        write_live(out, &text, &mut write_error, &stop);
    })
    .await;
    signals.abort();
    let report = result?;
    if let Some(err) = write_error {
        return Err(err.into());
    }
    if matches!(format, PingFormat::Json | PingFormat::Ndjson) {
        writeln!(out, "{}", output::json(&report))?;
    } else {
        writeln!(out)?;
        for line in output::summary(&report) {
            writeln!(out, "{line}")?;
        }
        if let Some(local) = live.local() {
            writeln!(out, "{}", output::wireshark_filter(local))?;
        }
    }
    out.flush()?;
    if let Some(err) = report.ended_by {
        return Err(err);
    }
    Ok(Outcome::measured(stop.is_going_away(), report.passed()))
}

/// A [`Stop`] that Ctrl-C cancels and SIGTERM sends away, with the task that waits
/// for them (to abort when the run is over). With the server in this process, `run`
/// takes SIGTERM: stopping that server closes the sessions with 1001.
fn stop_on_signals(settings: &ConnectSettings) -> (Stop, tokio::task::JoinHandle<()>) {
    let stop = Stop::new();
    let signals = {
        let stop = stop.clone();
        let sigterm = !settings.server.in_process;
        tokio::spawn(async move { stop.stop(stop::signalled(sigterm).await) })
    };
    (stop, signals)
}

/// Resolves on Ctrl-C; never, if the handler cannot be installed.
async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
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
