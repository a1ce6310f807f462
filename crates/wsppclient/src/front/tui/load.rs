//! The load pane: while `load` runs (and after, until another run), its counters and
//! its latency over time, one p50 and one p99 a second, in the latency pane's place.
//!
//! [`LoadView`] keeps each second's [`SecondFigures`] (the counts and the two
//! percentiles, not the histograms) up to [`SECONDS_LIMIT`], and the probe counts
//! summed over the run. The two sparklines share one scale, so the gap between the
//! median and the tail reads off the chart; a second with no answer shows as `·`.
//! The run's text (each second's line, then the summary) goes to the transcript, as
//! the command line prints it.

use std::collections::VecDeque;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline, Widget, Wrap};

use super::latency::{ms, nanos};
use super::pane::pane;
use crate::commands::load::SecondFigures;

/// Seconds kept for the charts (wider than any terminal).
pub const SECONDS_LIMIT: usize = 512;

/// The load pane's content: the latest `load`'s seconds and totals.
#[derive(Debug, Default)]
pub struct LoadView {
    /// The latest seconds, oldest first.
    seconds: VecDeque<SecondFigures>,
    /// Probes sent, answered, lost and sent late over the whole run.
    totals: Totals,
}

/// Probe counts summed over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Probes sent.
    pub sent: u64,
    /// Probes answered.
    pub received: u64,
    /// Probes given up on.
    pub lost: u64,
    /// Probes that left later than scheduled.
    pub late_sends: u64,
}

impl LoadView {
    /// The latest seconds, oldest first.
    pub fn seconds(&self) -> &VecDeque<SecondFigures> {
        &self.seconds
    }

    /// The probe counts of the run so far.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    pub(super) fn clear(&mut self) {
        *self = LoadView::default();
    }

    /// Adds the second that just ended.
    pub(super) fn second(&mut self, second: SecondFigures) {
        self.totals.sent += second.sent;
        self.totals.received += second.received;
        self.totals.lost += second.lost;
        self.totals.late_sends += second.late_sends;
        if self.seconds.len() == SECONDS_LIMIT {
            self.seconds.pop_front();
        }
        self.seconds.push_back(second);
    }
}

impl Widget for &LoadView {
    fn render(self, area: Rect, buf: &mut Buffer) {
        render_load(self, area, buf);
    }
}

fn render_load(view: &LoadView, area: Rect, buf: &mut Buffer) {
    let latest = view.seconds.back();
    let clock = latest
        .map(|s| format!(" · {} clock", s.clock))
        .unwrap_or_default();
    let block = pane(format!(" latency · load{clock} "));
    let inner = block.inner(area);
    block.render(area, buf);
    let Some(latest) = latest else {
        Paragraph::new("opening the connections; the first second's figures come in a second…")
            .dark_gray()
            .wrap(Wrap { trim: true })
            .render(inner, buf);
        return;
    };
    let label = |text: &'static str| Span::raw(text).dark_gray();
    let t = view.totals;
    let cpu = latest
        .cpu_pct
        .map_or_else(|| "-".to_owned(), |p| format!("{p:.1}%"));
    let counters = vec![
        Line::from(vec![
            label("open "),
            Span::raw(latest.open.to_string()).bold(),
            label(" failed "),
            Span::raw(latest.failed.to_string()).fg(red_if(latest.failed > 0)),
            label(" cpu "),
            Span::raw(cpu),
            Span::raw(format!("  at {:.0}s", latest.at.as_secs_f64())).dark_gray(),
        ]),
        Line::from(vec![
            label("sent "),
            Span::raw(t.sent.to_string()),
            label(" recv "),
            Span::raw(t.received.to_string()),
            label(" lost "),
            Span::raw(t.lost.to_string()).fg(red_if(t.lost > 0)),
            label(" late "),
            Span::raw(t.late_sends.to_string()).fg(red_if(t.late_sends > 0)),
        ]),
    ];
    let [text_area, charts] =
        Layout::vertical([Constraint::Length(2), Constraint::Min(0)]).areas(inner);
    Paragraph::new(counters).render(text_area, buf);
    if charts.height == 0 {
        return;
    }
    let [p50_area, p99_area] =
        Layout::vertical([Constraint::Fill(1), Constraint::Fill(1)]).areas(charts);
    let (p50_caption, p50_chart) = captioned(p50_area);
    let (p99_caption, p99_chart) = captioned(p99_area);
    // The latest seconds that fit, both charts on one scale: the highest p99 in view.
    let tail = view
        .seconds
        .len()
        .saturating_sub(usize::from(p99_chart.width));
    let shown = || view.seconds.iter().skip(tail);
    let top = shown()
        .filter_map(|s| s.p99.or(s.p50))
        .max()
        .map_or(1, nanos);
    for (name, caption, chart, now, series, color) in [
        (
            "p50",
            p50_caption,
            p50_chart,
            latest.p50,
            shown().map(|s| s.p50).collect::<Vec<_>>(),
            Color::Green,
        ),
        (
            "p99",
            p99_caption,
            p99_chart,
            latest.p99,
            shown().map(|s| s.p99).collect(),
            Color::Yellow,
        ),
    ] {
        let figure = now.map_or_else(|| "-".to_owned(), ms);
        Line::from(vec![label(name), Span::raw(format!(" {figure} ms"))]).render(caption, buf);
        Sparkline::default()
            .data(
                series
                    .into_iter()
                    .map(|rtt| rtt.map(nanos))
                    .collect::<Vec<_>>(),
            )
            .max(top)
            .style(Style::new().fg(color))
            .absent_value_symbol("·")
            .absent_value_style(Style::new().fg(Color::DarkGray))
            .render(chart, buf);
    }
}

/// Splits a chart's area into a caption and the chart: a row above it when there is
/// room, else the left of its one row.
fn captioned(area: Rect) -> (Rect, Rect) {
    if area.height >= 2 {
        let [caption, chart] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
        (caption, chart)
    } else {
        let [caption, chart] =
            Layout::horizontal([Constraint::Length(14), Constraint::Min(0)]).areas(area);
        (caption, chart)
    }
}

fn red_if(bad: bool) -> Color {
    if bad { Color::Red } else { Color::Reset }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::Duration;

    use wspp::wire_clock::Clock;

    use crate::front::tui::pane::draw;

    /// Second `n` of a run of 100 connections: 100 probes, p50 `p50_us` and p99
    /// `p99_us` (no answer at all when `None`), one lost.
    pub(crate) fn second(n: u64, rtt_us: Option<(u64, u64)>) -> SecondFigures {
        SecondFigures {
            at: Duration::from_secs(n),
            length: Duration::from_secs(1),
            open: 100,
            opened: 100,
            failed: 2,
            sent: 100,
            received: if rtt_us.is_some() { 99 } else { 0 },
            lost: 1,
            late_sends: 0,
            p50: rtt_us.map(|(p50, _)| Duration::from_micros(p50)),
            p99: rtt_us.map(|(_, p99)| Duration::from_micros(p99)),
            clock: Clock::Kernel,
            cpu_pct: Some(4.25),
        }
    }

    fn view_of(seconds: &[SecondFigures]) -> LoadView {
        let mut view = LoadView::default();
        for second in seconds {
            view.second(*second);
        }
        view
    }

    #[test]
    fn the_pane_shows_the_counters_and_the_latest_percentiles() {
        let view = view_of(&[
            second(1, Some((60, 200))),
            second(2, None),
            second(3, Some((61, 210))),
        ]);
        assert_eq!(
            view.totals(),
            Totals {
                sent: 300,
                received: 198,
                lost: 3,
                late_sends: 0
            }
        );
        // The size the pane gets on an 80×24 screen.
        let screen = draw(&view, 40, 6);
        assert!(screen.contains("latency · load · kernel clock"), "{screen}");
        assert!(
            screen.contains("open 100 failed 2 cpu 4.2%  at 3s"),
            "{screen}"
        );
        assert!(
            screen.contains("sent 300 recv 198 lost 3 late 0"),
            "{screen}"
        );
        assert!(screen.contains("p50 0.061 ms"), "{screen}");
        assert!(screen.contains("p99 0.210 ms"), "{screen}");
        // The second without an answer is a dot in both charts.
        assert!(screen.contains('·'), "{screen}");
    }

    #[test]
    fn both_charts_share_the_p99_scale() {
        let view = view_of(&[second(1, Some((100, 1000))), second(2, Some((100, 1000)))]);
        // Captions on their own rows, two chart rows each.
        let screen = draw(&view, 40, 10);
        let rows: Vec<&str> = screen.lines().collect();
        let row_of = |text: &str| {
            rows.iter()
                .position(|r| r.contains(text))
                .unwrap_or_else(|| panic!("{text} missing\n{screen}"))
        };
        let p50_chart = rows[row_of("p50 0.100 ms") + 1..row_of("p99 1.000 ms")].join("\n");
        let p99_chart = rows[row_of("p99 1.000 ms") + 1..].join("\n");
        // The p99 fills its rows; the p50, a tenth of it, barely shows.
        assert!(p99_chart.contains('█'), "{screen}");
        assert!(!p50_chart.contains('█'), "{screen}");
    }

    #[test]
    fn the_charts_show_the_latest_seconds_that_fit() {
        let mut seconds: Vec<_> = (1..=100).map(|n| second(n, Some((60, 200)))).collect();
        seconds.push(second(101, None));
        let view = view_of(&seconds);
        // On 80×24 each chart has one row, its caption on the left.
        let screen = draw(&view, 40, 6);
        let p99_row = screen
            .lines()
            .find(|l| l.contains("p99"))
            .unwrap_or_else(|| panic!("no p99 row\n{screen}"));
        assert!(
            p99_row.trim_end_matches(['│', ' ']).ends_with('·'),
            "{screen}"
        );
    }

    #[test]
    fn before_the_first_second_the_pane_says_what_comes() {
        let screen = draw(&LoadView::default(), 40, 6);
        assert!(screen.contains("opening the connections"), "{screen}");
    }

    #[test]
    fn the_seconds_are_bounded_and_every_size_draws() {
        let mut view = LoadView::default();
        for n in 0..(SECONDS_LIMIT as u64 + 10) {
            view.second(second(n, Some((50, 90))));
        }
        assert_eq!(view.seconds().len(), SECONDS_LIMIT);
        assert_eq!(view.seconds()[0].at, Duration::from_secs(10));
        assert_eq!(view.totals().sent, 100 * (SECONDS_LIMIT as u64 + 10));
        for (w, h) in [(40, 6), (10, 3), (1, 1), (0, 0), (150, 16)] {
            draw(&view, w, h);
        }
    }
}
