//! WebSocket frame headers (RFC 6455, 5.2) as they arrive: read in pieces, reserved
//! bits and opcodes kept, so that whoever follows frames through a byte stream sees
//! them as the wire carried them.
//!
//! Two readers follow frames below a WebSocket library rather than through it: the
//! client's wire transcript, which shows every bit, and the fail-fast UTF-8 guard of
//! both ends, which must know where text payload starts before tungstenite has the
//! whole frame. Both decode headers here, with tungstenite's own [`FrameHeader::parse`], so
//! that the three cannot disagree on where a frame starts or how long it is. This
//! module adds what `parse` does not do: it refuses a reserved opcode with an error
//! that keeps only the opcode, where a follower must still know the rest of the header
//! to step over the frame ([`decode`]); and it takes a header that arrives a few bytes
//! at a time without taking any byte past it ([`HeaderReader`]).
//!
//! With the `test-util` feature, `encode` lays out the bytes of any frame, for tests
//! that need frames a library would not write (wrong opcodes, missing masks, a fragment
//! where none may be) and the exact bytes of valid ones. No program writes frames that
//! way, so it is left out of the library they link.

use std::io::Cursor;

use tokio_tungstenite::tungstenite::error::{Error, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;

/// The longest frame header: two bytes, a 64-bit length and a mask.
pub const MAX_HEADER_LEN: usize = 14;

/// A frame header as it was on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The FIN bit: this frame ends its message.
    pub fin: bool,
    /// RSV1..RSV3 as a 3-bit number (RSV1 is the high bit).
    pub rsv: u8,
    /// The opcode's four bits, a reserved one included.
    pub opcode: u8,
    /// The masking key, when the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// The payload length the header declares.
    pub len: u64,
}

/// Decodes the header at the start of `bytes`: the header and how many bytes it took,
/// or `None` while `bytes` holds only part of it.
pub fn decode(bytes: &[u8]) -> Option<(Header, usize)> {
    match parse(bytes) {
        Ok(found) => found,
        Err(opcode) => {
            // tungstenite has read the whole header before it looks at the opcode, so
            // the same bytes with an opcode it accepts decode to the same header.
            let mut known = [0; MAX_HEADER_LEN];
            let n = bytes.len().min(MAX_HEADER_LEN);
            known[..n].copy_from_slice(&bytes[..n]);
            known[0] = (known[0] & 0xF0) | 0x2;
            let (header, size) = parse(&known[..n]).ok()??;
            Some((Header { opcode, ..header }, size))
        }
    }
}

/// tungstenite's reading of the header at the start of `bytes`, or the reserved
/// opcode it refused.
fn parse(bytes: &[u8]) -> Result<Option<(Header, usize)>, u8> {
    let mut cursor = Cursor::new(bytes);
    match FrameHeader::parse(&mut cursor) {
        Ok(Some((header, len))) => {
            let rsv =
                (u8::from(header.rsv1) << 2) | (u8::from(header.rsv2) << 1) | u8::from(header.rsv3);
            let found = Header {
                fin: header.is_final,
                rsv,
                opcode: header.opcode.into(),
                mask: header.mask,
                len,
            };
            Ok(Some((found, cursor.position() as usize)))
        }
        Ok(None) => Ok(None),
        Err(Error::Protocol(ProtocolError::InvalidOpcode(opcode))) => Err(opcode),
        // Reading from memory fails in no other way.
        Err(_) => Ok(None),
    }
}

/// Collects one frame header from bytes that arrive in pieces of any size.
#[derive(Debug, Clone, Default)]
pub struct HeaderReader {
    bytes: [u8; MAX_HEADER_LEN],
    have: usize,
}

impl HeaderReader {
    /// A reader before the first byte of a header.
    pub fn new() -> Self {
        HeaderReader::default()
    }

    /// How many bytes of a header it holds: 0 between frames.
    pub fn have(&self) -> usize {
        self.have
    }

    /// Takes the header's bytes from the start of `input`, never one past its end.
    /// Returns how many it took and, once the header is whole, the header; the reader
    /// then waits for the next one.
    pub fn feed(&mut self, input: &[u8]) -> (usize, Option<Header>) {
        let before = self.have;
        let take = (MAX_HEADER_LEN - before).min(input.len());
        self.bytes[before..before + take].copy_from_slice(&input[..take]);
        match decode(&self.bytes[..before + take]) {
            Some((header, size)) => {
                self.have = 0;
                (size - before, Some(header))
            }
            None => {
                self.have = before + take;
                (take, None)
            }
        }
    }
}

/// Appends `header`'s bytes to `out`, its length in the shortest encoding; the payload,
/// masked with `header.mask` if there is one, is the caller's to append.
pub fn write_header(out: &mut Vec<u8>, header: &Header) {
    out.push((u8::from(header.fin) << 7) | ((header.rsv & 0b111) << 4) | (header.opcode & 0xF));
    let mask_bit = if header.mask.is_some() { 0x80 } else { 0 };
    match header.len {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
    if let Some(key) = header.mask {
        out.extend_from_slice(&key);
    }
}

/// Masks (or unmasks: it is the same) `payload` in place, `offset` bytes into its
/// frame's payload, with `key`. Four bytes at a time: it runs over every byte of a
/// payload that a follower must read, and a byte loop is slow in a debug build.
pub fn apply_mask(payload: &mut [u8], key: [u8; 4], offset: u64) {
    let mut key = key;
    key.rotate_left((offset % 4) as usize);
    let word = u32::from_ne_bytes(key);
    let mut words = payload.chunks_exact_mut(4);
    for w in &mut words {
        let masked = u32::from_ne_bytes([w[0], w[1], w[2], w[3]]) ^ word;
        w.copy_from_slice(&masked.to_ne_bytes());
    }
    for (b, k) in words.into_remainder().iter_mut().zip(key) {
        *b ^= k;
    }
}

#[cfg(any(test, feature = "test-util"))]
/// One frame: FIN bit, `opcode` (reserved bits as given in its high nibble), the
/// shortest length encoding for `payload`, and the payload masked with `mask` if there
/// is one (as a client must) or as it is (as a server must).
pub fn encode(fin: bool, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(14 + payload.len());
    let header = Header {
        fin,
        rsv: opcode >> 4,
        opcode: opcode & 0xF,
        mask,
        len: payload.len() as u64,
    };
    write_header(&mut out, &header);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_decode_as_laid_out() {
        let masked = encode(false, 0x1, Some([1, 2, 3, 4]), &[0; 126]);
        let header = Header {
            fin: false,
            rsv: 0,
            opcode: 0x1,
            mask: Some([1, 2, 3, 4]),
            len: 126,
        };
        assert_eq!(decode(&masked), Some((header, 8)));
        assert_eq!(decode(&masked[..7]), None);
        let long = encode(true, 0x2, None, &[0; 0x1_0000]);
        assert_eq!(
            decode(&long).map(|(h, size)| (h.len, size)),
            Some((0x1_0000, 10))
        );
    }

    #[test]
    fn reserved_opcodes_and_bits_are_kept() {
        // RSV1 and RSV3 with reserved opcode 0xB, masked, a 16-bit length of 200.
        let mut bytes = encode(true, 0x5B, Some([9, 8, 7, 6]), &[0; 200]);
        let (header, size) = decode(&bytes).expect("whole");
        assert_eq!(
            (
                header.fin,
                header.rsv,
                header.opcode,
                header.mask,
                header.len,
                size
            ),
            (true, 0b101, 0xB, Some([9, 8, 7, 6]), 200, 8)
        );
        bytes[0] = 0x03; // FIN clear, reserved data opcode 0x3
        let (header, _) = decode(&bytes).expect("whole");
        assert_eq!((header.fin, header.rsv, header.opcode), (false, 0, 0x3));
        assert_eq!(
            decode(&bytes[..5]),
            None,
            "a reserved opcode waits for its header"
        );
    }

    #[test]
    fn a_header_in_pieces_takes_no_byte_past_its_end() {
        let stream = [
            encode(true, 0x49, Some([1, 2, 3, 4]), b"abc"),
            encode(true, 0x8, None, b""),
        ]
        .concat();
        let mut reader = HeaderReader::new();
        for (i, b) in stream[..5].iter().enumerate() {
            assert_eq!(reader.feed(std::slice::from_ref(b)), (1, None));
            assert_eq!(reader.have(), i + 1);
        }
        let (used, header) = reader.feed(&stream[5..]);
        assert_eq!(used, 1);
        assert_eq!(
            header.map(|h| (h.rsv, h.opcode, h.len)),
            Some((0b100, 0x9, 3))
        );
        assert_eq!(reader.have(), 0);
        let (used, header) = reader.feed(&stream[9..]);
        assert_eq!((used, header.map(|h| h.opcode)), (2, Some(0x8)));
    }

    #[test]
    fn lengths_take_the_shortest_encoding() {
        assert_eq!(encode(true, 0x9, None, b"hi"), [0x89, 2, b'h', b'i']);
        let medium = encode(false, 0x2, None, &[0; 126]);
        assert_eq!(medium[..4], [0x02, 126, 0, 126]);
        let long = encode(true, 0x2, None, &[0; 0x1_0000]);
        assert_eq!(long[..10], [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(long.len(), 10 + 0x1_0000);
    }

    #[test]
    fn masking_starts_anywhere_in_the_key() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let plain: Vec<u8> = (0..23).collect();
        let masked: Vec<u8> = plain
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect();
        for start in 0..plain.len() {
            let mut part = masked[start..].to_vec();
            apply_mask(&mut part, key, start as u64);
            assert_eq!(part, plain[start..], "from {start}");
        }
    }

    #[test]
    fn a_mask_is_written_and_applied() {
        let key = [1, 2, 3, 4];
        assert_eq!(
            encode(true, 0x1, Some(key), b"abcde"),
            [
                0x81,
                0x85,
                1,
                2,
                3,
                4,
                b'a' ^ 1,
                b'b' ^ 2,
                b'c' ^ 3,
                b'd' ^ 4,
                b'e' ^ 1
            ]
        );
    }
}
