//! The listen pane: while `listen` runs, its connections on the left (label, peer,
//! state, frames) and the selected one's transcript on the right, in place of the
//! transcript pane.
//!
//! [`ListenView`] keeps each connection's entries in a [`TranscriptView`] of its own,
//! so that moving the selection shows another connection's whole transcript at once,
//! scrolled where it was left, and hex dumps toggle for all of them. The left list
//! follows the command line's labels (`[1]`, `[2]`, in the order accepted); the
//! oldest ended connections give way beyond [`CONNECTION_LIMIT`].

use std::net::SocketAddr;
use std::time::Instant;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph, StatefulWidget, Widget, Wrap};

use super::pane::pane;
use super::run_state::Run;
use super::transcript::{TranscriptPane, TranscriptView};
use crate::commands::listen::event::{Event, EventKind};
use crate::watch::transcript::EntryKind;
use crate::watch::wire::{Direction, WireEvent};

/// Connections kept at most; beyond it the oldest ended one goes.
pub const CONNECTION_LIMIT: usize = 200;

/// The connection list's width, borders included.
const LIST_WIDTH: u16 = 44;

/// How a connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// Accepted; its request not answered with a 101 (yet).
    Handshake,
    /// A WebSocket session.
    Open,
    /// Over: how, in a word or two (`closed 1000`, `answered 403`).
    Ended(String),
}

impl ConnState {
    fn text(&self) -> &str {
        match self {
            ConnState::Handshake => "handshake",
            ConnState::Open => "open",
            ConnState::Ended(how) => how,
        }
    }
}

/// One connection of the run.
#[derive(Debug)]
pub struct Connection {
    /// Its number, as the command line labels it.
    pub id: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// How it stands.
    pub state: ConnState,
    /// WebSocket frames seen, both ways.
    pub frames: u64,
    /// Its transcript.
    transcript: TranscriptView,
}

/// The listen pane's content: where it listens, the connections, the selection.
#[derive(Debug, Default)]
pub struct ListenView {
    /// Where it listens, once bound.
    banner: Option<String>,
    /// In the order accepted.
    conns: Vec<Connection>,
    /// Index into `conns` of the connection shown; 0 when there is none.
    selected: usize,
    /// Whether payloads show hex dumps (for connections still to come too).
    hex: bool,
}

impl ListenView {
    /// Where it listens, once bound.
    pub fn banner(&self) -> Option<&str> {
        self.banner.as_deref()
    }

    /// The connections, in the order accepted.
    pub fn connections(&self) -> &[Connection] {
        &self.conns
    }

    /// The connection shown, if there is one.
    pub fn selected(&self) -> Option<&Connection> {
        self.conns.get(self.selected)
    }

    pub(super) fn clear(&mut self) {
        *self = ListenView {
            hex: self.hex,
            ..ListenView::default()
        };
    }

    pub(super) fn listening(&mut self, banner: String) {
        self.banner = Some(banner);
    }

    pub(super) fn set_hex(&mut self, hex: bool) {
        self.hex = hex;
        for conn in &mut self.conns {
            conn.transcript.set_hex(hex);
        }
    }

    /// Applies a connection's news.
    pub(super) fn event(&mut self, event: &Event) {
        if let EventKind::Open { peer, .. } = &event.kind {
            self.open(event.conn, *peer);
            return;
        }
        let Some(conn) = self.conns.iter_mut().find(|c| c.id == event.conn) else {
            return;
        };
        match &event.kind {
            EventKind::Open { .. } => {}
            EventKind::Entry(entry) => {
                if let EntryKind::Wire {
                    direction,
                    event: wire,
                } = &entry.kind
                {
                    match wire {
                        WireEvent::Frame(_) => conn.frames += 1,
                        WireEvent::Head(head)
                            if *direction == Direction::Outgoing && head.status == Some(101) =>
                        {
                            conn.state = ConnState::Open;
                        }
                        _ => {}
                    }
                }
                conn.transcript.push_entry(entry);
            }
            EventKind::Ended(summary) => conn.state = ConnState::Ended(summary.outcome()),
        }
    }

    fn open(&mut self, id: u64, peer: SocketAddr) {
        if self.conns.len() == CONNECTION_LIMIT
            && let Some(oldest) = self
                .conns
                .iter()
                .position(|c| matches!(c.state, ConnState::Ended(_)))
        {
            self.conns.remove(oldest);
            if self.selected > oldest {
                self.selected -= 1;
            }
        }
        let mut transcript = TranscriptView::default();
        transcript.set_hex(self.hex);
        self.conns.push(Connection {
            id,
            peer,
            state: ConnState::Handshake,
            frames: 0,
            transcript,
        });
    }

    /// Shows the next connection (the previous with `back`), going round.
    pub(super) fn select_next(&mut self, back: bool) {
        let count = self.conns.len();
        if count > 0 {
            self.selected = if back {
                (self.selected + count - 1) % count
            } else {
                (self.selected + 1) % count
            };
        }
    }

    pub(super) fn scroll_up(&mut self, lines: usize) {
        if let Some(conn) = self.conns.get_mut(self.selected) {
            conn.transcript.scroll_up(lines);
        }
    }

    pub(super) fn scroll_down(&mut self, lines: usize) {
        if let Some(conn) = self.conns.get_mut(self.selected) {
            conn.transcript.scroll_down(lines);
        }
    }
}

/// The listen pane as drawn.
#[derive(Debug, Clone, Copy)]
pub struct ListenPane<'a> {
    /// What it shows.
    pub view: &'a ListenView,
    /// Shown on the right while there is no connection: the run's own lines (why it
    /// could not listen, say).
    pub fallback: &'a TranscriptView,
    /// The `listen` run, for the transcript's title.
    pub run: Option<&'a Run>,
    /// The time, for the run's elapsed time.
    pub now: Instant,
}

impl Widget for ListenPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let [list, transcript] =
            Layout::horizontal([Constraint::Length(LIST_WIDTH), Constraint::Min(0)]).areas(area);
        render_list(self.view, list, buf);
        TranscriptPane {
            view: self
                .view
                .selected()
                .map_or(self.fallback, |c| &c.transcript),
            run: self.run,
            now: self.now,
        }
        .render(transcript, buf);
    }
}

fn render_list(view: &ListenView, area: Rect, buf: &mut Buffer) {
    let title = format!(" connections ({}) · Tab next ", view.conns.len());
    let block = pane(title);
    if view.conns.is_empty() {
        let inner = block.inner(area);
        block.render(area, buf);
        let text = match view.banner() {
            Some(banner) => format!("{banner}: waiting for a client"),
            None => "binding…".to_owned(),
        };
        Paragraph::new(text)
            .dark_gray()
            .wrap(Wrap { trim: true })
            .render(inner, buf);
        return;
    }
    let items: Vec<ListItem> = view
        .conns
        .iter()
        .map(|conn| {
            let state = match conn.state {
                ConnState::Open => Span::raw(format!("{:<10}", conn.state.text())).green(),
                ConnState::Handshake => Span::raw(format!("{:<10}", conn.state.text())).yellow(),
                ConnState::Ended(_) => Span::raw(format!("{:<10}", conn.state.text())).dark_gray(),
            };
            ListItem::new(Line::from(vec![
                Span::raw(format!("[{}] ", conn.id)).bold(),
                Span::raw(format!("{:<16} ", conn.peer)),
                state,
                Span::raw(format!(" {}f", conn.frames)).dark_gray(),
            ]))
        })
        .collect();
    let list = List::new(items)
        .block(block)
        .highlight_symbol("▶")
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD));
    let mut state = ListState::default().with_selected(Some(view.selected));
    StatefulWidget::render(list, area, buf, &mut state);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::Duration;

    use crate::commands::listen::event::Summary;
    use crate::front::tui::pane::draw;
    use crate::watch::transcript::Entry;
    use crate::watch::wire::Head;

    pub(crate) fn open(conn: u64, port: u16) -> Event {
        Event {
            conn,
            kind: EventKind::Open {
                peer: SocketAddr::from(([127, 0, 0, 1], port)),
                local: SocketAddr::from(([127, 0, 0, 1], 9001)),
            },
        }
    }

    pub(crate) fn entry(conn: u64, direction: Direction, event: WireEvent) -> Event {
        Event {
            conn,
            kind: EventKind::Entry(Entry {
                at: Duration::from_millis(1),
                kind: EntryKind::Wire { direction, event },
            }),
        }
    }

    pub(crate) fn head(lines: &[&str], status: Option<u16>) -> WireEvent {
        WireEvent::Head(Head {
            lines: lines.iter().map(|l| (*l).to_owned()).collect(),
            status,
        })
    }

    pub(crate) fn upgraded(conn: u64, port: u16) -> Vec<Event> {
        vec![
            open(conn, port),
            entry(
                conn,
                Direction::Incoming,
                head(&[&format!("GET /from-{port} HTTP/1.1")], None),
            ),
            entry(
                conn,
                Direction::Outgoing,
                head(&["HTTP/1.1 101 Switching Protocols"], Some(101)),
            ),
        ]
    }

    /// The pane drawn on the room it gets beside the menu of a wide screen.
    fn screen_of(view: &ListenView) -> String {
        let pane = ListenPane {
            view,
            fallback: &TranscriptView::default(),
            run: None,
            now: Instant::now(),
        };
        draw(pane, 110, 8)
    }

    fn view_of(events: &[Event]) -> ListenView {
        let mut view = ListenView::default();
        view.listening("listening on ws://127.0.0.1:9001/ (any path)".into());
        for event in events {
            view.event(event);
        }
        view
    }

    #[test]
    fn connections_are_listed_with_their_state_and_the_first_is_shown() {
        let mut events = upgraded(1, 40001);
        events.push(open(2, 40002));
        events.push(Event {
            conn: 2,
            kind: EventKind::Ended(Summary {
                status: Some(403),
                ..Summary::default()
            }),
        });
        let view = view_of(&events);
        let screen = screen_of(&view);
        assert!(screen.contains("connections (2)"), "{screen}");
        assert!(screen.contains("▶[1] 127.0.0.1:40001  open"), "{screen}");
        assert!(
            screen.contains(" [2] 127.0.0.1:40002  answered 403"),
            "{screen}"
        );
        assert!(screen.contains("GET /from-40001"), "{screen}");
        assert!(!screen.contains("GET /from-40002"), "{screen}");
    }

    #[test]
    fn tab_moves_the_selection_round_and_shows_that_transcript() {
        let mut events = upgraded(1, 40001);
        events.extend(upgraded(2, 40002));
        let mut view = view_of(&events);
        view.select_next(false);
        assert_eq!(view.selected().map(|c| c.id), Some(2));
        let screen = screen_of(&view);
        assert!(screen.contains("GET /from-40002"), "{screen}");
        view.select_next(false);
        assert_eq!(view.selected().map(|c| c.id), Some(1));
        view.select_next(true);
        assert_eq!(view.selected().map(|c| c.id), Some(2));
    }

    #[test]
    fn frames_are_counted_and_an_empty_list_says_where_it_listens() {
        let empty = view_of(&[]);
        let screen = screen_of(&empty);
        assert!(screen.contains("ws://127.0.0.1:9001/"), "{screen}");
        let mut events = upgraded(1, 40001);
        events.push(Event {
            conn: 1,
            kind: EventKind::Entry(crate::front::tui::transcript::tests::close_frame()),
        });
        let view = view_of(&events);
        assert_eq!(view.connections()[0].frames, 1);
        assert_eq!(view.connections()[0].state, ConnState::Open);
    }
}
