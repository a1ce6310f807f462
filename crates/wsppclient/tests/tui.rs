//! The terminal UI's whole loop (`tui::drive`) on a `TestBackend`, against the real
//! server: keys go in as events, the network tasks really run, the screen comes out.
//!
//! The test sits between the runner's events and the loop: it sees each event before
//! the loop does and answers with keys (Esc once connected, `q` once finished), so
//! nothing waits on a timer. The real binary in a real terminal is
//! `scripts/tui-smoke.sh`'s job.

use std::time::Instant;

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use wsppclient::commands::Options;
use wsppclient::commands::catalog::Request;
use wsppclient::front::tui::event::{self, LoadNews, NetEvent, Signal};
use wsppclient::front::tui::run_state::RunState;
use wsppclient::front::tui::{self, App, Event, Exit, Runner};
use wsppclient::net::settings::ConnectSettings;
use wsppclient::watch::transcript::EntryKind;

use crate::support::{Server, fast_server_config, raw, within};

fn key(code: KeyCode) -> Event {
    Event::Terminal(TermEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

/// The key that runs `request` from the menu (its number).
fn run_key(request: Request) -> Event {
    let index = Request::ALL
        .iter()
        .position(|&r| r == request)
        .expect("in the catalog");
    key(KeyCode::Char(char::from(b'1' + index as u8)))
}

/// Runs the loop on a 100×30 `TestBackend`: `first` events go in at once, then every
/// event the runner sends is shown to `react` before the loop gets it, and the events
/// `react` returns follow it. Returns the app, the screen drawn from its final state,
/// and why the loop ended.
async fn drive(
    settings: ConnectSettings,
    options: Options,
    first: Vec<Event>,
    mut react: impl FnMut(&Event) -> Vec<Event>,
) -> (App, String, Exit) {
    let (runner_tx, mut from_runner) = event::channel();
    let (to_loop, mut events) = event::channel();
    let mut app = App::new(settings.server.addr.clone(), None, Instant::now());
    let mut runner = Runner::new(settings, options, runner_tx);
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).expect("a test terminal");
    for event in first {
        to_loop.send(event).expect("the loop is listening");
    }
    let exit = {
        let ui = tui::drive(&mut terminal, &mut app, &mut events, &mut runner);
        tokio::pin!(ui);
        loop {
            tokio::select! {
                exit = &mut ui => break exit.expect("the loop ends without error"),
                Some(event) = from_runner.recv() => {
                    let answers = react(&event);
                    to_loop.send(event).expect("the loop is listening");
                    for answer in answers {
                        to_loop.send(answer).expect("the loop is listening");
                    }
                }
            }
        }
    };
    runner.shutdown(Some(&exit)).await;
    terminal
        .draw(|frame| frame.render_widget(&app, frame.area()))
        .expect("drawing succeeds");
    let buffer = terminal.backend().buffer();
    let mut screen = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            screen.push_str(buffer[(x, y)].symbol());
        }
        screen.push('\n');
    }
    (app, screen, exit)
}

/// Presses `q` once the request has finished: a `react` for [`drive`].
fn quit_when_finished(event: &Event) -> Vec<Event> {
    if matches!(event, Event::Net(NetEvent::Finished { .. })) {
        vec![key(KeyCode::Char('q'))]
    } else {
        vec![]
    }
}

#[tokio::test]
async fn open_close_from_the_menu_shows_close_1000_then_q_quits() {
    let server = Server::start(fast_server_config()).await;
    let (app, screen, exit) = within(drive(
        server.client_settings(),
        Options::default(),
        vec![run_key(Request::OpenClose)],
        quit_when_finished,
    ))
    .await;
    assert_eq!(exit, Exit::Quit);
    assert!(
        screen.contains("transcript · open-close · done in"),
        "{screen}"
    );
    // The transcript pane follows the end: the close handshake and the filter.
    assert!(
        screen.contains("the server closed: 1000 (Normal Closure)"),
        "{screen}"
    );
    assert!(
        screen.contains("wireshark filter: tcp.port == "),
        "{screen}"
    );
    let lines = app.transcript().lines();
    assert!(
        lines
            .iter()
            .any(|l| l.text.contains("← HTTP/1.1 101 Switching Protocols")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.text.contains("← Close fin=1 mask=0 len=") && l.text.contains("1000")),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn a_silent_server_leaves_the_ui_responsive_and_esc_cancels() {
    // Accepts the connection, reads the request, never answers.
    let (addr, _peer) = raw::serve_one(|mut stream| async move {
        raw::read_head(&mut stream).await;
        std::future::pending::<()>().await;
    })
    .await;
    let (app, screen, exit) = within(drive(
        ConnectSettings::new(addr.to_string()),
        Options::default(),
        vec![run_key(Request::Page)],
        |event| match event {
            // Connected and waiting for an answer that never comes: the keys still work.
            Event::Net(NetEvent::Entry { entry, .. })
                if matches!(entry.kind, EntryKind::Connected { .. }) =>
            {
                vec![key(KeyCode::Down), key(KeyCode::Esc)]
            }
            event => quit_when_finished(event),
        },
    ))
    .await;
    assert_eq!(exit, Exit::Quit);
    assert_eq!(
        app.selected(),
        wsppclient::commands::catalog::MenuEntry::ALL[1],
        "the Down key was handled"
    );
    assert!(
        matches!(app.run().map(|r| r.state), Some(RunState::Ended { .. })),
        "{:?}",
        app.run()
    );
    assert!(screen.contains("cancelled"), "{screen}");
}

#[tokio::test]
async fn a_refused_connection_is_shown_not_fatal() {
    let addr = crate::support::refused_addr();
    let (app, screen, exit) = within(drive(
        ConnectSettings::new(addr.to_string()),
        Options::default(),
        vec![run_key(Request::OpenClose)],
        quit_when_finished,
    ))
    .await;
    assert_eq!(exit, Exit::Quit, "a network error never ends the UI");
    assert!(screen.contains("error: cannot connect to"), "{screen}");
    assert!(!app.transcript().lines().is_empty());
}

#[tokio::test]
async fn hold_shows_echo_rtts_and_the_clients_pane_finds_us() {
    let server = Server::start(wsppsrv::Config {
        ping_interval: std::time::Duration::from_millis(50),
        ..fast_server_config()
    })
    .await;
    let settings = server.client_settings();
    let mut options = Options::default();
    options.hold.interval = std::time::Duration::from_millis(20);
    let mut echoes = 0;
    let mut asked = false;
    let (app, screen, exit) = within(drive(
        settings,
        options,
        vec![run_key(Request::Hold)],
        move |event| {
            match event {
                Event::Net(NetEvent::Entry { entry, .. })
                    if matches!(entry.kind, EntryKind::Rtt { what: "echo", .. }) =>
                {
                    echoes += 1;
                    // A few echoes in, the session is registered: refresh the clients.
                    if echoes == 3 && !asked {
                        asked = true;
                        return vec![key(KeyCode::Char('r'))];
                    }
                    vec![]
                }
                Event::Net(NetEvent::Clients { result, .. }) => {
                    let listed = result
                        .as_ref()
                        .is_ok_and(|r| r.clients.iter().any(|c| c.route == "/pingpong"));
                    // Not listed yet (or the fetch failed): ask again.
                    vec![key(if listed {
                        KeyCode::Esc
                    } else {
                        KeyCode::Char('r')
                    })]
                }
                event => quit_when_finished(event),
            }
        },
    ))
    .await;
    assert_eq!(exit, Exit::Quit);
    let latency = app.latency();
    assert_eq!(latency.source(), Some(Request::Hold));
    assert!(latency.latency().running().count() >= 3, "{screen}");
    assert!(screen.contains("latency · hold echoes"), "{screen}");
    assert!(screen.contains("min/avg/max"), "{screen}");
    // The clients list was fetched while our session was open, and it has us.
    let report = app.clients().report().expect("a clients report");
    assert!(
        report.clients.iter().any(|c| app.clients().is_own(&c.peer)),
        "{report:?}"
    );
    assert!(screen.contains('★'), "{screen}");
}

/// SIGTERM ends the UI and a running `hold` with it, closing with 1001 (Going Away),
/// as the subcommand does.
#[tokio::test]
async fn sigterm_ends_a_running_hold_with_close_1001() {
    let (addr, server) = raw::recording_echo().await;
    let settings = ConnectSettings::new(addr.to_string());
    let mut options = Options::default();
    options.hold.interval = std::time::Duration::from_millis(20);
    let mut signalled = false;
    let (_, _, exit) = within(drive(settings, options, vec![run_key(Request::Hold)], |event| {
        let echoed = matches!(
            event,
            Event::Net(NetEvent::Entry { entry, .. }) if entry.to_string().contains("echo seq=0")
        );
        if echoed && !signalled {
            signalled = true;
            vec![Event::Signal(Signal::Terminate)]
        } else {
            vec![]
        }
    }))
    .await;
    assert_eq!(exit, Exit::Terminate);
    assert_eq!(within(server).await.expect("server task"), Some(1001));
}

/// `load` from the menu (the last entry: Up from the first): its seconds feed the
/// load pane; Esc after the first one stops it, its connections closed with 1000, and
/// its summary is in the transcript.
#[tokio::test]
async fn load_runs_from_the_menu_and_esc_stops_it_with_its_summary() {
    let server = Server::start(wsppsrv::Config::default()).await;
    let mut stopped = false;
    let (app, screen, exit) = within(drive(
        server.client_settings(),
        Options::default(),
        vec![key(KeyCode::Up), key(KeyCode::Enter)],
        move |event| match event {
            Event::Net(NetEvent::Load {
                news: LoadNews::Second(_),
                ..
            }) if !stopped => {
                stopped = true;
                vec![key(KeyCode::Esc)]
            }
            event => quit_when_finished(event),
        },
    ))
    .await;
    assert_eq!(exit, Exit::Quit);
    assert!(app.shows_load());
    let first = *app.load().seconds().front().expect("a second");
    assert_eq!(first.opened, 100, "{first:?}");
    assert!(app.load().totals().received > 0, "{screen}");
    assert!(screen.contains("latency · load"), "{screen}");
    assert!(screen.contains("transcript · load · done in"), "{screen}");
    let lines: Vec<&str> = app
        .transcript()
        .lines()
        .iter()
        .map(|l| l.text.as_str())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("load 1.0s: 100 open, 0 failed")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("100 connections: 100 opened, 0 failed, 0 dropped")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("closes: client_1000 100")),
        "{lines:#?}"
    );
}
