//! The transcript of one request: what went over the wire, and what it meant.
//!
//! A request does not print. It sends [`Entry`] values through a [`Transcript`] (a
//! cloneable sender over a tokio channel) to whoever displays them: the plain menu
//! and the subcommands print each entry as text, and the terminal UI renders the same
//! text in its transcript pane. Every entry is stamped with the time since the request
//! started, so the transcript also shows where the time went.
//!
//! The channel is unbounded because entries are produced inside `poll_read` and
//! `poll_write` of [`crate::watch::tap::Tap`], which cannot wait for a slow display; their
//! number is bounded by what crosses the wire, which the request itself paces.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use wspp::wire_clock::Clock;

use crate::watch::wire::{
    Body, CloseInfo, Direction, FrameInfo, Head, Inflated, Opcode, PREVIEW_LEN, WireEvent,
    close_code_name,
};

/// One line (or block) of a transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Time since the request started.
    pub at: Duration,
    /// What happened.
    pub kind: EntryKind,
}

/// What a transcript entry reports.
#[derive(Debug, Clone, PartialEq)]
pub enum EntryKind {
    /// A remark from the request itself (what the answer means, what it does next...).
    Note(String),
    /// A TCP connection of the request is open. Typed rather than a note because a
    /// display can match `local` against the server's clients list to find itself.
    Connected {
        /// The server's address.
        peer: SocketAddr,
        /// Our address.
        local: SocketAddr,
    },
    /// Something the wire parser recognised, in one direction.
    Wire {
        /// Which way the bytes went.
        direction: Direction,
        /// What they were.
        event: WireEvent,
    },
    /// A measured round trip.
    Rtt {
        /// What was timed (`"echo"`, `"pong"`).
        what: &'static str,
        /// The sequence number of what was timed.
        seq: u64,
        /// The round-trip time.
        rtt: Duration,
        /// The clock it was taken on.
        clock: Clock,
    },
    /// A block of result text shown as is (e.g. the clients table).
    Output(String),
    /// The Wireshark display filter that isolates the request's connection.
    Filter(String),
    /// The request failed.
    Error(String),
}

/// The sending half of a transcript; clone it freely.
#[derive(Debug, Clone)]
pub struct Transcript {
    /// When the request started; every entry's `at` counts from here.
    start: Instant,
    tx: mpsc::UnboundedSender<Entry>,
}

impl Transcript {
    /// A transcript starting now, and the receiver its entries arrive on.
    pub fn new() -> (Transcript, mpsc::UnboundedReceiver<Entry>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let transcript = Transcript {
            start: Instant::now(),
            tx,
        };
        (transcript, rx)
    }

    /// Sends an entry stamped now. A display that has gone away is not an error for
    /// the request, so a closed channel is ignored.
    pub fn send(&self, kind: EntryKind) {
        self.send_entry(self.stamp(kind));
    }

    /// `kind`, stamped now, to be sent later: an entry held back so that the
    /// transcript keeps the order of the bytes (see [`crate::watch::tap`]).
    pub fn stamp(&self, kind: EntryKind) -> Entry {
        Entry {
            at: self.start.elapsed(),
            kind,
        }
    }

    /// Sends an entry stamped earlier ([`Transcript::stamp`]).
    pub fn send_entry(&self, entry: Entry) {
        let _ = self.tx.send(entry);
    }

    /// Sends a [`EntryKind::Note`].
    pub fn note(&self, text: impl Into<String>) {
        self.send(EntryKind::Note(text.into()));
    }

    /// Sends a [`EntryKind::Wire`].
    pub fn wire(&self, direction: Direction, event: WireEvent) {
        self.send(EntryKind::Wire { direction, event });
    }

    /// Sends a [`EntryKind::Rtt`].
    pub fn rtt(&self, what: &'static str, seq: u64, rtt: Duration, clock: Clock) {
        self.send(EntryKind::Rtt {
            what,
            seq,
            rtt,
            clock,
        });
    }

    /// Sends a [`EntryKind::Output`].
    pub fn output(&self, text: impl Into<String>) {
        self.send(EntryKind::Output(text.into()));
    }

    /// Sends a [`EntryKind::Error`].
    pub fn error(&self, text: impl Into<String>) {
        self.send(EntryKind::Error(text.into()));
    }
}

/// The plain-text form: one line per entry, except heads (one line per header line,
/// indented under the first) and [`EntryKind::Output`] blocks. The alternate form
/// (`{:#}`, what `--hex` prints) adds a [hex dump](crate::hex::dump) of every frame's
/// and body's payload under its line.
impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stamp = format!("+{:.3}ms", self.at.as_secs_f64() * 1e3);
        let lead = format!("{stamp:>12}");
        match &self.kind {
            EntryKind::Note(text) => write!(f, "{lead}   {text}"),
            EntryKind::Connected { peer, local } => {
                write!(f, "{lead}   connected to {peer} from {local} (TCP_NODELAY)")
            }
            EntryKind::Error(text) => write!(f, "{lead}   error: {text}"),
            EntryKind::Filter(filter) => write!(f, "{lead}   wireshark filter: {filter}"),
            EntryKind::Rtt {
                what,
                seq,
                rtt,
                clock,
            } => {
                write!(
                    f,
                    "{lead}   {what} seq={seq} rtt={:.3} ms ({clock} clock)",
                    rtt.as_secs_f64() * 1e3
                )
            }
            EntryKind::Output(text) => f.write_str(text.trim_end_matches('\n')),
            EntryKind::Wire { direction, event } => {
                let arrow = direction.arrow();
                match event {
                    WireEvent::Head(head) => write_head(f, &lead, arrow, head),
                    WireEvent::Body(body) => {
                        write!(f, "{lead} {arrow} {}", describe_body(body))?;
                        write_dump(f, &lead, &body.preview, body.len)
                    }
                    WireEvent::Frame(frame) => {
                        let key = *direction == Direction::Incoming;
                        write!(f, "{lead} {arrow} {}", describe_frame(frame, key))?;
                        write_dump(f, &lead, &frame.preview, frame.len)?;
                        match &frame.inflated {
                            Some(inflated) => {
                                let pad = " ".repeat(lead.chars().count() + 3);
                                write!(f, "\n{pad}{}", describe_inflated(inflated))?;
                                write_dump(f, &lead, &inflated.preview, inflated.len)
                            }
                            None => Ok(()),
                        }
                    }
                    WireEvent::Problem(problem) => write!(f, "{lead} {arrow} ?? {problem}"),
                }
            }
        }
    }
}

/// The hex dump of a payload under its line, in the alternate form only.
fn write_dump(f: &mut fmt::Formatter<'_>, lead: &str, kept: &[u8], len: u64) -> fmt::Result {
    if !f.alternate() {
        return Ok(());
    }
    let pad = " ".repeat(lead.chars().count() + 5);
    for line in crate::hex::dump(kept, len) {
        write!(f, "\n{pad}{line}")?;
    }
    Ok(())
}

fn write_head(f: &mut fmt::Formatter<'_>, lead: &str, arrow: &str, head: &Head) -> fmt::Result {
    let mut lines = head.lines.iter();
    write!(
        f,
        "{lead} {arrow} {}",
        lines.next().map_or("", String::as_str)
    )?;
    let pad = " ".repeat(lead.chars().count() + 3);
    for line in lines {
        write!(f, "\n{pad}  {line}")?;
    }
    Ok(())
}

/// `Ping fin=1 mask=1 len=16 seq=3`, `Close fin=1 mask=0 len=5 1000 (Normal Closure) "bye"`;
/// with `key`, a masked frame's key too (`mask=1 key=37fa213d`). The transcript shows
/// the keys of the frames it reads, a client's under `listen`: the frames this program
/// writes are masked with tungstenite's random keys, of no interest to its user.
pub fn describe_frame(frame: &FrameInfo, key: bool) -> String {
    let mut out = format!(
        "{} fin={} mask={}",
        frame.opcode,
        u8::from(frame.fin),
        u8::from(frame.masked)
    );
    if let Some(k) = frame.key.filter(|_| key) {
        out.push_str(&format!(
            " key={:02x}{:02x}{:02x}{:02x}",
            k[0], k[1], k[2], k[3]
        ));
    }
    out.push_str(&format!(" len={}", frame.len));
    if frame.rsv != 0 {
        out.push_str(&format!(" rsv={:03b}", frame.rsv));
    }
    let detail = match frame.opcode {
        Opcode::Close => frame.close().as_ref().map(describe_close),
        Opcode::Ping | Opcode::Pong => Some(match wspp::payload::PingId::decode(&frame.preview) {
            Some(id) => format!("seq={}", id.seq),
            None => preview_text(&frame.preview, frame.len),
        }),
        _ if frame.len == 0 => None,
        // What it says is on the line under it (`describe_inflated`).
        _ if frame.inflated.is_some() => Some("compressed".to_owned()),
        _ => Some(preview_text(&frame.preview, frame.len)),
    };
    if let Some(detail) = detail {
        out.push(' ');
        out.push_str(&detail);
    }
    out
}

/// `1000 (Normal Closure) "bye"`, `4000`, `no status code`.
pub fn describe_close(close: &CloseInfo) -> String {
    let code = match close.code {
        Some(code) => match close_code_name(code) {
            Some(name) => format!("{code} ({name})"),
            None => code.to_string(),
        },
        None => "no status code".to_owned(),
    };
    if close.reason.is_empty() {
        code
    } else {
        format!("{code} {:?}", close.reason)
    }
}

/// `inflated 5 bytes "Hello"`, under a compressed frame.
pub fn describe_inflated(inflated: &Inflated) -> String {
    let text = format!(
        "inflated {} bytes {}",
        inflated.len,
        preview_text(&inflated.preview, inflated.len)
    );
    if inflated.malformed {
        format!("{text}, then data that is not DEFLATE")
    } else {
        text
    }
}

/// `body 1234 bytes "<!doctype html>…"`.
pub fn describe_body(body: &Body) -> String {
    let chunked = if body.chunked { " (chunked)" } else { "" };
    format!(
        "body {} bytes{chunked} {}",
        body.len,
        preview_text(&body.preview, body.len)
    )
}

/// The first [`PREVIEW_LEN`] of a payload of `len` bytes as a quoted, escaped string,
/// with `…` when they are only the beginning.
fn preview_text(kept: &[u8], len: u64) -> String {
    let bytes = &kept[..kept.len().min(PREVIEW_LEN)];
    let text = String::from_utf8_lossy(bytes);
    let ellipsis = if bytes.len() as u64 == len { "" } else { "…" };
    format!("\"{}{ellipsis}\"", text.escape_debug())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wspp::payload::PingId;

    fn entry(kind: EntryKind) -> Entry {
        Entry {
            at: Duration::from_micros(412),
            kind,
        }
    }

    fn frame(opcode: Opcode, masked: bool, payload: &[u8]) -> FrameInfo {
        FrameInfo {
            fin: true,
            rsv: 0,
            opcode,
            masked,
            key: masked.then_some([0x37, 0xfa, 0x21, 0x3d]),
            len: payload.len() as u64,
            preview: payload.to_vec(),
            inflated: None,
        }
    }

    #[test]
    fn a_ping_frame_shows_its_bits_and_seq() {
        let payload = PingId {
            seq: 3,
            sent: Duration::from_millis(5),
        }
        .encode(16);
        let line = entry(EntryKind::Wire {
            direction: Direction::Outgoing,
            event: WireEvent::Frame(frame(Opcode::Ping, true, &payload)),
        })
        .to_string();
        assert_eq!(line, "    +0.412ms → Ping fin=1 mask=1 len=16 seq=3");
    }

    #[test]
    fn a_close_frame_shows_code_name_and_reason() {
        let line = entry(EntryKind::Wire {
            direction: Direction::Incoming,
            event: WireEvent::Frame(frame(Opcode::Close, false, b"\x03\xe8bye")),
        })
        .to_string();
        assert!(
            line.ends_with("← Close fin=1 mask=0 len=5 1000 (Normal Closure) \"bye\""),
            "{line}"
        );
        let empty = describe_frame(&frame(Opcode::Close, true, b""), false);
        assert_eq!(empty, "Close fin=1 mask=1 len=0 no status code");
        let keyed = describe_frame(&frame(Opcode::Close, true, b""), true);
        assert_eq!(
            keyed,
            "Close fin=1 mask=1 key=37fa213d len=0 no status code"
        );
    }

    #[test]
    fn heads_are_indented_under_their_first_line() {
        let text = entry(EntryKind::Wire {
            direction: Direction::Incoming,
            event: WireEvent::Head(Head {
                lines: vec!["HTTP/1.1 404 Not Found".into(), "content-length: 0".into()],
                status: Some(404),
            }),
        })
        .to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "    +0.412ms ← HTTP/1.1 404 Not Found");
        assert_eq!(lines[1], "                 content-length: 0");
    }

    #[test]
    fn previews_are_escaped_and_marked_when_cut() {
        let mut text = frame(Opcode::Text, true, b"a\nb\"");
        assert_eq!(
            describe_frame(&text, false),
            "Text fin=1 mask=1 len=4 \"a\\nb\\\"\""
        );
        text.len = 100;
        assert!(describe_frame(&text, false).ends_with("…\""));
        let body = Body {
            len: 3,
            preview: b"abc".to_vec(),
            chunked: false,
        };
        assert_eq!(describe_body(&body), "body 3 bytes \"abc\"");
    }

    #[test]
    fn the_alternate_form_dumps_every_payload_in_hex() {
        let text = entry(EntryKind::Wire {
            direction: Direction::Incoming,
            event: WireEvent::Frame(frame(Opcode::Binary, false, &[0, 1, 0xfe, 0xff])),
        });
        assert_eq!(text.to_string().lines().count(), 1);
        let hex = format!("{text:#}");
        let lines: Vec<&str> = hex.lines().collect();
        assert_eq!(lines.len(), 2, "{hex}");
        assert!(
            lines[0].ends_with("← Binary fin=1 mask=0 len=4 \"\\0\\u{1}��\""),
            "{hex}"
        );
        assert_eq!(
            lines[1].trim_start(),
            "0000  00 01 fe ff                                       ...."
        );
        assert!(lines[1].starts_with(&" ".repeat(17)), "{hex}");
    }

    #[test]
    fn notes_rtts_and_filters_are_one_line() {
        assert_eq!(
            entry(EntryKind::Rtt {
                what: "echo",
                seq: 2,
                rtt: Duration::from_micros(52),
                clock: Clock::Kernel,
            })
            .to_string(),
            "    +0.412ms   echo seq=2 rtt=0.052 ms (kernel clock)"
        );
        assert_eq!(
            entry(EntryKind::Connected {
                peer: "127.0.0.1:8080".parse().expect("valid address"),
                local: "127.0.0.1:50000".parse().expect("valid address"),
            })
            .to_string(),
            "    +0.412ms   connected to 127.0.0.1:8080 from 127.0.0.1:50000 (TCP_NODELAY)"
        );
        assert_eq!(
            entry(EntryKind::Filter("tcp.port == 5000".into())).to_string(),
            "    +0.412ms   wireshark filter: tcp.port == 5000"
        );
    }

    #[tokio::test]
    async fn entries_arrive_in_order_until_every_sender_is_gone() {
        let (transcript, mut rx) = Transcript::new();
        let clone = transcript.clone();
        transcript.note("one");
        clone.error("two");
        drop((transcript, clone));
        let first = rx.recv().await.expect("first entry");
        let second = rx.recv().await.expect("second entry");
        assert_eq!(first.kind, EntryKind::Note("one".into()));
        assert_eq!(second.kind, EntryKind::Error("two".into()));
        assert!(second.at >= first.at);
        assert!(rx.recv().await.is_none());
    }
}
