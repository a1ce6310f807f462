//! A pure, incremental parser of one direction of a TCP byte stream.
//!
//! tungstenite hands us reassembled messages and answers pings behind our back, and
//! hyper hands us parsed responses; neither shows what went over the wire. The point
//! of the transcript is to show exactly that (the real FIN and mask bits, each
//! control frame, the close code), so [`crate::watch::tap`] copies every byte read and
//! written into one [`WireParser`] per direction.
//!
//! The parser does no I/O and keeps no clock. It is two readers and the switch
//! between them: [`http`] reads HTTP heads and bodies until a head upgrades the
//! exchange, then [`frames`] follows one WebSocket frame after another. Bytes may
//! arrive split at any boundary, including the one where the protocol changes.

pub mod frames;
pub mod http;

pub use frames::{
    CloseInfo, FrameFollower, FrameInfo, Inflated, KEPT_LEN, Opcode, PREVIEW_LEN, close_code_name,
};
pub use http::{Body, Carries, Direction, Head, HttpEvent, HttpReader, MAX_HEAD};

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

impl From<HttpEvent> for WireEvent {
    fn from(event: HttpEvent) -> Self {
        match event {
            HttpEvent::Head(head) => WireEvent::Head(head),
            HttpEvent::Body(body) => WireEvent::Body(body),
            HttpEvent::Problem(problem) => WireEvent::Problem(problem),
        }
    }
}

/// The parser of one direction.
#[derive(Debug)]
pub struct WireParser {
    /// Which direction this parser reads.
    direction: Direction,
    state: State,
}

/// Which protocol the stream speaks at this point.
#[derive(Debug)]
enum State {
    /// HTTP, until a head upgrades the exchange.
    Http(HttpReader),
    /// WebSocket frames, to the end.
    Frames(FrameFollower),
    /// The stream has ended; nothing more is interpreted.
    Ended,
}

impl WireParser {
    /// A parser of `direction` at the start of a connection this program opened (an
    /// HTTP head comes first).
    pub fn new(direction: Direction) -> Self {
        WireParser::carrying(direction, Carries::opened(direction))
    }

    /// A parser of `direction`, which carries `carries`, at the start of a connection.
    pub fn carrying(direction: Direction, carries: Carries) -> Self {
        WireParser {
            direction,
            state: State::Http(HttpReader::carrying(carries)),
        }
    }

    /// A parser of a stream that carries WebSocket frames from its first byte: an
    /// HTTP/2 stream after the 200 to its extended CONNECT.
    pub fn frames(direction: Direction) -> Self {
        WireParser {
            direction,
            state: State::Frames(FrameFollower::new()),
        }
    }

    /// Whether the stream has switched to WebSocket frames (or ended after them).
    pub fn in_frames(&self) -> bool {
        matches!(self.state, State::Frames(_))
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
            State::Http(http) => http.at_boundary(),
            State::Frames(frames) => frames.at_boundary(),
            State::Ended => false,
        }
    }

    /// Reads the next bytes of the stream and returns what they completed.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<WireEvent> {
        let mut events = Vec::new();
        while !bytes.is_empty() {
            let used = match &mut self.state {
                State::Http(http) => {
                    let (used, event) = http.step(bytes);
                    events.extend(event.map(WireEvent::from));
                    if http.upgraded() {
                        self.state = State::Frames(FrameFollower::new());
                    }
                    used
                }
                State::Frames(frames) => {
                    let (used, frame) = frames.step(bytes);
                    events.extend(frame.map(WireEvent::Frame));
                    used
                }
                State::Ended => bytes.len(),
            };
            bytes = &bytes[used..];
        }
        events
    }

    /// The stream ended: reports a body that lasted until now, or what was cut short.
    pub fn finish(&mut self) -> Vec<WireEvent> {
        match std::mem::replace(&mut self.state, State::Ended) {
            State::Http(mut http) => http.finish().into_iter().map(WireEvent::from).collect(),
            State::Frames(mut frames) => frames
                .finish()
                .map(WireEvent::Problem)
                .into_iter()
                .collect(),
            State::Ended => Vec::new(),
        }
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
    fn the_stream_turns_to_frames_after_the_upgrade_wherever_it_is_cut() {
        for (direction, head) in [
            (Direction::Incoming, SWITCH),
            (Direction::Outgoing, UPGRADE),
        ] {
            let mask = (direction == Direction::Outgoing).then_some([0x11, 0x22, 0x33, 0x44]);
            let stream = [
                head,
                &frame(true, 0x9, mask, b"0123456789abcdef"),
                &frame(true, 0x8, mask, b""),
            ]
            .concat();
            let whole = WireParser::new(direction).feed(&stream);
            let split = feed_bytewise(&mut WireParser::new(direction), &stream);
            assert_eq!(whole, split, "{direction:?}");
            assert!(matches!(&split[0], WireEvent::Head(_)), "{split:?}");
            let f = frames(&split);
            assert_eq!(
                f.iter().map(|f| (f.opcode, f.masked)).collect::<Vec<_>>(),
                [
                    (Opcode::Ping, mask.is_some()),
                    (Opcode::Close, mask.is_some())
                ]
            );
            assert_eq!(f[0].preview, b"0123456789abcdef");
        }
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
