//! A pure, incremental parser of one direction of a TCP byte stream.
//!
//! tungstenite hands us reassembled messages and answers pings behind our back, and
//! hyper hands us parsed responses; neither shows what went over the wire. The point
//! of the transcript is to show exactly that (the real FIN and mask bits, each
//! control frame, the close code), so [`crate::tap`] copies every byte read and
//! written into one [`WireParser`] per direction.
//!
//! The parser does no I/O and keeps no clock. It reads an HTTP head (bounded by
//! [`MAX_HEAD`]), then either the HTTP body that follows (`Content-Length`, chunked,
//! or until the connection ends) and another head, or, once the direction has
//! switched to WebSocket, one frame after another. Outgoing bytes switch after a
//! request that asks for `Upgrade: websocket`; incoming bytes switch only after a
//! `101` response. A frame's payload is never buffered beyond its preview, so a huge
//! frame costs no memory, and bytes may arrive split at any boundary.

use std::fmt;

/// The longest HTTP head the parser accepts before giving up on the stream.
pub const MAX_HEAD: usize = 16 * 1024;
/// How many payload bytes of a data frame or an HTTP body a one-line preview shows.
pub const PREVIEW_LEN: usize = 64;
/// How many payload bytes of a data frame or an HTTP body are kept: enough for a hex
/// dump of what people send by hand, while a huge frame still costs no more.
pub const KEPT_LEN: usize = 4096;
/// Control frames carry at most this many bytes (RFC 6455, 5.5) and are kept whole.
const CONTROL_PREVIEW_LEN: usize = 125;
/// The longest chunk-size or trailer line accepted in a chunked body.
const MAX_CHUNK_LINE: usize = 1024;

/// Which way bytes travel, seen from this client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Written by this client.
    Outgoing,
    /// Read from the server.
    Incoming,
}

impl Direction {
    /// `→` for outgoing, `←` for incoming.
    pub fn arrow(self) -> &'static str {
        match self {
            Direction::Outgoing => "→",
            Direction::Incoming => "←",
        }
    }
}

/// Something complete the parser recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireEvent {
    /// An HTTP request or response head.
    Head(Head),
    /// The body that followed a head (reported once it ends).
    Body(Body),
    /// One WebSocket frame, reported once its whole payload has passed.
    Frame(FrameInfo),
    /// The stream stopped making sense (or ended early); the parser ignores the rest.
    Problem(String),
}

/// An HTTP head as it was on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Its lines, without the blank line that ends it (invalid UTF-8 replaced).
    pub lines: Vec<String>,
    /// The status code, if this is a response.
    pub status: Option<u16>,
}

impl Head {
    /// The first line: the request line or the status line.
    pub fn start_line(&self) -> &str {
        self.lines.first().map(String::as_str).unwrap_or("")
    }

    /// The value of the first header called `name` (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.lines.iter().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.lines.iter().skip(1).any(|line| {
            line.split_once(':').is_some_and(|(n, v)| {
                n.trim().eq_ignore_ascii_case(name)
                    && v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))
            })
        })
    }
}

/// An HTTP body: its size and its first bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// Body bytes seen (after removing chunk framing).
    pub len: u64,
    /// The first [`KEPT_LEN`] of them.
    pub preview: Vec<u8>,
    /// Whether it arrived with chunked transfer coding.
    pub chunked: bool,
}

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
    /// The payload length the header declared.
    pub len: u64,
    /// The first payload bytes, unmasked: all of a control frame, [`KEPT_LEN`] of others.
    pub preview: Vec<u8>,
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

/// The parser of one direction.
#[derive(Debug)]
pub struct WireParser {
    /// Which direction this parser reads; it decides when the stream turns WebSocket.
    direction: Direction,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Collecting a head; `buf` holds its bytes so far and never exceeds [`MAX_HEAD`].
    Head { buf: Vec<u8> },
    /// A body of known length; `remaining` bytes are still to come.
    Body { remaining: u64, body: Body },
    /// A chunked body.
    Chunked { chunk: ChunkState, body: Body },
    /// A body that lasts until the connection ends.
    UntilEof { body: Body },
    /// WebSocket frames.
    Frames(FrameState),
    /// Nothing more is interpreted (after a [`WireEvent::Problem`]).
    Opaque,
}

#[derive(Debug)]
enum ChunkState {
    /// Reading a chunk-size line (its bytes so far).
    Size(Vec<u8>),
    /// Inside a chunk, `remaining` bytes to go.
    Data(u64),
    /// Expecting the CRLF after a chunk's data; how many of its two bytes have passed.
    DataEnd(u8),
    /// Reading trailer lines after the last chunk; the current line so far.
    Trailer(Vec<u8>),
}

#[derive(Debug)]
enum FrameState {
    /// Collecting a frame header: `have` of `need` bytes (2, then 2..=14 once known).
    Header { bytes: [u8; 14], have: usize },
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
}

impl WireParser {
    /// A parser at the start of a connection (an HTTP head comes first).
    pub fn new(direction: Direction) -> Self {
        WireParser {
            direction,
            state: State::Head { buf: Vec::new() },
        }
    }

    /// Which direction this parser reads.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Whether everything fed so far has been reported: the parser waits for the
    /// first byte of a new head or frame. A reader uses it to tell that a response
    /// without a body, or with all of its body, is complete.
    pub fn at_boundary(&self) -> bool {
        match &self.state {
            State::Head { buf } => buf.is_empty(),
            State::Frames(FrameState::Header { have, .. }) => *have == 0,
            _ => false,
        }
    }

    /// Reads the next bytes of the stream and returns what they completed.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<WireEvent> {
        let mut events = Vec::new();
        while !bytes.is_empty() {
            let used = self.step(bytes, &mut events);
            bytes = &bytes[used..];
        }
        events
    }

    /// The stream ended: reports a body that lasted until now, or what was cut short.
    pub fn finish(&mut self) -> Vec<WireEvent> {
        let state = std::mem::replace(&mut self.state, State::Opaque);
        match state {
            State::Head { buf } if buf.is_empty() => vec![],
            State::Head { buf } => vec![WireEvent::Problem(format!(
                "the connection ended inside an HTTP head ({} bytes)",
                buf.len()
            ))],
            State::Body { remaining, body } => vec![
                WireEvent::Body(body),
                WireEvent::Problem(format!(
                    "the connection ended {remaining} bytes short of the body"
                )),
            ],
            State::Chunked { body, .. } => vec![
                WireEvent::Body(body),
                WireEvent::Problem("the connection ended inside a chunked body".into()),
            ],
            State::UntilEof { body } if body.len == 0 => vec![],
            State::UntilEof { body } => vec![WireEvent::Body(body)],
            State::Frames(FrameState::Header { have: 0, .. }) => vec![],
            State::Frames(FrameState::Header { have, .. }) => vec![WireEvent::Problem(format!(
                "the connection ended inside a frame header ({have} bytes)"
            ))],
            State::Frames(FrameState::Payload(p)) => vec![WireEvent::Problem(format!(
                "the connection ended inside a {} frame ({} of {} payload bytes)",
                p.frame.opcode, p.seen, p.frame.len
            ))],
            State::Opaque => vec![],
        }
    }

    /// Consumes a prefix of `bytes` (at least one byte) and pushes what it completed.
    fn step(&mut self, bytes: &[u8], events: &mut Vec<WireEvent>) -> usize {
        match &mut self.state {
            State::Head { buf } => {
                for (i, &b) in bytes.iter().enumerate() {
                    buf.push(b);
                    if buf.ends_with(b"\r\n\r\n") {
                        let head = parse_head(buf);
                        self.state = self.after_head(&head);
                        events.push(WireEvent::Head(head));
                        return i + 1;
                    }
                    if buf.len() >= MAX_HEAD {
                        events.push(WireEvent::Problem(format!(
                            "no end of the HTTP head within {MAX_HEAD} bytes"
                        )));
                        self.state = State::Opaque;
                        return i + 1;
                    }
                }
                bytes.len()
            }
            State::Body { remaining, body } => {
                let take = usize::try_from(*remaining).map_or(bytes.len(), |r| r.min(bytes.len()));
                add_to_body(body, &bytes[..take]);
                *remaining -= take as u64;
                if *remaining == 0 {
                    let body = std::mem::replace(body, empty_body(false));
                    events.push(WireEvent::Body(body));
                    self.state = State::Head { buf: Vec::new() };
                }
                take
            }
            State::UntilEof { body } => {
                add_to_body(body, bytes);
                bytes.len()
            }
            State::Chunked { chunk, body } => {
                let (used, done) = step_chunked(chunk, body, bytes);
                if let Some(problem) = done {
                    match problem {
                        None => {
                            let body = std::mem::replace(body, empty_body(true));
                            events.push(WireEvent::Body(body));
                            self.state = State::Head { buf: Vec::new() };
                        }
                        Some(problem) => {
                            events.push(WireEvent::Problem(problem));
                            self.state = State::Opaque;
                        }
                    }
                }
                used
            }
            State::Frames(frames) => step_frames(frames, bytes, events),
            State::Opaque => bytes.len(),
        }
    }

    /// What follows a head, by RFC 9112 section 6.3, reduced to what a GET exchange needs.
    fn after_head(&self, head: &Head) -> State {
        let next_head = State::Head { buf: Vec::new() };
        match self.direction {
            Direction::Outgoing => {
                if head.has_token("upgrade", "websocket") {
                    return State::Frames(FrameState::new());
                }
            }
            Direction::Incoming => match head.status {
                Some(101) => return State::Frames(FrameState::new()),
                Some(100..=199 | 204 | 304) => return next_head,
                _ => {}
            },
        }
        if head.has_token("transfer-encoding", "chunked") {
            return State::Chunked {
                chunk: ChunkState::Size(Vec::new()),
                body: empty_body(true),
            };
        }
        match head.header("content-length").map(str::parse::<u64>) {
            Some(Ok(0)) => next_head,
            Some(Ok(len)) => State::Body {
                remaining: len,
                body: empty_body(false),
            },
            Some(Err(_)) => State::Opaque,
            // A request without a length has no body; a response runs until the end.
            None if self.direction == Direction::Outgoing => next_head,
            None => State::UntilEof {
                body: empty_body(false),
            },
        }
    }
}

fn parse_head(buf: &[u8]) -> Head {
    let text = String::from_utf8_lossy(&buf[..buf.len().saturating_sub(4)]);
    let lines: Vec<String> = text.split("\r\n").map(str::to_owned).collect();
    let status = lines.first().and_then(|start| {
        let mut parts = start.split(' ');
        let version = parts.next()?;
        if !version.starts_with("HTTP/") {
            return None;
        }
        parts.next()?.parse().ok()
    });
    Head { lines, status }
}

fn empty_body(chunked: bool) -> Body {
    Body {
        len: 0,
        preview: Vec::new(),
        chunked,
    }
}

fn add_to_body(body: &mut Body, bytes: &[u8]) {
    let room = KEPT_LEN.saturating_sub(body.preview.len());
    body.preview
        .extend_from_slice(&bytes[..room.min(bytes.len())]);
    body.len += bytes.len() as u64;
}

/// One step of a chunked body; returns the bytes used and, when the body is over,
/// `Some(None)` (ended well) or `Some(Some(problem))`.
fn step_chunked(
    chunk: &mut ChunkState,
    body: &mut Body,
    bytes: &[u8],
) -> (usize, Option<Option<String>>) {
    match chunk {
        ChunkState::Size(line) => {
            let Some(b) = bytes.first().copied() else {
                return (0, None);
            };
            line.push(b);
            if line.len() > MAX_CHUNK_LINE {
                return (1, Some(Some("a chunk-size line is too long".into())));
            }
            if !line.ends_with(b"\r\n") {
                return (1, None);
            }
            let text = String::from_utf8_lossy(&line[..line.len() - 2]).into_owned();
            // Chunk extensions follow a ';' and carry nothing we display.
            let hex = text.split(';').next().unwrap_or("").trim();
            match u64::from_str_radix(hex, 16) {
                Ok(0) => *chunk = ChunkState::Trailer(Vec::new()),
                Ok(size) => *chunk = ChunkState::Data(size),
                Err(_) => return (1, Some(Some(format!("a bad chunk size {text:?}")))),
            }
            (1, None)
        }
        ChunkState::Data(remaining) => {
            let take = usize::try_from(*remaining).map_or(bytes.len(), |r| r.min(bytes.len()));
            add_to_body(body, &bytes[..take]);
            *remaining -= take as u64;
            if *remaining == 0 {
                *chunk = ChunkState::DataEnd(0);
            }
            (take, None)
        }
        ChunkState::DataEnd(have) => {
            let want = if *have == 0 { b'\r' } else { b'\n' };
            if bytes.first() != Some(&want) {
                return (1, Some(Some("a chunk is not followed by CRLF".into())));
            }
            *have += 1;
            if *have == 2 {
                *chunk = ChunkState::Size(Vec::new());
            }
            (1, None)
        }
        ChunkState::Trailer(line) => {
            let Some(b) = bytes.first().copied() else {
                return (0, None);
            };
            line.push(b);
            if line.len() > MAX_CHUNK_LINE {
                return (1, Some(Some("a trailer line is too long".into())));
            }
            if line.ends_with(b"\r\n") {
                if line.len() == 2 {
                    return (1, Some(None));
                }
                line.clear();
            }
            (1, None)
        }
    }
}

impl FrameState {
    fn new() -> Self {
        FrameState::Header {
            bytes: [0; 14],
            have: 0,
        }
    }
}

/// The header length implied by its first two bytes.
fn header_len(b1: u8) -> usize {
    let len_bytes = match b1 & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask_bytes = if b1 & 0x80 != 0 { 4 } else { 0 };
    2 + len_bytes + mask_bytes
}

fn step_frames(state: &mut FrameState, bytes: &[u8], events: &mut Vec<WireEvent>) -> usize {
    match state {
        FrameState::Header {
            bytes: header,
            have,
        } => {
            let need = if *have < 2 { 2 } else { header_len(header[1]) };
            let take = (need - *have).min(bytes.len());
            header[*have..*have + take].copy_from_slice(&bytes[..take]);
            *have += take;
            if *have >= 2 && *have == header_len(header[1]) {
                let payload = decode_header(&header[..*have]);
                if payload.frame.len == 0 {
                    events.push(WireEvent::Frame(payload.frame));
                    *state = FrameState::new();
                } else {
                    *state = FrameState::Payload(payload);
                }
            }
            take
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
            p.seen += take as u64;
            if p.seen == p.frame.len {
                let frame = std::mem::replace(
                    &mut p.frame,
                    FrameInfo {
                        fin: false,
                        rsv: 0,
                        opcode: Opcode::Continuation,
                        masked: false,
                        len: 0,
                        preview: Vec::new(),
                    },
                );
                events.push(WireEvent::Frame(frame));
                *state = FrameState::new();
            }
            take
        }
    }
}

fn decode_header(header: &[u8]) -> PayloadState {
    let (b0, b1) = (header[0], header[1]);
    let opcode = Opcode::from_bits(b0 & 0x0F);
    let masked = b1 & 0x80 != 0;
    let (len, rest) = match b1 & 0x7F {
        126 => (
            u64::from(u16::from_be_bytes([header[2], header[3]])),
            &header[4..],
        ),
        127 => {
            let mut n = [0u8; 8];
            n.copy_from_slice(&header[2..10]);
            (u64::from_be_bytes(n), &header[10..])
        }
        n => (u64::from(n), &header[2..]),
    };
    let mask = masked.then(|| [rest[0], rest[1], rest[2], rest[3]]);
    let keep = if opcode.is_control() {
        CONTROL_PREVIEW_LEN
    } else {
        KEPT_LEN
    };
    PayloadState {
        frame: FrameInfo {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 0x07,
            opcode,
            masked,
            len,
            preview: Vec::new(),
        },
        mask,
        seen: 0,
        keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use wspp::frame::encode as frame;

    fn feed_bytewise(parser: &mut WireParser, bytes: &[u8]) -> Vec<WireEvent> {
        bytes.iter().flat_map(|b| parser.feed(&[*b])).collect()
    }

    fn frames(events: &[WireEvent]) -> Vec<&FrameInfo> {
        events
            .iter()
            .filter_map(|e| match e {
                WireEvent::Frame(f) => Some(f),
                _ => None,
            })
            .collect()
    }

    const UPGRADE: &[u8] = b"GET /pingpong HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n\r\n";
    const SWITCH: &[u8] =
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n";

    #[test]
    fn an_incoming_upgrade_fed_byte_by_byte_matches_one_chunk() {
        let mut stream = SWITCH.to_vec();
        stream.extend(frame(true, 0x9, None, b"0123456789abcdef"));
        stream.extend(frame(false, 0x1, None, b"hel"));
        stream.extend(frame(true, 0x0, None, b"lo"));
        stream.extend(frame(true, 0x8, None, b"\x03\xe8bye"));

        let whole = WireParser::new(Direction::Incoming).feed(&stream);
        let split = feed_bytewise(&mut WireParser::new(Direction::Incoming), &stream);
        assert_eq!(whole, split);

        let WireEvent::Head(head) = &split[0] else {
            panic!("a head comes first: {split:?}")
        };
        assert_eq!(head.status, Some(101));
        assert_eq!(head.header("Upgrade"), Some("websocket"));
        let f = frames(&split);
        assert_eq!(f.len(), 4);
        assert_eq!(
            (f[0].opcode, f[0].fin, f[0].masked, f[0].len),
            (Opcode::Ping, true, false, 16)
        );
        assert_eq!(f[0].preview, b"0123456789abcdef");
        assert_eq!((f[1].opcode, f[1].fin), (Opcode::Text, false));
        assert_eq!((f[2].opcode, f[2].fin), (Opcode::Continuation, true));
        let close = f[3].close().expect("a close frame");
        assert_eq!(close.code, Some(1000));
        assert_eq!(close.reason, "bye");
    }

    #[test]
    fn outgoing_frames_are_unmasked_for_the_preview() {
        let key = [0x11, 0x22, 0x33, 0x44];
        let mut stream = UPGRADE.to_vec();
        stream.extend(frame(true, 0xA, Some(key), b"pong payload"));
        stream.extend(frame(true, 0x8, Some(key), b""));
        let events = feed_bytewise(&mut WireParser::new(Direction::Outgoing), &stream);
        let f = frames(&events);
        assert_eq!(f.len(), 2);
        assert!(f[0].masked);
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
        let payload = vec![b'x'; 70_000];
        let mut stream = SWITCH.to_vec();
        stream.extend(frame(true, 0x2, None, &payload));
        let mut parser = WireParser::new(Direction::Incoming);
        let mut events = Vec::new();
        for chunk in stream.chunks(7) {
            events.extend(parser.feed(chunk));
        }
        let f = frames(&events);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].len, 70_000);
        assert_eq!(f[0].preview.len(), KEPT_LEN);
        assert!(!f[0].preview_is_whole());
    }

    #[test]
    fn a_64_bit_length_and_rsv_bits_are_decoded() {
        let mut stream = SWITCH.to_vec();
        // FIN + RSV1 + Binary, 64-bit length 3: legal framing, if wasteful.
        stream.extend([0xC2, 127, 0, 0, 0, 0, 0, 0, 0, 3, b'a', b'b', b'c']);
        stream.extend([0x83, 0]); // reserved opcode 0x3
        let events = feed_bytewise(&mut WireParser::new(Direction::Incoming), &stream);
        let f = frames(&events);
        assert_eq!(
            (f[0].rsv, f[0].len, f[0].preview.as_slice()),
            (4, 3, &b"abc"[..])
        );
        assert_eq!(f[1].opcode, Opcode::Reserved(3));
        assert_eq!(f[1].opcode.to_string(), "reserved 0x3");
    }

    #[test]
    fn a_refused_upgrade_stays_http_and_reads_keep_alive_bodies() {
        let stream = b"HTTP/1.1 426 Upgrade Required\r\nsec-websocket-version: 13\r\ncontent-length: 5\r\n\r\nhelloHTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
        let events = feed_bytewise(&mut WireParser::new(Direction::Incoming), stream);
        assert_eq!(events.len(), 3, "{events:?}");
        let WireEvent::Head(first) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(first.status, Some(426));
        assert_eq!(first.header("Sec-WebSocket-Version"), Some("13"));
        assert_eq!(
            events[1],
            WireEvent::Body(Body {
                len: 5,
                preview: b"hello".to_vec(),
                chunked: false
            })
        );
        assert!(matches!(&events[2], WireEvent::Head(h) if h.status == Some(404)));
    }

    #[test]
    fn chunked_bodies_are_unframed() {
        let stream = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        let events = feed_bytewise(&mut WireParser::new(Direction::Incoming), stream);
        assert_eq!(
            events[1],
            WireEvent::Body(Body {
                len: 5,
                preview: b"abcde".to_vec(),
                chunked: true
            })
        );
        assert!(matches!(&events[2], WireEvent::Head(h) if h.status == Some(204)));
    }

    #[test]
    fn boundaries_are_where_a_message_ends() {
        let mut parser = WireParser::new(Direction::Incoming);
        assert!(parser.at_boundary());
        parser.feed(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 3\r\n\r\nab");
        assert!(!parser.at_boundary());
        parser.feed(b"c");
        assert!(parser.at_boundary());
        parser.feed(SWITCH);
        assert!(parser.at_boundary());
        parser.feed(&frame(true, 0x9, None, b"x")[..1]);
        assert!(!parser.at_boundary());
    }

    #[test]
    fn a_body_without_length_lasts_until_the_end() {
        let mut parser = WireParser::new(Direction::Incoming);
        let events = parser.feed(b"HTTP/1.0 200 OK\r\n\r\nsome bytes");
        assert_eq!(events.len(), 1);
        let end = parser.finish();
        assert!(matches!(&end[..], [WireEvent::Body(b)] if b.len == 10));
    }

    #[test]
    fn plain_requests_do_not_switch_to_frames() {
        let stream =
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /clients.json HTTP/1.1\r\nHost: x\r\n\r\n";
        let events = feed_bytewise(&mut WireParser::new(Direction::Outgoing), stream);
        assert_eq!(events.len(), 2);
        assert!(
            events
                .iter()
                .all(|e| matches!(e, WireEvent::Head(h) if h.status.is_none()))
        );
    }

    #[test]
    fn an_oversized_head_is_a_problem_then_ignored() {
        let mut parser = WireParser::new(Direction::Incoming);
        let events = parser.feed(&vec![b'a'; MAX_HEAD + 100]);
        assert!(matches!(&events[..], [WireEvent::Problem(_)]));
        assert!(parser.feed(b"\r\n\r\n").is_empty());
    }

    #[test]
    fn an_early_end_is_reported() {
        let mut parser = WireParser::new(Direction::Incoming);
        let mut stream = SWITCH.to_vec();
        stream.extend(&frame(true, 0x1, None, b"hello")[..4]);
        parser.feed(&stream);
        let end = parser.finish();
        assert!(
            matches!(&end[..], [WireEvent::Problem(p)] if p.contains("2 of 5")),
            "{end:?}"
        );
    }
}
