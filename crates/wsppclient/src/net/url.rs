//! Where a connection goes: a checked `ws://` or `wss://` URL ([`WsUrl`]), and the
//! `HOST:PORT` plus TLS-or-not it comes down to ([`Endpoint`]).

use std::str::FromStr;

use hyper::Uri;

use super::settings::Server;
use crate::error::Error;

/// Where to connect: `HOST:PORT`, and whether TLS runs over the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `HOST:PORT`.
    pub addr: String,
    /// Whether to shake hands in TLS once connected.
    pub tls: bool,
}

impl Endpoint {
    /// The configured server (`--server`, `--tls`).
    pub fn server(server: &Server) -> Endpoint {
        Endpoint {
            addr: server.addr.clone(),
            tls: server.tls,
        }
    }
}

/// A `ws://` or `wss://` URL, checked and split into what connecting needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// The URL as it is shown to the user.
    pub text: String,
    /// `HOST:PORT` to open the TCP connection to (port 80, or 443 for `wss://`, when
    /// the URL has none).
    pub addr: String,
    /// Whether it is `wss://`.
    pub tls: bool,
    /// The parsed URL, for the upgrade request.
    pub uri: Uri,
}

impl WsUrl {
    /// Checks a URL given by the user.
    pub fn parse(url: &str) -> Result<WsUrl, Error> {
        let bad = |reason: &str| Error::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri = Uri::from_str(url).map_err(|e| bad(&e.to_string()))?;
        let (tls, default_port) = match uri.scheme_str() {
            Some("ws") => (false, 80),
            Some("wss") => (true, 443),
            Some(_) | None => return Err(bad("expected a ws:// or wss:// URL")),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?;
        let port = uri.port_u16().unwrap_or(default_port);
        Ok(WsUrl {
            text: url.to_owned(),
            addr: format!("{host}:{port}"),
            tls,
            uri,
        })
    }

    /// `ws://{server}{route}`, or `wss://` when the configured server speaks TLS.
    pub fn for_route(server: &Server, route: &str) -> Result<WsUrl, Error> {
        let scheme = if server.tls { "wss" } else { "ws" };
        WsUrl::parse(&format!("{scheme}://{}{route}", server.addr))
    }

    /// Where to connect for it.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            addr: self.addr.clone(),
            tls: self.tls,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_urls_are_split_for_connecting() {
        let url = WsUrl::parse("ws://127.0.0.1:8080/pingpong").expect("valid url");
        assert_eq!(url.addr, "127.0.0.1:8080");
        assert_eq!(url.uri.path(), "/pingpong");
        let no_port = WsUrl::parse("ws://example.test/x?y=1").expect("valid url");
        assert_eq!(no_port.addr, "example.test:80");
    }

    #[test]
    fn wss_urls_ask_for_tls_on_443() {
        let url = WsUrl::parse("wss://example.test/x").expect("valid url");
        assert_eq!(url.addr, "example.test:443");
        assert!(url.tls);
        let url = WsUrl::parse("wss://[::1]:8443/pingpong").expect("valid url");
        assert_eq!(url.endpoint().addr, "[::1]:8443");
        assert!(!WsUrl::parse("ws://h:1/").expect("valid url").tls);
    }

    #[test]
    fn routes_follow_the_servers_scheme() {
        let mut server = Server::plain("h:1");
        let url = WsUrl::for_route(&server, "/pingpong").expect("valid url");
        assert_eq!((url.text.as_str(), url.tls), ("ws://h:1/pingpong", false));
        server.tls = true;
        let url = WsUrl::for_route(&server, "/pingpong").expect("valid url");
        assert_eq!((url.text.as_str(), url.tls), ("wss://h:1/pingpong", true));
    }

    #[test]
    fn other_schemes_are_refused_clearly() {
        for bad in ["http://x/", "x:1", "ws://", "not a url"] {
            let err = WsUrl::parse(bad).expect_err(bad);
            assert!(matches!(err, Error::BadUrl { .. }), "{bad}: {err}");
        }
    }
}
