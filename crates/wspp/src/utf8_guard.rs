//! Failing fast on invalid UTF-8 in a text message, as soon as the bytes arrive.
//!
//! tungstenite validates text frame by frame: it catches invalid UTF-8 in a fragment
//! as soon as that fragment is complete, but inside one frame it waits for the last
//! byte. A peer can therefore start a large text frame with garbage and have us buffer
//! up to the frame size limit of it before the refusal; Autobahn calls that NON-STRICT
//! (cases 6.4.3 and 6.4.4). RFC 6455 (8.1) wants the connection failed once the text
//! is known to be invalid. Both ends meet it: the server on a client's frames, the
//! client on a server's, so one guard serves both roles.
//!
//! tungstenite 0.30 exposes no partly read frame, so a [`Utf8Guard`] sits under it,
//! between tungstenite and the socket (above the permessage-deflate layer, so that it
//! reads the frames tungstenite will), and follows the peer's frames in the bytes
//! read: headers (decoded by [`crate::frame`], with tungstenite's own parser), masks
//! (a client's frames carry one, a server's none), which data frames belong to a text
//! message. It unmasks text payload into a small stack buffer and validates it
//! incrementally. Once the bytes read so far cannot begin valid UTF-8, the read fails
//! with [`InvalidUtf8`], and the caller answers Close 1007 or drops the connection.
//!
//! A client's guard goes under the upgrade, as its permessage-deflate layer does
//! ([`Utf8Guard::after_response`]): the server's response head and the first frames
//! can come in one read, so it steps over the head itself and follows frames from the
//! byte after it, once the answer was a 101.
//!
//! It judges nothing else. At the first frame tungstenite will reject for another
//! reason (reserved bits or opcodes, a mask the role forbids or lacks, a bad control
//! frame, a frame over the size limit, a broken fragment sequence) it stops following
//! the stream, so every other verdict, and its close code, stays tungstenite's.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, ReadBuf};
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::frame::{Header, HeaderReader, apply_mask};
use crate::stream::{Layer, Layered};

/// The error a read fails with once the peer's text is known not to be UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl fmt::Display for InvalidUtf8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid utf-8 in a text message (caught before the frame ended)")
    }
}

impl std::error::Error for InvalidUtf8 {}

impl InvalidUtf8 {
    /// Whether an I/O error is this one.
    pub fn is(error: &io::Error) -> bool {
        error
            .get_ref()
            .is_some_and(|inner| inner.is::<InvalidUtf8>())
    }
}

/// A socket whose reads fail on invalid UTF-8 in the peer's text messages.
pub type Guarded<S> = Layered<S, Utf8Guard>;

/// Guards a socket of an end in `role`, on which frames larger than `max_frame` are
/// refused (tungstenite's `max_frame_size`; `usize::MAX` for none).
pub fn guard<S>(inner: S, role: Role, max_frame: usize) -> Guarded<S> {
    Layered::new(inner, Utf8Guard::new(role, max_frame as u64))
}

impl Layer for Utf8Guard {
    fn poll_read<S: AsyncRead + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.invalid {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, InvalidUtf8)));
        }
        let before = buf.filled().len();
        ready!(Pin::new(inner).poll_read(cx, buf))?;
        // The bytes of a read that failed are dropped with it: the connection is being
        // failed, and nothing after invalid text needs an answer.
        self.feed(&buf.filled()[before..])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Poll::Ready(Ok(()))
    }
}

/// Where the guard is in the peer's byte stream.
#[derive(Debug)]
enum Position {
    /// Client side, before the frames: in the server's response head.
    Head(ResponseHead),
    /// Reading a frame header.
    Header(HeaderReader),
    /// Inside a frame's payload.
    Payload {
        /// Payload bytes still to come.
        left: u64,
        /// Payload bytes seen, for the position in the mask.
        seen: u64,
        /// The frame's masking key: a client's frames have one, a server's none.
        mask: Option<[u8; 4]>,
        /// Whether the payload is text to validate.
        text: bool,
        /// Whether the frame ends a data message.
        ends_message: bool,
    },
    /// Stopped following: tungstenite will reject this stream for its own reason.
    Off,
}

/// Follows the peer's frames through the bytes read and validates the text in them.
#[derive(Debug)]
pub struct Utf8Guard {
    /// The peer's frames are masked: we are the server.
    masked: bool,
    max_frame: u64,
    position: Position,
    /// Inside a data message whose final frame has not come yet.
    in_message: bool,
    /// That message is text.
    in_text: bool,
    utf8: Utf8Stream,
    /// Set once invalid text is seen; never cleared.
    invalid: bool,
}

impl Utf8Guard {
    /// A guard at the start of the peer's frames, for an end in `role` whose frames
    /// larger than `max_frame` bytes are refused.
    pub fn new(role: Role, max_frame: u64) -> Self {
        Utf8Guard {
            masked: role == Role::Server,
            max_frame,
            position: Position::Header(HeaderReader::new()),
            in_message: false,
            in_text: false,
            utf8: Utf8Stream::default(),
            invalid: false,
        }
    }

    /// A client's guard, put under the upgrade: it steps over the server's response
    /// head and follows the frames after it if the answer was 101 Switching Protocols
    /// (and nothing after any other answer, whose body is no frames).
    pub fn after_response(max_frame: u64) -> Self {
        Utf8Guard {
            position: Position::Head(ResponseHead::default()),
            ..Utf8Guard::new(Role::Client, max_frame)
        }
    }

    /// Follows the next bytes of the peer's stream, in pieces of any size. Fails once
    /// the text seen so far cannot be the start of valid UTF-8, and for every call
    /// after that.
    pub fn feed(&mut self, mut input: &[u8]) -> Result<(), InvalidUtf8> {
        while !input.is_empty() && !self.invalid {
            match &mut self.position {
                Position::Off => break,
                Position::Head(head) => {
                    let (used, switched) = head.feed(input);
                    input = &input[used..];
                    match switched {
                        Some(true) => self.position = Position::Header(HeaderReader::new()),
                        Some(false) => self.position = Position::Off,
                        None => {}
                    }
                }
                Position::Header(reader) => {
                    let (used, header) = reader.feed(input);
                    input = &input[used..];
                    if let Some(header) = header {
                        self.start_frame(header);
                    }
                }
                Position::Payload {
                    left,
                    seen,
                    mask,
                    text,
                    ..
                } => {
                    let take = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(input.len());
                    if *text {
                        let mut plain = [0u8; 4096];
                        for chunk in input[..take].chunks(plain.len()) {
                            let plain = &mut plain[..chunk.len()];
                            plain.copy_from_slice(chunk);
                            if let Some(key) = *mask {
                                apply_mask(plain, key, *seen);
                            }
                            *seen += chunk.len() as u64;
                            if !self.utf8.feed(plain) {
                                self.invalid = true;
                                break;
                            }
                        }
                        if self.invalid {
                            break;
                        }
                    } else {
                        *seen += take as u64;
                    }
                    *left -= take as u64;
                    input = &input[take..];
                    if *left == 0 {
                        self.end_frame();
                    }
                }
            }
        }
        if self.invalid {
            Err(InvalidUtf8)
        } else {
            Ok(())
        }
    }

    /// Reads a complete header; decides what its payload is, or stops following.
    fn start_frame(&mut self, header: Header) {
        let Header {
            fin,
            rsv,
            opcode,
            mask,
            len,
        } = header;
        if rsv != 0 || mask.is_some() != self.masked || len > self.max_frame {
            self.position = Position::Off;
            return;
        }
        let text = match opcode {
            // Control frames: short, whole, and outside the message sequence.
            0x8..=0xA if fin && len <= 125 => false,
            0x0 if self.in_message => self.in_text,
            0x1 | 0x2 if !self.in_message => {
                self.in_message = true;
                self.in_text = opcode == 0x1;
                self.utf8 = Utf8Stream::default();
                self.in_text
            }
            _ => {
                self.position = Position::Off;
                return;
            }
        };
        self.position = Position::Payload {
            left: len,
            seen: 0,
            mask,
            text,
            ends_message: fin && opcode < 0x8,
        };
        if len == 0 {
            self.end_frame();
        }
    }

    fn end_frame(&mut self) {
        if let Position::Payload {
            ends_message: true, ..
        } = self.position
        {
            // A code point cut off by the end of the message is tungstenite's to
            // refuse: it checks the whole message at its end.
            self.in_message = false;
            self.in_text = false;
        }
        self.position = Position::Header(HeaderReader::new());
    }
}

/// The server's response head, stepped over a byte at a time: only its status line's
/// start and its last four bytes are kept, so a long head costs nothing.
#[derive(Debug, Default)]
struct ResponseHead {
    /// The first bytes of the status line, enough for `HTTP/1.1 101 `.
    start: [u8; 13],
    /// How many bytes of the head were seen.
    seen: usize,
    /// The last four bytes seen, the newest lowest, to spot the blank line.
    last: u32,
}

impl ResponseHead {
    /// Takes head bytes from `input`, never one past the head's end: how many it took,
    /// and once the head is whole, whether it switched protocols.
    fn feed(&mut self, input: &[u8]) -> (usize, Option<bool>) {
        for (i, &byte) in input.iter().enumerate() {
            if let Some(slot) = self.start.get_mut(self.seen) {
                *slot = byte;
            }
            self.seen += 1;
            self.last = (self.last << 8) | u32::from(byte);
            if self.last == u32::from_be_bytes(*b"\r\n\r\n") {
                let status = self.start[..self.seen.min(self.start.len())]
                    .split(|&b| b == b' ' || b == b'\r')
                    .nth(1);
                return (i + 1, Some(status == Some(b"101")));
            }
        }
        (input.len(), None)
    }
}

/// Incremental UTF-8 validation: fed bytes in pieces, it says whether everything fed
/// so far can still be the start of valid UTF-8. A code point may be split anywhere.
#[derive(Debug, Default)]
struct Utf8Stream {
    /// The start of a code point cut off by the end of the previous piece.
    pending: [u8; 4],
    pending_len: usize,
}

impl Utf8Stream {
    fn feed(&mut self, mut bytes: &[u8]) -> bool {
        if self.pending_len > 0 {
            // `pending` is a valid prefix, so its lead byte gives the width.
            let width = match self.pending[0] {
                0xC2..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            let take = (width - self.pending_len).min(bytes.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&bytes[..take]);
            self.pending_len += take;
            bytes = &bytes[take..];
            match std::str::from_utf8(&self.pending[..self.pending_len]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() => return true,
                Err(_) => return false,
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => true,
            Err(e) if e.error_len().is_some() => false,
            Err(e) => {
                let tail = &bytes[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len();
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        crate::frame::encode(fin, opcode, Some(MASK), payload)
    }

    /// Feeds `stream` in pieces of `piece` bytes; returns how many bytes were fed when
    /// the guard first said invalid.
    fn invalid_after(stream: &[u8], piece: usize) -> Option<usize> {
        invalid_after_as(Role::Server, stream, piece)
    }

    fn invalid_after_as(role: Role, stream: &[u8], piece: usize) -> Option<usize> {
        let mut guard = Utf8Guard::new(role, 1 << 20);
        let mut fed = 0;
        for chunk in stream.chunks(piece) {
            fed += chunk.len();
            if guard.feed(chunk).is_err() {
                return Some(fed);
            }
        }
        None
    }

    #[test]
    fn valid_text_passes_in_any_pieces() {
        let text = "κόσμε ü 😀 ".repeat(40);
        let stream = [
            frame(false, 0x1, &text.as_bytes()[..301]),
            frame(true, 0x9, b"ping"),
            frame(false, 0x0, &text.as_bytes()[301..302]),
            frame(true, 0x0, &text.as_bytes()[302..]),
            frame(true, 0x1, b""),
            frame(true, 0x1, text.as_bytes()),
        ]
        .concat();
        for piece in [1, 2, 3, 5, 7, 64, 4096] {
            assert_eq!(invalid_after(&stream, piece), None, "pieces of {piece}");
        }
    }

    #[test]
    fn invalid_text_is_caught_before_its_frame_ends() {
        // Autobahn 6.4.3: the frame's middle chop holds a code point above U+10FFFF.
        let mut payload = hex("cebae1bdb9cf83cebcceb5");
        let first = payload.len();
        payload.extend(hex("f4908080"));
        payload.extend(hex("656469746564"));
        let stream = frame(true, 0x1, &payload);
        let header = stream.len() - payload.len();
        let mut guard = Utf8Guard::new(Role::Server, 1 << 20);
        assert_eq!(
            guard.feed(&stream[..header + first]),
            Ok(()),
            "the valid first chop passes"
        );
        let caught = invalid_after(&stream, 1).expect("caught");
        assert_eq!(caught, header + first + 2, "at the first impossible byte");
        // Autobahn 6.4.4: the lead byte ends the first chop, the bad one starts the next.
        let stream = frame(true, 0x1, &hex("cebae1bdb9cf83cebcceb5f490"));
        assert_eq!(invalid_after(&stream, 1), Some(stream.len()));
    }

    #[test]
    fn invalid_text_in_a_later_fragment_is_caught() {
        let stream = [
            frame(false, 0x1, "ok ".as_bytes()),
            frame(true, 0x9, &[0xff; 4]),
            frame(true, 0x0, &[b'a', 0xed, 0xa0, 0x80]),
        ]
        .concat();
        // ED A0 would be a surrogate: invalid at its second byte.
        assert_eq!(invalid_after(&stream, 1), Some(stream.len() - 1));
    }

    #[test]
    fn binary_and_control_payloads_are_not_text() {
        let stream = [
            frame(true, 0x2, &[0xff; 300]),
            frame(true, 0x9, &[0xff; 125]),
            frame(true, 0xA, &[0xc0]),
            frame(false, 0x2, &[0xff]),
            frame(true, 0x0, &[0xfe]),
        ]
        .concat();
        assert_eq!(invalid_after(&stream, 3), None);
    }

    #[test]
    fn other_breaches_are_left_to_tungstenite() {
        let bad_text = [0xff, 0xfe];
        let unmasked = [vec![0x81, 0x02], bad_text.to_vec()].concat();
        let mut rsv = frame(true, 0x1, &bad_text);
        rsv[0] |= 0x40;
        let orphan = frame(true, 0x0, &bad_text);
        let nested = [frame(false, 0x1, b"a"), frame(true, 0x1, &bad_text)].concat();
        let long_ping = [frame(true, 0x9, &[0; 126]), frame(true, 0x1, &bad_text)].concat();
        let reserved = [frame(true, 0x3, b""), frame(true, 0x1, &bad_text)].concat();
        for stream in [unmasked, rsv, orphan, nested, long_ping, reserved] {
            assert_eq!(invalid_after(&stream, 1), None, "{stream:02x?}");
        }
        let mut small = Utf8Guard::new(Role::Server, 4);
        assert_eq!(
            small.feed(&frame(true, 0x1, &[b'a', b'b', b'c', b'd', 0xff])),
            Ok(()),
            "a frame over the limit is tungstenite's 1009"
        );
    }

    #[test]
    fn a_servers_unmasked_text_is_guarded_on_the_client() {
        let unmasked =
            |fin, opcode, payload: &[u8]| crate::frame::encode(fin, opcode, None, payload);
        let stream = [
            unmasked(false, 0x1, "κό".as_bytes()),
            unmasked(true, 0x9, &[0xff; 4]),
            unmasked(true, 0x0, &[b'a', 0xf4, 0x90, 0x80, 0x80, b'b']),
        ]
        .concat();
        // At the 0x90 after F4: above U+10FFFF, three bytes before the frame ends.
        assert_eq!(
            invalid_after_as(Role::Client, &stream, 1),
            Some(stream.len() - 3)
        );
        assert!(invalid_after_as(Role::Client, &stream, 4096).is_some());
        assert_eq!(
            invalid_after_as(Role::Client, &stream[..stream.len() - 5], 1),
            None,
            "valid up to the bad byte"
        );
        // A masked frame from a server is tungstenite's protocol error, not ours.
        let masked = frame(true, 0x1, &[0xff, 0xfe]);
        assert_eq!(invalid_after_as(Role::Client, &masked, 1), None);
    }

    #[test]
    fn the_stream_validator_agrees_with_std() {
        let samples: [&[u8]; 8] = [
            b"plain",
            "κόσμε😀".as_bytes(),
            b"\xf4\x8f\xbf\xbf",
            b"\xf4\x90\x80\x80",
            b"\xed\xa0\x80",
            b"\xc0\xaf",
            b"\xe0\x80\xaf",
            b"ok\xf0\x9f\x98",
        ];
        for sample in samples {
            let whole_ok = match std::str::from_utf8(sample) {
                Ok(_) => true,
                Err(e) => e.error_len().is_none(),
            };
            for split in 0..=sample.len() {
                let mut stream = Utf8Stream::default();
                let ok = stream.feed(&sample[..split]) && stream.feed(&sample[split..]);
                assert_eq!(ok, whole_ok, "{sample:02x?} split at {split}");
            }
        }
    }

    #[test]
    fn a_clients_guard_steps_over_the_response_head() {
        let bad_text = crate::frame::encode(true, 0x1, None, &[b'a', 0xc0, b'b', b'c']);
        let answer = |status: &str| {
            [
                format!("HTTP/1.1 {status}\r\nUpgrade: websocket\r\n\r\n").into_bytes(),
                crate::frame::encode(true, 0x2, None, &[0xff; 3]),
                bad_text.clone(),
            ]
            .concat()
        };
        for piece in [1, 3, 4096] {
            let switched = answer("101 Switching Protocols");
            let mut guard = Utf8Guard::after_response(1 << 20);
            let caught = switched
                .chunks(piece)
                .map(|chunk| guard.feed(chunk))
                .position(|verdict| verdict.is_err())
                .map(|at| ((at + 1) * piece).min(switched.len()));
            let bad_byte = switched.len() - 2;
            assert!(
                caught.is_some_and(|at| at >= bad_byte && at < bad_byte + piece),
                "pieces of {piece}: {caught:?}"
            );
            // A refusal's body is no frames, whatever its bytes.
            let refused = answer("400 Bad Request");
            let mut guard = Utf8Guard::after_response(1 << 20);
            assert!(refused.chunks(piece).all(|chunk| guard.feed(chunk).is_ok()));
        }
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }
}
