//! The terminal UI: the menu, the wire transcript, live latency and the server's
//! clients on one screen (ratatui over crossterm).
//!
//! `wsppclient` starts it when run without a subcommand on a terminal ([`wanted`]);
//! `--plain`, or a stdin or stdout that is not a terminal, keeps the numbered menu.
//!
//! # Layout
//!
//! Bottom to top; each module uses only those above it in this list, never one below.
//!
//! * [`event`]: the one [`Event`] channel and the tasks that feed it: the terminal
//!   reader and its ticks, signals, and the network work (requests, clients refreshes).
//! * [`run_state`]: the current run and how it stands, which the app changes and the
//!   transcript's title shows.
//! * [`pane`]: the box every pane is drawn in.
//! * The panes, each one file with its state, its widget and its tests, so that a
//!   change to one pane touches one file: [`transcript`] (the run's lines, scrolled),
//!   [`latency`] (figures, sparkline, histogram), [`clients`] (the server's table),
//!   [`listen`] (while `listen` runs: its connections, and the selected one's
//!   transcript, in the transcript's place), [`load`] (while `load` runs: its counters
//!   and its p50 and p99 a second, in the latency pane's place).
//! * [`app`]: the app over the panes: the menu selection, the input line, pausing,
//!   the help, and [`App::update`], which applies an event, routes news and keys to
//!   the panes, and returns an [`Action`] instead of doing I/O, so it is tested
//!   without a terminal.
//! * [`ui`]: `impl Widget for &App`: the frame layout that places the panes, and the
//!   parts that belong to no pane (the menu, the details, the status line, the help).
//! * here: the terminal's lifecycle, the loop ([`drive`]) and the [`Runner`] that
//!   carries out actions by spawning the network tasks.
//!
//! # The terminal is always given back
//!
//! Raw mode off, alternate screen left, cursor shown: on `q` and Ctrl-C (a key in raw
//! mode) by a guard that restores when dropped; on SIGTERM and SIGINT because they
//! arrive as events and end the loop like `q`; on a panic by ratatui's hook (it
//! restores, then calls the hook installed before it, ours, which shows the cursor
//! and logs the panic). A panic
//! in a network task is reported as an event and ends the loop too, because the hook
//! has already given the screen back. Logs go to a file ([`log_path`]) meanwhile:
//! a line on stderr would tear through the screen.

pub mod app;
pub mod clients;
pub mod event;
pub mod latency;
pub mod listen;
pub mod load;
pub mod pane;
pub mod run_state;
pub mod transcript;
pub mod ui;

use std::fs::File;
use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossterm::event::Event as TermEvent;
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::layout::Rect;

pub use self::app::{Action, App, Exit};
pub use self::event::{Event, EventReceiver, EventSender};
use self::event::{RunId, Task};
use crate::commands::Options;
use crate::commands::catalog::Request;
use crate::commands::listen::ListenOptions;
use crate::commands::load::LoadOptions;
use crate::error::Error;
use crate::net::settings::ConnectSettings;
use crate::outcome::Outcome;
use crate::stop::Stop;

/// How often the UI ticks: elapsed times and the clients refresh need no finer
/// grain. Keys and network news redraw at once, not on a tick.
pub const TICK: Duration = Duration::from_millis(250);
/// How long quitting waits for a running request to close politely (a WebSocket
/// sends Close 1000 and waits for the answer) before dropping it. The terminal has
/// been given back by then, so this delays only the exit.
pub const SHUTDOWN_WAIT: Duration = Duration::from_millis(1500);
/// Events applied between two frames at most, so that a flood of news (ping with
/// `-i 0`) cannot keep the screen from being redrawn.
const BATCH: usize = 512;

/// Whether the menu should be the terminal UI: not `--plain`, and both stdin and
/// stdout are terminals (a pipe on either side gets the numbered menu).
pub fn wanted(plain: bool) -> bool {
    !plain && io::stdin().is_terminal() && io::stdout().is_terminal()
}

/// Where the logs go while the UI owns the terminal:
/// `$XDG_STATE_HOME/wspp/wsppclient.log`, else `~/.local/state/wspp/wsppclient.log`,
/// else the same under the temporary directory.
pub fn log_path() -> PathBuf {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|home| home.join(".local").join("state"))
        })
        .unwrap_or_else(std::env::temp_dir);
    state.join("wspp").join("wsppclient.log")
}

/// Creates (or empties) the log file at [`log_path`]: each session's log starts afresh,
/// so the file cannot grow across runs.
pub fn open_log() -> io::Result<(PathBuf, File)> {
    let path = log_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = File::create(&path)?;
    Ok((path, file))
}

/// Runs the terminal UI against `settings.server` until the user quits, running the
/// requests with `options` (and payloads also as hex dumps with `hex`).
///
/// Returns [`Outcome::Success`] on `q`, [`Outcome::Interrupted`] on Ctrl-C or
/// SIGINT, [`Outcome::Terminated`] on SIGTERM. Network errors never end it: they
/// show in the transcript or the clients pane.
pub async fn run(
    settings: &ConnectSettings,
    options: Options,
    hex: bool,
) -> Result<Outcome, Error> {
    install_panic_hook();
    GIVEN_BACK.store(false, Ordering::SeqCst);
    // Before `try_init`: if entering the alternate screen fails, raw mode is on already.
    let restore = Restore;
    // Installs ratatui's restoring panic hook, after ours, so it runs first.
    let mut terminal = ratatui::try_init()?;

    let (tx, mut events) = event::channel();
    let reader = event::spawn_terminal_reader(tx.clone(), TICK);
    let signals = event::spawn_signal_listener(tx.clone());
    let mut app = App::new(settings.server.label(), Some(log_path()), Instant::now());
    app.set_hex(hex);
    let mut runner = Runner::new(settings.clone(), options, tx);
    let exit = drive(&mut terminal, &mut app, &mut events, &mut runner).await;

    drop(terminal);
    drop(restore);
    reader.abort();
    signals.abort();
    runner.shutdown(exit.as_ref().ok()).await;
    tracing::info!(?exit, "terminal ui ended");
    match exit? {
        Exit::Quit => Ok(Outcome::Success),
        Exit::Interrupt => Ok(Outcome::Interrupted),
        Exit::Terminate => Ok(Outcome::Terminated),
        Exit::TerminalLost(why) => Err(Error::Terminal(format!("the terminal went away: {why}"))),
        Exit::Crashed(task) => Err(Error::Terminal(format!(
            "the {task} task panicked (see {})",
            log_path().display()
        ))),
    }
}

/// The loop: draw, wait for events, apply them (a batch at most), carry out the
/// actions, repeat until the app says why it ends.
///
/// Generic over the backend so that tests drive the whole loop on a `TestBackend`.
pub async fn drive<B>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    events: &mut EventReceiver,
    runner: &mut Runner,
) -> Result<Exit, Error>
where
    B: Backend,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let size = terminal.size().map_err(io::Error::other)?;
    app.set_page(ui::transcript_rows(Rect::new(
        0,
        0,
        size.width,
        size.height,
    )));
    loop {
        terminal
            .draw(|frame| frame.render_widget(&*app, frame.area()))
            .map_err(io::Error::other)?;
        let Some(mut event) = events.recv().await else {
            // The runner holds a sender, so this cannot happen while it lives.
            return Ok(Exit::TerminalLost("no more events".to_owned()));
        };
        for _ in 0..BATCH {
            if let Event::Terminal(TermEvent::Resize(width, height)) = event {
                app.set_page(ui::transcript_rows(Rect::new(0, 0, width, height)));
            }
            if let Some(action) = app.update(event, Instant::now()) {
                runner.apply(action);
            }
            if let Some(exit) = app.exit() {
                return Ok(exit.clone());
            }
            match events.try_recv() {
                Ok(next) => event = next,
                Err(_) => break,
            }
        }
    }
}

/// Carries out the app's [`Action`]s: spawns requests and clients refreshes on
/// tokio tasks that report back through the event channel.
#[derive(Debug)]
pub struct Runner {
    settings: Arc<ConnectSettings>,
    options: Arc<Options>,
    tx: EventSender,
    /// The request in flight, with what asks it to stop.
    current: Option<(RunId, Stop, Task)>,
    /// The latest clients refresh (the app never starts two at once).
    fetch: Option<Task>,
}

impl Runner {
    /// A runner for requests with `settings` and `options`, reporting on `tx`.
    pub fn new(settings: ConnectSettings, options: Options, tx: EventSender) -> Self {
        Runner {
            settings: Arc::new(settings),
            options: Arc::new(options),
            tx,
            current: None,
            fetch: None,
        }
    }

    /// Carries out `action`.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Run { run, request } => self.start(run, request, Arc::clone(&self.options)),
            Action::Inspect { run, url } => {
                let mut options = (*self.options).clone();
                options.inspect.url = url;
                self.start(run, Request::Inspect, Arc::new(options));
            }
            Action::Cancel { run } => {
                if let Some((_, cancel, _)) = self.current.as_ref().filter(|c| c.0 == run) {
                    cancel.cancel();
                }
            }
            Action::Abandon { run } => {
                if let Some((_, cancel, task)) = self.current.take_if(|c| c.0 == run) {
                    cancel.cancel();
                    task.abort.abort();
                }
            }
            Action::Listen { run } => {
                self.drop_current();
                let options = ListenOptions {
                    deflate: self.settings.headers.deflate,
                    ..ListenOptions::default()
                };
                let cancel = Stop::new();
                let task = event::spawn_listen(run, options, cancel.clone(), self.tx.clone());
                tracing::info!(run, "listen started");
                self.current = Some((run, cancel, task));
            }
            Action::Load { run } => {
                self.drop_current();
                let cancel = Stop::new();
                let task = event::spawn_load(
                    run,
                    Arc::clone(&self.settings),
                    LoadOptions::for_menu(),
                    cancel.clone(),
                    self.tx.clone(),
                );
                tracing::info!(run, "load started");
                self.current = Some((run, cancel, task));
            }
            Action::RefreshClients => {
                self.fetch = Some(event::spawn_clients_fetch(
                    Arc::clone(&self.settings),
                    self.tx.clone(),
                ));
            }
        }
    }

    /// Drops the run in flight, if any, without waiting for it.
    fn drop_current(&mut self) {
        if let Some((_, _, task)) = self.current.take() {
            task.abort.abort();
        }
    }

    /// Starts `request` as run `run` with `options`, dropping any run still in flight.
    fn start(&mut self, run: RunId, request: Request, options: Arc<Options>) {
        self.drop_current();
        let cancel = Stop::new();
        let settings = Arc::clone(&self.settings);
        let task = event::spawn_request(
            run,
            request,
            settings,
            options,
            cancel.clone(),
            self.tx.clone(),
        );
        tracing::info!(run, request = request.subcommand(), "request started");
        self.current = Some((run, cancel, task));
    }

    /// Stops everything: asks the running request to end (going away, so a session
    /// closes with 1001, when the UI ends on SIGTERM), waits for it at most
    /// [`SHUTDOWN_WAIT`], then drops whatever is left.
    pub async fn shutdown(mut self, exit: Option<&Exit>) {
        if let Some(fetch) = self.fetch.take() {
            fetch.abort.abort();
        }
        if let Some((_, cancel, task)) = self.current.take() {
            match exit {
                Some(Exit::Terminate) => cancel.go_away(),
                _ => cancel.cancel(),
            }
            if tokio::time::timeout(SHUTDOWN_WAIT, task.done)
                .await
                .is_err()
            {
                tracing::info!("the running request did not end in time; dropped");
                task.abort.abort();
            }
        }
    }
}

/// Set once the terminal has been given back, so that it is given back only once:
/// leaving the alternate screen a second time moves the cursor back to where the UI
/// started, and the shell would then write over the panic message printed meanwhile.
static GIVEN_BACK: AtomicBool = AtomicBool::new(false);

/// Gives the terminal back when dropped: raw mode off, alternate screen left,
/// cursor shown. Dropped on every way out of [`run`], unwinding included.
#[derive(Debug)]
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        if GIVEN_BACK.swap(true, Ordering::SeqCst) {
            return;
        }
        ratatui::restore();
        // `ratatui::restore` leaves the cursor to `Terminal`'s own drop, which a
        // panic (or an early error) may skip.
        let _ = crossterm::execute!(io::stdout(), crossterm::cursor::Show);
    }
}

/// Installs the hook that ratatui's restoring hook hands over to: it shows the cursor
/// (ratatui's restore does not) and logs the panic to the log file, then calls the
/// previous hook, which prints the message on the now normal screen.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // ratatui's hook has just restored the rest.
        GIVEN_BACK.store(true, Ordering::SeqCst);
        let _ = crossterm::execute!(io::stdout(), crossterm::cursor::Show);
        tracing::error!(panic = %info, "panic");
        previous(info);
    }));
}
