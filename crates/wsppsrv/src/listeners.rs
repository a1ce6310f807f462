//! What the server listens on: a plain listener, a TLS one, or both side by side.
//!
//! One accept loop serves both, so the connection limit, the client ids and the
//! accept back-off are shared: a client is a client whichever port it came in on.
//! Accepting only hands over the TCP stream and, for the TLS listener, the settings
//! to shake hands with; the handshake itself belongs to the connection's task.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};

use crate::tls::TlsListener;

/// The listeners [`crate::run_with`] serves on; at least one must be set.
#[derive(Debug, Default)]
pub struct Listeners {
    /// `http://` and `ws://`.
    pub plain: Option<TcpListener>,
    /// `https://` and `wss://`.
    pub tls: Option<TlsListener>,
    /// `/metrics` alone, apart from the public port; when set, the other listeners
    /// answer `/metrics` with 404.
    pub metrics: Option<TcpListener>,
}

/// One accepted connection, before any byte was read.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    /// Set when it came in on the TLS listener: the settings to shake hands with.
    pub(crate) tls: Option<Arc<ServerConfig>>,
}

impl Listeners {
    /// Plain HTTP and WebSocket on `listener`, no TLS.
    pub fn plain(listener: TcpListener) -> Self {
        Listeners {
            plain: Some(listener),
            ..Listeners::default()
        }
    }

    /// TLS only, on `listener`.
    pub fn tls(listener: TlsListener) -> Self {
        Listeners {
            tls: Some(listener),
            ..Listeners::default()
        }
    }

    /// These listeners, and TLS on `listener` as well.
    pub fn with_tls(self, listener: TlsListener) -> Self {
        Listeners {
            tls: Some(listener),
            ..self
        }
    }

    /// These listeners, and `/metrics` on `listener` instead of on them.
    pub fn with_metrics(self, listener: TcpListener) -> Self {
        Listeners {
            metrics: Some(listener),
            ..self
        }
    }

    /// The next connection on either listener. Cancel-safe, as `TcpListener::accept`.
    pub(crate) async fn accept(&self) -> io::Result<Accepted> {
        let tls = self.tls.as_ref();
        tokio::select! {
            accepted = accept_on(self.plain.as_ref()) => accepted.map(|(stream, peer)| Accepted {
                stream,
                peer,
                tls: None,
            }),
            accepted = accept_on(tls.map(|t| &t.listener)) => accepted.map(|(stream, peer)| Accepted {
                stream,
                peer,
                tls: tls.map(|t| Arc::clone(&t.config)),
            }),
        }
    }
}

/// Accepts on `listener`; never resolves without one.
async fn accept_on(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}
