//! What every request of [`super`] borrows while it runs ([`Ctx`]), and the notes
//! several of them write the same way.
//!
//! Below the request kinds (`http`, `broken`, `websocket`, `inspect`) and the entry
//! points in [`super`] that build it, so each kind imports it and none imports up.

use std::net::SocketAddr;
use std::sync::Mutex;

use crate::commands::ping;
use crate::error::Error;
use crate::net::connect::{self, Stream};
use crate::net::proxy::{ProxyInfo, ProxyKind};
use crate::net::settings::{ConnectSettings, Headers};
use crate::net::upgrade;
use crate::net::url::Endpoint;
use crate::stop::Stop;
use crate::watch::tap::{self, Tap};
use crate::watch::transcript::{EntryKind, Transcript};
use crate::watch::wire::{Direction, Head, WireEvent};

/// What every request needs, borrowed for its duration.
pub(super) struct Ctx<'a> {
    pub(super) settings: &'a ConnectSettings,
    pub(super) transcript: &'a Transcript,
    pub(super) cancel: &'a Stop,
    /// Our end of the request's connection, once open (its port is the Wireshark filter).
    /// A mutex rather than a `Cell` so that `Ctx` is `Sync` and the request's future
    /// `Send`: the terminal UI runs requests on spawned tasks. Never held across `.await`.
    pub(super) local: Mutex<Option<SocketAddr>>,
}

impl Ctx<'_> {
    /// Opens a tapped connection to `endpoint` and notes both ends (and, over TLS, what
    /// the handshake negotiated).
    pub(super) async fn connect(&self, endpoint: &Endpoint) -> Result<Tap<Stream>, Error> {
        let (stream, opened) = connect::open(&self.settings.dial, endpoint).await?;
        let (local, peer) = (opened.local, opened.peer);
        self.set_local(local);
        self.transcript.send(EntryKind::Connected { peer, local });
        if let Some(proxy) = &opened.proxy {
            self.proxy_exchange(proxy);
        }
        if let Some(tls) = &opened.tls {
            self.transcript.note(ping::output::tls_line(tls));
            if let Some(path) = &tls.key_log {
                self.transcript.note(format!(
                    "tls secrets appended to {} (Wireshark decrypts with it)",
                    path.display()
                ));
            }
        }
        Ok(tap::tap(stream, self.transcript.clone()))
    }

    /// The proxy's handshake as it went: the `CONNECT` and the proxy's answer as
    /// heads (recorded on the wire before the tap could see them), or the SOCKS5
    /// exchange in words, then how long the tunnel took to open.
    pub(super) fn proxy_exchange(&self, proxy: &ProxyInfo) {
        self.transcript.note(format!(
            "{} proxy {} (from {}): a tunnel to {}",
            proxy.kind.scheme(),
            proxy.url,
            proxy.from,
            proxy.target
        ));
        for (direction, lines) in [
            (Direction::Outgoing, &proxy.request),
            (Direction::Incoming, &proxy.response),
        ] {
            let event = match proxy.kind {
                ProxyKind::Http => WireEvent::Head(Head {
                    lines: lines.clone(),
                    status: None,
                }),
                ProxyKind::Socks5 { .. } => {
                    self.transcript
                        .note(format!("{} {}", direction.arrow(), lines.join(" ")));
                    continue;
                }
            };
            self.transcript.wire(direction, event);
        }
        self.transcript.note(format!(
            "tunnel open in {:.3} ms; what follows goes through it",
            proxy.handshake.as_secs_f64() * 1e3
        ));
    }

    pub(super) fn set_local(&self, local: SocketAddr) {
        // A poisoned lock only means another thread panicked mid-assignment of a
        // plain `Option`: the value is still whole, so use it.
        *self.local.lock().unwrap_or_else(|e| e.into_inner()) = Some(local);
    }

    pub(super) fn local(&self) -> Option<SocketAddr> {
        *self.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a request that has no clean way to stop, dropping it if cancelled.
    pub(super) async fn abandon_on_cancel(
        &self,
        request: impl Future<Output = Result<(), Error>>,
    ) -> Result<(), Error> {
        tokio::select! {
            result = request => result,
            () = self.cancel.cancelled() => Err(Error::Interrupted),
        }
    }
}

/// `upgraded to WebSocket (101 Switching Protocols, subprotocol chat)`: the server's
/// answer, and its choice of subprotocol when there was one to make.
pub(super) fn upgraded_note(
    offer: &Headers,
    response: &tokio_tungstenite::tungstenite::handshake::client::Response,
) -> String {
    let chosen = match upgrade::subprotocol(response) {
        Some(name) => format!(", subprotocol {name}"),
        None if offer.offered_subprotocols().is_empty() => String::new(),
        None => ", no subprotocol".to_owned(),
    };
    format!(
        "upgraded to WebSocket ({} {}{chosen})",
        response.status().as_u16(),
        response.status().canonical_reason().unwrap_or("")
    )
}
