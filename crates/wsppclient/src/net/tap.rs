//! A wiretap on a connection: every byte read or written also goes through a
//! [`WireParser`], and what it recognises goes to the [`Transcript`].
//!
//! hyper and tungstenite read and write through this wrapper without knowing it, so
//! the transcript shows the bytes they really exchanged (heads, frames, bits) rather
//! than their parsed view. Only bytes the inner stream accepted are parsed: a write
//! that took 10 of 20 bytes feeds 10. The menu requests use it; `ping` does not,
//! because its hot path must add nothing to the measured RTT.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::watch::transcript::Transcript;
use crate::watch::wire::{Direction, WireParser};

/// A stream whose traffic is parsed into a transcript.
#[derive(Debug)]
pub struct Tap<S> {
    inner: S,
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

/// How many of the first bytes read a [`Tap`] keeps.
pub const FIRST_BYTES: usize = 64;

impl<S> Tap<S> {
    /// Wraps `inner`; both directions start with an HTTP head.
    pub fn new(inner: S, transcript: Transcript) -> Self {
        Tap {
            inner,
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

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let asked = buf.remaining() > 0;
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let new = &buf.filled()[before..];
        this.received += new.len() as u64;
        let room = FIRST_BYTES.saturating_sub(this.first_received.len());
        this.first_received
            .extend_from_slice(&new[..room.min(new.len())]);
        let events = if new.is_empty() && asked {
            if std::mem::replace(&mut this.read_closed, true) {
                Vec::new()
            } else {
                this.incoming.finish()
            }
        } else {
            this.incoming.feed(new)
        };
        for event in events {
            this.transcript.wire(Direction::Incoming, event);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        for event in this.outgoing.feed(&buf[..n]) {
            this.transcript.wire(Direction::Outgoing, event);
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
        for event in this.outgoing.finish() {
            this.transcript.wire(Direction::Outgoing, event);
        }
        Poll::Ready(Ok(()))
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
        let mut tap = Tap::new(client, transcript);
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
