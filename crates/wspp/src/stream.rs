//! Streams that pass reads and writes on to the stream inside them.
//!
//! Both programs wrap their sockets: a connection is plain TCP or TLS over it
//! ([`PlainOrTls`]), and some layers watch or bend what crosses a connection without
//! being a protocol of their own ([`Layered`]): the fail-fast UTF-8 check of both ends,
//! the bytes hyper read past an upgrade request, the record of a proxy's handshake,
//! a TLS peer that hangs up without `close_notify`. Each used to forward
//! `AsyncRead` and `AsyncWrite` by hand; here the forwarding is written once, and a
//! layer says only what it does differently ([`Layer`]).
//!
//! Both keep the kernel's timestamps reachable ([`WireStamps`]) through every layer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::wire_clock::{StampedTcp, WireStamps};

/// A connection in the clear or in TLS; reads and writes go to whichever it is.
#[derive(Debug)]
pub enum PlainOrTls<P, T> {
    /// `ws://`, `http://`.
    Plain(P),
    /// `wss://`, `https://`. Boxed: a TLS session is large next to a socket.
    Tls(Box<T>),
}

impl<P, T> AsyncRead for PlainOrTls<P, T>
where
    P: AsyncRead + Unpin,
    T: AsyncRead + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PlainOrTls::Plain(s) => Pin::new(s).poll_read(cx, buf),
            PlainOrTls::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<P, T> AsyncWrite for PlainOrTls<P, T>
where
    P: AsyncWrite + Unpin,
    T: AsyncWrite + Unpin,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PlainOrTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            PlainOrTls::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PlainOrTls::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            PlainOrTls::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            PlainOrTls::Plain(s) => s.is_write_vectored(),
            PlainOrTls::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PlainOrTls::Plain(s) => Pin::new(s).poll_flush(cx),
            PlainOrTls::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PlainOrTls::Plain(s) => Pin::new(s).poll_shutdown(cx),
            PlainOrTls::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl<P: WireStamps, T: WireStamps> WireStamps for PlainOrTls<P, T> {
    fn stamped(&self) -> &StampedTcp {
        match self {
            PlainOrTls::Plain(s) => s.stamped(),
            PlainOrTls::Tls(s) => s.stamped(),
        }
    }
}

impl<S: WireStamps> WireStamps for tokio_rustls::client::TlsStream<S> {
    fn stamped(&self) -> &StampedTcp {
        self.get_ref().0.stamped()
    }
}

impl<S: WireStamps> WireStamps for tokio_rustls::server::TlsStream<S> {
    fn stamped(&self) -> &StampedTcp {
        self.get_ref().0.stamped()
    }
}

/// What a [`Layered`] stream does differently from the stream inside it. Every
/// method has the plain behaviour as its default.
pub trait Layer {
    /// A read: by default straight from `inner`, its bytes then shown to [`Layer::read`].
    fn poll_read<S: AsyncRead + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(inner).poll_read(cx, buf))?;
        self.read(&buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }

    /// `read` is what a read by the default [`Layer::poll_read`] brought in (nothing at
    /// the end of the stream).
    fn read(&mut self, read: &[u8]) {
        let _ = read;
    }

    /// A write: by default straight to `inner`, and [`wrote`](Layer::wrote) hears what
    /// it took. A layer that rewrites what passes may hold bytes back, and then writes
    /// them out in [`poll_flush`](Layer::poll_flush).
    fn poll_write<S: AsyncWrite + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = ready!(Pin::new(inner).poll_write(cx, buf))?;
        self.wrote(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    /// A flush: by default straight to `inner`.
    fn poll_flush<S: AsyncWrite + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(inner).poll_flush(cx)
    }

    /// `written` is what the stream inside took of a write.
    fn wrote(&mut self, written: &[u8]) {
        let _ = written;
    }

    /// The stream inside has shut its writing side down.
    fn shut_down(&mut self) {}
}

/// A layer that may be absent: without it, everything passes as it is.
impl<L: Layer> Layer for Option<L> {
    fn poll_read<S: AsyncRead + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self {
            Some(layer) => layer.poll_read(inner, cx, buf),
            None => Pin::new(inner).poll_read(cx, buf),
        }
    }

    fn poll_write<S: AsyncWrite + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self {
            Some(layer) => layer.poll_write(inner, cx, buf),
            None => Pin::new(inner).poll_write(cx, buf),
        }
    }

    fn poll_flush<S: AsyncWrite + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        match self {
            Some(layer) => layer.poll_flush(inner, cx),
            None => Pin::new(inner).poll_flush(cx),
        }
    }

    fn wrote(&mut self, written: &[u8]) {
        if let Some(layer) = self {
            layer.wrote(written);
        }
    }

    fn shut_down(&mut self) {
        if let Some(layer) = self {
            layer.shut_down();
        }
    }
}

/// Bytes read past an upgrade request before the upgrade (a client that did not wait
/// for the 101: hyper read its first frames with the request), served before the
/// stream's own, so that the layers above see the stream whole.
#[derive(Debug)]
pub struct EarlyBytes(Option<Box<Early>>);

/// Boxed: nearly always empty, and kept for the session's whole life.
#[derive(Debug)]
struct Early {
    bytes: Box<[u8]>,
    served: usize,
}

impl EarlyBytes {
    /// A copy of `early` to serve first. Copied: hyper hands a view of its read
    /// buffer, which a long request head made as large as that head, and a view holds
    /// all of it.
    pub fn new(early: &[u8]) -> Self {
        EarlyBytes((!early.is_empty()).then(|| {
            Box::new(Early {
                bytes: early.into(),
                served: 0,
            })
        }))
    }
}

impl Layer for EarlyBytes {
    fn poll_read<S: AsyncRead + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(early) = self.0.as_mut() {
            let left = &early.bytes[early.served..];
            let n = left.len().min(buf.remaining());
            buf.put_slice(&left[..n]);
            early.served += n;
            if early.served == early.bytes.len() {
                self.0 = None;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(inner).poll_read(cx, buf)
    }
}

/// A stream with a [`Layer`] over it: writes, flushes and shutdowns go through to the
/// stream inside and the layer hears of them; reads are the layer's to make.
#[derive(Debug)]
pub struct Layered<S, L> {
    inner: S,
    layer: L,
    /// The last write took less than it was offered: see [`Layered::wrote_all`].
    short: bool,
}

impl<S, L> Layered<S, L> {
    /// `layer` over `inner`.
    pub fn new(inner: S, layer: L) -> Self {
        Layered {
            inner,
            layer,
            short: false,
        }
    }

    /// Whether the last write took all it was offered (so far, with none made). A
    /// writer above that offers whole frames and keeps what was not taken, as
    /// tungstenite does, is then between frames, and another writer may put a whole
    /// frame of its own in: the client writes its Pings that way.
    pub fn wrote_all(&self) -> bool {
        !self.short
    }

    /// The stream inside.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The stream inside, to change (a layer under another reaches the one above it).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The layer.
    pub fn layer(&self) -> &L {
        &self.layer
    }

    /// The layer, to act on it.
    pub fn layer_mut(&mut self) -> &mut L {
        &mut self.layer
    }

    /// The stream inside, the layer dropped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead + Unpin, L: Layer + Unpin> AsyncRead for Layered<S, L> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.layer.poll_read(&mut this.inner, cx, buf)
    }
}

impl<S: AsyncWrite + Unpin, L: Layer + Unpin> AsyncWrite for Layered<S, L> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(this.layer.poll_write(&mut this.inner, cx, buf))?;
        this.short = written < buf.len();
        Poll::Ready(Ok(written))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.layer.poll_flush(&mut this.inner, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // What the layer holds back goes out before the writing side closes.
        ready!(this.layer.poll_flush(&mut this.inner, cx))?;
        ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
        this.layer.shut_down();
        Poll::Ready(Ok(()))
    }
}

impl<S: WireStamps, L> WireStamps for Layered<S, L> {
    fn stamped(&self) -> &StampedTcp {
        self.inner.stamped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Keeps what was written, reads upper-cased, and notes the shutdown.
    #[derive(Debug, Default)]
    struct Loud {
        written: Vec<u8>,
        shut: bool,
    }

    impl Layer for Loud {
        fn poll_read<S: AsyncRead + Unpin>(
            &mut self,
            inner: &mut S,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let before = buf.filled().len();
            ready!(Pin::new(inner).poll_read(cx, buf))?;
            buf.filled_mut()[before..].make_ascii_uppercase();
            Poll::Ready(Ok(()))
        }

        fn wrote(&mut self, written: &[u8]) {
            self.written.extend_from_slice(written);
        }

        fn shut_down(&mut self) {
            self.shut = true;
        }
    }

    #[tokio::test]
    async fn a_layer_sees_what_crosses_and_the_rest_goes_through() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut layered = Layered::new(
            PlainOrTls::<_, tokio::io::DuplexStream>::Plain(near),
            Loud::default(),
        );
        layered.write_all(b"ping").await.expect("write");
        layered.shutdown().await.expect("shutdown");
        let mut got = Vec::new();
        far.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, b"ping");
        assert_eq!(
            (layered.layer().written.as_slice(), layered.layer().shut),
            (&b"ping"[..], true)
        );
        far.write_all(b"pong").await.expect("write");
        drop(far);
        let mut read = Vec::new();
        layered.read_to_end(&mut read).await.expect("read");
        assert_eq!(read, b"PONG");
    }

    #[tokio::test]
    async fn early_bytes_come_first_then_the_streams_own() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut layered = Layered::new(near, EarlyBytes::new(b"early "));
        far.write_all(b"late").await.expect("write");
        drop(far);
        // A small buffer: the early bytes are served across reads.
        let mut read = Vec::new();
        let mut chunk = [0u8; 4];
        loop {
            let n = layered.read(&mut chunk).await.expect("read");
            if n == 0 {
                break;
            }
            read.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(read, b"early late");
        assert!(
            EarlyBytes::new(b"").0.is_none(),
            "nothing early holds nothing"
        );
    }

    #[tokio::test]
    async fn a_write_cut_short_is_told_until_one_takes_all() {
        // Room for four bytes: a write of six takes four.
        let (near, mut far) = tokio::io::duplex(4);
        let mut layered = Layered::new(near, Loud::default());
        assert!(layered.wrote_all(), "nothing written, nothing left");
        let taken = layered.write(b"frame!").await.expect("write");
        assert_eq!((taken, layered.wrote_all()), (4, false));
        let mut got = [0u8; 4];
        far.read_exact(&mut got).await.expect("read");
        let taken = layered.write(b"e!").await.expect("write");
        assert_eq!((taken, layered.wrote_all()), (2, true));
    }
}
