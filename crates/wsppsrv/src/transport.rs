//! What hyper serves and a session then owns: a TCP connection whose reads the kernel
//! stamps ([`StampedTcp`]), in TLS or not.
//!
//! One concrete type for both listeners, so that after the upgrade a session can take
//! its connection back out of hyper ([`Transport::from_upgraded`]) and ask when its
//! Pings left and its Pongs arrived: the RTTs it records are then the network's, not
//! the network's plus this server's wake-up (see [`wspp::wire_clock`]).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::server::TlsStream;
use wspp::wire_clock::{StampedTcp, WireStamps};

/// An accepted connection, plain or TLS, over a stamped socket.
#[derive(Debug)]
pub(crate) enum Transport {
    /// `http://`, `ws://`.
    Plain(StampedTcp),
    /// `https://`, `wss://`. Boxed: a TLS session is large next to a socket.
    Tls(Box<TlsStream<StampedTcp>>),
}

impl Transport {
    /// The connection under an upgrade hyper has completed, with the bytes hyper had
    /// already read past the request (a client that did not wait for the 101).
    /// `None` if hyper served something else, which this server never asks it to.
    pub(crate) fn from_upgraded(upgraded: Upgraded) -> Option<Upgrade> {
        let parts = upgraded.downcast::<TokioIo<Transport>>().ok()?;
        Some(Upgrade {
            io: parts.io.into_inner(),
            // Boxed: nearly always empty, and kept for the session's whole life.
            // Copied: the buffer is a view of hyper's read buffer, which a long request
            // head made as large as that head, and a view holds all of it.
            early: (!parts.read_buf.is_empty())
                .then(|| Box::new(Bytes::copy_from_slice(&parts.read_buf))),
        })
    }
}

impl WireStamps for Transport {
    fn stamped(&self) -> &StampedTcp {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Transport::Plain(s) => s.is_write_vectored(),
            Transport::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A session's connection: the [`Transport`] hyper upgraded, and first the bytes hyper
/// read past the request, so that the layers above see the stream whole.
#[derive(Debug)]
pub(crate) struct Upgrade {
    io: Transport,
    early: Option<Box<Bytes>>,
}

impl WireStamps for Upgrade {
    fn stamped(&self) -> &StampedTcp {
        self.io.stamped()
    }
}

impl AsyncRead for Upgrade {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(early) = this.early.as_mut() {
            let n = early.len().min(buf.remaining());
            buf.put_slice(&early[..n]);
            early.advance(n);
            if early.is_empty() {
                this.early = None;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Upgrade {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
