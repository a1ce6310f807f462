//! Everything the terminal UI reacts to, as one [`Event`] type on one channel, and
//! the tasks that produce those events.
//!
//! One channel means one place where the state changes ([`super::app::App::update`]),
//! in arrival order, and the draw loop waits on nothing but that channel: a server
//! that does not answer holds up a network task, never a frame. The producers:
//!
//! * [`spawn_terminal_reader`]: keys and resizes from crossterm's async
//!   [`EventStream`], and a [`Event::Tick`] every tick for what changes with time
//!   (elapsed times, the periodic clients refresh);
//! * [`spawn_signal_listener`]: SIGTERM and SIGINT sent by another process (in raw
//!   mode the user's own Ctrl-C is a key, not a signal);
//! * [`spawn_request`], [`spawn_listen`], [`spawn_load`] and [`spawn_clients_fetch`]:
//!   the network work, on tokio tasks, reporting through [`NetEvent`]s.
//!
//! Every producer stops by itself once the receiver is gone. Network tasks run under
//! a watcher that turns a panic into [`Event::Crashed`]: ratatui's panic hook has
//! restored the terminal by then, so the UI must stop drawing rather than carry on
//! over the user's shell.

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::EventStream;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinHandle};
use wspp::clients::ClientsReport;

use crate::commands::Options;
use crate::commands::catalog::Request;
use crate::commands::clients_table;
use crate::commands::listen::event::Event as ListenEvent;
use crate::commands::listen::{ListenOptions, Listener, Report};
use crate::commands::load::{self, LoadEvent, LoadOptions, LoadReport, SecondFigures};
use crate::commands::{self, fetch_clients};
use crate::error::Error;
use crate::net::settings::ConnectSettings;
use crate::probe::PingEvent;
use crate::stop::Stop;
use crate::watch::transcript::{Entry, Transcript};

/// Numbers each request the UI starts, so that events of an abandoned run are told
/// apart from the current one's.
pub type RunId = u64;

/// How long a clients refresh may take before it counts as failed; a silent server
/// must not leave the pane saying "loading" forever.
pub const CLIENTS_TIMEOUT: Duration = Duration::from_secs(2);

/// Something the UI reacts to.
#[derive(Debug)]
pub enum Event {
    /// Time passed (see [`super::TICK`]).
    Tick,
    /// A key, a resize, or anything else the terminal reports.
    Terminal(crossterm::event::Event),
    /// The terminal can no longer be read (closed, or an I/O error): nobody can quit
    /// by a key any more, so the UI ends.
    TerminalLost(String),
    /// A signal from another process.
    Signal(Signal),
    /// News from a network task.
    Net(NetEvent),
    /// A network task panicked; its name.
    Crashed(&'static str),
}

/// The signals the UI handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM: quit cleanly.
    Terminate,
    /// SIGINT from another process (`kill -INT`).
    Interrupt,
}

/// News from a network task.
#[derive(Debug)]
pub enum NetEvent {
    /// A transcript entry of run `run`.
    Entry {
        /// The run it belongs to.
        run: RunId,
        /// The entry.
        entry: Entry,
    },
    /// A ping event of run `run` (a `ping` request only).
    Ping {
        /// The run it belongs to.
        run: RunId,
        /// The event.
        event: PingEvent,
    },
    /// News of run `run`, a `listen`.
    Listen {
        /// The run it belongs to.
        run: RunId,
        /// The news.
        news: ListenNews,
    },
    /// News of run `run`, a `load`.
    Load {
        /// The run it belongs to.
        run: RunId,
        /// The news.
        news: LoadNews,
    },
    /// Run `run` is over; every entry of it was sent before this.
    Finished {
        /// The run that ended.
        run: RunId,
        /// How it ended.
        result: Result<(), Error>,
    },
    /// A clients refresh is over.
    Clients {
        /// The report, or why there is none.
        result: Result<ClientsReport, Error>,
        /// When it was fetched, in milliseconds since the Unix epoch (client ages
        /// count from here).
        at_unix_ms: u64,
    },
}

/// What a `listen` run reports.
#[derive(Debug)]
pub enum ListenNews {
    /// It is bound: where it listens (the line the command line prints first).
    Listening(String),
    /// One of its connections' news.
    Connection(ListenEvent),
}

/// What a `load` run reports.
#[derive(Debug)]
pub enum LoadNews {
    /// A line for the user that is no figure (fewer connections fit than asked).
    Notice(String),
    /// A second's figures, as they come (a second apart).
    Second(SecondFigures),
    /// The run is over: its report (the summary), just before it finishes.
    Summary(Box<LoadReport>),
}

/// The sending half; network tasks and producers each hold a clone.
pub type EventSender = mpsc::UnboundedSender<Event>;
/// The receiving half, read by the draw loop only.
pub type EventReceiver = mpsc::UnboundedReceiver<Event>;

/// A new event channel. Unbounded, like the transcript channel it forwards: its
/// producers must never wait for the display, and the loop drains it faster than
/// the network fills it.
pub fn channel() -> (EventSender, EventReceiver) {
    mpsc::unbounded_channel()
}

/// Sends terminal events, and a [`Event::Tick`] every `tick`, until the receiver is gone.
pub fn spawn_terminal_reader(tx: EventSender, tick: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut reader = EventStream::new();
        let mut ticks = tokio::time::interval(tick);
        // A UI that was busy needs one tick afterwards, not a burst of them.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let event = tokio::select! {
                () = tx.closed() => break,
                _ = ticks.tick() => Event::Tick,
                next = reader.next() => match next {
                    Some(Ok(event)) => Event::Terminal(event),
                    Some(Err(err)) => Event::TerminalLost(err.to_string()),
                    None => Event::TerminalLost("end of input".to_owned()),
                },
            };
            let lost = matches!(event, Event::TerminalLost(_));
            if tx.send(event).is_err() || lost {
                break;
            }
        }
    })
}

/// Sends SIGTERM and SIGINT as [`Event::Signal`] until the receiver is gone. A
/// signal whose handler cannot be installed is logged and left alone.
pub fn spawn_signal_listener(tx: EventSender) -> JoinHandle<()> {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(stream) => Some(stream),
                Err(err) => {
                    tracing::warn!(error = %err, signal = name, "cannot listen for a signal");
                    None
                }
            };
            let mut term = listen(SignalKind::terminate(), "SIGTERM");
            let mut int = listen(SignalKind::interrupt(), "SIGINT");
            loop {
                let signal = tokio::select! {
                    () = tx.closed() => break,
                    Some(()) = next_signal(&mut term) => Signal::Terminate,
                    Some(()) = next_signal(&mut int) => Signal::Interrupt,
                };
                if tx.send(Event::Signal(signal)).is_err() {
                    break;
                }
            }
        }
        #[cfg(not(unix))]
        loop {
            tokio::select! {
                () = tx.closed() => break,
                Ok(()) = tokio::signal::ctrl_c() => {
                    if tx.send(Event::Signal(Signal::Interrupt)).is_err() {
                        break;
                    }
                }
            }
        }
    })
}

/// The next delivery of `signal`; never, if it is not being listened for.
#[cfg(unix)]
async fn next_signal(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

/// A spawned network task: how to stop it at once, and how to wait for it.
#[derive(Debug)]
pub struct Task {
    /// Aborts the task itself.
    pub abort: AbortHandle,
    /// Ends when the task has ended, however it did.
    pub done: JoinHandle<()>,
}

/// Runs `request` as run `run` on a task: its transcript entries and ping events go
/// to `tx` as they happen, then [`NetEvent::Finished`]. `cancel` asks it to stop.
pub fn spawn_request(
    run: RunId,
    request: Request,
    settings: Arc<ConnectSettings>,
    options: Arc<Options>,
    cancel: Stop,
    tx: EventSender,
) -> Task {
    let events = tx.clone();
    spawn_watched(tx, "request", async move {
        let (transcript, mut entries) = Transcript::new();
        let forward = async {
            while let Some(entry) = entries.recv().await {
                if events
                    .send(Event::Net(NetEvent::Entry { run, entry }))
                    .is_err()
                {
                    break;
                }
            }
        };
        let work = async {
            // Owned here so that the forwarder sees the channel close, and stops, as
            // soon as the request has returned.
            let transcript = transcript;
            let pings = events.clone();
            commands::run_observed(
                request,
                &settings,
                &options,
                &transcript,
                &cancel,
                move |event| {
                    let event = event.clone();
                    let _ = pings.send(Event::Net(NetEvent::Ping { run, event }));
                },
            )
            .await
        };
        let (result, ()) = tokio::join!(work, forward);
        let _ = events.send(Event::Net(NetEvent::Finished { run, result }));
    })
}

/// Runs `listen` with `options` as run `run` on a task: where it listens, then each
/// connection's news, go to `tx` as they happen, then [`NetEvent::Finished`]. `cancel`
/// stops it: every connection is closed with 1001.
pub fn spawn_listen(run: RunId, options: ListenOptions, cancel: Stop, tx: EventSender) -> Task {
    let events = tx.clone();
    spawn_watched(tx, "listen", async move {
        let send = |news| {
            let _ = events.send(Event::Net(NetEvent::Listen { run, news }));
        };
        let result = async {
            let listener = Listener::bind(options).await?;
            send(ListenNews::Listening(listener.banner()?));
            // No input: the UI types nothing to the clients, so no notice comes either.
            listener
                .serve_with(tokio::io::empty(), cancel.cancelled(), |report| {
                    if let Report::Event(event) = report {
                        send(ListenNews::Connection(event));
                    }
                    Ok(())
                })
                .await
        }
        .await;
        let _ = events.send(Event::Net(NetEvent::Finished { run, result }));
    })
}

/// Runs `load` with `options` against `settings`' server as run `run` on a task: each
/// second's figures go to `tx` as the engine reports them, then the report, then
/// [`NetEvent::Finished`]. `cancel` ends it at once with its summary, every connection
/// closed with 1000 (1001 when it went away).
pub fn spawn_load(
    run: RunId,
    settings: Arc<ConnectSettings>,
    options: LoadOptions,
    cancel: Stop,
    tx: EventSender,
) -> Task {
    let events = tx.clone();
    spawn_watched(tx, "load", async move {
        let send = |news| {
            let _ = events.send(Event::Net(NetEvent::Load { run, news }));
        };
        let result = load::run(&settings, &options, &cancel, |event| match event {
            LoadEvent::Notice(line) => send(LoadNews::Notice(line.clone())),
            LoadEvent::Serving(addr) => {
                send(LoadNews::Notice(format!("serving http://{addr}/metrics")));
            }
            LoadEvent::Second(second) => send(LoadNews::Second(second.figures())),
        })
        .await
        .map(|report| send(LoadNews::Summary(Box::new(report))));
        let _ = events.send(Event::Net(NetEvent::Finished { run, result }));
    })
}

/// Fetches `/clients.json` on a task (bounded by [`CLIENTS_TIMEOUT`]) and sends the
/// outcome as [`NetEvent::Clients`].
pub fn spawn_clients_fetch(settings: Arc<ConnectSettings>, tx: EventSender) -> Task {
    let events = tx.clone();
    spawn_watched(tx, "clients refresh", async move {
        let result = match tokio::time::timeout(CLIENTS_TIMEOUT, fetch_clients(&settings)).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout {
                what: "GET /clients.json",
                after: CLIENTS_TIMEOUT,
            }),
        };
        let at_unix_ms = clients_table::unix_ms_now();
        let _ = events.send(Event::Net(NetEvent::Clients { result, at_unix_ms }));
    })
}

/// Spawns `task`, and a watcher that reports [`Event::Crashed`] if it panics.
fn spawn_watched(
    tx: EventSender,
    name: &'static str,
    task: impl Future<Output = ()> + Send + 'static,
) -> Task {
    let handle = tokio::spawn(task);
    let abort = handle.abort_handle();
    let done = tokio::spawn(async move {
        if let Err(err) = handle.await
            && err.is_panic()
        {
            let _ = tx.send(Event::Crashed(name));
        }
    });
    Task { abort, done }
}
