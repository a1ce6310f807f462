//! WebSocket frames as they cross the wire, followed one byte stream at a time.
//!
//! [`FrameFollower`] reads the frames of one direction after the upgrade and reports
//! each once its whole payload has passed, with the bits a WebSocket library hides:
//! FIN, RSV, the MASK bit, reserved opcodes, the declared length. A payload is never
//! buffered beyond its preview, so a huge frame costs no memory, and bytes may arrive
//! split at any boundary. Headers are decoded by [`wspp::frame`], as the server's
//! UTF-8 check decodes them, with tungstenite's parser.
//!
//! A data message whose first frame has RSV1 set is compressed (permessage-deflate,
//! RFC 7692, the one extension that uses the bit): each of its frames is inflated as it
//! passes ([`wspp::deflate::codec`]), and reported with what it inflated to beside
//! what the wire carried. The decompressor is kept from message to message, which
//! reads a peer that carries its context over and one that does not alike.

use std::fmt;

use wspp::deflate::codec::{Inflater, TAIL};
use wspp::frame::{Header, HeaderReader};

/// How many payload bytes of a data frame or an HTTP body a one-line preview shows.
pub const PREVIEW_LEN: usize = 64;
/// How many payload bytes of a data frame or an HTTP body are kept: enough for a hex
/// dump of what people send by hand, while a huge frame still costs no more.
pub const KEPT_LEN: usize = 4096;
/// Control frames carry at most this many bytes (RFC 6455, 5.5) and are kept whole.
const CONTROL_PREVIEW_LEN: usize = 125;

/// A WebSocket opcode (RFC 6455, 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// 0x0: more of the message the previous frame started.
    Continuation,
    /// 0x1: UTF-8 text.
    Text,
    /// 0x2: binary data.
    Binary,
    /// 0x8: the close handshake.
    Close,
    /// 0x9: a ping, to be answered by a pong with the same payload.
    Ping,
    /// 0xA: a pong.
    Pong,
    /// Any opcode RFC 6455 reserves (a peer that sends one is broken).
    Reserved(u8),
}

impl Opcode {
    fn from_bits(bits: u8) -> Opcode {
        match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            other => Opcode::Reserved(other),
        }
    }

    /// Whether this is a control frame (opcodes 0x8 to 0xF).
    pub fn is_control(self) -> bool {
        match self {
            Opcode::Close | Opcode::Ping | Opcode::Pong => true,
            Opcode::Reserved(bits) => bits >= 0x8,
            _ => false,
        }
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Opcode::Continuation => f.write_str("Continuation"),
            Opcode::Text => f.write_str("Text"),
            Opcode::Binary => f.write_str("Binary"),
            Opcode::Close => f.write_str("Close"),
            Opcode::Ping => f.write_str("Ping"),
            Opcode::Pong => f.write_str("Pong"),
            Opcode::Reserved(bits) => write!(f, "reserved {bits:#x}"),
        }
    }
}

/// One WebSocket frame as it was on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameInfo {
    /// The FIN bit: this frame ends its message.
    pub fin: bool,
    /// RSV1..RSV3 as a 3-bit number (non-zero only with an extension).
    pub rsv: u8,
    /// What the frame is.
    pub opcode: Opcode,
    /// The MASK bit (set on every client frame, never on a server frame).
    pub masked: bool,
    /// The masking key, when the MASK bit is set.
    pub key: Option<[u8; 4]>,
    /// The payload length the header declared.
    pub len: u64,
    /// The first payload bytes, unmasked: all of a control frame, [`KEPT_LEN`] of others.
    pub preview: Vec<u8>,
    /// For a frame of a compressed message, what its payload inflated to.
    pub inflated: Option<Inflated>,
}

/// What a compressed frame's payload inflated to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inflated {
    /// How many bytes it inflated to.
    pub len: u64,
    /// The first of them, [`KEPT_LEN`] at most.
    pub preview: Vec<u8>,
    /// Whether the payload was not valid DEFLATE (inflation stopped there).
    pub malformed: bool,
}

impl Inflated {
    /// Whether [`Inflated::preview`] is all of it.
    pub fn preview_is_whole(&self) -> bool {
        self.preview.len() as u64 == self.len
    }
}

impl FrameInfo {
    /// Whether [`FrameInfo::preview`] is the whole payload.
    pub fn preview_is_whole(&self) -> bool {
        self.preview.len() as u64 == self.len
    }

    /// The code and reason of a Close frame; `None` for other frames.
    pub fn close(&self) -> Option<CloseInfo> {
        if self.opcode != Opcode::Close {
            return None;
        }
        Some(match self.preview.split_first_chunk::<2>() {
            Some((code, reason)) => CloseInfo {
                code: Some(u16::from_be_bytes(*code)),
                reason: String::from_utf8_lossy(reason).into_owned(),
            },
            None => CloseInfo {
                code: None,
                reason: String::new(),
            },
        })
    }
}

/// What a Close frame says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// The status code; `None` when the frame carried none (reported as 1005).
    pub code: Option<u16>,
    /// The reason text (may be empty).
    pub reason: String,
}

/// The RFC 6455 (7.4.1) and IANA name of a close code, if it has one.
pub fn close_code_name(code: u16) -> Option<&'static str> {
    Some(match code {
        1000 => "Normal Closure",
        1001 => "Going Away",
        1002 => "Protocol Error",
        1003 => "Unsupported Data",
        1005 => "No Status Received",
        1006 => "Abnormal Closure",
        1007 => "Invalid Payload Data",
        1008 => "Policy Violation",
        1009 => "Message Too Big",
        1010 => "Mandatory Extension",
        1011 => "Internal Error",
        1012 => "Service Restart",
        1013 => "Try Again Later",
        1014 => "Bad Gateway",
        1015 => "TLS Handshake",
        _ => return None,
    })
}

/// Follows the frames of one direction of a WebSocket connection.
#[derive(Debug)]
pub struct FrameFollower {
    state: FrameState,
    /// Inside a data message whose final frame has not passed: whether it is
    /// compressed.
    message: Option<bool>,
    /// The decompressor, made at the first compressed message.
    inflater: Option<Inflater>,
}

#[derive(Debug)]
enum FrameState {
    /// Collecting a frame header.
    Header(HeaderReader),
    /// Inside a payload.
    Payload(PayloadState),
}

#[derive(Debug)]
struct PayloadState {
    frame: FrameInfo,
    mask: Option<[u8; 4]>,
    /// Payload bytes seen so far (the mask key index).
    seen: u64,
    /// Preview bytes to keep.
    keep: usize,
    /// Whether the payload is compressed, to inflate as it passes.
    compressed: bool,
}

impl Default for FrameFollower {
    fn default() -> Self {
        FrameFollower::new()
    }
}

impl FrameFollower {
    /// A follower before the first byte of a frame.
    pub fn new() -> Self {
        FrameFollower {
            state: FrameState::Header(HeaderReader::new()),
            message: None,
            inflater: None,
        }
    }

    /// Notes the message a frame belongs to, and whether its payload is compressed.
    fn start_frame(&mut self, header: &Header) -> bool {
        let compressed = match header.opcode {
            0x1 | 0x2 => header.rsv & 0b100 != 0,
            0x0 => self.message.unwrap_or(false),
            _ => return false,
        };
        self.message = (!header.fin).then_some(compressed);
        if compressed {
            self.inflater.get_or_insert_with(|| Inflater::new(true));
        }
        compressed
    }

    /// Inflates `payload` (unmasked) into `into`, keeping [`KEPT_LEN`] bytes of it.
    fn inflate(&mut self, payload: &[u8], into: &mut Inflated) {
        let Some(inflater) = self.inflater.as_mut() else {
            return;
        };
        let mut input = payload;
        let mut scratch = Vec::new();
        while !into.malformed {
            scratch.clear();
            match inflater.inflate(input, &mut scratch, 16 * 1024) {
                Ok(taken) => input = &input[taken..],
                Err(_) => {
                    into.malformed = true;
                    // The stream cannot be followed past bad data: start afresh.
                    *inflater = Inflater::new(true);
                }
            }
            into.len += scratch.len() as u64;
            let room = KEPT_LEN.saturating_sub(into.preview.len());
            into.preview
                .extend_from_slice(&scratch[..room.min(scratch.len())]);
            if input.is_empty() && scratch.is_empty() {
                break;
            }
        }
    }

    /// The frame `frame` has passed whole: if it ends a compressed message, the tail
    /// the sender took off goes back in.
    fn end_frame(&mut self, frame: &mut FrameInfo) {
        if let Some(mut inflated) = frame.inflated.take() {
            if frame.fin {
                self.inflate(&TAIL, &mut inflated);
                if let Some(inflater) = self.inflater.as_mut() {
                    inflater.end_message();
                }
            }
            frame.inflated = Some(inflated);
        }
    }

    /// Whether the bytes fed so far end where a frame ends.
    pub fn at_boundary(&self) -> bool {
        matches!(&self.state, FrameState::Header(header) if header.have() == 0)
    }

    /// Reads all of `bytes` and returns the frames they completed.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<FrameInfo> {
        let mut frames = Vec::new();
        while !bytes.is_empty() {
            let (used, frame) = self.step(bytes);
            frames.extend(frame);
            bytes = &bytes[used..];
        }
        frames
    }

    /// Consumes a prefix of `bytes` (at least one byte when there is one) and returns
    /// the frame it completed, if it completed one.
    pub fn step(&mut self, bytes: &[u8]) -> (usize, Option<FrameInfo>) {
        match &mut self.state {
            FrameState::Header(reader) => {
                let (used, header) = reader.feed(bytes);
                let Some(header) = header else {
                    return (used, None);
                };
                let compressed = self.start_frame(&header);
                let mut payload = start_payload(header, compressed);
                if payload.frame.len == 0 {
                    self.state = FrameState::Header(HeaderReader::new());
                    self.end_frame(&mut payload.frame);
                    return (used, Some(payload.frame));
                }
                self.state = FrameState::Payload(payload);
                (used, None)
            }
            FrameState::Payload(p) => {
                let remaining = p.frame.len - p.seen;
                let take = usize::try_from(remaining).map_or(bytes.len(), |r| r.min(bytes.len()));
                let room = p.keep.saturating_sub(p.frame.preview.len());
                for &b in &bytes[..room.min(take)] {
                    // While the preview fills it holds every payload byte seen, so its
                    // length is this byte's offset, which picks the mask key byte.
                    let key = p.mask.map_or(0, |m| m[p.frame.preview.len() % 4]);
                    p.frame.preview.push(b ^ key);
                }
                let mut inflated = None;
                if p.compressed {
                    let mut plain = bytes[..take].to_vec();
                    if let Some(key) = p.mask {
                        wspp::frame::apply_mask(&mut plain, key, p.seen);
                    }
                    inflated = Some((plain, p.frame.inflated.take().unwrap_or_default()));
                }
                p.seen += take as u64;
                let done = p.seen == p.frame.len;
                let mut frame = done.then(|| FrameInfo {
                    preview: std::mem::take(&mut p.frame.preview),
                    ..p.frame.clone()
                });
                if let Some((plain, mut so_far)) = inflated {
                    self.inflate(&plain, &mut so_far);
                    match (&mut frame, &mut self.state) {
                        (Some(frame), _) => frame.inflated = Some(so_far),
                        (None, FrameState::Payload(p)) => p.frame.inflated = Some(so_far),
                        (None, FrameState::Header(_)) => {}
                    }
                }
                let Some(mut frame) = frame else {
                    return (take, None);
                };
                self.state = FrameState::Header(HeaderReader::new());
                self.end_frame(&mut frame);
                (take, Some(frame))
            }
        }
    }

    /// The stream ended: what was cut short, if anything.
    pub fn finish(&mut self) -> Option<String> {
        let state = std::mem::replace(&mut self.state, FrameFollower::new().state);
        match state {
            FrameState::Header(header) if header.have() == 0 => None,
            FrameState::Header(header) => Some(format!(
                "the connection ended inside a frame header ({} bytes)",
                header.have()
            )),
            FrameState::Payload(p) => Some(format!(
                "the connection ended inside a {} frame ({} of {} payload bytes)",
                p.frame.opcode, p.seen, p.frame.len
            )),
        }
    }
}

/// What the follower keeps of the frame `header` starts.
fn start_payload(header: Header, compressed: bool) -> PayloadState {
    let opcode = Opcode::from_bits(header.opcode);
    let keep = if opcode.is_control() {
        CONTROL_PREVIEW_LEN
    } else {
        KEPT_LEN
    };
    PayloadState {
        frame: FrameInfo {
            fin: header.fin,
            rsv: header.rsv,
            opcode,
            masked: header.mask.is_some(),
            key: header.mask,
            len: header.len,
            preview: Vec::new(),
            inflated: compressed.then(Inflated::default),
        },
        mask: header.mask,
        seen: 0,
        keep,
        compressed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use wspp::frame::encode as frame;

    fn bytewise(bytes: &[u8]) -> Vec<FrameInfo> {
        let mut follower = FrameFollower::new();
        bytes.iter().flat_map(|b| follower.feed(&[*b])).collect()
    }

    #[test]
    fn frames_fed_byte_by_byte_match_one_chunk() {
        let stream = [
            frame(true, 0x9, None, b"0123456789abcdef"),
            frame(false, 0x1, None, b"hel"),
            frame(true, 0x0, None, b"lo"),
            frame(true, 0x8, None, b"\x03\xe8bye"),
        ]
        .concat();
        let whole = FrameFollower::new().feed(&stream);
        assert_eq!(whole, bytewise(&stream));
        assert_eq!(whole.len(), 4);
        assert_eq!(
            (whole[0].opcode, whole[0].fin, whole[0].masked, whole[0].len),
            (Opcode::Ping, true, false, 16)
        );
        assert_eq!(whole[0].preview, b"0123456789abcdef");
        assert_eq!((whole[1].opcode, whole[1].fin), (Opcode::Text, false));
        assert_eq!(
            (whole[2].opcode, whole[2].fin),
            (Opcode::Continuation, true)
        );
        let close = whole[3].close().expect("a close frame");
        assert_eq!(close.code, Some(1000));
        assert_eq!(close.reason, "bye");
    }

    #[test]
    fn masked_frames_are_unmasked_for_the_preview() {
        let key = [0x11, 0x22, 0x33, 0x44];
        let stream = [
            frame(true, 0xA, Some(key), b"pong payload"),
            frame(true, 0x8, Some(key), b""),
        ]
        .concat();
        let f = bytewise(&stream);
        assert_eq!(f.len(), 2);
        assert!(f[0].masked);
        assert_eq!(f[0].key, Some(key));
        assert_eq!(f[0].preview, b"pong payload");
        assert_eq!(
            f[1].close(),
            Some(CloseInfo {
                code: None,
                reason: String::new()
            })
        );
    }

    #[test]
    fn a_huge_frame_keeps_only_its_preview() {
        let stream = frame(true, 0x2, None, &vec![b'x'; 70_000]);
        let mut follower = FrameFollower::new();
        let mut f = Vec::new();
        for chunk in stream.chunks(7) {
            f.extend(follower.feed(chunk));
        }
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].len, 70_000);
        assert_eq!(f[0].preview.len(), KEPT_LEN);
        assert!(!f[0].preview_is_whole());
    }

    #[test]
    fn a_64_bit_length_and_rsv_bits_are_decoded() {
        // FIN + RSV1 + Binary, 64-bit length 3: legal framing, if wasteful.
        let mut stream = vec![0xC2, 127, 0, 0, 0, 0, 0, 0, 0, 3, b'a', b'b', b'c'];
        stream.extend([0x83, 0]); // reserved opcode 0x3
        let f = bytewise(&stream);
        assert_eq!(
            (f[0].rsv, f[0].len, f[0].preview.as_slice()),
            (4, 3, &b"abc"[..])
        );
        assert_eq!(f[1].opcode, Opcode::Reserved(3));
        assert_eq!(f[1].opcode.to_string(), "reserved 0x3");
    }

    #[test]
    fn compressed_frames_are_inflated_beside_their_wire_bytes() {
        let key = [0x11, 0x22, 0x33, 0x44];
        let text = "compress me, compress me, compress me";
        let compressed = wspp::deflate::codec::compress_message(text.as_bytes(), 15);
        let (one, two) = compressed.split_at(compressed.len() / 2);
        let stream = [
            // RFC 7692, 7.2.3.1: "Hello".
            frame(
                true,
                0x41,
                None,
                &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
            ),
            frame(false, 0x41, Some(key), one),
            frame(true, 0x9, Some(key), b"between"),
            frame(true, 0x0, Some(key), two),
            frame(true, 0x1, None, b"plain"),
            frame(true, 0x42, None, &[0xff, 0xff]),
        ]
        .concat();
        let f = bytewise(&stream);
        assert_eq!(f.len(), 6);
        let inflated = |i: usize| {
            f[i].inflated
                .as_ref()
                .map(|x| (x.preview.clone(), x.malformed))
        };
        assert_eq!((f[0].rsv, f[0].len), (0b100, 7));
        assert_eq!(inflated(0), Some((b"Hello".to_vec(), false)));
        let (first, _) = inflated(1).expect("compressed");
        let (second, _) = inflated(3).expect("compressed");
        assert_eq!([first, second].concat(), text.as_bytes());
        assert_eq!((inflated(2), inflated(4)), (None, None));
        assert_eq!(inflated(5).map(|(_, bad)| bad), Some(true));
    }

    #[test]
    fn an_early_end_is_reported() {
        let mut follower = FrameFollower::new();
        follower.feed(&frame(true, 0x1, None, b"hello")[..4]);
        assert!(!follower.at_boundary());
        let end = follower.finish().expect("cut short");
        assert!(end.contains("2 of 5"), "{end}");
        follower.feed(&[0x81]);
        assert_eq!(
            follower.finish().as_deref(),
            Some("the connection ended inside a frame header (1 bytes)")
        );
    }
}
