//! The deflate layer reading a peer's bytes: a server's layer (any agreement) or a
//! client's (the 101 head first), fed in pieces of any size. It may fail a read with
//! an error; it must never panic, loop or hand up more than it may.

#![no_main]

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncRead, ReadBuf};
use wspp::deflate::{Agreement, Deflate, negotiation};
use wspp::stream::Layered;

/// Gives its bytes `piece` at a time, then the end of the stream.
struct Pieces<'a> {
    bytes: &'a [u8],
    piece: usize,
}

impl AsyncRead for Pieces<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self.piece.min(self.bytes.len()).min(buf.remaining());
        buf.put_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Poll::Ready(Ok(()))
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, bytes)) = data.split_first() else {
        return;
    };
    let layer = if knobs & 1 == 0 {
        Deflate::new(Agreement {
            deflate_window_bits: 8 + (knobs >> 1 & 7),
            keep_inflate_context: knobs & 16 != 0,
        })
    } else {
        Deflate::client(vec![negotiation::CLIENT_OFFER.to_owned()])
    };
    let piece = 1 + usize::from(knobs >> 5) * 37;
    let mut layered = Layered::new(Pieces { bytes, piece }, layer);
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = [0u8; 512];
    // Inflation is bounded by what tungstenite would take; here, by a count of reads.
    for _ in 0..100_000 {
        let mut buf = ReadBuf::new(&mut out);
        match Pin::new(&mut layered).poll_read(&mut cx, &mut buf) {
            Poll::Ready(Ok(())) if buf.filled().is_empty() => return,
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(_)) => return,
            Poll::Pending => panic!("a reader that never waits made the layer wait"),
        }
    }
});
