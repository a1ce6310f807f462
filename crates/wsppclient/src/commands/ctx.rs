//! What every request of [`super`] borrows while it runs ([`Ctx`]), and the notes
//! several of them write the same way.
//!
//! Below the request kinds (`http`, `broken`, `websocket`, `inspect`) and the entry
//! points in [`super`] that build it, so each kind imports it and none imports up.

use std::net::SocketAddr;
use std::sync::Mutex;

use crate::commands::ping;
use crate::error::Error;
use crate::net::connect::{self, Opened, Stream};
use crate::net::http2::{self, Carrier};
use crate::net::proxy::{ProxyInfo, ProxyKind};
use crate::net::settings::{ConnectSettings, Headers};
use crate::net::upgrade;
use crate::net::url::{Endpoint, WsUrl};
use crate::stop::Stop;
use crate::watch::tap::{self, Tap};
use crate::watch::transcript::{EntryKind, Transcript};
use crate::watch::wire::{Direction, Head, WireEvent};

/// What every request needs, borrowed for its duration.
pub(super) struct Ctx<'a> {
    pub(super) settings: &'a ConnectSettings,
    pub(super) transcript: &'a Transcript,
    pub(super) cancel: &'a Stop,
    /// Our ends of the request's connections, once open (their ports are the Wireshark
    /// filter): one, or each of `hold --reconnect`'s. A mutex rather than a `Cell` so
    /// that `Ctx` is `Sync` and the request's future `Send`: the terminal UI runs
    /// requests on spawned tasks. Never held across `.await`.
    pub(super) local: Mutex<Ports>,
}

/// How many ports the Wireshark filter names at most: a `hold --reconnect` left to run
/// for days reconnects without end, and a filter is read and pasted by a person.
const MAX_PORTS: usize = 16;

/// The local ports a request's connections used, in order, the last [`MAX_PORTS`] of
/// them kept.
#[derive(Debug, Default)]
pub(super) struct Ports {
    recent: std::collections::VecDeque<u16>,
    /// Every distinct port added, kept or not.
    added: u64,
}

impl Ports {
    fn add(&mut self, port: u16) {
        if self.recent.contains(&port) {
            return;
        }
        if self.recent.len() == MAX_PORTS {
            self.recent.pop_front();
        }
        self.recent.push_back(port);
        self.added += 1;
    }

    /// `tcp.port == 5000`, or `tcp.port in {5000 5001}` after reconnections.
    pub(super) fn filter(&self) -> Option<String> {
        match self.recent.len() {
            0 => None,
            1 => Some(format!("tcp.port == {}", self.recent[0])),
            _ => {
                let list: Vec<String> = self.recent.iter().map(u16::to_string).collect();
                Some(format!("tcp.port in {{{}}}", list.join(" ")))
            }
        }
    }

    /// Ports used but no longer in [`Ports::filter`].
    pub(super) fn left_out(&self) -> u64 {
        self.added - self.recent.len() as u64
    }
}

impl Ctx<'_> {
    /// Opens a tapped connection to `endpoint` and notes both ends (and, over TLS, what
    /// the handshake negotiated).
    pub(super) async fn connect(&self, endpoint: &Endpoint) -> Result<Tap<Carrier>, Error> {
        let stream = self.open(endpoint).await?;
        Ok(tap::tap(Carrier::Left(stream), self.transcript.clone()))
    }

    /// Opens an HTTP/2 connection for `url` and a WebSocket stream on it by extended
    /// CONNECT (`--http2`), noting the server's SETTINGS, the CONNECT's pseudo-headers
    /// and the 200; returns the stream, tapped from its first frame. The HTTP/2 frames
    /// themselves are binary and not followed: a capture shows them.
    pub(super) async fn connect_http2(&self, url: &WsUrl) -> Result<Tap<Carrier>, Error> {
        let stream = self.open(&url.endpoint()).await?;
        let offer = &self.settings.headers;
        let (stream, h2) = http2::upgrade(stream, offer, self.settings.dial.timeout, url).await?;
        let settings: Vec<String> = h2
            .settings
            .iter()
            .map(|&(id, value)| match wspp::h2_settings::setting_name(id) {
                Some(name) => format!("{name}={value}"),
                None => format!("{id:#x}={value}"),
            })
            .collect();
        self.transcript
            .note(format!("← SETTINGS {}", settings.join(" ")));
        let scheme = if url.tls { "https" } else { "http" };
        let path = url.uri.path_and_query().map_or("/", |p| p.as_str());
        let authority = url.uri.authority().map_or("", |a| a.as_str());
        self.transcript.note(format!(
            "→ HEADERS :method CONNECT :protocol websocket :scheme {scheme} :authority {authority} :path {path} sec-websocket-version: 13"
        ));
        let chosen = h2
            .subprotocol
            .map(|s| format!(" sec-websocket-protocol: {s}"))
            .unwrap_or_default();
        self.transcript.note(format!(
            "← HEADERS :status 200{chosen}: the stream is the WebSocket's"
        ));
        Ok(tap::tap_frames(
            Carrier::Right(stream),
            self.transcript.clone(),
        ))
    }

    /// Opens a connection to `endpoint` and notes it. A proxy that refused the tunnel
    /// has its `CONNECT` and its answer shown before the error returns: what it said is
    /// the evidence, as a refused upgrade's is.
    async fn open(&self, endpoint: &Endpoint) -> Result<Stream, Error> {
        let (stream, opened) = match connect::open(&self.settings.dial, endpoint).await {
            Ok(opened) => opened,
            Err(err) => {
                if let Error::ProxyRefused {
                    proxy, exchange, ..
                } = &err
                    && !exchange.0.is_empty()
                {
                    self.transcript
                        .note(format!("http proxy {proxy}: the tunnel refused"));
                    for (direction, lines) in [
                        (Direction::Outgoing, &exchange.0),
                        (Direction::Incoming, &exchange.1),
                    ] {
                        self.transcript.wire(
                            direction,
                            WireEvent::Head(Head {
                                lines: lines.clone(),
                                status: None,
                            }),
                        );
                    }
                }
                return Err(err);
            }
        };
        self.opened(&opened);
        Ok(stream)
    }

    /// Notes both ends of a connection just opened (and, over TLS, what the handshake
    /// negotiated).
    fn opened(&self, opened: &Opened) {
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
        self.ports().add(local.port());
    }

    /// The Wireshark filter of every connection the request opened, and how many
    /// ports it leaves out (see [`MAX_PORTS`]).
    pub(super) fn filter(&self) -> Option<(String, u64)> {
        let ports = self.ports();
        ports.filter().map(|filter| (filter, ports.left_out()))
    }

    fn ports(&self) -> std::sync::MutexGuard<'_, Ports> {
        // A poisoned lock only means another thread panicked while adding a port: the
        // list is still whole, so use it.
        self.local.lock().unwrap_or_else(|e| e.into_inner())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_covers_every_port_used_up_to_a_bound() {
        let mut ports = Ports::default();
        assert_eq!(ports.filter(), None);
        ports.add(5000);
        ports.add(5000);
        assert_eq!(ports.filter().as_deref(), Some("tcp.port == 5000"));
        ports.add(5001);
        assert_eq!(ports.filter().as_deref(), Some("tcp.port in {5000 5001}"));
        assert_eq!(ports.left_out(), 0);
        for port in 6000..6100 {
            ports.add(port);
        }
        let filter = ports.filter().expect("a filter");
        assert_eq!(filter.split(' ').count() - 2, MAX_PORTS, "{filter}");
        assert!(filter.ends_with(" 6099}"), "{filter}");
        assert_eq!(ports.left_out(), 102 - MAX_PORTS as u64);
    }
}
