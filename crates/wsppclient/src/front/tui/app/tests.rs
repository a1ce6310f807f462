//! The app's tests: keys and network news go in through [`App::update`], the state
//! and the actions that come out are checked, with no terminal and no network.

use std::net::SocketAddr;

use crossterm::event::KeyEventState;
use wspp::wire_clock::Clock;

use super::*;
use crate::front::tui::clients::CLIENTS_EVERY;
use crate::front::tui::clients::tests::report;
use crate::front::tui::transcript::LineKind;
use crate::front::tui::transcript::tests::close_frame;
use crate::watch::wire::{Direction, FrameInfo, Opcode, WireEvent};

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
    while app.selected() != MenuEntry::Request(request) {
        press(app, KeyCode::Down);
    }
    match press(app, KeyCode::Enter) {
        Some(Action::Run { run, request: r }) if r == request => run,
        other => panic!("expected a run of {request:?}, got {other:?}"),
    }
}

/// The digit that picks `inspect` in the requests pane.
fn inspect_digit() -> char {
    let number = Request::ALL
        .iter()
        .position(|&r| r == Request::Inspect)
        .expect("inspect is in the catalog");
    char::from(b'1' + u8::try_from(number).expect("a small index"))
}

#[test]
fn inspect_opens_a_url_input_that_takes_every_letter() {
    let (mut app, _) = app();
    assert_eq!(press(&mut app, KeyCode::Char(inspect_digit())), None);
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

/// Ctrl-U clears the URL line, as in a shell; other control keys type nothing.
#[test]
fn ctrl_u_clears_the_url_line() {
    let (mut app, t0) = app();
    press(&mut app, KeyCode::Char(inspect_digit()));
    for c in "ws://wrong".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    assert_eq!(app.update(ctrl('u'), t0), None);
    assert_eq!(app.input(), Some(""));
    press(&mut app, KeyCode::Char('w'));
    app.update(ctrl('w'), t0);
    assert_eq!(app.input(), Some("w"));
    assert_eq!(app.exit(), None);
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
        key: None,
        len: 3,
        preview: vec![1, 2, 3],
        inflated: None,
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
    let lines = transcript_texts(&app);
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
    assert_eq!(app.selected(), MenuEntry::ALL[0]);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(app.selected(), MenuEntry::ALL[2]);
    press(&mut app, KeyCode::Char('k'));
    assert_eq!(app.selected(), MenuEntry::ALL[1]);
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Up);
    // The last entries are listen and load, after the requests.
    assert_eq!(app.selected(), MenuEntry::Load);
    press(&mut app, KeyCode::Up);
    assert_eq!(app.selected(), MenuEntry::Listen);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    assert_eq!(app.selected(), MenuEntry::ALL[0]);
}

#[test]
fn key_releases_are_ignored() {
    let (mut app, t0) = app();
    let mut release = KeyEvent::new(KeyCode::Down, KeyModifiers::NONE);
    release.kind = KeyEventKind::Release;
    release.state = KeyEventState::NONE;
    app.update(Event::Terminal(TermEvent::Key(release)), t0);
    assert_eq!(app.selected(), MenuEntry::ALL[0]);
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
                    probe: crate::probe::Probe::Ping,
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
                probe: crate::probe::Probe::Ping,
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
    net(
        &mut app,
        NetEvent::Clients {
            result: Ok(report(&["127.0.0.1:50000"])),
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

/// Starts `entry`, one of the entries after the requests (Up reaches them first),
/// and checks that it is the run and that no request starts meanwhile; the action
/// it asked for.
fn start_entry(app: &mut App, entry: MenuEntry) -> Option<Action> {
    while app.selected() != entry {
        press(app, KeyCode::Up);
    }
    let action = press(app, KeyCode::Enter);
    assert_eq!(app.run().map(|r| r.request), Some(entry));
    assert_eq!(press(app, KeyCode::Char('1')), None);
    let running = format!("{} is still running", entry.subcommand());
    assert!(app.notice().is_some_and(|n| n.contains(&running)));
    action
}

/// Starts `listen` from the menu; its run id.
fn listen(app: &mut App) -> RunId {
    match start_entry(app, MenuEntry::Listen) {
        Some(Action::Listen { run }) => run,
        other => panic!("expected listen, got {other:?}"),
    }
}

/// The transcript's lines, as text.
fn transcript_texts(app: &App) -> Vec<String> {
    app.transcript()
        .lines()
        .iter()
        .map(|l| l.text.clone())
        .collect()
}

fn listen_news(app: &mut App, run: RunId, events: Vec<crate::commands::listen::event::Event>) {
    for event in events {
        net(
            app,
            NetEvent::Listen {
                run,
                news: ListenNews::Connection(event),
            },
        );
    }
}

#[test]
fn listen_runs_from_the_menu_and_tab_moves_between_its_connections() {
    use crate::front::tui::listen::tests::upgraded;

    let (mut app, _) = app();
    let id = listen(&mut app);
    assert!(app.shows_listen());
    listen_news(&mut app, id, upgraded(1, 40001));
    listen_news(&mut app, id, upgraded(2, 40002));
    let view = app.listen();
    assert_eq!(view.connections().len(), 2);
    assert_eq!(view.selected().map(|c| c.id), Some(1));
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.listen().selected().map(|c| c.id), Some(2));
    press(&mut app, KeyCode::BackTab);
    assert_eq!(app.listen().selected().map(|c| c.id), Some(1));
    // News of another run is not listen's.
    listen_news(&mut app, id + 1, upgraded(3, 40003));
    assert_eq!(app.listen().connections().len(), 2);
    assert_eq!(
        press(&mut app, KeyCode::Esc),
        Some(Action::Cancel { run: id })
    );
    net(
        &mut app,
        NetEvent::Finished {
            run: id,
            result: Ok(()),
        },
    );
    // The next run takes the transcript's place back, and empties the list.
    run(&mut app, Request::OpenClose);
    assert!(!app.shows_listen());
    assert!(app.listen().connections().is_empty());
}

fn load_news(app: &mut App, run: RunId, news: LoadNews) {
    net(app, NetEvent::Load { run, news });
}

#[test]
fn load_runs_from_the_menu_feeds_its_pane_and_ends_with_its_summary() {
    use crate::commands::load::LoadReport;
    use crate::front::tui::load::tests::second;

    let (mut app, _) = app();
    let Some(Action::Load { run: id }) = start_entry(&mut app, MenuEntry::Load) else {
        panic!("load did not start");
    };
    assert!(app.shows_load());
    load_news(&mut app, id, LoadNews::Notice("fewer fit".into()));
    load_news(&mut app, id, LoadNews::Second(second(1, Some((60, 200)))));
    load_news(&mut app, id, LoadNews::Second(second(2, Some((70, 300)))));
    // News of another run is not this load's.
    load_news(&mut app, id + 1, LoadNews::Second(second(3, None)));
    assert_eq!(app.load().seconds().len(), 2);
    assert_eq!(app.load().totals().sent, 200);
    let texts = transcript_texts(&app);
    assert!(texts.iter().any(|t| t.contains("fewer fit")), "{texts:#?}");
    // Each second's line, as the command line prints it on stderr.
    assert!(
        texts.iter().any(|t| t.contains(
            "load 2.0s: 100 open, 2 failed, 100 probes/s, rtt p50 0.070 ms p99 0.300 ms, cpu 4.2%"
        )),
        "{texts:#?}"
    );
    assert_eq!(
        press(&mut app, KeyCode::Esc),
        Some(Action::Cancel { run: id })
    );
    let report = LoadReport {
        url: "ws://127.0.0.1:8080/pingpong".into(),
        connections: 100,
        opened: crate::commands::load::tally::Connections::default(),
        probes: crate::commands::load::tally::Window::default(),
        clock: Clock::Kernel,
        cpu_pct: None,
        server_in_process: false,
        elapsed: ms(2500),
    };
    load_news(&mut app, id, LoadNews::Summary(Box::new(report)));
    net(
        &mut app,
        NetEvent::Finished {
            run: id,
            result: Ok(()),
        },
    );
    assert!(matches!(
        app.run().map(|r| r.state),
        Some(RunState::Ended {
            how: Ending::Done,
            ..
        })
    ));
    let texts = transcript_texts(&app);
    assert!(
        texts
            .iter()
            .any(|t| t.contains("--- ws://127.0.0.1:8080/pingpong load statistics ---")),
        "{texts:#?}"
    );
    // The pane stays until the next run, which empties it.
    assert!(app.shows_load());
    run(&mut app, Request::OpenClose);
    assert!(!app.shows_load());
    assert!(app.load().seconds().is_empty());
}
