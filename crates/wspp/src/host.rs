//! The `Host` header of an HTTP/1.1 request, checked as RFC 9112 §3.2 asks of a
//! server: a request without one, with more than one, or with one whose value is not
//! `uri-host [ ":" port ]` gets 400 Bad Request.
//!
//! Both programs that accept connections use it: wsppsrv on every route, and the
//! client's `listen`. It reads only the header map, so it runs before anything else
//! looks at the request.

use std::fmt;
use std::net::Ipv6Addr;

use tokio_tungstenite::tungstenite::http::HeaderMap;
use tokio_tungstenite::tungstenite::http::header::HOST;

/// What is wrong with a request's `Host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostProblem {
    /// There is none.
    Missing,
    /// There are this many.
    Repeated(usize),
    /// Its value is not a host and an optional port; the value as received, escaped.
    Invalid(String),
}

impl fmt::Display for HostProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostProblem::Missing => f.write_str("no Host header"),
            HostProblem::Repeated(n) => write!(f, "{n} Host headers, where one is allowed"),
            HostProblem::Invalid(value) => write!(f, "Host {value} is not HOST[:PORT]"),
        }
    }
}

/// Checks the one `Host` a request must carry.
pub fn check(headers: &HeaderMap) -> Result<(), HostProblem> {
    let mut values = headers.get_all(HOST).iter();
    let Some(value) = values.next() else {
        return Err(HostProblem::Missing);
    };
    let more = values.count();
    if more > 0 {
        return Err(HostProblem::Repeated(more + 1));
    }
    if valid(value.as_bytes()) {
        Ok(())
    } else {
        Err(HostProblem::Invalid(
            String::from_utf8_lossy(value.as_bytes())
                .escape_debug()
                .to_string(),
        ))
    }
}

/// `uri-host [ ":" port ]` (RFC 3986 §3.2.2, §3.2.3). An empty value is allowed: it
/// is what a client sends for a target without an authority.
fn valid(value: &[u8]) -> bool {
    let (host, port) = match value.strip_prefix(b"[") {
        Some(rest) => match rest.iter().position(|&b| b == b']') {
            Some(end) => {
                let literal = &rest[..end];
                if !ip_literal(literal) {
                    return false;
                }
                match &rest[end + 1..] {
                    [] => return true,
                    [b':', port @ ..] => (None, port),
                    _ => return false,
                }
            }
            None => return false,
        },
        None => match value.iter().rposition(|&b| b == b':') {
            Some(colon) => (Some(&value[..colon]), &value[colon + 1..]),
            None => (Some(value), &[][..]),
        },
    };
    host.is_none_or(reg_name) && port.iter().all(u8::is_ascii_digit)
}

/// An IPv6 address, or RFC 3986's `IPvFuture` (`v` HEXDIG `.` then more).
fn ip_literal(literal: &[u8]) -> bool {
    if let Some(future) = literal.strip_prefix(b"v").or(literal.strip_prefix(b"V")) {
        let Some(dot) = future.iter().position(|&b| b == b'.') else {
            return false;
        };
        let (version, rest) = (&future[..dot], &future[dot + 1..]);
        return !version.is_empty()
            && version.iter().all(u8::is_ascii_hexdigit)
            && !rest.is_empty()
            && rest
                .iter()
                .all(|&b| unreserved(b) || sub_delim(b) || b == b':');
    }
    std::str::from_utf8(literal).is_ok_and(|s| s.parse::<Ipv6Addr>().is_ok())
}

/// A registered name or an IPv4 address (which is one too, character-wise):
/// unreserved characters, sub-delimiters and `%HH` escapes.
fn reg_name(host: &[u8]) -> bool {
    let mut i = 0;
    while i < host.len() {
        match host[i] {
            b'%' => {
                let escaped = host.get(i + 1..i + 3);
                if !escaped.is_some_and(|hh| hh.iter().all(u8::is_ascii_hexdigit)) {
                    return false;
                }
                i += 3;
            }
            b if unreserved(b) || sub_delim(b) => i += 1,
            _ => return false,
        }
    }
    true
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::http::HeaderValue;

    fn headers(hosts: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for host in hosts {
            map.append(HOST, HeaderValue::from_bytes(host).expect("a header value"));
        }
        map
    }

    #[test]
    fn one_host_with_an_optional_port_passes() {
        for good in [
            &b"127.0.0.1:8080"[..],
            b"localhost",
            b"example.test:443",
            b"[::1]:9001",
            b"[::1]",
            b"[v1.fe80::a+en1]",
            b"xn--bcher-kva.example",
            b"a%20b",
            b"h:",
            b"",
        ] {
            assert_eq!(check(&headers(&[good])), Ok(()), "{good:?}");
        }
    }

    #[test]
    fn none_two_or_a_bad_one_is_refused() {
        assert_eq!(check(&headers(&[])), Err(HostProblem::Missing));
        assert_eq!(
            check(&headers(&[b"127.0.0.1:1", b"evil.example"])),
            Err(HostProblem::Repeated(2))
        );
        for bad in [
            &b"a b"[..],
            b"h:8o",
            b"[::1",
            b"[::1]x",
            b"[nonsense]",
            b"h/path",
            b"user@h",
            b"%zz",
            b"[v.x]",
        ] {
            assert!(
                matches!(check(&headers(&[bad])), Err(HostProblem::Invalid(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            HostProblem::Invalid("a b".into()).to_string(),
            "Host a b is not HOST[:PORT]"
        );
    }
}
