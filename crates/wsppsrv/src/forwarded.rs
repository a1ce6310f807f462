//! Who a client is when it reached the server through a reverse proxy.
//!
//! Behind nginx or Caddy every TCP connection comes from the proxy, so the address the
//! page, `/clients.json` and the log show would be the proxy's for every client. The
//! proxy says whom it served in `Forwarded` (RFC 7239) or `X-Forwarded-For`, but anyone
//! can send those headers: they are read only from a peer the operator named with
//! `--trusted-proxy`, and then only as far as they can be trusted.
//!
//! Each proxy appends the address it received the request from, so the list reads left
//! to right from the first hop to the last. Walking it from the right, every address
//! in a trusted range is another proxy of ours; the first one that is not is the
//! client (anything to its left was written by the client itself, and may be forged).
//! When every entry is trusted, the left-most is the client. An entry that is no
//! address at all (`unknown`, an obfuscated `_name`) ends the walk without a client:
//! the proxy's own address is then all that is known.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use hyper::header::{HeaderMap, HeaderName};

/// A range of addresses, `ADDRESS/PREFIX` (a bare address is the one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in the range. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`,
    /// what a dual-stack listener sees) is taken as the IPv4 address it carries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

/// Whether the first `prefix` bits of `a` and `b` agree.
fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let (whole, rest) = (usize::from(prefix / 8), prefix % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[whole] & mask == b[whole] & mask
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let shape = || {
            format!(
                "{s:?} is not an address range: write it like 10.0.0.0/8, 127.0.0.1 or fd00::/8"
            )
        };
        let (address, prefix) = match s.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (s.trim(), None),
        };
        let network: IpAddr = address.parse().map_err(|_| shape())?;
        let most = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => most,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= most)
                .ok_or_else(shape)?,
        };
        Ok(Cidr {
            network: network.to_canonical(),
            prefix,
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// A client's address as a proxy reported it: the port only when the proxy gave one
/// (`X-Forwarded-For` never does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    /// The client's address.
    pub ip: IpAddr,
    /// Its port, when known.
    pub port: Option<u16>,
}

impl From<SocketAddr> for ClientAddr {
    fn from(addr: SocketAddr) -> Self {
        ClientAddr {
            ip: addr.ip(),
            port: Some(addr.port()),
        }
    }
}

impl fmt::Display for ClientAddr {
    /// As a [`SocketAddr`] shows itself with a port; the bare address without one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => SocketAddr::new(self.ip, port).fmt(f),
            None => self.ip.fmt(f),
        }
    }
}

/// Who is at the other end of a request: the client, and the proxy it came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The client: the TCP peer, or the address a trusted proxy named.
    pub client: ClientAddr,
    /// The trusted proxy's address, when the client is one it named.
    pub via: Option<SocketAddr>,
}

impl Peer {
    /// The peer of a request that came over a connection from `tcp` with `headers`.
    pub fn of(tcp: SocketAddr, headers: &HeaderMap, trusted: &[Cidr]) -> Peer {
        match client_behind(tcp, headers, trusted) {
            Some(client) => Peer {
                client,
                via: Some(tcp),
            },
            None => Peer {
                client: tcp.into(),
                via: None,
            },
        }
    }
}

/// The client behind `peer`: `None` unless `peer` is in one of the `trusted` ranges
/// and its forwarding headers name an address (see the module doc).
pub fn client_behind(
    peer: SocketAddr,
    headers: &HeaderMap,
    trusted: &[Cidr],
) -> Option<ClientAddr> {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|range| range.contains(ip));
    if !is_trusted(peer.ip()) {
        return None;
    }
    // `Forwarded` is the standard; a proxy that sends it is read from it alone.
    let forwarded = HeaderName::from_static("forwarded");
    let entries: Vec<Option<ClientAddr>> = if headers.contains_key(&forwarded) {
        list(headers, &forwarded).map(forwarded_for).collect()
    } else {
        let xff = HeaderName::from_static("x-forwarded-for");
        list(headers, &xff).map(|e| node(e.trim())).collect()
    };
    let mut left_most = None;
    for entry in entries.iter().rev() {
        let addr = (*entry)?;
        if !is_trusted(addr.ip) {
            return Some(addr);
        }
        left_most = Some(addr);
    }
    left_most
}

/// The comma-separated elements of every instance of a header, in order. A value that
/// is not text is no list at all.
fn list<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(split_outside_quotes)
}

/// Splits on commas that are not inside a quoted string.
fn split_outside_quotes(value: &str) -> Vec<&str> {
    let (mut parts, mut start, mut quoted) = (Vec::new(), 0, false);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

/// The `for=` of one `Forwarded` element (`for=192.0.2.60;proto=http`), the parameter
/// name without case; `None` when it has none or it names no address.
fn forwarded_for(element: &str) -> Option<ClientAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        node(value)
    })
}

/// RFC 7239's node: `192.0.2.43`, `192.0.2.43:47011`, `[2001:db8::17]` or
/// `[2001:db8::17]:4711`; also the bare IPv6 address `X-Forwarded-For` carries.
fn node(text: &str) -> Option<ClientAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ClientAddr { ip, port: None });
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr.into());
    }
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    Some(ClientAddr {
        ip: inner.parse().ok()?,
        port: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|c| c.parse().expect("a CIDR")).collect()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    const PROXY: SocketAddr = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40000);

    fn client(
        peer: SocketAddr,
        pairs: &[(&'static str, &'static str)],
        trusted: &[&str],
    ) -> Option<String> {
        client_behind(peer, &headers(pairs), &cidrs(trusted)).map(|c| c.to_string())
    }

    #[test]
    fn ranges_parse_and_match() {
        let net: Cidr = "10.0.0.0/8".parse().expect("parses");
        assert!(net.contains("10.255.1.2".parse().expect("ip")));
        assert!(!net.contains("11.0.0.1".parse().expect("ip")));
        assert!(net.contains("::ffff:10.1.1.1".parse().expect("ip")));
        let one: Cidr = "127.0.0.1".parse().expect("parses");
        assert_eq!(one.to_string(), "127.0.0.1/32");
        let odd: Cidr = "192.168.0.0/23".parse().expect("parses");
        assert!(odd.contains("192.168.1.200".parse().expect("ip")));
        assert!(!odd.contains("192.168.2.1".parse().expect("ip")));
        let v6: Cidr = "fd00::/8".parse().expect("parses");
        assert!(v6.contains("fd12::1".parse().expect("ip")));
        assert!(!v6.contains("10.0.0.1".parse().expect("ip")));
        assert!(
            "::/0"
                .parse::<Cidr>()
                .expect("all")
                .contains("::1".parse().expect("ip"))
        );
        for bad in [
            "10.0.0.0/33",
            "nonsense",
            "10.0.0.0/",
            "::/129",
            "10.0.0.0/-1",
        ] {
            let error = bad.parse::<Cidr>().expect_err(bad);
            assert!(error.contains("write it like 10.0.0.0/8"), "{error}");
        }
    }

    #[test]
    fn the_right_most_untrusted_entry_is_the_client() {
        let xff = [
            ("x-forwarded-for", "1.1.1.1, 2.2.2.2"),
            ("x-forwarded-for", "10.0.0.5"),
        ];
        assert_eq!(
            client(PROXY, &xff, &["127.0.0.1", "10.0.0.0/8"]).as_deref(),
            Some("2.2.2.2")
        );
        // Every entry trusted: the first hop is the client.
        let inside = [("x-forwarded-for", "10.0.0.7, 10.0.0.5")];
        assert_eq!(
            client(PROXY, &inside, &["127.0.0.1", "10.0.0.0/8"]).as_deref(),
            Some("10.0.0.7")
        );
        // An IPv6 address in X-Forwarded-For, bare or bracketed.
        let v6 = [("x-forwarded-for", "2001:db8::1")];
        assert_eq!(
            client(PROXY, &v6, &["127.0.0.1"]).as_deref(),
            Some("2001:db8::1")
        );
    }

    #[test]
    fn forwarded_for_in_all_its_forms() {
        let trusted = ["127.0.0.1"];
        for (value, expected) in [
            ("for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
            (
                "For=\"[2001:db8:cafe::17]:4711\"",
                "[2001:db8:cafe::17]:4711",
            ),
            ("for=\"[2001:db8:cafe::17]\"", "2001:db8:cafe::17"),
            ("for=192.0.2.43, for=198.51.100.17", "198.51.100.17"),
            ("proto=https; for=\"192.0.2.43:47011\"", "192.0.2.43:47011"),
        ] {
            let pairs = [("forwarded", value)];
            let pairs: Vec<(&'static str, &'static str)> = pairs.to_vec();
            assert_eq!(
                client(PROXY, &pairs, &trusted).as_deref(),
                Some(expected),
                "{value}"
            );
        }
        // Forwarded wins over X-Forwarded-For when both came.
        let both = [
            ("forwarded", "for=192.0.2.1"),
            ("x-forwarded-for", "192.0.2.2"),
        ];
        assert_eq!(client(PROXY, &both, &trusted).as_deref(), Some("192.0.2.1"));
        // A hidden or unknown hop leaves only the proxy's address.
        for hidden in ["for=unknown", "for=_hidden", "proto=http"] {
            let pairs = [("forwarded", hidden)];
            let pairs: Vec<(&'static str, &'static str)> = pairs.to_vec();
            assert_eq!(client(PROXY, &pairs, &trusted), None, "{hidden}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_never_believed() {
        let forged = [
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
        ];
        assert_eq!(client(PROXY, &forged, &[]), None);
        assert_eq!(client(PROXY, &forged, &["10.0.0.0/8"]), None);
        assert_eq!(client(PROXY, &[], &["127.0.0.1"]), None);
    }
}
