//! Hex both ways: the dump shown under every payload with `--hex`, and the parser of
//! `--send-binary`'s argument.
//!
//! The dump is the layout `xxd` and Wireshark's bytes pane made familiar: the offset,
//! 16 bytes a line in two groups of 8, and the printable ASCII beside them, so a
//! binary protocol can be read byte by byte and compared with a capture.

/// Bytes per dump line.
const PER_LINE: usize = 16;

/// The dump of `bytes`, one string per line. `total` is the payload's real length:
/// when only its first bytes were kept, a last line says how many more there were.
pub fn dump(bytes: &[u8], total: u64) -> Vec<String> {
    let mut lines: Vec<String> = bytes
        .chunks(PER_LINE)
        .enumerate()
        .map(|(i, chunk)| {
            let mut hex = String::with_capacity(PER_LINE * 3 + 1);
            for j in 0..PER_LINE {
                if j == PER_LINE / 2 {
                    hex.push(' ');
                }
                match chunk.get(j) {
                    Some(b) => hex.push_str(&format!("{b:02x} ")),
                    None => hex.push_str("   "),
                }
            }
            let ascii: String = chunk
                .iter()
                .map(|&b| {
                    if b.is_ascii_graphic() || b == b' ' {
                        char::from(b)
                    } else {
                        '.'
                    }
                })
                .collect();
            format!("{:04x}  {hex} {ascii}", i * PER_LINE)
        })
        .collect();
    let more = total.saturating_sub(bytes.len() as u64);
    if more > 0 {
        lines.push(format!("…     {more} more bytes not kept"));
    }
    lines
}

/// `bytes` as one run of lower-case hex digits, `00ff`: how JSON carries them.
pub fn plain(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes written as hex digits, two per byte, optionally separated by spaces, colons
/// or dashes (`48656c6c6f`, `48 65 6c`, `48:65:6c`), with an optional `0x` prefix.
pub fn parse(text: &str) -> Result<Vec<u8>, String> {
    let trimmed = text.trim();
    let digits: Vec<char> = trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
        .unwrap_or(trimmed)
        .chars()
        .filter(|c| !matches!(c, ' ' | ':' | '-' | '\t'))
        .collect();
    if let Some(bad) = digits.iter().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!(
            "{bad:?} is not a hex digit (write bytes as e.g. 48656c6c6f or '48 65 6c')"
        ));
    }
    if !digits.len().is_multiple_of(2) {
        return Err(format!(
            "{} hex digits: a byte takes two, so the count must be even",
            digits.len()
        ));
    }
    Ok(digits
        .chunks(2)
        .map(|pair| {
            let hi = pair[0].to_digit(16).unwrap_or(0);
            let lo = pair[1].to_digit(16).unwrap_or(0);
            (hi * 16 + lo) as u8
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dump_has_offsets_two_groups_and_ascii() {
        let lines = dump(b"Hello, WebSocket!\x00\xff", 19);
        assert_eq!(
            lines,
            [
                "0000  48 65 6c 6c 6f 2c 20 57  65 62 53 6f 63 6b 65 74  Hello, WebSocket",
                "0010  21 00 ff                                          !..",
            ]
        );
    }

    #[test]
    fn a_cut_payload_says_how_much_is_missing() {
        let lines = dump(&[0u8; 16], 100);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1], "…     84 more bytes not kept");
        assert!(dump(&[], 0).is_empty());
    }

    #[test]
    fn hex_parses_with_or_without_separators() {
        assert_eq!(parse("48656c6c6f"), Ok(b"Hello".to_vec()));
        assert_eq!(parse("48 65:6C-6c 6F"), Ok(b"Hello".to_vec()));
        assert_eq!(parse("0x00ff"), Ok(vec![0, 255]));
        assert_eq!(parse(""), Ok(vec![]));
        assert!(parse("abc").is_err_and(|e| e.contains("even")));
        assert!(parse("zz").is_err_and(|e| e.contains("not a hex digit")));
    }
}
