//! Drawing the terminal UI: `impl Widget for &App`, the frame that places the panes.
//!
//! Each pane draws itself (the widgets in [`super::transcript`], [`super::latency`],
//! [`super::clients`] and, in the transcript's place while `listen` runs,
//! [`super::listen`], in the latency pane's while `load` runs, [`super::load`]); here are the layout and what belongs to no pane: the
//! menu, the selected request's details, the status line and the help.
//! Rendering only reads the [`App`] (hence `&App`: drawing can never change state)
//! and writes a buffer: it never waits, so the loop draws after every batch of
//! events, and tests draw into ratatui's `TestBackend` and read the buffer back.
//! [`areas`] is the layout as a pure function of the screen size; the loop also uses
//! it to know how far PgUp scrolls. Any size must draw without panicking: a small
//! screen cuts panes short, it never makes them overlap.
//!
//! ```text
//! ┌requests┐┌transcript · open-close · done in 12ms──────────────┐
//! │▶1 page ││   +0.210ms → GET /openandclosewebsocket HTTP/1.1   │
//! │ 2 fav… ││  +12.020ms ← Close fin=1 mask=0 len=2 1000 (Norm…  │
//! └────────┘└────────────────────────────────────────────────────┘
//! ┌latency · ping──────────────┐┌clients: 2 connected, 4 since s┐
//! │last 0.052 ms  n 12  loss 0%││id peer            route   rtt  │
//! │▁▂▁▃▁▂ (recent) ▁▅█▃▁ (hist)││★3 127.0.0.1:5123 /pingp… 0.05 │
//! └────────────────────────────┘└────────────────────────────────┘
//! ─ open-close · GET /openandclosewebsocket ────────────────────────
//! what it does, and what to look for in Wireshark
//!  127.0.0.1:8080  ↑↓/jk move  ⏎ run  Esc stop  …  ? help  q quit
//! ```

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{
    Block, Borders, Clear, List, ListItem, ListState, Paragraph, StatefulWidget, Widget, Wrap,
};

use super::app::App;
use super::listen::ListenPane;
use super::pane::pane;
use super::transcript::TranscriptPane;
use crate::commands::catalog::MenuEntry;
use crate::commands::load::LoadOptions;

/// Where each pane goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// The list of requests.
    pub menu: Rect,
    /// The running request's transcript.
    pub transcript: Rect,
    /// RTT figures and charts.
    pub latency: Rect,
    /// The server's clients.
    pub clients: Rect,
    /// The selected request's route, description and Wireshark hint.
    pub details: Rect,
    /// The server address, notices and keys.
    pub status: Rect,
}

/// Screens this wide or wider show each request's route in the menu.
const WIDE: u16 = 110;
/// A menu with routes: borders, the highlight symbol, a number, the name, the route.
const MENU_WITH_ROUTES: u16 = 2 + 2 + 2 + 11 + 1 + 22;

/// The layout of a screen of `area`.
pub fn areas(area: Rect) -> Areas {
    // On a very small screen the menu and the transcript keep what room there is.
    let details_rows = match area.height {
        32.. => 5,
        16.. => 4,
        _ => 0,
    };
    let [body, details, status] = Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(details_rows),
        Constraint::Length(1),
    ])
    .areas(area);
    // The bottom row needs room for three figures and a chart; the top gets the rest,
    // and at least the whole menu (listen and load included) while the bottom keeps
    // 6 rows, as on 80×24; below 6 + 6 rows the bottom row goes (the top needs 6 to
    // show anything).
    let menu_rows = u16::try_from(MenuEntry::ALL.len() + 2).unwrap_or(u16::MAX);
    let bottom_rows = if body.height >= 6 + 6 {
        (body.height * 2 / 5)
            .clamp(6, 16)
            .min(body.height.saturating_sub(menu_rows).max(6))
            .min(body.height - 6)
    } else {
        0
    };
    let [top, bottom] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(bottom_rows)]).areas(body);
    let menu_width = if area.width >= WIDE {
        MENU_WITH_ROUTES
    } else {
        24
    };
    let [menu, transcript] =
        Layout::horizontal([Constraint::Length(menu_width), Constraint::Min(0)]).areas(top);
    let [latency, clients] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(bottom);
    Areas {
        menu,
        transcript,
        latency,
        clients,
        details,
        status,
    }
}

/// How many transcript lines a screen of `area` shows (what PgUp scrolls by).
pub fn transcript_rows(area: Rect) -> usize {
    usize::from(areas(area).transcript.height.saturating_sub(2))
}

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let areas = areas(area);
        render_menu(self, areas.menu, buf);
        if self.shows_listen() {
            ListenPane {
                view: self.listen(),
                fallback: self.transcript(),
                run: self.run(),
                now: self.now(),
            }
            .render(areas.transcript, buf);
        } else {
            TranscriptPane {
                view: self.transcript(),
                run: self.run(),
                now: self.now(),
            }
            .render(areas.transcript, buf);
        }
        if self.shows_load() {
            self.load().render(areas.latency, buf);
        } else {
            self.latency().render(areas.latency, buf);
        }
        self.clients().render(areas.clients, buf);
        render_details(self.selected(), areas.details, buf);
        render_status(self, areas.status, buf);
        if self.help_shown() {
            render_help(self, area, buf);
        }
    }
}

fn render_menu(app: &App, area: Rect, buf: &mut Buffer) {
    let wide = area.width >= MENU_WITH_ROUTES;
    let active = app.run().filter(|r| r.is_active()).map(|r| r.request);
    let items: Vec<ListItem> = MenuEntry::ALL
        .iter()
        .enumerate()
        .map(|(i, &request)| {
            // Keys 1-9 run the first nine; the rest are reached with the arrows.
            let number = if i < 9 {
                format!("{} ", i + 1)
            } else {
                "  ".to_owned()
            };
            let mut spans = vec![
                Span::raw(number).dark_gray(),
                Span::raw(format!("{:<11}", request.subcommand())),
            ];
            if wide {
                spans.push(Span::raw(format!(" {}", request.place())).dark_gray());
            }
            if active == Some(request) {
                spans.push(Span::raw(" ●").green());
            }
            ListItem::new(Line::from(spans))
        })
        .collect();
    let list = List::new(items)
        .block(pane(" requests "))
        .highlight_symbol("▶ ")
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD));
    let selected = MenuEntry::ALL.iter().position(|&r| r == app.selected());
    let mut state = ListState::default().with_selected(selected);
    StatefulWidget::render(list, area, buf, &mut state);
}

fn render_details(request: MenuEntry, area: Rect, buf: &mut Buffer) {
    let place = match request {
        MenuEntry::Request(request) => format!("· GET {} ", request.route()),
        MenuEntry::Listen => format!("· on ws://{}/ ", request.place()),
        MenuEntry::Load => format!(
            "· GET {} ×{} ",
            request.place(),
            LoadOptions::for_menu().connections
        ),
    };
    let title = Line::from(vec![
        Span::raw(format!(" {} ", request.subcommand())).bold(),
        Span::raw(place).cyan(),
    ]);
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(Style::new().fg(Color::DarkGray))
        .title(title);
    let text = Text::from(vec![
        Line::from(request.description()),
        Line::from(vec![
            Span::raw("in Wireshark: ").yellow(),
            Span::raw(request.wireshark()).dark_gray(),
        ]),
    ]);
    Paragraph::new(text)
        .wrap(Wrap { trim: true })
        .block(block)
        .render(area, buf);
}

fn render_status(app: &App, area: Rect, buf: &mut Buffer) {
    if let Some(url) = app.input() {
        render_input(url, area, buf);
        return;
    }
    let mut spans = vec![
        Span::raw(format!(" {} ", app.server())).reversed(),
        Span::raw(" "),
    ];
    if let Some(held) = app.paused() {
        spans.push(
            Span::raw(format!(" PAUSED ({held} waiting) "))
                .black()
                .on_yellow(),
        );
        spans.push(Span::raw(" "));
    }
    if let Some(notice) = app.notice() {
        spans.push(Span::raw(format!("{notice}  ")).yellow());
    }
    // In screen order, with the rank in which they give way on a narrow screen:
    // quitting and help stay longest, since help lists the rest.
    let keys = [
        ("↑↓/jk", "move", 4),
        ("⏎", "run", 2),
        ("Esc", "stop", 3),
        ("PgUp/Dn", "scroll", 7),
        ("p", "pause", 5),
        ("r", "clients", 6),
        ("?", "help", 1),
        ("q", "quit", 0),
    ];
    let used: usize = spans.iter().map(Span::width).sum();
    let room = usize::from(area.width).saturating_sub(used);
    let cost = |(key, what, _): &(&str, &str, u8)| key.chars().count() + what.len() + 3;
    let mut shown = [false; 8];
    let mut total = 0;
    for rank in 0..8 {
        if let Some(i) = keys.iter().position(|k| k.2 == rank) {
            let c = cost(&keys[i]);
            if total + c <= room {
                total += c;
                shown[i] = true;
            }
        }
    }
    for ((key, what, _), shown) in keys.iter().zip(shown) {
        if shown {
            spans.push(Span::raw(*key).bold());
            spans.push(Span::raw(format!(" {what}  ")).dark_gray());
        }
    }
    Line::from(spans).render(area, buf);
}

/// The input line of `inspect`'s URL, in place of the status line, its end in view.
fn render_input(url: &str, area: Rect, buf: &mut Buffer) {
    let prompt = " URL to inspect: ";
    let keys = "  ⏎ inspect (empty: the server's /pingpong)  Esc cancel";
    let room = usize::from(area.width)
        .saturating_sub(prompt.chars().count() + keys.chars().count() + 1)
        .max(8);
    let chars: Vec<char> = url.chars().collect();
    let shown: String = chars[chars.len().saturating_sub(room)..].iter().collect();
    Line::from(vec![
        Span::raw(prompt).reversed(),
        Span::raw(format!(" {shown}")),
        Span::raw("█"),
        Span::raw(keys).dark_gray(),
    ])
    .render(area, buf);
}

fn render_help(app: &App, area: Rect, buf: &mut Buffer) {
    let mut lines: Vec<Line> = [
        ("↑ ↓  j k", "move through the requests"),
        ("Enter  1-9", "run the selected (or numbered) request"),
        ("", "inspect asks for a ws:// or wss:// URL first"),
        ("Esc  c", "stop the running request; again: drop it"),
        ("PgUp PgDn", "scroll the transcript"),
        ("Tab", "listen: the next connection (Shift-Tab: previous)"),
        ("Home End", "its first line; follow new lines"),
        ("p", "pause updates (news waits, none is lost)"),
        ("x", "hex dumps of every payload on/off"),
        ("r", "refresh the clients now (also every 2 s)"),
        ("?", "close this help"),
        ("q  Ctrl-C", "quit"),
    ]
    .into_iter()
    .map(|(key, what)| {
        Line::from(vec![
            Span::raw(format!(" {key:<11}")).bold(),
            Span::raw(what),
        ])
    })
    .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(" ★ in the clients pane: this client's own connection").green());
    if let Some(path) = app.log_path() {
        lines.push(Line::from(format!(" logs: {}", path.display())).dark_gray());
    }
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let popup = area.centered(
        Constraint::Length(64.min(area.width)),
        Constraint::Length(height.min(area.height)),
    );
    Clear.render(popup, buf);
    Paragraph::new(lines)
        .block(pane(" keys ").border_style(Style::new().fg(Color::Yellow)))
        .wrap(Wrap { trim: false })
        .render(popup, buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};

    use crate::commands::catalog::Request;
    use crate::front::tui::app::Action;
    use crate::front::tui::clients::tests::report;
    use crate::front::tui::event::{Event, NetEvent};
    use crate::front::tui::pane::draw;
    use crate::front::tui::transcript::tests::close_frame;
    use crate::probe::PingEvent;

    fn key(app: &mut App, code: KeyCode) -> Option<Action> {
        let event = Event::Terminal(TermEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)));
        let now = app.now();
        app.update(event, now)
    }

    fn news(app: &mut App, news: NetEvent) {
        let now = app.now();
        app.update(Event::Net(news), now);
    }

    fn start(app: &mut App, request: Request) -> u64 {
        while app.selected() != MenuEntry::Request(request) {
            key(app, KeyCode::Down);
        }
        match key(app, KeyCode::Enter) {
            Some(Action::Run { run, .. }) => run,
            other => panic!("no run: {other:?}"),
        }
    }

    /// An app that has run a ping with three replies and a loss, while an
    /// open-close transcript and two clients (one of them us) are shown.
    fn busy_app() -> App {
        let mut app = App::new(
            "127.0.0.1:8080",
            Some("/tmp/wsppclient.log".into()),
            Instant::now(),
        );
        let ping = start(&mut app, Request::Ping);
        news(
            &mut app,
            NetEvent::Ping {
                run: ping,
                event: PingEvent::Started {
                    url: "ws://127.0.0.1:8080/pingpong".into(),
                    peer: "127.0.0.1:8080".parse().expect("address"),
                    local: "127.0.0.1:50001".parse().expect("address"),
                    payload_size: 16,
                    busy_poll: Duration::ZERO,
                    probes: crate::probe::Probes::Ping,
                    setup: Box::default(),
                },
            },
        );
        for (seq, us) in [(0, 1000), (1, 3000), (2, 2000)] {
            news(
                &mut app,
                NetEvent::Ping {
                    run: ping,
                    event: PingEvent::Reply {
                        probe: crate::probe::Probe::Ping,
                        seq,
                        rtt: wspp::tracker::Rtt {
                            user: Duration::from_micros(us + 50),
                            kernel: Some(Duration::from_micros(us)),
                        },
                        clock: wspp::wire_clock::Clock::Kernel,
                        bytes: 16,
                        skipped: 0,
                    },
                },
            );
        }
        news(
            &mut app,
            NetEvent::Ping {
                run: ping,
                event: PingEvent::Timeout {
                    probe: crate::probe::Probe::Ping,
                    seq: 3,
                },
            },
        );
        news(
            &mut app,
            NetEvent::Clients {
                result: Ok(report(&["127.0.0.1:50001", "127.0.0.1:50002"])),
                at_unix_ms: 6_000,
            },
        );
        news(
            &mut app,
            NetEvent::Entry {
                run: ping,
                entry: close_frame(),
            },
        );
        app
    }

    #[test]
    fn the_menu_lists_every_request_and_details_the_selected_one() {
        let app = App::new("127.0.0.1:8080", None, Instant::now());
        let screen = draw(&app, 80, 24);
        for request in Request::ALL {
            assert!(
                screen.contains(request.subcommand()),
                "{request:?}\n{screen}"
            );
        }
        let first = Request::ALL[0];
        assert!(
            screen.contains(&format!("▶ 1 {}", first.subcommand())),
            "{screen}"
        );
        assert!(
            screen.contains(&format!("GET {}", first.route())),
            "{screen}"
        );
        assert!(screen.contains("in Wireshark:"), "{screen}");
        assert!(screen.contains("127.0.0.1:8080"), "{screen}");
        assert!(screen.contains("q quit"), "{screen}");
    }

    #[test]
    fn a_wide_menu_shows_the_routes() {
        let app = App::new("h:1", None, Instant::now());
        let screen = draw(&app, 140, 40);
        assert!(
            screen.contains("open-close  /openandclosewebsocket"),
            "{screen}"
        );
    }

    #[test]
    fn each_pane_is_drawn_in_its_place() {
        let app = busy_app();
        let screen = draw(&app, 80, 24);
        let a = areas(Rect::new(0, 0, 80, 24));
        let row = |y: u16| screen.lines().nth(usize::from(y)).unwrap_or_default();
        let top = row(a.transcript.y);
        assert!(top.contains("transcript · ping · running"), "{screen}");
        assert!(
            screen.contains("← Close fin=1 mask=0 len=2 1000"),
            "{screen}"
        );
        let bottom = row(a.latency.y);
        assert!(bottom.contains("latency · ping"), "{screen}");
        assert!(bottom.contains("clients: 2 connected"), "{screen}");
        let left = bottom.find("latency").unwrap_or(usize::MAX);
        let right = bottom.find("clients").unwrap_or(0);
        assert!(left < right, "latency left of clients\n{screen}");
    }

    #[test]
    fn help_lists_the_keys_and_the_log_file() {
        let mut app = busy_app();
        key(&mut app, KeyCode::Char('?'));
        let screen = draw(&app, 80, 24);
        assert!(screen.contains("pause updates"), "{screen}");
        assert!(screen.contains("hex dumps of every payload"), "{screen}");
        assert!(screen.contains("/tmp/wsppclient.log"), "{screen}");
    }

    #[test]
    fn the_url_of_inspect_is_typed_on_the_status_line() {
        let mut app = App::new("h:1", None, Instant::now());
        let position = Request::ALL
            .iter()
            .position(|&r| r == Request::Inspect)
            .expect("inspect is in the catalog");
        for _ in 0..position {
            key(&mut app, KeyCode::Down);
        }
        key(&mut app, KeyCode::Enter);
        for c in "ws://echo.test/x".chars() {
            key(&mut app, KeyCode::Char(c));
        }
        let screen = draw(&app, 100, 24);
        let last = screen.lines().last().expect("a status line");
        assert!(
            last.contains("URL to inspect:  ws://echo.test/x█"),
            "{screen}"
        );
        assert!(last.contains("Esc cancel"), "{screen}");
        // A long URL keeps its end in view on a narrow screen.
        for _ in 0..80 {
            key(&mut app, KeyCode::Char('a'));
        }
        let screen = draw(&app, 60, 24);
        assert!(screen.contains("aaaa█"), "{screen}");
    }

    #[test]
    fn every_size_draws_without_panicking() {
        let mut app = busy_app();
        for (w, h) in [
            (80, 24),
            (40, 10),
            (20, 5),
            (1, 1),
            (0, 0),
            (300, 100),
            (81, 7),
        ] {
            draw(&app, w, h);
        }
        key(&mut app, KeyCode::Char('?'));
        key(&mut app, KeyCode::Char('p'));
        for (w, h) in [(80, 24), (40, 10), (10, 3), (1, 1)] {
            draw(&app, w, h);
        }
        // A small screen keeps the menu and the transcript.
        key(&mut app, KeyCode::Char('?'));
        let small = draw(&app, 40, 10);
        assert_eq!(small.lines().count(), 10);
        assert!(
            small.contains("requests") && small.contains("transcript"),
            "{small}"
        );
    }

    #[test]
    fn the_layout_fits_80_by_24_without_overlap() {
        let a = areas(Rect::new(0, 0, 80, 24));
        let all = [
            a.menu,
            a.transcript,
            a.latency,
            a.clients,
            a.details,
            a.status,
        ];
        for (i, x) in all.iter().enumerate() {
            assert!(!x.is_empty(), "pane {i} is empty: {a:?}");
            for y in &all[i + 1..] {
                assert!(!x.intersects(*y), "{x:?} overlaps {y:?}");
            }
        }
        // Every request fits in the menu, and the transcript has room to read.
        assert!(usize::from(a.menu.height) >= MenuEntry::ALL.len() + 2);
        assert!(transcript_rows(Rect::new(0, 0, 80, 24)) >= 8);
    }

    #[test]
    fn listen_shows_its_connections_beside_the_selected_ones_transcript() {
        use crate::front::tui::event::ListenNews;
        use crate::front::tui::listen::tests::upgraded;

        let mut app = App::new("127.0.0.1:8080", None, Instant::now());
        while app.selected() != MenuEntry::Listen {
            key(&mut app, KeyCode::Up);
        }
        let screen = draw(&app, 120, 30);
        assert!(screen.contains("▶   listen"), "{screen}");
        assert!(
            screen.contains("listen · on ws://127.0.0.1:9001/"),
            "{screen}"
        );
        let Some(Action::Listen { run }) = key(&mut app, KeyCode::Enter) else {
            panic!("listen did not start");
        };
        let tell = |app: &mut App, listen_news| {
            news(
                app,
                NetEvent::Listen {
                    run,
                    news: listen_news,
                },
            );
        };
        let banner = "listening on ws://127.0.0.1:9001/ (any path)".to_owned();
        tell(&mut app, ListenNews::Listening(banner));
        let waiting = draw(&app, 120, 30);
        assert!(waiting.contains("waiting for a client"), "{waiting}");
        for event in upgraded(1, 40001).into_iter().chain(upgraded(2, 40002)) {
            tell(&mut app, ListenNews::Connection(event));
        }
        let screen = draw(&app, 120, 30);
        assert!(screen.contains("connections (2)"), "{screen}");
        assert!(screen.contains("▶[1] 127.0.0.1:40001  open"), "{screen}");
        assert!(screen.contains("GET /from-40001"), "{screen}");
        assert!(screen.contains("listen · running"), "{screen}");
        key(&mut app, KeyCode::Tab);
        let screen = draw(&app, 120, 30);
        assert!(screen.contains("▶[2] 127.0.0.1:40002"), "{screen}");
        assert!(screen.contains("GET /from-40002"), "{screen}");
        assert!(!screen.contains("GET /from-40001"), "{screen}");
        assert_eq!(key(&mut app, KeyCode::Esc), Some(Action::Cancel { run }));
    }

    #[test]
    fn load_shows_its_latency_over_time_in_the_latency_panes_place() {
        use crate::front::tui::event::LoadNews;
        use crate::front::tui::load::tests::second;

        let mut app = busy_app();
        let ping = app.run().map(|r| r.id).expect("the ping");
        news(
            &mut app,
            NetEvent::Finished {
                run: ping,
                result: Ok(()),
            },
        );
        while app.selected() != MenuEntry::Load {
            key(&mut app, KeyCode::Up);
        }
        let screen = draw(&app, 80, 24);
        assert!(screen.contains("▶   load"), "{screen}");
        let Some(Action::Load { run }) = key(&mut app, KeyCode::Enter) else {
            panic!("load did not start");
        };
        for n in 1..=3 {
            news(
                &mut app,
                NetEvent::Load {
                    run,
                    news: LoadNews::Second(second(n, Some((60, 200)))),
                },
            );
        }
        let screen = draw(&app, 80, 24);
        let a = areas(Rect::new(0, 0, 80, 24));
        let row = |y: u16| screen.lines().nth(usize::from(y)).unwrap_or_default();
        assert!(
            row(a.transcript.y).contains("transcript · load · running"),
            "{screen}"
        );
        assert!(
            row(a.latency.y).contains("latency · load · kernel clock"),
            "{screen}"
        );
        assert!(screen.contains("p99 0.200 ms"), "{screen}");
        assert!(screen.contains("load 3.0s: 100 open"), "{screen}");
        // The ping's figures wait for the next ping or hold.
        assert!(!screen.contains("latency · ping"), "{screen}");
    }
}
