//! The terminal UI's state, and every change made to it.
//!
//! Nothing here touches the terminal, the network or the clock: [`App::update`] takes
//! an [`Event`] and the time, changes the state, and returns the [`Action`] (if any)
//! that the loop in [`super`] carries out. So menu navigation, the transcript, the
//! latency figures, pausing and cancelling are unit-tested without a terminal, and
//! [`super::ui`] only reads what is here.
//!
//! The three panes keep their data in their own modules, below this one, each with
//! its widget and its tests; the app owns one of each, routes the news to them and
//! moves them by keys:
//!
//! * [`TranscriptView`] ([`super::transcript`]): the lines of the current run and a
//!   scroll position;
//! * [`LatencyView`] ([`super::latency`]): the RTTs of the latest `ping` or `hold`,
//!   fed from typed [`PingEvent`]s and from `hold`'s transcript [`EntryKind::Rtt`]
//!   entries;
//! * [`ClientsView`] ([`super::clients`]): the latest `/clients.json` and its refresh
//!   schedule, and the addresses of our own connections, so the user finds themselves;
//! * [`ListenView`] ([`super::listen`]): while the run is `listen`, its connections
//!   and their transcripts, shown in the transcript's place; Tab moves between them;
//! * [`LoadView`] ([`super::load`]): while the run is `load`, its counters and its
//!   p50 and p99 a second, shown in the latency pane's place; its lines a second and
//!   its summary go to the transcript, as the command line prints them.
//!
//! The tests are in `app/tests.rs`: they drive [`App::update`] with keys and news and
//! read what it changed, which takes as many lines again as the app itself.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::clients::ClientsView;
use super::event::{Event, ListenNews, LoadNews, NetEvent, RunId, Signal};
use super::latency::LatencyView;
use super::listen::ListenView;
use super::load::LoadView;
use super::run_state::{Ending, Run, RunState};
use super::transcript::TranscriptView;
use crate::commands::catalog::{MenuEntry, Request};
use crate::commands::load::output as load_output;
use crate::error::{self, Error};
use crate::probe::PingEvent;
use crate::watch::transcript::{Entry, EntryKind};

/// How long a notice stays on the status line.
pub const NOTICE_FOR: Duration = Duration::from_secs(4);

/// An effect the loop must carry out; the app never does I/O itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start `request`, numbered `run`.
    Run {
        /// Its number: later events carry it.
        run: RunId,
        /// What to run.
        request: Request,
    },
    /// Ask run `run` to stop; it winds down by itself (a WebSocket sends Close 1000).
    Cancel {
        /// The run to stop.
        run: RunId,
    },
    /// Drop run `run` at once, without waiting for it (a second Esc while it winds down).
    Abandon {
        /// The run to drop.
        run: RunId,
    },
    /// Fetch `/clients.json`.
    RefreshClients,
    /// Start `listen` (on its default address), numbered `run`.
    Listen {
        /// Its number: later events carry it.
        run: RunId,
    },
    /// Start `load` against the server with the menu's defaults, numbered `run`.
    Load {
        /// Its number: later events carry it.
        run: RunId,
    },
    /// Start `inspect` on `url` (the server's `/pingpong` when `None`), numbered `run`.
    Inspect {
        /// Its number: later events carry it.
        run: RunId,
        /// The URL typed.
        url: Option<String>,
    },
}

/// Why the UI ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// `q`.
    Quit,
    /// Ctrl-C, as a key or as SIGINT.
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// The terminal cannot be read any more.
    TerminalLost(String),
    /// A network task panicked (named).
    Crashed(&'static str),
}

/// The whole state of the terminal UI.
#[derive(Debug)]
pub struct App {
    /// The server's `HOST:PORT`, for the status line.
    server: String,
    /// Where the logs go while the UI owns the terminal (shown in the help).
    log_path: Option<PathBuf>,
    /// Index into [`MenuEntry::ALL`] of the highlighted entry.
    selected: usize,
    /// The current or latest run.
    run: Option<Run>,
    /// The number the next run gets; only ever grows, so no two runs share one.
    next_run: RunId,
    /// The current run's lines (emptied when a run starts).
    transcript: TranscriptView,
    /// The latest `ping` or `hold`'s figures: kept while other requests run.
    latency: LatencyView,
    /// The latest clients list and the refresh schedule.
    clients: ClientsView,
    /// The latest `listen`'s connections (emptied when a run starts).
    listen: ListenView,
    /// The latest `load`'s seconds (emptied when a run starts).
    load: LoadView,
    /// While set, network news waits in `held` instead of changing the panes.
    paused: bool,
    /// Network news received while paused, in arrival order.
    held: VecDeque<NetEvent>,
    /// Whether the help overlay is shown.
    help: bool,
    /// The URL being typed for `inspect`, while its input line is open.
    input: Option<String>,
    /// The URL `inspect` ran on last, offered again next time.
    last_url: String,
    /// A short message for the status line, and when it goes away.
    notice: Option<(String, Instant)>,
    /// Set once the UI should end.
    exit: Option<Exit>,
    /// Lines a PgUp or PgDn moves: the transcript pane's height.
    page: usize,
    /// The time of the latest update, for elapsed times in the panes.
    now: Instant,
}

impl App {
    /// A fresh UI against `server`, at time `now`. The first clients refresh is due at once.
    pub fn new(server: impl Into<String>, log_path: Option<PathBuf>, now: Instant) -> Self {
        App {
            server: server.into(),
            log_path,
            selected: 0,
            run: None,
            next_run: 1,
            transcript: TranscriptView::default(),
            latency: LatencyView::default(),
            clients: ClientsView::new(now),
            listen: ListenView::default(),
            load: LoadView::default(),
            paused: false,
            held: VecDeque::new(),
            help: false,
            input: None,
            last_url: String::new(),
            notice: None,
            exit: None,
            page: 10,
            now,
        }
    }

    /// The server's `HOST:PORT`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Where the logs go.
    pub fn log_path(&self) -> Option<&PathBuf> {
        self.log_path.as_ref()
    }

    /// The highlighted entry.
    pub fn selected(&self) -> MenuEntry {
        MenuEntry::ALL[self.selected]
    }

    /// The current or latest run.
    pub fn run(&self) -> Option<&Run> {
        self.run.as_ref()
    }

    /// The transcript pane's content.
    pub fn transcript(&self) -> &TranscriptView {
        &self.transcript
    }

    /// The listen pane's content.
    pub fn listen(&self) -> &ListenView {
        &self.listen
    }

    /// Whether the current or latest run is `listen`, whose pane then takes the
    /// transcript's place.
    pub fn shows_listen(&self) -> bool {
        self.run
            .as_ref()
            .is_some_and(|r| r.request == MenuEntry::Listen)
    }

    /// The load pane's content.
    pub fn load(&self) -> &LoadView {
        &self.load
    }

    /// Whether the current or latest run is `load`, whose pane then takes the
    /// latency pane's place.
    pub fn shows_load(&self) -> bool {
        self.run
            .as_ref()
            .is_some_and(|r| r.request == MenuEntry::Load)
    }

    /// The latency pane's content.
    pub fn latency(&self) -> &LatencyView {
        &self.latency
    }

    /// The clients pane's content.
    pub fn clients(&self) -> &ClientsView {
        &self.clients
    }

    /// Whether updates are paused, and how many wait.
    pub fn paused(&self) -> Option<usize> {
        self.paused.then_some(self.held.len())
    }

    /// Whether the help overlay is shown.
    pub fn help_shown(&self) -> bool {
        self.help
    }

    /// The URL being typed for `inspect`, while its input line is open.
    pub fn input(&self) -> Option<&str> {
        self.input.as_deref()
    }

    /// Shows every payload also as a hex dump (`--hex`; the `x` key toggles it).
    pub fn set_hex(&mut self, hex: bool) {
        self.transcript.set_hex(hex);
        self.listen.set_hex(hex);
    }

    /// The status line's message, if one is current.
    pub fn notice(&self) -> Option<&str> {
        self.notice
            .as_ref()
            .filter(|(_, until)| *until > self.now)
            .map(|(text, _)| text.as_str())
    }

    /// Why the UI should end, once it should.
    pub fn exit(&self) -> Option<&Exit> {
        self.exit.as_ref()
    }

    /// The time of the latest update.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Sets how many lines a PgUp or PgDn moves (the transcript pane's height).
    pub fn set_page(&mut self, lines: usize) {
        self.page = lines.max(1);
    }

    /// Applies `event`, which happened at `now`; returns what the loop must do.
    pub fn update(&mut self, event: Event, now: Instant) -> Option<Action> {
        self.now = now;
        match event {
            Event::Tick => self.tick(),
            Event::Terminal(TermEvent::Key(key)) => self.key(key),
            Event::Terminal(_) => None,
            Event::TerminalLost(why) => {
                self.exit = Some(Exit::TerminalLost(why));
                None
            }
            Event::Signal(Signal::Terminate) => {
                self.exit = Some(Exit::Terminate);
                None
            }
            Event::Signal(Signal::Interrupt) => {
                self.exit = Some(Exit::Interrupt);
                None
            }
            Event::Crashed(name) => {
                self.exit = Some(Exit::Crashed(name));
                None
            }
            Event::Net(news) if self.paused => {
                self.held.push_back(news);
                None
            }
            Event::Net(news) => {
                self.net(news);
                None
            }
        }
    }

    /// Time-driven work: the periodic clients refresh.
    fn tick(&mut self) -> Option<Action> {
        let due = self.clients.due(self.now);
        if due && !self.paused {
            self.refresh_clients()
        } else {
            None
        }
    }

    /// Starts a clients refresh unless one is on its way.
    fn refresh_clients(&mut self) -> Option<Action> {
        self.clients
            .start_refresh(self.now)
            .then_some(Action::RefreshClients)
    }

    fn key(&mut self, key: KeyEvent) -> Option<Action> {
        if !matches!(key.kind, KeyEventKind::Press | KeyEventKind::Repeat) {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            // Raw mode delivers Ctrl-C as a key; it quits as it would without raw mode.
            KeyCode::Char('c') if ctrl => {
                self.exit = Some(Exit::Interrupt);
                return None;
            }
            // While a URL is typed, q is a letter of it.
            KeyCode::Char('q') if self.input.is_none() => {
                self.exit = Some(Exit::Quit);
                return None;
            }
            _ => {}
        }
        if self.input.is_some() {
            return self.type_url(key.code, ctrl);
        }
        if self.help {
            if matches!(key.code, KeyCode::Esc | KeyCode::Char('?')) {
                self.help = false;
            }
            return None;
        }
        let count = MenuEntry::ALL.len();
        let page = self.page.saturating_sub(1).max(1);
        match key.code {
            KeyCode::Char('?') => self.help = true,
            KeyCode::Up | KeyCode::Char('k') => self.selected = (self.selected + count - 1) % count,
            KeyCode::Down | KeyCode::Char('j') => self.selected = (self.selected + 1) % count,
            KeyCode::Enter => return self.start(),
            KeyCode::Char(c @ '1'..='9') => {
                let index = usize::from(c as u8 - b'1');
                if index < count {
                    self.selected = index;
                    return self.start();
                }
            }
            KeyCode::Esc | KeyCode::Char('c') => return self.cancel(),
            KeyCode::Tab | KeyCode::BackTab if self.shows_listen() => {
                self.listen.select_next(key.code == KeyCode::BackTab);
            }
            KeyCode::Char('p') => self.toggle_pause(),
            KeyCode::Char('x') => {
                let hex = !self.transcript.hex();
                self.set_hex(hex);
                self.notify(if hex { "hex dumps on" } else { "hex dumps off" });
            }
            KeyCode::Char('r') => {
                let action = self.refresh_clients();
                if action.is_none() {
                    self.notify("the clients are being refreshed already");
                }
                return action;
            }
            KeyCode::PageUp => self.scroll(true, page),
            KeyCode::PageDown => self.scroll(false, page),
            KeyCode::Home => self.scroll(true, usize::MAX),
            KeyCode::End => self.scroll(false, usize::MAX),
            _ => {}
        }
        None
    }

    /// Scrolls the transcript shown (the selected connection's, under `listen`).
    fn scroll(&mut self, up: bool, lines: usize) {
        match (self.shows_listen(), up) {
            (true, true) => self.listen.scroll_up(lines),
            (true, false) => self.listen.scroll_down(lines),
            (false, true) => self.transcript.scroll_up(lines),
            (false, false) => self.transcript.scroll_down(lines),
        }
    }

    /// A key while the URL input is open: edit (Ctrl-U clears the line, as in a
    /// shell), Enter runs `inspect`, Esc gives up.
    fn type_url(&mut self, code: KeyCode, ctrl: bool) -> Option<Action> {
        let input = self.input.as_mut()?;
        match code {
            KeyCode::Char('u') if ctrl => input.clear(),
            // A control key is not a letter of the URL.
            KeyCode::Char(c) if !ctrl && !c.is_control() => input.push(c),
            KeyCode::Backspace => {
                input.pop();
            }
            KeyCode::Esc => self.input = None,
            KeyCode::Enter => {
                let url = self.input.take().unwrap_or_default().trim().to_owned();
                self.last_url.clone_from(&url);
                let run = self.begin(MenuEntry::Request(Request::Inspect))?;
                let url = (!url.is_empty()).then_some(url);
                return Some(Action::Inspect { run, url });
            }
            _ => {}
        }
        None
    }

    /// Starts the selected entry, unless a run is in flight; `inspect` first opens
    /// the input line for its URL.
    fn start(&mut self) -> Option<Action> {
        match self.selected() {
            MenuEntry::Request(Request::Inspect) => {
                self.resume();
                if !self.refuse_while_running() {
                    self.input = Some(self.last_url.clone());
                }
                None
            }
            entry @ MenuEntry::Request(request) => {
                let run = self.begin(entry)?;
                Some(Action::Run { run, request })
            }
            MenuEntry::Listen => {
                let run = self.begin(MenuEntry::Listen)?;
                Some(Action::Listen { run })
            }
            MenuEntry::Load => {
                let run = self.begin(MenuEntry::Load)?;
                Some(Action::Load { run })
            }
        }
    }

    /// Whether a run is in flight (then says so on the status line).
    fn refuse_while_running(&mut self) -> bool {
        if let Some(run) = self.run.as_ref().filter(|r| r.is_active()) {
            let text = format!(
                "{} is still running: Esc stops it",
                run.request.subcommand()
            );
            self.notify(text);
            return true;
        }
        false
    }

    /// Makes `request` the current run, unless one is in flight.
    fn begin(&mut self, request: MenuEntry) -> Option<RunId> {
        // Held news may hold the end of the current run; a new run starts from the present.
        self.resume();
        if self.refuse_while_running() {
            return None;
        }
        let id = self.next_run;
        self.next_run += 1;
        self.run = Some(Run {
            id,
            request,
            started: self.now,
            state: RunState::Running,
        });
        self.transcript.clear();
        self.listen.clear();
        self.load.clear();
        self.clients.clear_own();
        if let MenuEntry::Request(request @ (Request::Ping | Request::Hold)) = request {
            self.latency.reset(request);
        }
        Some(id)
    }

    /// Esc: stops the run; a second Esc while it winds down drops it.
    fn cancel(&mut self) -> Option<Action> {
        self.resume();
        let now = self.now;
        let run = self.run.as_mut().filter(|r| r.is_active())?;
        match run.state {
            RunState::Running => {
                run.state = RunState::Cancelling;
                Some(Action::Cancel { run: run.id })
            }
            _ => {
                let id = run.id;
                run.state = RunState::Ended {
                    after: now.saturating_duration_since(run.started),
                    how: Ending::Abandoned,
                };
                self.push_own(EntryKind::Note(
                    "abandoned: dropped without waiting for it to end".to_owned(),
                ));
                Some(Action::Abandon { run: id })
            }
        }
    }

    fn toggle_pause(&mut self) {
        if self.paused {
            self.resume();
        } else {
            self.paused = true;
        }
    }

    /// Unpauses, applying the held news in order.
    fn resume(&mut self) {
        self.paused = false;
        while let Some(news) = self.held.pop_front() {
            self.net(news);
        }
    }

    fn net(&mut self, news: NetEvent) {
        match news {
            NetEvent::Clients { result, at_unix_ms } => self.clients.received(result, at_unix_ms),
            NetEvent::Entry { run, entry } if self.is_current(run) => self.entry(&entry),
            NetEvent::Ping { run, event } if self.is_current(run) => self.ping(&event),
            NetEvent::Listen { run, news } if self.is_current(run) => match news {
                ListenNews::Listening(banner) => self.listen.listening(banner),
                ListenNews::Connection(event) => self.listen.event(&event),
            },
            NetEvent::Load { run, news } if self.is_current(run) => self.load_news(news),
            NetEvent::Finished { run, result } if self.is_current(run) => self.finished(result),
            // News of an abandoned run.
            NetEvent::Entry { .. }
            | NetEvent::Ping { .. }
            | NetEvent::Listen { .. }
            | NetEvent::Load { .. }
            | NetEvent::Finished { .. } => {}
        }
    }

    fn is_current(&self, id: RunId) -> bool {
        self.run
            .as_ref()
            .is_some_and(|r| r.id == id && r.is_active())
    }

    fn entry(&mut self, entry: &Entry) {
        match &entry.kind {
            EntryKind::Connected { local, .. } => self.clients.add_own(*local),
            // A ping's RTTs come typed, through `ping`; the transcript repeats them.
            EntryKind::Rtt { rtt, clock, .. } if self.latency.source() == Some(Request::Hold) => {
                self.latency.record(*rtt, *clock);
            }
            _ => {}
        }
        self.transcript.push_entry(entry);
    }

    fn ping(&mut self, event: &PingEvent) {
        match event {
            PingEvent::Started { local, .. } => self.clients.add_own(*local),
            PingEvent::Reply {
                rtt,
                clock,
                skipped,
                ..
            } => {
                self.latency.record_lost(*skipped);
                self.latency.record(rtt.on(*clock), *clock);
            }
            PingEvent::Timeout { .. } => self.latency.record_lost(1),
            PingEvent::Late { .. } | PingEvent::Unsolicited { .. } => {}
        }
    }

    /// A `load`'s news: the figures to its pane, the lines the command line prints
    /// to the transcript.
    fn load_news(&mut self, news: LoadNews) {
        match news {
            LoadNews::Notice(line) => self.push_own(EntryKind::Note(line)),
            LoadNews::Second(second) => {
                self.push_own(EntryKind::Note(load_output::progress_line(&second)));
                self.load.second(second);
            }
            LoadNews::Summary(report) => {
                let summary = load_output::summary(&report).join("\n");
                self.push_own(EntryKind::Output(summary));
            }
        }
    }

    fn finished(&mut self, result: Result<(), Error>) {
        let now = self.now;
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let cancelled = run.state == RunState::Cancelling;
        let how = match &result {
            Ok(()) => Ending::Done,
            Err(Error::Interrupted) => Ending::Cancelled,
            Err(_) => Ending::Failed,
        };
        run.state = RunState::Ended {
            after: now.saturating_duration_since(run.started),
            how,
        };
        match result {
            Ok(()) => {}
            Err(Error::Interrupted) => self.push_own(EntryKind::Note("cancelled".to_owned())),
            // After a cancel, a server that closed first is not news.
            Err(Error::Closed { .. }) if cancelled => {}
            Err(err) => self.push_own(EntryKind::Error(error::one_line(&err))),
        }
        // The run's connections are gone: show the server's list without them soon.
        self.clients.refresh_at(now);
    }

    /// Adds an entry of the UI's own, stamped like the request's entries.
    fn push_own(&mut self, kind: EntryKind) {
        let at = self.run.as_ref().map_or(Duration::ZERO, |r| {
            self.now.saturating_duration_since(r.started)
        });
        self.transcript.push_entry(&Entry { at, kind });
    }

    fn notify(&mut self, text: impl Into<String>) {
        self.notice = Some((text.into(), self.now + NOTICE_FOR));
    }
}

#[cfg(test)]
mod tests;
