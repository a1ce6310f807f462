//! HTTP/1.1 messages as they cross the wire, read one byte stream at a time.
//!
//! [`HttpReader`] reads one direction's heads (bounded by [`MAX_HEAD`]) and the body
//! after each (`Content-Length`, chunked, or until the connection ends), and says when
//! the exchange has switched to WebSocket: requests after one that asks for
//! `Upgrade: websocket`, responses only after a `101` ([`Carries`]: which one a
//! direction holds depends on which side opened the connection). A body is never
//! buffered beyond its preview, and bytes may arrive split at any boundary.

use super::frames::KEPT_LEN;

/// The longest HTTP head the parser accepts before giving up on the stream.
pub const MAX_HEAD: usize = 16 * 1024;
/// The longest chunk-size or trailer line accepted in a chunked body.
const MAX_CHUNK_LINE: usize = 1024;

/// Which way bytes travel, seen from this program: written by it, or read from its
/// peer (the server it connected to, or the client it accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Written by this program.
    Outgoing,
    /// Read from the peer.
    Incoming,
}

/// Which HTTP messages one direction of a connection carries: the side that opened the
/// connection sends requests, the side that accepted it responses. It decides what may
/// follow a head, and when the exchange has switched to WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carries {
    /// Requests: the stream turns to frames after one that asks for `Upgrade: websocket`.
    Requests,
    /// Responses: the stream turns to frames after a `101`.
    Responses,
}

impl Carries {
    /// What `direction` carries on a connection this program opened.
    pub fn opened(direction: Direction) -> Carries {
        match direction {
            Direction::Outgoing => Carries::Requests,
            Direction::Incoming => Carries::Responses,
        }
    }

    /// What `direction` carries on a connection this program accepted.
    pub fn accepted(direction: Direction) -> Carries {
        match direction {
            Direction::Outgoing => Carries::Responses,
            Direction::Incoming => Carries::Requests,
        }
    }
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

/// Something complete the reader recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpEvent {
    /// A request or response head.
    Head(Head),
    /// The body that followed a head (reported once it ends).
    Body(Body),
    /// The stream stopped making sense (or ended early); the reader ignores the rest.
    Problem(String),
}

/// Reads the HTTP messages of one direction until the exchange switches to WebSocket.
#[derive(Debug)]
pub struct HttpReader {
    /// What this reader reads; it decides when the stream turns WebSocket.
    carries: Carries,
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
    /// The head just read switched the exchange to WebSocket: no more HTTP.
    Upgraded,
    /// Nothing more is interpreted (after a [`HttpEvent::Problem`]).
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

impl HttpReader {
    /// A reader of `direction` at the start of a connection this program opened (a
    /// head comes first).
    pub fn new(direction: Direction) -> Self {
        HttpReader::carrying(Carries::opened(direction))
    }

    /// A reader of the messages `carries` names, at the start of a connection.
    pub fn carrying(carries: Carries) -> Self {
        HttpReader {
            carries,
            state: State::Head { buf: Vec::new() },
        }
    }

    /// Whether everything fed so far has been reported: the reader waits for the first
    /// byte of a new head.
    pub fn at_boundary(&self) -> bool {
        matches!(&self.state, State::Head { buf } if buf.is_empty())
    }

    /// Whether the last head switched the exchange to WebSocket: what follows is frames.
    pub fn upgraded(&self) -> bool {
        matches!(self.state, State::Upgraded)
    }

    /// Consumes a prefix of `bytes` and returns what it completed. It consumes at least
    /// one byte unless the exchange has [upgraded](HttpReader::upgraded).
    pub fn step(&mut self, bytes: &[u8]) -> (usize, Option<HttpEvent>) {
        match &mut self.state {
            State::Head { buf } => {
                for (i, &b) in bytes.iter().enumerate() {
                    buf.push(b);
                    if buf.ends_with(b"\r\n\r\n") {
                        let head = parse_head(buf);
                        self.state = self.after_head(&head);
                        return (i + 1, Some(HttpEvent::Head(head)));
                    }
                    if buf.len() >= MAX_HEAD {
                        self.state = State::Opaque;
                        let problem = format!("no end of the HTTP head within {MAX_HEAD} bytes");
                        return (i + 1, Some(HttpEvent::Problem(problem)));
                    }
                }
                (bytes.len(), None)
            }
            State::Body { remaining, body } => {
                let take = usize::try_from(*remaining).map_or(bytes.len(), |r| r.min(bytes.len()));
                add_to_body(body, &bytes[..take]);
                *remaining -= take as u64;
                if *remaining == 0 {
                    let body = std::mem::replace(body, empty_body(false));
                    self.state = State::Head { buf: Vec::new() };
                    return (take, Some(HttpEvent::Body(body)));
                }
                (take, None)
            }
            State::UntilEof { body } => {
                add_to_body(body, bytes);
                (bytes.len(), None)
            }
            State::Chunked { chunk, body } => {
                let (used, done) = step_chunked(chunk, body, bytes);
                let event = match done {
                    None => None,
                    Some(None) => {
                        let body = std::mem::replace(body, empty_body(true));
                        self.state = State::Head { buf: Vec::new() };
                        Some(HttpEvent::Body(body))
                    }
                    Some(Some(problem)) => {
                        self.state = State::Opaque;
                        Some(HttpEvent::Problem(problem))
                    }
                };
                (used, event)
            }
            State::Upgraded => (0, None),
            State::Opaque => (bytes.len(), None),
        }
    }

    /// The stream ended: reports a body that lasted until now, or what was cut short.
    pub fn finish(&mut self) -> Vec<HttpEvent> {
        let state = std::mem::replace(&mut self.state, State::Opaque);
        match state {
            State::Head { buf } if buf.is_empty() => vec![],
            State::Head { buf } => vec![HttpEvent::Problem(format!(
                "the connection ended inside an HTTP head ({} bytes)",
                buf.len()
            ))],
            State::Body { remaining, body } => vec![
                HttpEvent::Body(body),
                HttpEvent::Problem(format!(
                    "the connection ended {remaining} bytes short of the body"
                )),
            ],
            State::Chunked { body, .. } => vec![
                HttpEvent::Body(body),
                HttpEvent::Problem("the connection ended inside a chunked body".into()),
            ],
            State::UntilEof { body } if body.len == 0 => vec![],
            State::UntilEof { body } => vec![HttpEvent::Body(body)],
            State::Upgraded | State::Opaque => vec![],
        }
    }

    /// What follows a head, by RFC 9112 section 6.3, reduced to what a GET exchange needs.
    fn after_head(&self, head: &Head) -> State {
        let next_head = State::Head { buf: Vec::new() };
        match self.carries {
            Carries::Requests => {
                if head.has_token("upgrade", "websocket") {
                    return State::Upgraded;
                }
            }
            Carries::Responses => match head.status {
                Some(101) => return State::Upgraded,
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
            None if self.carries == Carries::Requests => next_head,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn bytewise(direction: Direction, bytes: &[u8]) -> (HttpReader, Vec<HttpEvent>) {
        let mut reader = HttpReader::new(direction);
        let mut events = Vec::new();
        for b in bytes {
            let (used, event) = reader.step(std::slice::from_ref(b));
            assert_eq!(used, 1, "{reader:?}");
            events.extend(event);
        }
        (reader, events)
    }

    #[test]
    fn a_refused_upgrade_stays_http_and_reads_keep_alive_bodies() {
        let stream = b"HTTP/1.1 426 Upgrade Required\r\nsec-websocket-version: 13\r\ncontent-length: 5\r\n\r\nhelloHTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
        let (reader, events) = bytewise(Direction::Incoming, stream);
        assert!(!reader.upgraded());
        assert_eq!(events.len(), 3, "{events:?}");
        let HttpEvent::Head(first) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(first.status, Some(426));
        assert_eq!(first.header("Sec-WebSocket-Version"), Some("13"));
        assert_eq!(
            events[1],
            HttpEvent::Body(Body {
                len: 5,
                preview: b"hello".to_vec(),
                chunked: false
            })
        );
        assert!(matches!(&events[2], HttpEvent::Head(h) if h.status == Some(404)));
    }

    #[test]
    fn chunked_bodies_are_unframed() {
        let stream = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        let (_, events) = bytewise(Direction::Incoming, stream);
        assert_eq!(
            events[1],
            HttpEvent::Body(Body {
                len: 5,
                preview: b"abcde".to_vec(),
                chunked: true
            })
        );
        assert!(matches!(&events[2], HttpEvent::Head(h) if h.status == Some(204)));
    }

    #[test]
    fn a_body_without_length_lasts_until_the_end() {
        let (mut reader, events) =
            bytewise(Direction::Incoming, b"HTTP/1.0 200 OK\r\n\r\nsome bytes");
        assert_eq!(events.len(), 1);
        let end = reader.finish();
        assert!(matches!(&end[..], [HttpEvent::Body(b)] if b.len == 10));
    }

    #[test]
    fn plain_requests_do_not_upgrade() {
        let stream =
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /clients.json HTTP/1.1\r\nHost: x\r\n\r\n";
        let (reader, events) = bytewise(Direction::Outgoing, stream);
        assert!(!reader.upgraded());
        assert_eq!(events.len(), 2);
        assert!(
            events
                .iter()
                .all(|e| matches!(e, HttpEvent::Head(h) if h.status.is_none()))
        );
    }

    #[test]
    fn only_a_101_upgrades_what_comes_in() {
        let (reader, _) = bytewise(
            Direction::Incoming,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
        );
        assert!(reader.upgraded());
        let (reader, _) = bytewise(
            Direction::Incoming,
            b"HTTP/1.1 400 Bad Request\r\nUpgrade: websocket\r\ncontent-length: 0\r\n\r\n",
        );
        assert!(!reader.upgraded() && reader.at_boundary());
    }

    #[test]
    fn an_oversized_head_is_a_problem_then_ignored() {
        let mut reader = HttpReader::new(Direction::Incoming);
        let (used, event) = reader.step(&vec![b'a'; MAX_HEAD + 100]);
        assert_eq!(used, MAX_HEAD);
        assert!(matches!(event, Some(HttpEvent::Problem(_))));
        assert_eq!(reader.step(b"\r\n\r\n"), (4, None));
    }
}
