//! Text that came from a peer: kept bounded, and made safe to put in a log line.
//!
//! A header value, an `Origin` or a close reason is the peer's to choose, in content
//! and in length (a `User-Agent` may fill the whole 16 KiB request head). The server
//! keeps at most [`KEPT_BYTES`] of any of it ([`kept`]): what the registry holds for a
//! session's life, and so what the page and `/clients.json` show, costs the same
//! whatever the peer sent. Text cut short ends with [`CUT_MARK`].
//!
//! Logged as it is, peer text can forge log lines: a close reason may hold `\n`
//! (tracing's `%` fields print it raw, and tracing-subscriber's own sanitising covers
//! ESC and C1 controls, not line breaks), and a header value may hold U+0085 or U+2028,
//! which some viewers treat as line breaks. [`Untrusted`] prints such text quoted and
//! escaped the way Rust's `escape_debug` does (`\n`, `\u{85}`, `\"`), and cut at the same
//! [`KEPT_BYTES`], so one field is always one field, on one line, of bounded length.
//! The page escapes for HTML separately ([`crate::page::escape`]).

use std::fmt;

/// Bytes of any one piece of peer text the server keeps or logs: enough for any real
/// User-Agent or Origin, and a 16 KiB header cannot make a session cost 16 KiB more.
pub const KEPT_BYTES: usize = 256;

/// Ends text that [`kept`] cut short, so that nobody reads it as what the peer sent.
pub const CUT_MARK: &str = "\u{2026}";

/// The longest prefix of `text` within [`KEPT_BYTES`] that ends on a character
/// boundary, and whether anything was cut.
fn prefix(text: &str) -> (&str, bool) {
    if text.len() <= KEPT_BYTES {
        return (text, false);
    }
    let mut end = KEPT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// `text` as the server stores it: whole when it is at most [`KEPT_BYTES`], else its
/// first [`KEPT_BYTES`] (cut on a character boundary) followed by [`CUT_MARK`].
pub fn kept(text: &str) -> Box<str> {
    match prefix(text) {
        (whole, false) => whole.into(),
        (start, true) => [start, CUT_MARK].concat().into_boxed_str(),
    }
}

/// Peer-supplied text for a log field: `info!(reason = %Untrusted(&reason), ..)`.
#[derive(Debug, Clone, Copy)]
pub struct Untrusted<'a>(pub &'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (shown, cut) = prefix(self.0);
        f.write_str("\"")?;
        for ch in shown.chars() {
            write!(f, "{}", ch.escape_debug())?;
        }
        f.write_str("\"")?;
        if cut {
            write!(f, "...({} more bytes)", self.0.len() - shown.len())?;
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
        let long = "a".repeat(KEPT_BYTES + 50);
        let out = shown(&long);
        assert!(out.starts_with(&format!("\"{}\"", "a".repeat(KEPT_BYTES))));
        assert!(out.ends_with("...(50 more bytes)"), "{out}");
        assert_eq!(shown(&"a".repeat(KEPT_BYTES)).len(), KEPT_BYTES + 2);
    }

    #[test]
    fn stored_text_is_cut_on_a_character_boundary_and_marked() {
        assert_eq!(&*kept("curl/8.5.0"), "curl/8.5.0");
        let exact = "a".repeat(KEPT_BYTES);
        assert_eq!(&*kept(&exact), exact);
        // 'é' is two bytes: byte KEPT_BYTES falls inside one, so the cut moves back.
        let long = format!("a{}", "é".repeat(KEPT_BYTES));
        let stored = kept(&long);
        let start = stored.strip_suffix(CUT_MARK).expect("marked as cut");
        assert_eq!(start.len(), KEPT_BYTES - 1);
        assert!(long.starts_with(start));
        let huge = kept(&"x".repeat(15_000));
        assert_eq!(huge.len(), KEPT_BYTES + CUT_MARK.len());
        // The log line is cut on the same boundary.
        assert!(shown(&long).ends_with(&format!("...({} more bytes)", long.len() - start.len())));
    }
}
