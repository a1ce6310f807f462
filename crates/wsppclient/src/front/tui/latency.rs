//! The latency pane: the round trips of the latest `ping` or `hold`, as figures
//! (last, min/avg/max, percentiles, loss), a sparkline of the recent ones and a
//! histogram of the bulk.
//!
//! [`LatencyView`] keeps the samples; the app feeds it, since the samples come two
//! ways: ping RTTs and losses as typed [`PingEvent`](crate::probe::PingEvent)s, and
//! `hold`'s echo RTTs as transcript [`EntryKind::Rtt`](crate::watch::transcript::EntryKind::Rtt)
//! entries (`hold` has no notion of a lost echo). `&LatencyView` is the widget.

use std::collections::VecDeque;
use std::time::Duration;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline, Widget, Wrap};
use wspp::stats::{Latency, as_ms};
use wspp::wire_clock::Clock;

use super::pane::pane;
use crate::commands::catalog::Request;

/// RTTs kept for the sparkline (wider than any terminal).
pub const RECENT_LIMIT: usize = 512;

/// The latency pane's figures: those of the latest `ping` or `hold`.
#[derive(Debug, Default)]
pub struct LatencyView {
    /// The request they come from; `None` until a `ping` or `hold` has run.
    source: Option<Request>,
    /// The clock of the latest RTT.
    clock: Option<Clock>,
    /// Every RTT of that run.
    latency: Latency,
    /// The latest RTTs, oldest first; `None` for a ping that was lost.
    recent: VecDeque<Option<Duration>>,
    /// Pings that timed out or were overtaken (ping only).
    lost: u64,
}

impl LatencyView {
    /// The request the figures come from.
    pub fn source(&self) -> Option<Request> {
        self.source
    }

    /// The clock of the latest RTT, once one came.
    pub fn clock(&self) -> Option<Clock> {
        self.clock
    }

    /// Every RTT of the run.
    pub fn latency(&self) -> &Latency {
        &self.latency
    }

    /// The latest RTTs, oldest first; `None` marks a lost ping.
    pub fn recent(&self) -> &VecDeque<Option<Duration>> {
        &self.recent
    }

    /// Pings lost so far.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Whether losses are counted at all (`hold` cannot tell a lost echo).
    pub fn counts_loss(&self) -> bool {
        self.source == Some(Request::Ping)
    }

    /// Lost pings as a percentage of the pings that got an answer or were given up.
    pub fn loss_pct(&self) -> Option<f64> {
        let settled = self.latency.running().count() + self.lost;
        (self.counts_loss() && settled > 0).then(|| self.lost as f64 * 100.0 / settled as f64)
    }

    pub(super) fn reset(&mut self, source: Request) {
        *self = LatencyView {
            source: Some(source),
            ..LatencyView::default()
        };
    }

    pub(super) fn record(&mut self, rtt: Duration, clock: Clock) {
        self.clock = Some(clock);
        self.latency.record(rtt);
        self.push_recent(Some(rtt));
    }

    pub(super) fn record_lost(&mut self, n: u64) {
        self.lost += n;
        for _ in 0..n.min(RECENT_LIMIT as u64) {
            self.push_recent(None);
        }
    }

    fn push_recent(&mut self, sample: Option<Duration>) {
        if self.recent.len() == RECENT_LIMIT {
            self.recent.pop_front();
        }
        self.recent.push_back(sample);
    }
}

impl Widget for &LatencyView {
    fn render(self, area: Rect, buf: &mut Buffer) {
        render_latency(self, area, buf);
    }
}

fn render_latency(view: &LatencyView, area: Rect, buf: &mut Buffer) {
    let source = match view.source() {
        Some(Request::Ping) => " · ping",
        Some(Request::Hold) => " · hold echoes",
        _ => "",
    };
    // Which clock the figures are on: the kernel's (the network RTT) or the user's.
    let clock = view
        .clock()
        .map(|c| format!(" · {c} clock"))
        .unwrap_or_default();
    let block = pane(format!(" latency{source}{clock} "));
    let inner = block.inner(area);
    block.render(area, buf);
    if view.source().is_none() {
        Paragraph::new("Run ping or hold to measure round trips here.")
            .dark_gray()
            .wrap(Wrap { trim: true })
            .render(inner, buf);
        return;
    }
    let latency = view.latency();
    let s = latency.summary();
    let loss = match view.loss_pct() {
        Some(pct) => format!("loss {pct:.1}% ({})", view.lost()),
        None if view.counts_loss() => "loss -".to_owned(),
        None => "loss n/a".to_owned(),
    };
    let (Some(last), Some(min), Some(avg), Some(max), Some(p50), Some(p90), Some(p99)) = (
        latency.running().last(),
        s.min,
        s.avg,
        s.max,
        s.p50,
        s.p90,
        s.p99,
    ) else {
        Paragraph::new(vec![
            Line::from("waiting for the first round trip…").dark_gray(),
            Line::from(loss),
        ])
        .render(inner, buf);
        return;
    };
    let label = |text: &'static str| Span::raw(text).dark_gray();
    let figures = vec![
        Line::from(vec![
            label("last "),
            Span::raw(format!("{} ms", ms(last))).bold(),
            label("  n "),
            Span::raw(s.count.to_string()),
            Span::raw("  "),
            Span::raw(loss).fg(if view.lost() > 0 {
                Color::Red
            } else {
                Color::Reset
            }),
        ]),
        Line::from(vec![
            label("min/avg/max "),
            Span::raw(format!("{}/{}/{} ms", ms(min), ms(avg), ms(max))),
        ]),
        Line::from(vec![
            label("p50/p90/p99 "),
            Span::raw(format!("{}/{}/{} ms", ms(p50), ms(p90), ms(p99))),
        ]),
    ];
    let [text_area, charts] =
        Layout::vertical([Constraint::Length(3), Constraint::Min(0)]).areas(inner);
    Paragraph::new(figures).render(text_area, buf);
    if charts.height == 0 {
        return;
    }
    let [recent_area, histogram_area] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
            .spacing(1)
            .areas(charts);
    let (recent_caption, recent_chart) = captioned(recent_area);
    let width = usize::from(recent_chart.width);
    let tail = view.recent().len().saturating_sub(width);
    let samples: Vec<Option<u64>> = view
        .recent()
        .iter()
        .skip(tail)
        .map(|rtt| rtt.map(nanos))
        .collect();
    Line::from("recent rtt")
        .dark_gray()
        .render(recent_caption, buf);
    Sparkline::default()
        .data(samples)
        .style(Style::new().fg(Color::Green))
        .absent_value_symbol("×")
        .absent_value_style(Style::new().fg(Color::Red))
        .render(recent_chart, buf);

    // The bulk of the distribution, min to p99: outliers pile up in the last bin.
    let high = if p99 > min { p99 } else { max };
    let (histogram_caption, histogram_chart) = captioned(histogram_area);
    let bins = latency.histogram(min, high, usize::from(histogram_chart.width));
    let range = format!("{}–{} ms", ms(min), ms(high));
    let caption = [format!("histogram {range}"), format!("hist {range}"), range]
        .into_iter()
        .find(|c| c.chars().count() <= usize::from(histogram_caption.width))
        .unwrap_or_default();
    Line::from(caption)
        .dark_gray()
        .render(histogram_caption, buf);
    Sparkline::default()
        .data(bins)
        .style(Style::new().fg(Color::Yellow))
        .render(histogram_chart, buf);
}

/// Splits a chart's area into a caption row and the chart, if there is room for both.
fn captioned(area: Rect) -> (Rect, Rect) {
    if area.height < 2 {
        return (Rect::ZERO, area);
    }
    let [caption, chart] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    (caption, chart)
}

/// Milliseconds with microsecond precision, as ping(8) prints small RTTs.
pub(super) fn ms(d: Duration) -> String {
    format!("{:.3}", as_ms(d))
}

pub(super) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::tui::pane::draw;

    fn millis(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A ping with three replies (1, 3 and 2 ms) and a loss.
    fn pinged() -> LatencyView {
        let mut view = LatencyView::default();
        view.reset(Request::Ping);
        for rtt in [1, 3, 2] {
            view.record(millis(rtt), Clock::Kernel);
        }
        view.record_lost(1);
        view
    }

    #[test]
    fn the_pane_shows_the_figures() {
        // The size the pane gets on an 80×24 screen.
        let screen = draw(&pinged(), 40, 8);
        assert!(screen.contains("latency · ping"), "{screen}");
        assert!(screen.contains("last 2.000 ms"), "{screen}");
        assert!(screen.contains("loss 25.0% (1)"), "{screen}");
        assert!(
            screen.contains("min/avg/max 1.000/2.000/3.000 ms"),
            "{screen}"
        );
        // Percentiles come from the HDR histogram, to its 0.1% resolution.
        assert!(screen.contains("p50/p90/p99 2.00"), "{screen}");
        assert!(screen.contains("recent rtt"), "{screen}");
        assert!(
            screen.contains('×'),
            "a lost ping shows in the sparkline\n{screen}"
        );
    }

    #[test]
    fn before_any_ping_or_hold_the_pane_says_how_to_fill_it() {
        let screen = draw(&LatencyView::default(), 40, 8);
        assert!(screen.contains("Run ping or hold"), "{screen}");
        let mut hold = LatencyView::default();
        hold.reset(Request::Hold);
        let screen = draw(&hold, 40, 8);
        assert!(screen.contains("latency · hold echoes"), "{screen}");
        assert!(
            screen.contains("waiting for the first round trip"),
            "{screen}"
        );
        assert!(screen.contains("loss n/a"), "{screen}");
    }

    #[test]
    fn the_recent_samples_are_bounded() {
        let mut view = pinged();
        view.record_lost(u64::MAX / 2);
        assert_eq!(view.recent().len(), RECENT_LIMIT);
        assert!(view.recent().iter().all(Option::is_none));
        for _ in 0..RECENT_LIMIT {
            view.record(millis(1), Clock::User);
        }
        assert_eq!(view.recent().len(), RECENT_LIMIT);
        assert_eq!(view.clock(), Some(Clock::User));
    }

    #[test]
    fn every_size_draws_without_panicking() {
        let view = pinged();
        for (w, h) in [(40, 8), (10, 3), (1, 1), (0, 0), (150, 16)] {
            draw(&view, w, h);
        }
    }
}
