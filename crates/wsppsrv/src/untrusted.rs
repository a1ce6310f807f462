//! Text that came from a peer, made safe to put in a log line.
//!
//! A header value, an `Origin` or a close reason is the peer's to choose. Logged as it
//! is, it can forge log lines: a close reason may hold `\n` (tracing's `%` fields print
//! it raw, and tracing-subscriber's own sanitising covers ESC and C1 controls, not line
//! breaks), and a header value may hold U+0085 or U+2028, which some viewers treat as
//! line breaks. [`Untrusted`] prints such text quoted and escaped the way Rust's
//! `escape_debug` does (`\n`, `\u{85}`, `\"`), and cuts it short, so one field is
//! always one field, on one line, of bounded length. The page escapes for HTML
//! separately ([`crate::page::escape`]).

use std::fmt;

/// Characters of peer text shown in a log line before it is cut short: enough for any
/// real User-Agent, and a 16 KiB header cannot turn one line into a page.
const MAX_CHARS: usize = 200;

/// Peer-supplied text for a log field: `info!(reason = %Untrusted(&reason), ..)`.
#[derive(Debug, Clone, Copy)]
pub struct Untrusted<'a>(pub &'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        let mut chars = self.0.char_indices();
        for (_, ch) in chars.by_ref().take(MAX_CHARS) {
            write!(f, "{}", ch.escape_debug())?;
        }
        f.write_str("\"")?;
        if let Some((cut, _)) = chars.next() {
            write!(f, "...({} more bytes)", self.0.len() - cut)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str) -> String {
        Untrusted(text).to_string()
    }

    #[test]
    fn plain_text_is_quoted_and_unchanged() {
        assert_eq!(shown("curl/8.5.0"), r#""curl/8.5.0""#);
        assert_eq!(shown("héllo µs"), r#""héllo µs""#);
    }

    #[test]
    fn line_breaks_and_controls_are_escaped() {
        let hostile = "bye\r\n2026-01-01T00:00:00Z  INFO forged\u{85}x\u{2028}y\u{1b}[31m\"";
        let out = shown(hostile);
        assert_eq!(
            out,
            r#""bye\r\n2026-01-01T00:00:00Z  INFO forged\u{85}x\u{2028}y\u{1b}[31m\"""#
        );
        assert!(
            !out.chars()
                .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}'),
            "{out}"
        );
    }

    #[test]
    fn long_text_is_cut_short() {
        let long = "a".repeat(MAX_CHARS + 50);
        let out = shown(&long);
        assert!(out.starts_with(&format!("\"{}\"", "a".repeat(MAX_CHARS))));
        assert!(out.ends_with("...(50 more bytes)"), "{out}");
        assert_eq!(shown(&"a".repeat(MAX_CHARS)).len(), MAX_CHARS + 2);
    }
}
