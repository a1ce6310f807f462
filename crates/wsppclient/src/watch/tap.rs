//! A wiretap on a connection: every byte read or written also goes through a
//! [`WireParser`], and what it recognises goes to the [`Transcript`]. It is a
//! [`Layer`] over the connection, so `wspp::stream` does the forwarding and this only
//! watches.
//!
//! hyper and tungstenite read and write through this wrapper without knowing it, so
//! the transcript shows the bytes they really exchanged (heads, frames, bits) rather
//! than their parsed view. Only bytes the inner stream accepted are parsed: a write
//! that took 10 of 20 bytes feeds 10. The menu requests and `listen` use it; `ping`
//! does not, because its hot path must add nothing to the measured RTT.
//!
//! The transcript keeps the order of the bytes. A server often sends its first frame
//! right behind its 101, and one read then holds both; the "upgraded" line the
//! request writes once the handshake returns belongs between them. So what a read
//! completed after the head that switched the stream to frames is held back until
//! [`Wiretap::note_upgrade`] has said so (or, should nobody say it, until the next
//! read, write or shutdown), each entry with the time it was read.

use std::io;
use std::task::{Context, Poll, ready};

use std::time::Duration;

use tokio::io::{AsyncRead, ReadBuf};
use wspp::stream::{Layer, Layered};

use super::transcript::{Entry, EntryKind, Transcript};
use super::wire::{Carries, Direction, WireEvent, WireParser};

/// A stream whose traffic is parsed into a transcript.
pub type Tap<S> = Layered<S, Wiretap>;

/// `inner`, a connection this program opened, tapped into `transcript`; both
/// directions start with an HTTP head.
pub fn tap<S>(inner: S, transcript: Transcript) -> Tap<S> {
    Layered::new(inner, Wiretap::new(transcript, Carries::opened))
}

/// `inner`, a connection this program accepted, tapped into `transcript`: what it
/// reads are requests, what it writes responses.
pub fn tap_accepted<S>(inner: S, transcript: Transcript) -> Tap<S> {
    Layered::new(inner, Wiretap::new(transcript, Carries::accepted))
}

/// `inner`, tapped into `transcript`, where both directions carry WebSocket frames
/// from the first byte (the stream an extended CONNECT opened over HTTP/2).
pub fn tap_frames<S>(inner: S, transcript: Transcript) -> Tap<S> {
    let mut wiretap = Wiretap::new(transcript, Carries::opened);
    wiretap.outgoing = WireParser::frames(Direction::Outgoing);
    wiretap.incoming = WireParser::frames(Direction::Incoming);
    Layered::new(inner, wiretap)
}

/// The [`Layer`] that parses a connection's bytes as they pass.
#[derive(Debug)]
pub struct Wiretap {
    /// Parses what we write.
    outgoing: WireParser,
    /// Parses what we read.
    incoming: WireParser,
    transcript: Transcript,
    /// Set once a read returned end-of-stream, so the end is reported once.
    read_closed: bool,
    /// Bytes read so far: how far a connection got before it broke.
    received: u64,
    /// The first [`FIRST_BYTES`] bytes read, to show what a peer that does not speak
    /// HTTP said instead.
    first_received: Vec<u8>,
    /// What the read that switched the incoming stream to frames completed after the
    /// head that did it, stamped when read; sent after the upgrade's note.
    held: Vec<Entry>,
    /// When the head that switched the incoming stream to frames was read.
    upgraded_at: Option<Duration>,
    /// Whether what we read are responses, so that the head that switches the stream
    /// is the peer's 101 (on a connection we accepted, the 101 is ours, and frames
    /// read behind the request came before it).
    reads_responses: bool,
}

/// How many of the first bytes read a [`Wiretap`] keeps.
pub const FIRST_BYTES: usize = 64;

impl Wiretap {
    fn new(transcript: Transcript, carries: fn(Direction) -> Carries) -> Self {
        let parser = |direction| WireParser::carrying(direction, carries(direction));
        Wiretap {
            outgoing: parser(Direction::Outgoing),
            incoming: parser(Direction::Incoming),
            transcript,
            read_closed: false,
            received: 0,
            first_received: Vec::new(),
            held: Vec::new(),
            upgraded_at: None,
            reads_responses: carries(Direction::Incoming) == Carries::Responses,
        }
    }

    /// Says `note` about the upgrade (stamped when its head was read), then what was
    /// read behind that head: the transcript shows them in the order of the bytes.
    pub fn note_upgrade(&mut self, note: impl Into<String>) {
        let kind = EntryKind::Note(note.into());
        let entry = match self.upgraded_at {
            Some(at) => Entry { at, kind },
            None => self.transcript.stamp(kind),
        };
        self.transcript.send_entry(entry);
        self.release();
    }

    /// Sends what was held back.
    fn release(&mut self) {
        for entry in self.held.drain(..) {
            self.transcript.send_entry(entry);
        }
    }

    /// How many bytes have been read from the peer.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The first bytes read from the peer (at most [`FIRST_BYTES`]).
    pub fn first_received(&self) -> &[u8] {
        &self.first_received
    }

    /// Whether the bytes read so far end where a head or a frame ends: a response
    /// head and all of its body, for one, have been read and reported.
    pub fn incoming_at_boundary(&self) -> bool {
        self.incoming.at_boundary()
    }

    /// Whether a read has returned the end of the stream.
    pub fn read_closed(&self) -> bool {
        self.read_closed
    }
}

impl Layer for Wiretap {
    fn poll_read<S: AsyncRead + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let asked = buf.remaining() > 0;
        ready!(std::pin::Pin::new(inner).poll_read(cx, buf))?;
        self.release();
        let was_http = !self.incoming.in_frames();
        let new = &buf.filled()[before..];
        self.received += new.len() as u64;
        let room = FIRST_BYTES.saturating_sub(self.first_received.len());
        self.first_received
            .extend_from_slice(&new[..room.min(new.len())]);
        let events = if new.is_empty() && asked {
            if std::mem::replace(&mut self.read_closed, true) {
                Vec::new()
            } else {
                self.incoming.finish()
            }
        } else {
            self.incoming.feed(new)
        };
        // Frames come only after the head that switched the stream, and behind it.
        let switched = was_http && self.incoming.in_frames() && self.reads_responses;
        let wire = |event| EntryKind::Wire {
            direction: Direction::Incoming,
            event,
        };
        let switch_at = events
            .iter()
            .rposition(|event| matches!(event, WireEvent::Head(_)))
            .filter(|_| switched);
        for (i, event) in events.into_iter().enumerate() {
            let entry = self.transcript.stamp(wire(event));
            match switch_at {
                Some(head) if i == head => self.upgraded_at = Some(entry.at),
                Some(head) if i > head => {
                    self.held.push(entry);
                    continue;
                }
                _ => {}
            }
            self.transcript.send_entry(entry);
        }
        Poll::Ready(Ok(()))
    }

    fn wrote(&mut self, written: &[u8]) {
        self.release();
        for event in self.outgoing.feed(written) {
            self.transcript.wire(Direction::Outgoing, event);
        }
    }

    fn shut_down(&mut self) {
        self.release();
        for event in self.outgoing.finish() {
            self.transcript.wire(Direction::Outgoing, event);
        }
    }
}

impl Drop for Wiretap {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn both_directions_reach_the_transcript() {
        let (client, mut server) = tokio::io::duplex(64);
        let (transcript, mut rx) = Transcript::new();
        let mut tap = tap(client, transcript);
        tap.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write to duplex");
        let mut request = [0u8; 27];
        server.read_exact(&mut request).await.expect("read request");
        server
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi")
            .await
            .expect("write response");
        drop(server);
        let mut response = Vec::new();
        tap.read_to_end(&mut response).await.expect("read response");
        drop(tap);

        let mut seen = Vec::new();
        while let Some(entry) = rx.recv().await {
            if let EntryKind::Wire { direction, event } = entry.kind {
                seen.push((direction, event));
            }
        }
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(
            matches!(&seen[0], (Direction::Outgoing, WireEvent::Head(h)) if h.start_line() == "GET / HTTP/1.1")
        );
        assert!(
            matches!(&seen[1], (Direction::Incoming, WireEvent::Head(h)) if h.status == Some(200))
        );
        assert!(matches!(&seen[2], (Direction::Incoming, WireEvent::Body(b)) if b.len == 2));
    }

    /// A server's first Ping often shares a read with its 101: the note that the
    /// upgrade is done still comes between them, as their bytes do.
    #[tokio::test]
    async fn a_frame_read_with_the_101_follows_the_upgrade_note() {
        let (client, mut server) = tokio::io::duplex(1024);
        let (transcript, mut rx) = Transcript::new();
        let mut tap = tap(client, transcript);
        let request =
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
        tap.write_all(request).await.expect("write to duplex");
        let mut answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".to_vec();
        answer.extend(wspp::frame::encode(true, 0x9, None, b"first"));
        server.write_all(&answer).await.expect("write the answer");
        let mut buf = [0u8; 1024];
        let n = tap.read(&mut buf).await.expect("read the answer");
        assert_eq!(n, answer.len(), "one read holds the 101 and the Ping");
        tap.layer_mut().note_upgrade("upgraded");
        drop(tap);

        let mut seen = Vec::new();
        while let Some(entry) = rx.recv().await {
            seen.push(entry);
        }
        let kinds: Vec<String> = seen
            .iter()
            .map(|entry| match &entry.kind {
                EntryKind::Wire {
                    event: WireEvent::Head(head),
                    ..
                } => head.start_line().to_owned(),
                EntryKind::Wire {
                    event: WireEvent::Frame(frame),
                    ..
                } => frame.opcode.to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "GET / HTTP/1.1",
                "HTTP/1.1 101 Switching Protocols",
                "Note(\"upgraded\")",
                "Ping"
            ]
        );
        assert!(seen.windows(2).all(|w| w[0].at <= w[1].at), "{seen:?}");
    }

    #[tokio::test]
    async fn an_accepted_connection_reads_requests_and_writes_responses() {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let (transcript, mut rx) = Transcript::new();
        let mut tap = tap_accepted(ours, transcript);
        let mut request = b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n".to_vec();
        request.extend(wspp::frame::encode(true, 0x1, Some([1, 2, 3, 4]), b"hi"));
        theirs.write_all(&request).await.expect("write the request");
        let mut buf = [0u8; 1024];
        let n = tap.read(&mut buf).await.expect("read the request");
        assert_eq!(n, request.len());
        tap.write_all(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
            .await
            .expect("write the 101");
        tap.write_all(&wspp::frame::encode(true, 0x1, None, b"ho"))
            .await
            .expect("write a frame");
        drop(tap);

        let mut seen = Vec::new();
        while let Some(entry) = rx.recv().await {
            if let EntryKind::Wire { direction, event } = entry.kind {
                seen.push((direction, event));
            }
        }
        assert!(
            matches!(&seen[0], (Direction::Incoming, WireEvent::Head(h)) if h.start_line() == "GET /chat HTTP/1.1"),
            "{seen:?}"
        );
        // The client's frame read with the request is shown when we next write.
        assert!(
            matches!(&seen[1], (Direction::Incoming, WireEvent::Frame(f)) if f.masked && f.preview == b"hi"),
            "{seen:?}"
        );
        assert!(
            matches!(&seen[2], (Direction::Outgoing, WireEvent::Head(h)) if h.status == Some(101)),
            "{seen:?}"
        );
        assert!(
            matches!(&seen[3], (Direction::Outgoing, WireEvent::Frame(f)) if !f.masked && f.preview == b"ho"),
            "{seen:?}"
        );
    }
}
