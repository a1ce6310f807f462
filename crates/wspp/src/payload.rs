//! The Ping payload codec.
//!
//! A Pong must carry the payload of the Ping it answers (RFC 6455, 5.5.3), so the payload
//! is how wspp tells which ping a pong answers. It holds the ping's sequence number and
//! the moment it was sent, as an offset in nanoseconds from an origin chosen by the
//! sender, both big-endian:
//!
//! ```text
//!  0               8               16              len
//! +---------------+---------------+-----------------+
//! | seq (u64 BE)  | sent_ns (BE)  | padding (0x77..) |
//! +---------------+---------------+-----------------+
//! ```
//!
//! The offset lets the sender reject a pong that echoes a known sequence number with
//! the wrong time, rather than report an RTT for a ping it never sent. Padding lets
//! `ping -s SIZE` measure larger control frames; a control frame may carry at most
//! [`MAX_LEN`] bytes.
//!
//! An echo server returns a Text or Binary message as it came, so the same identity
//! matches an echoed message to the one sent. A Binary message carries the bytes above;
//! a Text message must be UTF-8, so it carries them as words ([`Encoding::Text`]),
//! readable in a capture, padded the same way:
//!
//! ```text
//! seq=3 sent_ns=1250441wwwwww
//! ```

use std::time::Duration;

/// The smallest payload: the sequence number and the send offset.
pub const MIN_LEN: usize = 16;
/// The largest payload a control frame may carry (RFC 6455, 5.5).
pub const MAX_LEN: usize = 125;
/// The byte that fills a payload beyond [`MIN_LEN`] (`'w'`, easy to spot in a capture).
pub const PADDING: u8 = b'w';

/// How a payload is written: bytes for Ping frames and Binary messages, words for
/// Text messages (which must be valid UTF-8).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Encoding {
    /// The big-endian layout of [`PingId::encode`].
    #[default]
    Binary,
    /// `seq=N sent_ns=M` in ASCII ([`PingId::encode_text`]).
    Text,
}

/// What a ping payload says about its ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingId {
    /// The ping's sequence number, counted from 0 on each connection.
    pub seq: u64,
    /// When the ping was sent, as an offset from the sender's origin.
    pub sent: Duration,
}

impl PingId {
    /// Writes the payload for this ping, `len` bytes long (clamped to
    /// [`MIN_LEN`]..=[`MAX_LEN`]).
    pub fn encode(&self, len: usize) -> Vec<u8> {
        let len = len.clamp(MIN_LEN, MAX_LEN);
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&duration_to_ns(self.sent).to_be_bytes());
        out.resize(len, PADDING);
        out
    }

    /// Reads a payload written by [`PingId::encode`]; `None` if it cannot be one.
    pub fn decode(payload: &[u8]) -> Option<PingId> {
        if !(MIN_LEN..=MAX_LEN).contains(&payload.len()) {
            return None;
        }
        let (seq, rest) = payload.split_first_chunk::<8>()?;
        let (sent, padding) = rest.split_first_chunk::<8>()?;
        if padding.iter().any(|&b| b != PADDING) {
            return None;
        }
        Some(PingId {
            seq: u64::from_be_bytes(*seq),
            sent: Duration::from_nanos(u64::from_be_bytes(*sent)),
        })
    }
}

impl PingId {
    /// Writes the payload in `encoding`, at least `len` bytes long.
    pub fn encode_as(&self, encoding: Encoding, len: usize) -> Vec<u8> {
        match encoding {
            Encoding::Binary => self.encode(len),
            Encoding::Text => self.encode_text(len),
        }
    }

    /// Reads a payload written by [`PingId::encode_as`] in `encoding`.
    pub fn decode_as(encoding: Encoding, payload: &[u8]) -> Option<PingId> {
        match encoding {
            Encoding::Binary => PingId::decode(payload),
            Encoding::Text => PingId::decode_text(payload),
        }
    }

    /// Writes `seq=N sent_ns=M`, padded to `len` bytes (clamped to
    /// [`MIN_LEN`]..=[`MAX_LEN`]); longer when the words need more. Always ASCII, and
    /// at most 53 bytes before padding, so it fits any `len` a Ping allows.
    pub fn encode_text(&self, len: usize) -> Vec<u8> {
        let mut out =
            format!("seq={} sent_ns={}", self.seq, duration_to_ns(self.sent)).into_bytes();
        let len = len.clamp(MIN_LEN, MAX_LEN);
        if out.len() < len {
            out.resize(len, PADDING);
        }
        out
    }

    /// Reads a payload written by [`PingId::encode_text`]; `None` if it cannot be one.
    pub fn decode_text(payload: &[u8]) -> Option<PingId> {
        if !(MIN_LEN..=MAX_LEN).contains(&payload.len()) {
            return None;
        }
        let rest = payload.strip_prefix(b"seq=")?;
        let (seq, rest) = leading_number(rest)?;
        let rest = rest.strip_prefix(b" sent_ns=")?;
        let (sent, padding) = leading_number(rest)?;
        if padding.iter().any(|&b| b != PADDING) {
            return None;
        }
        Some(PingId {
            seq,
            sent: Duration::from_nanos(sent),
        })
    }
}

/// The decimal number `bytes` starts with (no sign, at least one digit) and what follows.
fn leading_number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let (number, rest) = bytes.split_at(digits);
    let number = std::str::from_utf8(number).ok()?.parse().ok()?;
    Some((number, rest))
}

/// Saturates instead of wrapping: an origin 584 years old is not a case to handle.
fn duration_to_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_at_every_length() {
        let id = PingId {
            seq: 0x0102_0304_0506_0708,
            sent: Duration::from_nanos(987_654_321),
        };
        for len in MIN_LEN..=MAX_LEN {
            let bytes = id.encode(len);
            assert_eq!(bytes.len(), len);
            assert_eq!(PingId::decode(&bytes), Some(id));
        }
    }

    #[test]
    fn layout_is_big_endian_with_padding() {
        let id = PingId {
            seq: 1,
            sent: Duration::from_nanos(2),
        };
        let bytes = id.encode(20);
        assert_eq!(&bytes[..8], &[0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(&bytes[8..16], &[0, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!(&bytes[16..], b"wwww");
    }

    #[test]
    fn lengths_are_clamped() {
        let id = PingId {
            seq: 7,
            sent: Duration::ZERO,
        };
        assert_eq!(id.encode(0).len(), MIN_LEN);
        assert_eq!(id.encode(1000).len(), MAX_LEN);
    }

    #[test]
    fn text_round_trips_and_reads_as_words() {
        let id = PingId {
            seq: 3,
            sent: Duration::from_nanos(1_250_441),
        };
        assert_eq!(id.encode_text(16), b"seq=3 sent_ns=1250441");
        assert_eq!(id.encode_text(24), b"seq=3 sent_ns=1250441www");
        let widest = PingId {
            seq: u64::MAX,
            sent: Duration::from_nanos(u64::MAX),
        };
        for id in [id, widest] {
            for len in [MIN_LEN, 40, MAX_LEN] {
                let text = id.encode_as(Encoding::Text, len);
                assert!(text.len() >= len && text.len() <= MAX_LEN);
                assert_eq!(PingId::decode_as(Encoding::Text, &text), Some(id));
                // Each encoding reads only its own.
                assert_eq!(PingId::decode_as(Encoding::Binary, &text), None);
            }
        }
    }

    #[test]
    fn foreign_texts_are_rejected() {
        for text in [
            &b"hello, this is not ours"[..],
            b"seq=3 sent_ns=12345xwww",
            b"seq=+3 sent_ns=1234567",
            b"seq=3  sent_ns=1234567",
            b"seq= sent_ns=1234567890",
            b"seq=99999999999999999999 sent_ns=1",
            b"seq=1 sent=1",
        ] {
            assert_eq!(
                PingId::decode_text(text),
                None,
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn foreign_payloads_are_rejected() {
        assert_eq!(PingId::decode(b""), None);
        assert_eq!(PingId::decode(b"hello"), None);
        assert_eq!(PingId::decode(&[0; 15]), None);
        assert_eq!(PingId::decode(&[0; 126]), None);
        let mut bad_padding = PingId {
            seq: 1,
            sent: Duration::ZERO,
        }
        .encode(17);
        bad_padding[16] = b'x';
        assert_eq!(PingId::decode(&bad_padding), None);
    }
}
