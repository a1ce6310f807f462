//! A wiretap on a connection: every byte read or written also goes through a
//! [`WireParser`], and what it recognises goes to the [`Transcript`]. It is a
//! [`Layer`] over the connection, so `wspp::stream` does the forwarding and this only
//! watches.
//!
//! hyper and tungstenite read and write through this wrapper without knowing it, so
//! the transcript shows the bytes they really exchanged (heads, frames, bits) rather
//! than their parsed view. Only bytes the inner stream accepted are parsed: a write
//! that took 10 of 20 bytes feeds 10. The menu requests use it; `ping` does not,
//! because its hot path must add nothing to the measured RTT.

use std::io;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, ReadBuf};
use wspp::stream::{Layer, Layered};

use super::transcript::Transcript;
use super::wire::{Direction, WireParser};

/// A stream whose traffic is parsed into a transcript.
pub type Tap<S> = Layered<S, Wiretap>;

/// `inner`, tapped into `transcript`; both directions start with an HTTP head.
pub fn tap<S>(inner: S, transcript: Transcript) -> Tap<S> {
    Layered::new(inner, Wiretap::new(transcript))
}

/// `inner`, tapped into `transcript`, where both directions carry WebSocket frames
/// from the first byte (the stream an extended CONNECT opened over HTTP/2).
pub fn tap_frames<S>(inner: S, transcript: Transcript) -> Tap<S> {
    let mut wiretap = Wiretap::new(transcript);
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
}

/// How many of the first bytes read a [`Wiretap`] keeps.
pub const FIRST_BYTES: usize = 64;

impl Wiretap {
    fn new(transcript: Transcript) -> Self {
        Wiretap {
            outgoing: WireParser::new(Direction::Outgoing),
            incoming: WireParser::new(Direction::Incoming),
            transcript,
            read_closed: false,
            received: 0,
            first_received: Vec::new(),
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
        for event in events {
            self.transcript.wire(Direction::Incoming, event);
        }
        Poll::Ready(Ok(()))
    }

    fn wrote(&mut self, written: &[u8]) {
        for event in self.outgoing.feed(written) {
            self.transcript.wire(Direction::Outgoing, event);
        }
    }

    fn shut_down(&mut self) {
        for event in self.outgoing.finish() {
            self.transcript.wire(Direction::Outgoing, event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::transcript::EntryKind;
    use crate::watch::wire::WireEvent;
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
}
