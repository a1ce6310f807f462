//! The values the global options take, checked as they are parsed so that a typo is
//! a usage error (exit 2, clap's message) before anything connects: the server, a
//! subprotocol, a proxy, a header; and the counts subcommands take (`ping -c`,
//! `listen --close-after`).

use crate::net::proxy;
use crate::net::settings::Header;
use crate::net::url::{port, port_text};

/// `--server` as given: where, and whether its scheme asked for TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerArg {
    /// `HOST:PORT`.
    pub addr: String,
    /// `Some(true)` for `wss://` and `https://`, `Some(false)` for `ws://` and
    /// `http://`, `None` for a bare `HOST:PORT`.
    pub tls: Option<bool>,
}

/// `HOST:PORT`, or a URL with a scheme, a host, an optional port and no path:
/// `wss://localhost:8443`, `https://localhost:8443/`, `ws://127.0.0.1:8080`.
pub fn parse_server(s: &str) -> Result<ServerArg, String> {
    let Some((scheme, rest)) = s.split_once("://") else {
        if !is_host_port(s) {
            let port_problem = port_text(s)
                .and_then(|text| port(text).err())
                .map(|e| format!("{e}; "))
                .unwrap_or_default();
            return Err(format!(
                "{s:?} is not a server: {port_problem}give HOST:PORT (127.0.0.1:8080, \
                 [::1]:8080, localhost:8080) or a ws://, wss://, http:// or https:// URL \
                 without a path"
            ));
        }
        return Ok(ServerArg {
            addr: s.to_owned(),
            tls: None,
        });
    };
    let (tls, default_port) = match scheme.to_ascii_lowercase().as_str() {
        "ws" | "http" => (false, 80),
        "wss" | "https" => (true, 443),
        _ => {
            return Err(format!(
                "{scheme}:// is not a server scheme: use ws:// or wss://"
            ));
        }
    };
    let host_port = rest.strip_suffix('/').unwrap_or(rest);
    if host_port.is_empty() || host_port.contains(['/', '?', '#']) {
        return Err(
            "give the server as SCHEME://HOST:PORT without a path (ping takes a full URL)".into(),
        );
    }
    let addr = match port_text(host_port) {
        Some(text) => {
            port(text).map_err(|e| format!("{s:?} is not a server: {e}"))?;
            host_port.to_owned()
        }
        None => format!("{host_port}:{default_port}"),
    };
    if !is_host_port(&addr) {
        return Err(format!(
            "{s:?} is not a server URL: give SCHEME://HOST[:PORT], e.g. ws://127.0.0.1:8080"
        ));
    }
    Ok(ServerArg {
        addr,
        tls: Some(tls),
    })
}

/// `HOST:PORT` with a port from 1 to 65535 and a host without spaces; an IPv6 host in
/// brackets. The name itself is the resolver's to judge, when connecting.
fn is_host_port(s: &str) -> bool {
    let Some((host, digits)) = s.rsplit_once(':') else {
        return false;
    };
    let host_ok = match host.strip_prefix('[') {
        Some(v6) => v6
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok()),
        None => {
            !host.is_empty()
                && !host.contains([':', '/', '[', ']'])
                && !host.contains(char::is_whitespace)
        }
    };
    host_ok && port(digits).is_ok()
}

/// A subprotocol name: an HTTP token (RFC 6455, 4.1), since the header lists them
/// separated by commas.
pub(super) fn parse_subprotocol(s: &str) -> Result<String, String> {
    let is_token_char = |c: char| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c);
    if s.is_empty() || !s.chars().all(is_token_char) {
        return Err(format!(
            "{s:?} is not a subprotocol name (letters, digits and !#$%&'*+-.^_`|~ only)"
        ));
    }
    Ok(s.to_owned())
}

/// A proxy URL, checked now so that a typo is a usage error; `''` is no proxy.
pub(super) fn parse_proxy(s: &str) -> Result<String, String> {
    if !s.is_empty() {
        proxy::check(s)?;
    }
    Ok(s.to_owned())
}

/// `NO_PROXY` (or `no_proxy`): curl applies it to `--proxy` too.
pub(super) fn no_proxy_var() -> String {
    ["NO_PROXY", "no_proxy"]
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .unwrap_or_default()
}

pub(super) fn parse_header(s: &str) -> Result<Header, String> {
    s.parse().map_err(|e: crate::error::Error| e.to_string())
}

/// `-c`: a whole number from 1; `0` and `-1` are told so rather than read as
/// "unlimited" (which is no `-c` at all).
pub(super) fn parse_count(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(count) if count > 0 => Ok(count),
        _ => Err(format!("{s:?} is not a count: give a whole number from 1")),
    }
}
