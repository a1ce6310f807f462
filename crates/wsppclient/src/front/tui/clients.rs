//! The clients pane: the server's `/clients.json`, refreshed every [`CLIENTS_EVERY`]
//! and on `r`, with this client's own connections starred so the user finds themselves.
//!
//! [`ClientsView`] keeps the latest report, the refresh schedule and our connections'
//! addresses; the app asks it when a refresh is due and hands it the outcome.
//! `&ClientsView` is the widget: the table shows as many columns as the width allows,
//! the most useful first.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table, Widget};
use wspp::clients::ClientsReport;

use super::pane::pane;
use crate::commands::clients_table::{COLUMNS, cells};
use crate::error::{self, Error};

/// How often the clients pane refreshes by itself.
pub const CLIENTS_EVERY: Duration = Duration::from_secs(2);

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

    /// A pane whose first refresh is due at `now`.
    pub(super) fn new(now: Instant) -> Self {
        ClientsView {
            next_at: Some(now),
            ..ClientsView::default()
        }
    }

    /// Whether the periodic refresh is due at `now`.
    pub(super) fn due(&self, now: Instant) -> bool {
        self.next_at.is_some_and(|at| at <= now)
    }

    /// Starts a refresh at `now` unless one is on its way; says whether it started.
    pub(super) fn start_refresh(&mut self, now: Instant) -> bool {
        if self.in_flight {
            return false;
        }
        self.in_flight = true;
        self.next_at = Some(now + CLIENTS_EVERY);
        true
    }

    /// Makes the next refresh due at `now` (a run ended: its connections are gone).
    pub(super) fn refresh_at(&mut self, now: Instant) {
        self.next_at = Some(now);
    }

    /// Takes the outcome of a refresh; a failure keeps the last good list.
    pub(super) fn received(&mut self, result: Result<ClientsReport, Error>, at_unix_ms: u64) {
        self.in_flight = false;
        match result {
            Ok(report) => {
                self.report = Some(report);
                self.at_unix_ms = at_unix_ms;
                self.error = None;
            }
            Err(err) => self.error = Some(error::one_line(&err)),
        }
    }

    /// Remembers `local` as one of our connections in the current run.
    pub(super) fn add_own(&mut self, local: SocketAddr) {
        self.own.push(local);
    }

    /// Forgets our connections: a new run starts.
    pub(super) fn clear_own(&mut self) {
        self.own.clear();
    }
}

impl Widget for &ClientsView {
    fn render(self, area: Rect, buf: &mut Buffer) {
        render_clients(self, area, buf);
    }
}

fn render_clients(view: &ClientsView, area: Rect, buf: &mut Buffer) {
    let mut title = vec![Span::raw(" clients ")];
    if let Some(report) = view.report() {
        // Said in words: `2 now · 4 total` beside our ★ left a reader guessing.
        title = vec![Span::raw(format!(
            " clients: {} connected, {} since start ",
            report.server.clients_now, report.server.clients_total
        ))];
        if report.next.is_some() {
            title.push(Span::raw(format!(
                "· oldest {} shown ",
                report.clients.len()
            )));
        }
        if report.clients.iter().any(|c| view.is_own(&c.peer)) {
            title.push(Span::raw("· ★ you ").green());
        }
    }
    let block = pane(Line::from(title));
    let mut inner = block.inner(area);
    block.render(area, buf);
    if let Some(error) = view.error() {
        let [line, rest] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
        Line::from(error).red().render(line, buf);
        inner = rest;
    }
    let Some(report) = view.report() else {
        if view.error().is_none() {
            Line::from("loading…").dark_gray().render(inner, buf);
        }
        return;
    };
    if report.clients.is_empty() {
        Line::from("no WebSocket client is connected")
            .dark_gray()
            .render(inner, buf);
        return;
    }
    let rows: Vec<[String; 8]> = report
        .clients
        .iter()
        .map(|c| {
            let mut cells = cells(c, view.at_unix_ms());
            if view.is_own(&c.peer) {
                cells[0] = format!("★{}", cells[0]);
            }
            cells
        })
        .collect();
    let own: Vec<bool> = report
        .clients
        .iter()
        .map(|c| view.is_own(&c.peer))
        .collect();
    let (columns, header, rows) = fit_columns(&rows, inner.width);
    let widths: Vec<Constraint> = columns.iter().map(|&w| Constraint::Length(w)).collect();
    let rows = rows.into_iter().zip(own).map(|(cells, own)| {
        let row = Row::new(cells.into_iter().map(Cell::from));
        if own {
            row.style(Style::new().fg(Color::Green).bold())
        } else {
            row
        }
    });
    let table = Table::new(rows, widths)
        .header(Row::new(header.into_iter().map(Cell::from)).dark_gray())
        .column_spacing(1);
    Widget::render(table, inner, buf);
}

/// Which of the clients table's columns fit in `width`, most useful first, shown in
/// table order: their widths, header and rows. The four RTT figures shrink to the
/// latest one before the RTT column is dropped, and the user agent, last in
/// priority, takes whatever room is left.
fn fit_columns(rows: &[[String; 8]], width: u16) -> (Vec<u16>, Vec<String>, Vec<Vec<String>>) {
    const RTT: usize = 6;
    const USER_AGENT: usize = 7;
    // id, peer, rtt, route, age, pings, pongs, user agent.
    const PRIORITY: [usize; 8] = [0, 1, RTT, 2, 3, 4, 5, USER_AGENT];
    let mut header: [String; 8] = COLUMNS.map(str::to_owned);
    let mut rows = rows.to_vec();
    let width_of = |header: &[String; 8], rows: &[[String; 8]], col: usize| {
        rows.iter()
            .map(|r| r[col].chars().count())
            .chain(std::iter::once(header[col].chars().count()))
            .max()
            .map_or(0, |w| u16::try_from(w).unwrap_or(u16::MAX))
    };
    let mut chosen: Vec<(usize, u16)> = Vec::new();
    let mut used = 0u16;
    for col in PRIORITY {
        let gap = u16::from(!chosen.is_empty());
        let room = width.saturating_sub(used + gap);
        let mut w = width_of(&header, &rows, col);
        if col == RTT && w > room {
            header[RTT] = "rtt ms".to_owned();
            for row in &mut rows {
                row[RTT] = row[RTT].split('/').next().unwrap_or("-").to_owned();
            }
            w = width_of(&header, &rows, col);
        }
        if col == USER_AGENT && w > room && room >= 8 {
            w = room;
        }
        if w <= room {
            used += gap + w;
            chosen.push((col, w));
        }
    }
    chosen.sort_unstable_by_key(|&(col, _)| col);
    let widths = chosen.iter().map(|&(_, w)| w).collect();
    let pick = |cells: &[String; 8]| chosen.iter().map(|&(c, _)| cells[c].clone()).collect();
    let header = pick(&header);
    let rows = rows.iter().map(pick).collect();
    (widths, header, rows)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::front::tui::pane::draw;
    use wspp::clients::{ClientInfo, ServerSummary};

    /// A report of `peers`, each a client of `/pingpong` with a few RTTs.
    pub(crate) fn report(peers: &[&str]) -> ClientsReport {
        ClientsReport {
            server: ServerSummary {
                version: "0.1.0".into(),
                uptime_secs: 9,
                clients_now: peers.len() as u64,
                clients_total: 4,
                ping_interval_ms: 1000,
                ping_timeout_ms: 5000,
            },
            clients: peers
                .iter()
                .enumerate()
                .map(|(i, peer)| ClientInfo {
                    id: i as u64 + 1,
                    peer: (*peer).to_owned(),
                    via: None,
                    user_agent: Some("wsppclient/0.1.0".into()),
                    origin: None,
                    route: "/pingpong".into(),
                    extensions: String::new(),
                    connected_at_unix_ms: 1_000,
                    pings_sent: 3,
                    pongs_received: 3,
                    rtt_last_us: Some(52),
                    rtt_min_us: Some(40),
                    rtt_avg_us: Some(50),
                    rtt_max_us: Some(70),
                    rtt_clock: None,
                    http_version: None,
                })
                .collect(),
            next: None,
        }
    }

    /// Two clients, the first of them us.
    fn two_and_us() -> ClientsView {
        let mut view = ClientsView::new(Instant::now());
        view.add_own("127.0.0.1:50001".parse().expect("address"));
        view.received(Ok(report(&["127.0.0.1:50001", "127.0.0.1:50002"])), 6_000);
        view
    }

    #[test]
    fn the_pane_marks_our_own_connection() {
        let view = two_and_us();
        // The size the pane gets on an 80×24 screen.
        let screen = draw(&view, 40, 8);
        // What each number counts is said, on the pane's narrowest size too.
        assert!(
            screen.contains("clients: 2 connected, 4 since start"),
            "{screen}"
        );
        assert!(screen.contains("★1"), "{screen}");
        assert!(screen.contains("127.0.0.1:50002"), "{screen}");
        // Wide screens show every column, the user agent last (on 200×40).
        let wide = draw(&view, 100, 13);
        assert!(
            wide.contains("clients: 2 connected, 4 since start · ★ you"),
            "{wide}"
        );
        assert!(wide.contains("0.052/0.040/0.050/0.070"), "{wide}");
        assert!(wide.contains("wsppclient/0.1.0"), "{wide}");
    }

    #[test]
    fn a_failed_refresh_shows_above_the_last_good_list() {
        let mut view = ClientsView::new(Instant::now());
        assert!(draw(&view, 40, 8).contains("loading…"));
        view.received(Err(Error::Unexpected("down".into())), 0);
        let screen = draw(&view, 40, 8);
        assert!(!screen.contains("loading…"), "{screen}");
        let mut view = two_and_us();
        view.received(Err(Error::Unexpected("down".into())), 7_000);
        let screen = draw(&view, 40, 8);
        assert!(screen.contains("unexpected answer"), "{screen}");
        assert!(screen.contains("127.0.0.1:50002"), "{screen}");
        view.received(Ok(report(&[])), 8_000);
        let screen = draw(&view, 40, 8);
        assert!(screen.contains("no WebSocket client"), "{screen}");
        assert_eq!(view.error(), None);
    }

    #[test]
    fn the_rtt_column_shrinks_to_the_latest_before_it_goes() {
        let view = two_and_us();
        let rows: Vec<[String; 8]> = view
            .report()
            .expect("a report")
            .clients
            .iter()
            .map(|c| cells(c, view.at_unix_ms()))
            .collect();
        let (_, header, shown) = fit_columns(&rows, 30);
        let rtt = header
            .iter()
            .position(|h| h.starts_with("rtt"))
            .expect("an rtt column");
        assert_eq!(header[rtt], "rtt ms");
        assert_eq!(shown[0][rtt], "0.052");
        let (widths, header, _) = fit_columns(&rows, 4);
        assert_eq!(header, ["id"]);
        assert_eq!(widths, [2]);
    }

    #[test]
    fn refreshes_are_due_periodically_and_never_two_at_once() {
        let t0 = Instant::now();
        let mut view = ClientsView::new(t0);
        assert!(view.due(t0));
        assert!(view.start_refresh(t0));
        assert!(!view.start_refresh(t0), "one is on its way");
        assert!(!view.due(t0 + CLIENTS_EVERY - Duration::from_millis(1)));
        assert!(view.due(t0 + CLIENTS_EVERY));
        view.received(Ok(report(&[])), 1);
        view.refresh_at(t0);
        assert!(view.due(t0));
        assert!(view.start_refresh(t0));
    }
}
