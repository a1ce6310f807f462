//! The terminal UI's state, and every change made to it.
//!
//! Nothing here touches the terminal, the network or the clock: [`App::update`] takes
//! an [`Event`] and the time, changes the state, and returns the [`Action`] (if any)
//! that the loop in [`super`] carries out. So menu navigation, the transcript, the
//! latency figures, pausing and cancelling are unit-tested without a terminal, and
//! [`super::ui`] only reads what is here.
//!
//! Three panes keep data of their own:
//!
//! * [`TranscriptView`] (in [`super::transcript`], with its widget): the lines of the
//!   current run and a scroll position;
//! * [`LatencyView`] (in [`super::latency`], with its widget): the RTTs of the latest
//!   `ping` or `hold`, fed from typed [`PingEvent`]s and from `hold`'s transcript
//!   [`EntryKind::Rtt`] entries;
//! * [`ClientsView`]: the latest `/clients.json`, refreshed every [`CLIENTS_EVERY`]
//!   and on `r`, and the addresses of our own connections, so the user finds themselves.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use wspp::clients::ClientsReport;

use super::event::{Event, NetEvent, RunId, Signal};
use super::latency::LatencyView;
use super::run_state::{Ending, Run, RunState};
use super::transcript::TranscriptView;
use crate::catalog::Request;
use crate::error::{self, Error};
use crate::ping::PingEvent;
use crate::transcript::{Entry, EntryKind};

/// How often the clients pane refreshes by itself.
pub const CLIENTS_EVERY: Duration = Duration::from_secs(2);
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

/// The clients pane: the latest `/clients.json` and our own addresses.
#[derive(Debug, Default)]
pub struct ClientsView {
    /// The latest report, if one ever arrived.
    report: Option<ClientsReport>,
    /// When it was fetched, in milliseconds since the Unix epoch.
    at_unix_ms: u64,
    /// Why the latest refresh failed; cleared by the next success.
    error: Option<String>,
    /// A refresh is on its way: no second one is started meanwhile.
    in_flight: bool,
    /// When the next periodic refresh is due.
    next_at: Option<Instant>,
    /// Our connections' local addresses in the current run, as the server sees them.
    own: Vec<SocketAddr>,
}

impl ClientsView {
    /// The latest report.
    pub fn report(&self) -> Option<&ClientsReport> {
        self.report.as_ref()
    }

    /// When the report was fetched (ms since the Unix epoch).
    pub fn at_unix_ms(&self) -> u64 {
        self.at_unix_ms
    }

    /// Why the latest refresh failed.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Whether a refresh is on its way.
    pub fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// Whether `peer` (as the server prints it) is one of our own connections.
    pub fn is_own(&self, peer: &str) -> bool {
        self.own.iter().any(|addr| addr.to_string() == peer)
    }
}

/// The whole state of the terminal UI.
#[derive(Debug)]
pub struct App {
    /// The server's `HOST:PORT`, for the status line.
    server: String,
    /// Where the logs go while the UI owns the terminal (shown in the help).
    log_path: Option<PathBuf>,
    /// Index into [`Request::ALL`] of the highlighted entry.
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
            clients: ClientsView {
                next_at: Some(now),
                ..ClientsView::default()
            },
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

    /// The highlighted request.
    pub fn selected(&self) -> Request {
        Request::ALL[self.selected]
    }

    /// The current or latest run.
    pub fn run(&self) -> Option<&Run> {
        self.run.as_ref()
    }

    /// The transcript pane's content.
    pub fn transcript(&self) -> &TranscriptView {
        &self.transcript
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
        let due = self.clients.next_at.is_some_and(|at| at <= self.now);
        if due && !self.paused {
            self.refresh_clients()
        } else {
            None
        }
    }

    /// Starts a clients refresh unless one is on its way.
    fn refresh_clients(&mut self) -> Option<Action> {
        if self.clients.in_flight {
            return None;
        }
        self.clients.in_flight = true;
        self.clients.next_at = Some(self.now + CLIENTS_EVERY);
        Some(Action::RefreshClients)
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
            return self.type_url(key.code);
        }
        if self.help {
            if matches!(key.code, KeyCode::Esc | KeyCode::Char('?')) {
                self.help = false;
            }
            return None;
        }
        let count = Request::ALL.len();
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
            KeyCode::PageUp => self
                .transcript
                .scroll_up(self.page.saturating_sub(1).max(1)),
            KeyCode::PageDown => self
                .transcript
                .scroll_down(self.page.saturating_sub(1).max(1)),
            KeyCode::Home => self.transcript.scroll_up(usize::MAX),
            KeyCode::End => self.transcript.scroll_down(usize::MAX),
            _ => {}
        }
        None
    }

    /// A key while the URL input is open: edit, Enter runs `inspect`, Esc gives up.
    fn type_url(&mut self, code: KeyCode) -> Option<Action> {
        let input = self.input.as_mut()?;
        match code {
            KeyCode::Char(c) if !c.is_control() => input.push(c),
            KeyCode::Backspace => {
                input.pop();
            }
            KeyCode::Esc => self.input = None,
            KeyCode::Enter => {
                let url = self.input.take().unwrap_or_default().trim().to_owned();
                self.last_url.clone_from(&url);
                let (run, _) = self.begin(Request::Inspect)?;
                let url = (!url.is_empty()).then_some(url);
                return Some(Action::Inspect { run, url });
            }
            _ => {}
        }
        None
    }

    /// Starts the selected request, unless one is in flight; `inspect` first opens
    /// the input line for its URL.
    fn start(&mut self) -> Option<Action> {
        if self.selected() == Request::Inspect {
            self.resume();
            if !self.refuse_while_running() {
                self.input = Some(self.last_url.clone());
            }
            return None;
        }
        let (run, request) = self.begin(self.selected())?;
        Some(Action::Run { run, request })
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
    fn begin(&mut self, request: Request) -> Option<(RunId, Request)> {
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
        self.clients.own.clear();
        if matches!(request, Request::Ping | Request::Hold) {
            self.latency.reset(request);
        }
        Some((id, request))
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
            NetEvent::Clients { result, at_unix_ms } => {
                self.clients.in_flight = false;
                match result {
                    Ok(report) => {
                        self.clients.report = Some(report);
                        self.clients.at_unix_ms = at_unix_ms;
                        self.clients.error = None;
                    }
                    Err(err) => self.clients.error = Some(error::report(&err)),
                }
            }
            NetEvent::Entry { run, entry } if self.is_current(run) => self.entry(&entry),
            NetEvent::Ping { run, event } if self.is_current(run) => self.ping(&event),
            NetEvent::Finished { run, result } if self.is_current(run) => self.finished(result),
            // News of an abandoned run.
            NetEvent::Entry { .. } | NetEvent::Ping { .. } | NetEvent::Finished { .. } => {}
        }
    }

    fn is_current(&self, id: RunId) -> bool {
        self.run
            .as_ref()
            .is_some_and(|r| r.id == id && r.is_active())
    }

    fn entry(&mut self, entry: &Entry) {
        match &entry.kind {
            EntryKind::Connected { local, .. } => self.clients.own.push(*local),
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
            PingEvent::Started { local, .. } => self.clients.own.push(*local),
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
            Err(err) => self.push_own(EntryKind::Error(error::report(&err))),
        }
        // The run's connections are gone: show the server's list without them soon.
        self.clients.next_at = Some(now);
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
mod tests {
    use super::*;
    use crate::tui::transcript::LineKind;
    use crate::tui::transcript::tests::close_frame;
    use crate::wire::{Direction, FrameInfo, Opcode, WireEvent};
    use crossterm::event::KeyEventState;
    use wspp::clients::{ClientInfo, ServerSummary};
    use wspp::wire_clock::Clock;

    fn key(code: KeyCode) -> Event {
        Event::Terminal(TermEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    fn ctrl(c: char) -> Event {
        Event::Terminal(TermEvent::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::CONTROL,
        )))
    }

    fn app() -> (App, Instant) {
        let t0 = Instant::now();
        (App::new("127.0.0.1:8080", None, t0), t0)
    }

    fn press(app: &mut App, code: KeyCode) -> Option<Action> {
        let now = app.now();
        app.update(key(code), now)
    }

    fn net(app: &mut App, news: NetEvent) {
        let now = app.now();
        assert_eq!(app.update(Event::Net(news), now), None);
    }

    fn note(run: RunId, text: &str) -> NetEvent {
        NetEvent::Entry {
            run,
            entry: Entry {
                at: Duration::from_millis(1),
                kind: EntryKind::Note(text.into()),
            },
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Selects `request` with the arrow keys and runs it; returns its run id.
    fn run(app: &mut App, request: Request) -> RunId {
        while app.selected() != request {
            press(app, KeyCode::Down);
        }
        match press(app, KeyCode::Enter) {
            Some(Action::Run { run, request: r }) if r == request => run,
            other => panic!("expected a run of {request:?}, got {other:?}"),
        }
    }

    #[test]
    fn inspect_opens_a_url_input_that_takes_every_letter() {
        let (mut app, _) = app();
        let number = Request::ALL
            .iter()
            .position(|&r| r == Request::Inspect)
            .expect("inspect is in the catalog");
        let digit = char::from(b'1' + u8::try_from(number).expect("a small index"));
        assert_eq!(press(&mut app, KeyCode::Char(digit)), None);
        assert_eq!(app.input(), Some(""));
        for c in "ws://h:1/q?x=1!".chars() {
            assert_eq!(press(&mut app, KeyCode::Char(c)), None);
        }
        press(&mut app, KeyCode::Backspace);
        // q typed into the URL did not quit.
        assert_eq!(app.exit(), None);
        assert_eq!(app.input(), Some("ws://h:1/q?x=1"));
        match press(&mut app, KeyCode::Enter) {
            Some(Action::Inspect { run, url }) => {
                assert_eq!(url.as_deref(), Some("ws://h:1/q?x=1"));
                assert_eq!(app.run().map(|r| r.id), Some(run));
            }
            other => panic!("expected inspect, got {other:?}"),
        }
        assert_eq!(app.input(), None);
        let run = app.run().map(|r| r.id).expect("a run");
        net(
            &mut app,
            NetEvent::Finished {
                run,
                result: Ok(()),
            },
        );
        // The last URL is offered again; Esc closes the input without running.
        press(&mut app, KeyCode::Enter);
        assert_eq!(app.input(), Some("ws://h:1/q?x=1"));
        assert_eq!(press(&mut app, KeyCode::Esc), None);
        assert_eq!(app.input(), None);
        // Empty: the server's own /pingpong.
        press(&mut app, KeyCode::Enter);
        for _ in 0.."ws://h:1/q?x=1".len() {
            press(&mut app, KeyCode::Backspace);
        }
        assert!(matches!(
            press(&mut app, KeyCode::Enter),
            Some(Action::Inspect { url: None, .. })
        ));
    }

    #[test]
    fn x_toggles_hex_dumps_of_the_lines_already_there() {
        let (mut app, _) = app();
        let id = run(&mut app, Request::OpenClose);
        let frame = FrameInfo {
            fin: true,
            rsv: 0,
            opcode: Opcode::Binary,
            masked: false,
            len: 3,
            preview: vec![1, 2, 3],
        };
        net(
            &mut app,
            NetEvent::Entry {
                run: id,
                entry: Entry {
                    at: ms(1),
                    kind: EntryKind::Wire {
                        direction: Direction::Incoming,
                        event: WireEvent::Frame(frame),
                    },
                },
            },
        );
        assert_eq!(app.transcript().lines().len(), 1);
        press(&mut app, KeyCode::Char('x'));
        assert!(app.transcript().hex());
        let lines: Vec<_> = app
            .transcript()
            .lines()
            .iter()
            .map(|l| l.text.clone())
            .collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[1].trim_start().starts_with("0000  01 02 03"),
            "{lines:?}"
        );
        assert_eq!(app.notice(), Some("hex dumps on"));
        press(&mut app, KeyCode::Char('x'));
        assert_eq!(app.transcript().lines().len(), 1);
    }

    #[test]
    fn arrows_and_jk_move_through_the_menu_and_wrap() {
        let (mut app, _) = app();
        assert_eq!(app.selected(), Request::ALL[0]);
        press(&mut app, KeyCode::Down);
        press(&mut app, KeyCode::Char('j'));
        assert_eq!(app.selected(), Request::ALL[2]);
        press(&mut app, KeyCode::Char('k'));
        assert_eq!(app.selected(), Request::ALL[1]);
        press(&mut app, KeyCode::Up);
        press(&mut app, KeyCode::Up);
        assert_eq!(app.selected(), Request::ALL[Request::ALL.len() - 1]);
        press(&mut app, KeyCode::Down);
        assert_eq!(app.selected(), Request::ALL[0]);
    }

    #[test]
    fn key_releases_are_ignored() {
        let (mut app, t0) = app();
        let mut release = KeyEvent::new(KeyCode::Down, KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        release.state = KeyEventState::NONE;
        app.update(Event::Terminal(TermEvent::Key(release)), t0);
        assert_eq!(app.selected(), Request::ALL[0]);
    }

    #[test]
    fn enter_runs_the_selection_once_and_numbers_pick_directly() {
        let (mut app, _) = app();
        let first = run(&mut app, Request::OpenClose);
        assert_eq!(app.run().map(|r| r.state), Some(RunState::Running));
        // A second Enter while it runs starts nothing, and says why.
        assert_eq!(press(&mut app, KeyCode::Enter), None);
        assert!(app.notice().is_some_and(|n| n.contains("open-close")));
        net(
            &mut app,
            NetEvent::Finished {
                run: first,
                result: Ok(()),
            },
        );
        let number = Request::ALL
            .iter()
            .position(|&r| r == Request::Favicon)
            .expect("favicon is in the catalog");
        let digit = char::from(b'1' + u8::try_from(number).expect("small index"));
        assert_eq!(
            press(&mut app, KeyCode::Char(digit)),
            Some(Action::Run {
                run: first + 1,
                request: Request::Favicon
            })
        );
    }

    #[test]
    fn the_transcript_grows_with_entries_and_starts_afresh_per_run() {
        let (mut app, _) = app();
        let id = run(&mut app, Request::OpenClose);
        net(&mut app, note(id, "connected"));
        net(
            &mut app,
            NetEvent::Entry {
                run: id,
                entry: close_frame(),
            },
        );
        let lines = app.transcript().lines();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].kind, LineKind::Received);
        assert!(lines[1].text.contains("← Close fin=1 mask=0 len=2 1000"));
        // News of another run is not this run's.
        net(&mut app, note(id + 7, "stray"));
        assert_eq!(app.transcript().lines().len(), 2);
        net(
            &mut app,
            NetEvent::Finished {
                run: id,
                result: Ok(()),
            },
        );
        run(&mut app, Request::Favicon);
        assert!(app.transcript().lines().is_empty());
    }

    #[test]
    fn a_failed_request_shows_its_error_and_the_ui_carries_on() {
        let (mut app, _) = app();
        let id = run(&mut app, Request::Page);
        net(
            &mut app,
            NetEvent::Finished {
                run: id,
                result: Err(Error::Unexpected("nonsense".into())),
            },
        );
        let last = app.transcript().lines().back().cloned().expect("a line");
        assert_eq!(last.kind, LineKind::Error);
        assert!(
            last.text
                .contains("unexpected answer from the server: nonsense")
        );
        assert!(matches!(
            app.run().map(|r| r.state),
            Some(RunState::Ended {
                how: Ending::Failed,
                ..
            })
        ));
        assert_eq!(app.exit(), None);
    }

    #[test]
    fn escape_cancels_then_abandons() {
        let (mut app, _) = app();
        assert_eq!(press(&mut app, KeyCode::Esc), None, "nothing to cancel");
        let id = run(&mut app, Request::Hold);
        assert_eq!(
            press(&mut app, KeyCode::Esc),
            Some(Action::Cancel { run: id })
        );
        assert_eq!(app.run().map(|r| r.state), Some(RunState::Cancelling));
        assert_eq!(
            press(&mut app, KeyCode::Char('c')),
            Some(Action::Abandon { run: id })
        );
        assert!(!app.run().is_some_and(Run::is_active));
        // The abandoned run's late news changes nothing.
        let before = app.transcript().lines().len();
        net(&mut app, note(id, "late"));
        assert_eq!(app.transcript().lines().len(), before);
    }

    #[test]
    fn a_cancelled_run_ends_cleanly() {
        let (mut app, _) = app();
        let id = run(&mut app, Request::Page);
        press(&mut app, KeyCode::Esc);
        net(
            &mut app,
            NetEvent::Finished {
                run: id,
                result: Err(Error::Interrupted),
            },
        );
        assert!(matches!(
            app.run().map(|r| r.state),
            Some(RunState::Ended {
                how: Ending::Cancelled,
                ..
            })
        ));
        assert_eq!(
            app.transcript().lines().back().map(|l| l.kind),
            Some(LineKind::Note)
        );
    }

    #[test]
    fn ping_events_feed_the_latency_figures_and_loss() {
        let (mut app, _) = app();
        let id = run(&mut app, Request::Ping);
        for (seq, rtt) in [(0, 3), (1, 1), (2, 2)] {
            net(
                &mut app,
                NetEvent::Ping {
                    run: id,
                    event: PingEvent::Reply {
                        probe: crate::config::Probe::Ping,
                        seq,
                        rtt: wspp::tracker::Rtt {
                            user: ms(rtt + 1),
                            kernel: Some(ms(rtt)),
                        },
                        clock: Clock::Kernel,
                        bytes: 16,
                        skipped: 0,
                    },
                },
            );
        }
        net(
            &mut app,
            NetEvent::Ping {
                run: id,
                event: PingEvent::Timeout {
                    probe: crate::config::Probe::Ping,
                    seq: 3,
                },
            },
        );
        // The transcript's copy of a ping RTT is not counted twice.
        net(
            &mut app,
            NetEvent::Entry {
                run: id,
                entry: Entry {
                    at: ms(5),
                    kind: EntryKind::Rtt {
                        what: "pong",
                        seq: 2,
                        rtt: ms(2),
                        clock: Clock::Kernel,
                    },
                },
            },
        );
        let latency = app.latency();
        assert_eq!(latency.source(), Some(Request::Ping));
        let s = latency.latency().summary();
        assert_eq!(s.count, 3);
        assert_eq!(
            (s.min, s.avg, s.max),
            (Some(ms(1)), Some(ms(2)), Some(ms(3)))
        );
        assert_eq!(latency.latency().running().last(), Some(ms(2)));
        assert_eq!(latency.lost(), 1);
        assert_eq!(latency.loss_pct(), Some(25.0));
        assert_eq!(
            latency.recent().iter().copied().collect::<Vec<_>>(),
            vec![Some(ms(3)), Some(ms(1)), Some(ms(2)), None]
        );
    }

    #[test]
    fn hold_echo_rtts_come_from_the_transcript() {
        let (mut app, _) = app();
        let id = run(&mut app, Request::Hold);
        for seq in 0..3 {
            net(
                &mut app,
                NetEvent::Entry {
                    run: id,
                    entry: Entry {
                        at: ms(seq),
                        kind: EntryKind::Rtt {
                            what: "echo",
                            seq,
                            rtt: ms(seq + 1),
                            clock: Clock::Kernel,
                        },
                    },
                },
            );
        }
        let latency = app.latency();
        assert_eq!(latency.latency().running().count(), 3);
        assert_eq!(latency.loss_pct(), None, "hold cannot tell a lost echo");
        assert_eq!(app.transcript().lines().len(), 3);
        assert!(app.transcript().lines()[0].text.contains("echo seq=0"));
    }

    #[test]
    fn pause_holds_news_until_resumed() {
        let (mut app, _) = app();
        let id = run(&mut app, Request::Hold);
        press(&mut app, KeyCode::Char('p'));
        net(&mut app, note(id, "one"));
        net(&mut app, note(id, "two"));
        assert_eq!(app.paused(), Some(2));
        assert!(app.transcript().lines().is_empty());
        press(&mut app, KeyCode::Char('p'));
        assert_eq!(app.paused(), None);
        let texts: Vec<_> = app
            .transcript()
            .lines()
            .iter()
            .map(|l| l.text.trim().to_owned())
            .collect();
        assert_eq!(texts, ["+1.000ms   one", "+1.000ms   two"]);
    }

    #[test]
    fn the_transcript_scrolls_and_follows_again_at_the_bottom() {
        let (mut app, _) = app();
        app.set_page(5);
        let id = run(&mut app, Request::Hold);
        for i in 0..20 {
            net(&mut app, note(id, &format!("line {i}")));
        }
        let window = |app: &App| -> Vec<String> {
            app.transcript()
                .window(5)
                .map(|l| l.text.trim().to_owned())
                .collect()
        };
        assert!(window(&app)[4].ends_with("line 19"));
        press(&mut app, KeyCode::PageUp);
        assert_eq!(app.transcript().scroll_back(), 4);
        assert!(window(&app)[4].ends_with("line 15"));
        // New lines do not move what is being read.
        net(&mut app, note(id, "line 20"));
        assert!(window(&app)[4].ends_with("line 15"));
        press(&mut app, KeyCode::Home);
        assert!(window(&app)[0].ends_with("line 0"));
        press(&mut app, KeyCode::End);
        assert_eq!(app.transcript().scroll_back(), 0);
        assert!(window(&app)[4].ends_with("line 20"));
    }

    #[test]
    fn clients_refresh_periodically_on_r_and_never_twice_at_once() {
        let (mut app, t0) = app();
        assert_eq!(app.update(Event::Tick, t0), Some(Action::RefreshClients));
        assert_eq!(app.update(Event::Tick, t0 + ms(10)), None);
        assert_eq!(
            press(&mut app, KeyCode::Char('r')),
            None,
            "one is on its way"
        );
        let report = ClientsReport {
            server: ServerSummary {
                version: "0.1.0".into(),
                uptime_secs: 1,
                clients_now: 1,
                clients_total: 1,
                ping_interval_ms: 1000,
                ping_timeout_ms: 5000,
            },
            clients: vec![ClientInfo {
                id: 1,
                peer: "127.0.0.1:50000".into(),
                user_agent: None,
                origin: None,
                route: "/pingpong".into(),
                connected_at_unix_ms: 0,
                pings_sent: 0,
                pongs_received: 0,
                rtt_last_us: None,
                rtt_min_us: None,
                rtt_avg_us: None,
                rtt_max_us: None,
                rtt_clock: None,
            }],
        };
        net(
            &mut app,
            NetEvent::Clients {
                result: Ok(report),
                at_unix_ms: 5,
            },
        );
        assert_eq!(app.clients().report().map(|r| r.clients.len()), Some(1));
        assert_eq!(
            press(&mut app, KeyCode::Char('r')),
            Some(Action::RefreshClients)
        );
        net(
            &mut app,
            NetEvent::Clients {
                result: Err(Error::Unexpected("down".into())),
                at_unix_ms: 6,
            },
        );
        assert!(app.clients().error().is_some_and(|e| e.contains("down")));
        assert!(app.clients().report().is_some(), "the last good list stays");
        assert_eq!(app.update(Event::Tick, t0 + ms(1999)), None);
        assert_eq!(
            app.update(Event::Tick, t0 + CLIENTS_EVERY + ms(10)),
            Some(Action::RefreshClients)
        );
    }

    #[test]
    fn our_own_connections_are_recognised() {
        let (mut app, _) = app();
        let id = run(&mut app, Request::Hold);
        let local: SocketAddr = "127.0.0.1:50000".parse().expect("valid address");
        net(
            &mut app,
            NetEvent::Entry {
                run: id,
                entry: Entry {
                    at: ms(0),
                    kind: EntryKind::Connected {
                        peer: "127.0.0.1:8080".parse().expect("valid address"),
                        local,
                    },
                },
            },
        );
        assert!(app.clients().is_own("127.0.0.1:50000"));
        assert!(!app.clients().is_own("127.0.0.1:50001"));
    }

    #[test]
    fn help_q_ctrl_c_and_signals() {
        let (mut app, t0) = app();
        press(&mut app, KeyCode::Char('?'));
        assert!(app.help_shown());
        // Keys other than closing ones do nothing under the overlay.
        assert_eq!(press(&mut app, KeyCode::Enter), None);
        assert!(app.run().is_none());
        press(&mut app, KeyCode::Esc);
        assert!(!app.help_shown());

        press(&mut app, KeyCode::Char('q'));
        assert_eq!(app.exit(), Some(&Exit::Quit));

        let (mut app, _) = self::app();
        app.update(ctrl('c'), t0);
        assert_eq!(app.exit(), Some(&Exit::Interrupt));

        let (mut app, _) = self::app();
        app.update(Event::Signal(Signal::Terminate), t0);
        assert_eq!(app.exit(), Some(&Exit::Terminate));
    }
}
