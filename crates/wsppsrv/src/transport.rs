//! What hyper serves and a session then owns: a TCP connection whose reads the kernel
//! stamps ([`StampedTcp`]), in TLS or not.
//!
//! One concrete type for both listeners, so that after the upgrade a session can take
//! its connection back out of hyper (`upgraded`) and ask when its Pings left and its
//! Pongs arrived: the RTTs it records are then the network's, not the network's plus
//! this server's wake-up (see [`wspp::wire_clock`]). The forwarding of reads and writes
//! is [`wspp::stream`]'s.
//!
//! A WebSocket over HTTP/2 has no connection to take back: it is one stream of a
//! connection hyper goes on serving, and stays hyper's [`Upgraded`]. Its session runs on
//! that ([`SessionStream`] says which it has), on the user clock: the kernel stamps
//! the connection's segments, which carry every stream's frames, read by hyper's HTTP/2
//! layer and not by the session.

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use wspp::clients::HttpVersion;
use wspp::stream::{EarlyBytes, Layered, PlainOrTls};
use wspp::wire_clock::{StampedTcp, WireStamps};

/// An accepted connection, plain (`http://`, `ws://`) or TLS (`https://`, `wss://`),
/// over a stamped socket.
pub(crate) type Transport = PlainOrTls<StampedTcp, TlsStream<StampedTcp>>;

/// A session's connection: the [`Transport`] hyper upgraded, and first the bytes hyper
/// read past the request, so that the layers above see the stream whole.
pub(crate) type Upgrade = Layered<Transport, EarlyBytes>;

/// A session's stream: a whole connection after an HTTP/1.1 upgrade ([`Upgrade`]), or
/// an HTTP/2 stream (`TokioIo<Upgraded>`).
pub(crate) trait SessionStream:
    AsyncRead + AsyncWrite + Unpin + Send + Sized + 'static
{
    /// The socket whose stamps time this session's frames; `None` over HTTP/2.
    fn stamps(&self) -> Option<&StampedTcp>;

    /// Whether the session has the connection to itself, and ends it when it ends.
    const OWNS_CONNECTION: bool;

    /// The HTTP version a WebSocket on this kind of stream runs over.
    const HTTP_VERSION: HttpVersion;

    /// The stream under an upgrade hyper has completed; `None` if it is of the other
    /// kind, which the request's HTTP version rules out.
    fn from_upgraded(upgraded: Upgraded) -> Option<Self>;
}

impl SessionStream for Upgrade {
    fn stamps(&self) -> Option<&StampedTcp> {
        Some(self.stamped())
    }

    fn from_upgraded(upgraded: Upgraded) -> Option<Self> {
        self::upgraded(upgraded)
    }

    const OWNS_CONNECTION: bool = true;
    const HTTP_VERSION: HttpVersion = HttpVersion::Http11;
}

impl SessionStream for TokioIo<Upgraded> {
    fn stamps(&self) -> Option<&StampedTcp> {
        None
    }

    fn from_upgraded(upgraded: Upgraded) -> Option<Self> {
        Some(TokioIo::new(upgraded))
    }

    const OWNS_CONNECTION: bool = false;
    const HTTP_VERSION: HttpVersion = HttpVersion::Http2;
}

/// The connection under an upgrade hyper has completed, with the bytes hyper had
/// already read past the request (a client that did not wait for the 101).
/// `None` if hyper served something else: an HTTP/2 stream is not a connection.
fn upgraded(upgraded: Upgraded) -> Option<Upgrade> {
    let parts = upgraded.downcast::<TokioIo<Transport>>().ok()?;
    let early = EarlyBytes::new(&parts.read_buf);
    Some(Layered::new(parts.io.into_inner(), early))
}
