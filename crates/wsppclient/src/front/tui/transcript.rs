//! The transcript pane: every line of the current run, what it sent and received
//! frame by frame, coloured by kind, with its scroll position.
//!
//! [`TranscriptView`] keeps the run's [`Entry`]s in their `Display` form (the same text
//! the plain menu prints), at most [`TRANSCRIPT_LIMIT`] lines, and draws them again
//! when hex dumps are toggled. [`TranscriptPane`] draws it, titled with the run
//! and how it stands.

use std::collections::VecDeque;
use std::time::Instant;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::pane::pane;
use super::run_state::{Ending, Run, RunState};
use crate::duration::short;
use crate::watch::transcript::{Entry, EntryKind};
use crate::watch::wire::{Direction, WireEvent};

/// Transcript lines kept; older ones are dropped so a ping left running for a day
/// does not grow without bound.
pub const TRANSCRIPT_LIMIT: usize = 10_000;

/// What a transcript line shows, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// A remark of the request.
    Note,
    /// Bytes we sent.
    Sent,
    /// Bytes we received.
    Received,
    /// Something the wire parser could not make sense of.
    Problem,
    /// A measured round trip.
    Rtt,
    /// A block of result text (the clients table, ping's summary).
    Output,
    /// The Wireshark display filter.
    Filter,
    /// The request failed.
    Error,
}

/// One line of the transcript pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptLine {
    /// The text, without control characters.
    pub text: String,
    /// What it shows.
    pub kind: LineKind,
}

/// The transcript pane's lines and scroll position.
#[derive(Debug, Default)]
pub struct TranscriptView {
    /// The entries shown, at most [`TRANSCRIPT_LIMIT`], oldest first: kept so that the
    /// lines can be drawn again with or without hex dumps.
    entries: VecDeque<Entry>,
    /// Whether every payload shows a hex dump under its line.
    hex: bool,
    /// At most [`TRANSCRIPT_LIMIT`] lines, oldest first.
    lines: VecDeque<TranscriptLine>,
    /// Lines dropped from the front since the run started.
    dropped: usize,
    /// How many lines above the bottom the view ends; 0 follows new lines.
    scroll_back: usize,
}

impl TranscriptView {
    /// The lines kept, oldest first.
    pub fn lines(&self) -> &VecDeque<TranscriptLine> {
        &self.lines
    }

    /// Lines dropped from the front to stay within [`TRANSCRIPT_LIMIT`].
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// How many lines above the bottom the view ends (0: it follows new lines).
    pub fn scroll_back(&self) -> usize {
        self.scroll_back
    }

    /// The lines a view of `height` rows shows, given the scroll position.
    pub fn window(&self, height: usize) -> impl Iterator<Item = &TranscriptLine> {
        let total = self.lines.len();
        let back = self.scroll_back.min(total.saturating_sub(height));
        let end = total - back;
        let start = end.saturating_sub(height);
        self.lines.range(start..end)
    }

    /// Whether payloads show hex dumps.
    pub fn hex(&self) -> bool {
        self.hex
    }

    pub(super) fn clear(&mut self) {
        *self = TranscriptView {
            hex: self.hex,
            ..TranscriptView::default()
        };
    }

    /// Draws every kept entry again with (or without) hex dumps, at the bottom.
    pub(super) fn set_hex(&mut self, hex: bool) {
        let entries = std::mem::take(&mut self.entries);
        *self = TranscriptView {
            hex,
            ..TranscriptView::default()
        };
        for entry in &entries {
            self.push_entry(entry);
        }
    }

    pub(super) fn push_entry(&mut self, entry: &Entry) {
        if self.entries.len() == TRANSCRIPT_LIMIT {
            self.entries.pop_front();
        }
        self.entries.push_back(entry.clone());
        let kind = line_kind(&entry.kind);
        let text = if self.hex {
            format!("{entry:#}")
        } else {
            entry.to_string()
        };
        for line in text.lines() {
            self.push(TranscriptLine {
                text: printable(line),
                kind,
            });
        }
    }

    fn push(&mut self, line: TranscriptLine) {
        if self.lines.len() == TRANSCRIPT_LIMIT {
            self.lines.pop_front();
            self.dropped += 1;
        } else if self.scroll_back > 0 {
            // Someone reading older lines keeps seeing the same ones.
            self.scroll_back += 1;
        }
        self.lines.push_back(line);
    }

    /// Scrolls `lines` further back (up), at most to the first line.
    pub(super) fn scroll_up(&mut self, lines: usize) {
        self.scroll_back = self
            .scroll_back
            .saturating_add(lines)
            .min(self.lines.len().saturating_sub(1));
    }

    /// Scrolls `lines` forward (down); at the bottom the view follows new lines again.
    pub(super) fn scroll_down(&mut self, lines: usize) {
        self.scroll_back = self.scroll_back.saturating_sub(lines);
    }
}

/// The colour class of an entry's lines.
fn line_kind(kind: &EntryKind) -> LineKind {
    match kind {
        EntryKind::Note(_) | EntryKind::Connected { .. } => LineKind::Note,
        EntryKind::Wire {
            event: WireEvent::Problem(_),
            ..
        } => LineKind::Problem,
        EntryKind::Wire {
            direction: Direction::Outgoing,
            ..
        } => LineKind::Sent,
        EntryKind::Wire {
            direction: Direction::Incoming,
            ..
        } => LineKind::Received,
        EntryKind::Rtt { .. } => LineKind::Rtt,
        EntryKind::Output(_) => LineKind::Output,
        EntryKind::Filter(_) => LineKind::Filter,
        EntryKind::Error(_) => LineKind::Error,
    }
}

/// `text` with tabs as spaces and other control characters replaced: a server's
/// header or a client's User-Agent must not move the terminal's cursor.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' => ' ',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// The transcript pane as drawn: the lines, under a title that names the run.
#[derive(Debug, Clone, Copy)]
pub struct TranscriptPane<'a> {
    /// The lines.
    pub view: &'a TranscriptView,
    /// The current or latest run, for the title.
    pub run: Option<&'a Run>,
    /// The time, for a running request's elapsed time.
    pub now: Instant,
}

impl Widget for TranscriptPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        render_transcript(self.view, self.run, self.now, area, buf);
    }
}

fn render_transcript(
    view: &TranscriptView,
    run: Option<&Run>,
    now: Instant,
    area: Rect,
    buf: &mut Buffer,
) {
    let mut title = vec![Span::raw(" transcript ")];
    if let Some(run) = run {
        let elapsed = now.saturating_duration_since(run.started);
        let (state, color) = match run.state {
            RunState::Running => (format!("running {}", short(elapsed)), Color::Green),
            RunState::Cancelling => ("stopping…".to_owned(), Color::Yellow),
            RunState::Ended { after, how } => match how {
                Ending::Done => (format!("done in {}", short(after)), Color::Gray),
                Ending::Cancelled => (format!("cancelled after {}", short(after)), Color::Yellow),
                Ending::Failed => (format!("failed after {}", short(after)), Color::Red),
                Ending::Abandoned => ("abandoned".to_owned(), Color::Red),
            },
        };
        title.push(Span::raw(format!("· {} ", run.request.subcommand())).bold());
        title.push(Span::raw(format!("· {state} ")).fg(color));
    }
    let mut block = pane(Line::from(title));
    if view.scroll_back() > 0 {
        block = block.title_top(
            Line::from(format!(" ↑{} lines · End follows ", view.scroll_back()))
                .yellow()
                .right_aligned(),
        );
    }
    let inner = block.inner(area);
    block.render(area, buf);
    if view.lines().is_empty() && run.is_none() {
        Paragraph::new(
            "Pick a request with ↑↓ and press Enter: every byte it sends and receives \
             shows here, frame by frame.",
        )
        .dark_gray()
        .wrap(Wrap { trim: true })
        .render(inner, buf);
        return;
    }
    let lines: Vec<Line> = view
        .window(usize::from(inner.height))
        .map(|line| Line::styled(line.text.as_str(), line_style(line.kind)))
        .collect();
    Paragraph::new(lines).render(inner, buf);
}

fn line_style(kind: LineKind) -> Style {
    match kind {
        LineKind::Note => Style::new(),
        LineKind::Sent => Style::new().fg(Color::Cyan),
        LineKind::Received => Style::new().fg(Color::Green),
        LineKind::Problem => Style::new().fg(Color::Red),
        LineKind::Rtt => Style::new().fg(Color::Magenta),
        LineKind::Output => Style::new().fg(Color::White),
        LineKind::Filter => Style::new().fg(Color::Yellow),
        LineKind::Error => Style::new().fg(Color::Red).bold(),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::time::Duration;

    use super::*;
    use crate::commands::catalog::{MenuEntry, Request};
    use crate::front::tui::pane::draw;
    use crate::watch::wire::{FrameInfo, Opcode};

    /// A Close frame (1000) received 1.234 ms into the run.
    pub(crate) fn close_frame() -> Entry {
        Entry {
            at: Duration::from_micros(1234),
            kind: EntryKind::Wire {
                direction: Direction::Incoming,
                event: WireEvent::Frame(FrameInfo {
                    fin: true,
                    rsv: 0,
                    opcode: Opcode::Close,
                    masked: false,
                    key: None,
                    len: 2,
                    preview: vec![0x03, 0xe8],
                    inflated: None,
                }),
            },
        }
    }

    #[test]
    fn frames_show_in_the_transcript() {
        let mut view = TranscriptView::default();
        view.push_entry(&close_frame());
        view.push_entry(&Entry {
            at: Duration::from_millis(2),
            kind: EntryKind::Error("unexpected answer from the server: boom".into()),
        });
        let started = Instant::now();
        let run = Run {
            id: 1,
            request: MenuEntry::Request(Request::OpenClose),
            started,
            state: RunState::Ended {
                after: Duration::from_millis(3),
                how: Ending::Failed,
            },
        };
        let pane = TranscriptPane {
            view: &view,
            run: Some(&run),
            now: started,
        };
        // The size the pane gets on an 80×24 screen.
        let screen = draw(pane, 56, 11);
        assert!(
            screen.contains("+1.234ms ← Close fin=1 mask=0 len=2 1000 (Normal"),
            "{screen}"
        );
        assert!(screen.contains("error: unexpected answer"), "{screen}");
        assert!(screen.contains("open-close · failed after 3ms"), "{screen}");
    }

    #[test]
    fn before_the_first_run_the_pane_says_how_to_fill_it() {
        let view = TranscriptView::default();
        let pane = TranscriptPane {
            view: &view,
            run: None,
            now: Instant::now(),
        };
        assert!(draw(pane, 56, 11).contains("Pick a request"));
    }

    #[test]
    fn the_transcript_keeps_a_bounded_number_of_lines() {
        let mut view = TranscriptView::default();
        for i in 0..TRANSCRIPT_LIMIT + 5 {
            view.push(TranscriptLine {
                text: i.to_string(),
                kind: LineKind::Note,
            });
        }
        assert_eq!(view.lines().len(), TRANSCRIPT_LIMIT);
        assert_eq!(view.dropped(), 5);
        assert_eq!(view.lines()[0].text, "5");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(printable("a\tb\x1b[2Jc"), "a b\u{fffd}[2Jc");
    }
}
