//! The look every pane shares: a bordered block with a bold title.
//!
//! It sits below the panes (`transcript`, `latency`, `clients`) and the frame layout
//! (`ui`) so that each of them draws its box the same way without reaching into another.
//! The tests' screen reader is here for the same reason: every pane's tests use it.

use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::Block;

/// A pane's box: dim borders, `title` in bold white on the top edge.
pub fn pane(title: impl Into<Line<'static>>) -> Block<'static> {
    Block::bordered()
        .border_style(Style::new().fg(Color::DarkGray))
        .title(title.into().style(Style::new().fg(Color::White).bold()))
}

/// Draws `widget` on a `width`×`height` buffer and returns it as text, a line a row.
#[cfg(test)]
pub fn draw(widget: impl ratatui::widgets::Widget, width: u16, height: u16) -> String {
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;

    let area = Rect::new(0, 0, width, height);
    let mut buffer = Buffer::empty(area);
    widget.render(area, &mut buffer);
    let mut text = String::new();
    for y in 0..height {
        for x in 0..width {
            text.push_str(buffer[(x, y)].symbol());
        }
        text.push('\n');
    }
    text
}
