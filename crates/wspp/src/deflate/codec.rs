//! Raw DEFLATE as permessage-deflate uses it (RFC 7692, 7.2): each message compressed
//! and flushed to a byte boundary, the flush's empty stored block (`00 00 ff ff`)
//! taken off its end by the sender and put back by the receiver.
//!
//! The state (a compressor is a few hundred KiB, a decompressor its 32 KiB window and
//! more) is held only while a message is being compressed or inflated: it is taken at
//! the message's first byte and given back at its end, unless the peer carries its
//! context over from one message to the next, which only the decompressor must follow.
//! It is taken from and given back to the process's few spares (`deflate::spares`),
//! not allocated and freed per message.

use std::fmt;
use std::io;

use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};

use super::spares;

/// The empty stored block a sync flush ends with: taken off each message's end by the
/// sender, put back by the receiver.
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The error a read fails with when a compressed message is not valid DEFLATE.
#[derive(Debug)]
pub struct InvalidDeflate;

impl fmt::Display for InvalidDeflate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed compressed data in a permessage-deflate message")
    }
}

impl std::error::Error for InvalidDeflate {}

impl InvalidDeflate {
    /// Whether an I/O error is this one.
    pub fn is(error: &io::Error) -> bool {
        error
            .get_ref()
            .is_some_and(|inner| inner.is::<InvalidDeflate>())
    }

    /// This error as an I/O error, for a read to fail with.
    pub fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}

/// Inflates the messages of one direction of a connection.
#[derive(Debug)]
pub struct Inflater {
    /// The decompressor, while a message is being inflated (or between messages when
    /// the peer keeps its context).
    state: Option<Box<Decompress>>,
    /// The peer's stream reached a final block: the rest of the message is ignored.
    ended: bool,
    keep_context: bool,
}

impl Inflater {
    /// An inflater; `keep_context`: the peer carries its window over between messages.
    pub fn new(keep_context: bool) -> Self {
        Inflater {
            state: None,
            ended: false,
            keep_context,
        }
    }

    /// Inflates from `input` into `out`, appending at most `room` bytes. Returns how
    /// many bytes of `input` it took; with `input` empty, it gives out what it still
    /// holds, and appends nothing once it holds nothing.
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        room: usize,
    ) -> Result<usize, InvalidDeflate> {
        if self.ended {
            return Ok(input.len());
        }
        let state = self.state.get_or_insert_with(spares::inflater);
        let start = out.len();
        out.resize(start + room, 0);
        let (in_before, out_before) = (state.total_in(), state.total_out());
        let status = state.decompress(input, &mut out[start..], FlushDecompress::Sync);
        let taken = (state.total_in() - in_before) as usize;
        let given = (state.total_out() - out_before) as usize;
        out.truncate(start + given);
        match status {
            Ok(Status::StreamEnd) => {
                self.ended = true;
                Ok(input.len())
            }
            Ok(_) if taken == 0 && given == 0 && !input.is_empty() && room > 0 => {
                Err(InvalidDeflate)
            }
            Ok(_) => Ok(taken),
            Err(_) => Err(InvalidDeflate),
        }
    }

    /// The message is over (its tail inflated and drained): the state goes, unless the
    /// peer keeps its context and the stream did not end.
    pub fn end_message(&mut self) {
        if (!self.keep_context || self.ended)
            && let Some(state) = self.state.take()
        {
            spares::give_back_inflater(state);
        }
        self.ended = false;
    }

    /// Whether it holds no decompressor.
    pub fn is_idle(&self) -> bool {
        self.state.is_none()
    }
}

impl Drop for Inflater {
    /// A connection that ends in the middle of a message (or keeps its peer's context)
    /// gives its decompressor back too.
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            spares::give_back_inflater(state);
        }
    }
}

/// Compresses the messages of one direction, each from a fresh state.
#[derive(Debug)]
pub struct Deflater {
    /// The compressor, while a message is being compressed.
    state: Option<Box<Compress>>,
    window_bits: u8,
}

impl Deflater {
    /// A deflater that back-references at most `2^window_bits` bytes (8 to 15).
    pub fn new(window_bits: u8) -> Self {
        Deflater {
            state: None,
            window_bits,
        }
    }

    fn state(&mut self) -> &mut Compress {
        let bits = self.window_bits;
        self.state.get_or_insert_with(|| spares::deflater(bits))
    }

    /// Compresses `input` into `out` (nothing flushed yet).
    pub fn compress(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            out.reserve(input.len() / 2 + 64);
            let state = self.state();
            let before = state.total_in();
            // Raw DEFLATE into a buffer with room cannot fail.
            let _ = state.compress_vec(input, out, FlushCompress::None);
            input = &input[(state.total_in() - before) as usize..];
        }
    }

    /// Flushes what `compress` took to a byte boundary. At a message's end, the
    /// flush's tail is taken off and the state dropped.
    pub fn end_frame(&mut self, out: &mut Vec<u8>, end_message: bool) {
        let state = self.state();
        loop {
            out.reserve(64);
            let spare = out.capacity() - out.len();
            let before = out.len();
            let _ = state.compress_vec(&[], out, FlushCompress::Sync);
            if out.len() - before < spare {
                break;
            }
        }
        if end_message {
            if out.ends_with(&TAIL) {
                out.truncate(out.len() - TAIL.len());
            }
            if let Some(state) = self.state.take() {
                spares::give_back_deflater(self.window_bits, state);
            }
        }
    }

    /// Whether it holds no compressor.
    pub fn is_idle(&self) -> bool {
        self.state.is_none()
    }
}

impl Drop for Deflater {
    /// A connection that ends in the middle of a message gives its compressor back too.
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            spares::give_back_deflater(self.window_bits, state);
        }
    }
}

/// One whole message compressed as permessage-deflate sends it.
pub fn compress_message(payload: &[u8], window_bits: u8) -> Vec<u8> {
    let mut deflater = Deflater::new(window_bits);
    let mut out = Vec::new();
    deflater.compress(payload, &mut out);
    deflater.end_frame(&mut out, true);
    out
}

/// One whole compressed message inflated, with no limit on its size: for tests and
/// for showing a payload already held in memory.
pub fn inflate_message(compressed: &[u8]) -> Result<Vec<u8>, InvalidDeflate> {
    let mut inflater = Inflater::new(false);
    let mut out = Vec::new();
    for mut input in [compressed, &TAIL[..]] {
        while !input.is_empty() {
            let taken = inflater.inflate(input, &mut out, 16 * 1024)?;
            input = &input[taken..];
        }
    }
    loop {
        let before = out.len();
        inflater.inflate(&[], &mut out, 16 * 1024)?;
        if out.len() == before {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_examples_inflate() {
        // RFC 7692, 7.2.3.1 and 7.2.3.3: "Hello" compressed, and with no compression.
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(inflate_message(&hello).expect("valid"), b"Hello");
        let stored = [
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        assert_eq!(inflate_message(&stored).expect("valid"), b"Hello");
        // 7.2.3.4: a final block (BFINAL set).
        let bfinal = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(inflate_message(&bfinal).expect("valid"), b"Hello");
        // 7.2.3.1: what a fresh compressor makes of "Hello".
        assert_eq!(compress_message(b"Hello", 15), hello);
    }

    #[test]
    fn messages_round_trip_at_every_window() {
        let text = "the quick brown fox jumps over the lazy dog; ".repeat(500);
        for bits in 8..=15 {
            for payload in [&b""[..], b"x", text.as_bytes()] {
                let compressed = compress_message(payload, bits);
                assert_eq!(
                    inflate_message(&compressed).expect("valid"),
                    payload,
                    "window {bits}, {} bytes",
                    payload.len()
                );
            }
        }
    }

    #[test]
    fn malformed_data_is_refused() {
        // BTYPE 11 is reserved.
        assert!(inflate_message(&[0xff, 0xff, 0xff]).is_err());
        // A stored block whose length and its complement disagree.
        assert!(inflate_message(&[0x00, 0x05, 0x00, 0x00, 0x00, b'x']).is_err());
    }

    #[test]
    fn state_lives_only_inside_a_message() {
        let mut deflater = Deflater::new(15);
        let mut out = Vec::new();
        deflater.compress(b"abc", &mut out);
        assert!(!deflater.is_idle());
        deflater.end_frame(&mut out, false);
        assert!(!deflater.is_idle(), "a fragment ends, not the message");
        deflater.end_frame(&mut out, true);
        assert!(deflater.is_idle());
        for keep in [false, true] {
            let mut inflater = Inflater::new(keep);
            let mut plain = Vec::new();
            inflater.inflate(&out, &mut plain, 64).expect("valid");
            inflater.inflate(&TAIL, &mut plain, 64).expect("valid");
            assert!(!inflater.is_idle());
            inflater.end_message();
            assert_eq!((plain.as_slice(), inflater.is_idle()), (&b"abc"[..], !keep));
        }
    }

    #[test]
    fn context_carried_over_is_followed() {
        // The second "Hello" refers back to the first (RFC 7692, 7.2.3.2).
        let mut inflater = Inflater::new(true);
        let mut plain = Vec::new();
        for message in [
            &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00][..],
            &[0xf2, 0x00, 0x11, 0x00, 0x00],
        ] {
            for input in [message, &TAIL[..]] {
                inflater.inflate(input, &mut plain, 64).expect("valid");
            }
            inflater.end_message();
        }
        assert_eq!(plain, b"HelloHello");
    }
}
