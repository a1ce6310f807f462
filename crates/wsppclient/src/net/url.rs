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

/// What a URL to ping or inspect looks like, for the messages that refuse one.
const URL_SHAPE: &str = "ws://HOST[:PORT]/PATH or wss://HOST[:PORT]/PATH";

/// The port of `HOST:PORT`, as written, if there is one: what follows the last colon,
/// unless that colon is inside an `[IPv6]` host.
pub fn port_text(host_port: &str) -> Option<&str> {
    host_port
        .rsplit_once(':')
        .map(|(_, port)| port)
        .filter(|port| !port.contains(']'))
}

/// A port as the user wrote it, 1 to 65535: the one rule for URLs and `--server`.
pub fn port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(format!("port {text:?} is not a number from 1 to 65535")),
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
    /// Checks a URL given by the user. Every refusal says what a URL must look like,
    /// and a port that is not one is refused rather than replaced by the default.
    pub fn parse(url: &str) -> Result<WsUrl, Error> {
        let bad = |reason: &str| Error::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let shaped = |what: &str| bad(&format!("{what}; expected {URL_SHAPE}"));
        if !url.contains("://") {
            // `localhost:8080/pingpong`: what was meant is plain to see.
            return Err(if url.is_empty() || url.contains(char::is_whitespace) {
                shaped("not a URL")
            } else {
                bad(&format!("no scheme: write it like ws://{url}"))
            });
        }
        // `ws://` alone or `ws:///path`: `Uri` would only say "empty string".
        if url
            .split_once("://")
            .is_some_and(|(_, rest)| rest.is_empty() || rest.starts_with('/'))
        {
            return Err(shaped("no host"));
        }
        let uri = Uri::from_str(url).map_err(|e| shaped(&e.to_string()))?;
        let (tls, default_port) = match uri.scheme_str() {
            Some("ws") => (false, 80),
            Some("wss") => (true, 443),
            Some(_) | None => return Err(shaped("the scheme is not ws:// or wss://")),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| shaped("no host"))?;
        // The port as written: `Uri` reads one it cannot use (`:99999`, `:abc`) as none.
        let authority = uri.authority().map_or("", |a| a.as_str());
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
        let port = match port_text(host_port) {
            Some(text) => port(text).map_err(|e| bad(&e))?,
            None => default_port,
        };
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
        for bad in ["http://x/", "ws://", "not a url", "ws:///x", ""] {
            let err = WsUrl::parse(bad).expect_err(bad);
            assert!(matches!(err, Error::BadUrl { .. }), "{bad}: {err}");
            assert!(err.to_string().ends_with(URL_SHAPE), "{bad}: {err}");
        }
        let err = WsUrl::parse("ws://").expect_err("no host");
        assert!(
            err.to_string().contains(": no host; expected ws://"),
            "{err}"
        );
        let err = WsUrl::parse("x:1/p").expect_err("no scheme");
        assert!(
            err.to_string().ends_with("write it like ws://x:1/p"),
            "{err}"
        );
    }

    #[test]
    fn a_port_is_one_to_65535_and_never_replaced() {
        for bad in [
            "ws://h:99999/",
            "ws://h:65536/",
            "ws://h:0/",
            "wss://h:abc/",
            "ws://[::1]:70000/",
        ] {
            let err = WsUrl::parse(bad).expect_err(bad);
            assert!(err.to_string().contains("from 1 to 65535"), "{bad}: {err}");
        }
        assert_eq!(
            WsUrl::parse("ws://h:65535/").expect("valid").addr,
            "h:65535"
        );
        assert_eq!(WsUrl::parse("ws://u@h:1/").expect("valid").addr, "h:1");
        assert_eq!(
            WsUrl::parse("wss://[::1]/").expect("valid").addr,
            "[::1]:443"
        );
    }
}
