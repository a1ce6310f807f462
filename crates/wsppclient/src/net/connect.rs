//! Opening connections: TCP with `TCP_NODELAY` and a timeout, the proxy's tunnel, and
//! TLS over it for `wss://` (see [`super::tls`]); the WebSocket upgrade over what this
//! opens is [`super::upgrade`].
//!
//! Every request and `ping` start here, so they fail the same way: a refused or
//! silent server becomes [`Error::Connect`] or [`Error::ConnectTimeout`], a refused
//! TLS handshake [`Error::Tls`]. Nagle's algorithm is
//! off on every socket: it would hold a small frame back waiting for an ACK and add
//! that wait to every measured RTT.
//!
//! [`open`] times the TCP connect and the TLS handshake apart, so that `ping` can show
//! what TLS costs before the first Ping, without mixing it into the RTTs. Through a
//! proxy (see [`crate::net::proxy`]) the TCP connection goes to the proxy, the tunnel's
//! handshake is one more timed step, and TLS and the upgrade run inside the tunnel.
//!
//! The TCP socket under TLS and WebSocket is a [`StampedTcp`]: the kernel stamps what
//! it receives, so that an RTT can end when the Pong reached this machine rather than
//! when this program got round to reading it, over `ws://` and `wss://` alike.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use wspp::stream::{Layer, Layered, PlainOrTls};
use wspp::wire_clock::StampedTcp;

use super::proxy::{self, ProxyInfo, Route};
use super::resolve::resolve;
use super::settings::Dial;
use super::tls::{self, TlsInfo};
use super::url::Endpoint;
use crate::error::Error;

/// How long closing waits for the server's Close reply; closing is a courtesy, and
/// the summary should not wait on a server that never answers.
pub const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Opens a TCP connection to `addr` (`HOST:PORT`) with `TCP_NODELAY` set.
pub async fn tcp(addr: &str, timeout: Duration) -> Result<TcpStream, Error> {
    let resolved = resolve(addr, timeout).await?;
    tcp_to(addr, &resolved, None, timeout).await
}

/// Connects to the first of `resolved` that answers (the addresses of `addr`), with
/// `TCP_NODELAY` set, and receive stamps asked for before the connection exists (so
/// that the first Pong has one: see [`wspp::wire_clock::prepare`]). From `source`
/// when given (and of the same family as the address tried): a load generator spreads
/// its connections over several local addresses, each with its own ephemeral ports.
///
/// When every address fails, the error names each one with its own failure:
/// `localhost` is 127.0.0.1 and ::1, and a server listening on only one of them
/// refuses on the other, so the last failure alone could name the wrong one.
async fn tcp_to(
    addr: &str,
    resolved: &[SocketAddr],
    source: Option<IpAddr>,
    timeout: Duration,
) -> Result<TcpStream, Error> {
    let connect = async {
        let mut failures = Vec::new();
        for &to in resolved {
            let socket = if to.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            wspp::wire_clock::prepare(&socket);
            if let Some(ip) = source.filter(|ip| ip.is_ipv4() == to.is_ipv4()) {
                socket.bind(SocketAddr::new(ip, 0))?;
            }
            match socket.connect(to).await {
                Ok(stream) => return Ok(stream),
                Err(err) => failures.push((to, err)),
            }
        }
        Err(every_failure(failures))
    };
    let stream = tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| Error::ConnectTimeout {
            addr: addr.to_owned(),
            after: timeout,
        })?
        .map_err(|source| Error::Connect {
            addr: addr.to_owned(),
            source,
        })?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// One error for the failed connects to each address: the system's own when there was
/// one address, else `tried A (why), B (why)`, of the last one's kind.
fn every_failure(mut failures: Vec<(SocketAddr, io::Error)>) -> io::Error {
    if failures.len() <= 1 {
        return failures.pop().map_or_else(
            || io::Error::new(io::ErrorKind::NotFound, "no address"),
            |(_, err)| err,
        );
    }
    let kind = failures
        .last()
        .map_or(io::ErrorKind::Other, |(_, err)| err.kind());
    let tried: Vec<String> = failures
        .iter()
        .map(|(to, err)| format!("{to} ({err})"))
        .collect();
    io::Error::new(kind, format!("tried {}", tried.join(", ")))
}

/// A connection: plain TCP, or TLS over it. Reads and writes go to whichever it is
/// ([`wspp::stream`] forwards them), so hyper, tungstenite and the
/// [`crate::watch::tap::Tap`] need not know.
pub type Stream = PlainOrTls<StampedTcp, Layered<TlsStream<StampedTcp>, CloseNotifyOptional>>;

/// Reads a TLS server's hang-up without `close_notify` as an ordinary end.
///
/// Many servers hang up that way. HTTP (by its lengths) and WebSocket (by its Close
/// frames) know where they end on their own, and report a truncation themselves, so
/// the missing `close_notify` says nothing they need.
#[derive(Debug)]
pub struct CloseNotifyOptional;

impl Layer for CloseNotifyOptional {
    fn poll_read<S: AsyncRead + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match ready!(Pin::new(inner).poll_read(cx, buf)) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                tracing::debug!("the server closed tls without close_notify");
                Poll::Ready(Ok(()))
            }
            other => Poll::Ready(other),
        }
    }
}

/// How a connection was opened, and what each step took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Our address (its port isolates the connection in Wireshark).
    pub local: SocketAddr,
    /// The server's address.
    pub peer: SocketAddr,
    /// Looking the host name up (next to nothing for an IP address).
    pub resolve: Duration,
    /// From `connect()` to an established TCP connection, the name already resolved.
    pub tcp_connect: Duration,
    /// The proxy's handshake, when the connection goes through one.
    pub proxy: Option<ProxyInfo>,
    /// The TLS handshake, when there was one.
    pub tls: Option<TlsInfo>,
    /// Why the kernel will not stamp what this connection receives, if it will not.
    pub no_kernel_stamps: Option<String>,
}

/// Opens a connection to `endpoint`: the name lookup, TCP (`TCP_NODELAY`), the
/// proxy's tunnel when `dial.proxy` names one for it, then TLS if it asks for it,
/// each step timed apart and bounded by `dial.timeout`.
pub async fn open(dial: &Dial, endpoint: &Endpoint) -> Result<(Stream, Opened), Error> {
    open_from(dial, endpoint, None).await
}

/// [`open`] from the local address `source` (any port), when given.
pub async fn open_from(
    dial: &Dial,
    endpoint: &Endpoint,
    source: Option<IpAddr>,
) -> Result<(Stream, Opened), Error> {
    let route = dial.proxy.route(&endpoint.addr, endpoint.tls)?;
    let to = route
        .as_ref()
        .map_or(endpoint.addr.as_str(), |r| r.addr.as_str());
    let start = Instant::now();
    let resolved = resolve(to, dial.timeout)
        .await
        .map_err(|e| through(route.as_ref(), e))?;
    let resolve = start.elapsed();
    let start = Instant::now();
    let tcp = tcp_to(to, &resolved, source, dial.timeout)
        .await
        .map_err(|e| through(route.as_ref(), e))?;
    let tcp_connect = start.elapsed();
    let local = tcp.local_addr()?;
    let peer = tcp.peer_addr()?;
    let (tcp, proxy) = match &route {
        Some(route) => {
            let (tcp, info) = proxy::tunnel(tcp, route, &endpoint.addr, dial.timeout).await?;
            (tcp, Some(info))
        }
        None => (tcp, None),
    };
    let (tcp, no_kernel_stamps) = StampedTcp::wrap(tcp);
    let (stream, tls) = if endpoint.tls {
        let alpn = if dial.http2 {
            tls::ALPN_H2
        } else {
            tls::ALPN_HTTP_1_1
        };
        let (stream, info) =
            tls::handshake(tcp, &endpoint.addr, &dial.tls, alpn, dial.timeout).await?;
        (
            Stream::Tls(Box::new(Layered::new(stream, CloseNotifyOptional))),
            Some(info),
        )
    } else {
        (Stream::Plain(tcp), None)
    };
    let opened = Opened {
        local,
        peer,
        resolve,
        tcp_connect,
        proxy,
        tls,
        no_kernel_stamps,
    };
    Ok((stream, opened))
}

/// A failure to reach `route`'s proxy, said as such: "cannot connect to 127.0.0.1:9"
/// would read as if the server were down.
fn through(route: Option<&Route>, err: Error) -> Error {
    let Some(route) = route else {
        return err;
    };
    let source = match err {
        Error::Connect { source, .. } => source,
        Error::ConnectTimeout { after, .. } => io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {}", humantime::format_duration(after)),
        ),
        other => return other,
    };
    Error::ProxyUnreachable {
        proxy: route.addr.clone(),
        from: route.from.clone(),
        source,
    }
}

/// Ends the connection under a finished WebSocket: over TLS with `close_notify` first,
/// as TLS asks of each side before it closes (RFC 8446, 6.1) and as a decrypted capture
/// then shows; over TCP with a FIN. Bounded and quiet: the server may have gone
/// already, which at this point is no error.
pub async fn end_transport<S>(ws: &mut WebSocketStream<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let shutdown = tokio::io::AsyncWriteExt::shutdown(ws.get_mut());
    if let Ok(Err(error)) = tokio::time::timeout(CLOSE_WAIT, shutdown).await {
        tracing::debug!(%error, "the connection ended before our own end");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback address whose port is held bound but not listening: a connect there
    /// is refused. The socket is returned to keep the port.
    fn refusing() -> (TcpSocket, SocketAddr) {
        let socket = TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind");
        let addr = socket.local_addr().expect("bound address");
        (socket, addr)
    }

    #[tokio::test]
    async fn a_refusal_names_every_address_tried() {
        let ((_a, first), (_b, second)) = (refusing(), refusing());
        let err = tcp_to(
            "localhost:1",
            &[first, second],
            None,
            Duration::from_secs(5),
        )
        .await
        .expect_err("both refuse");
        let line = crate::error::one_line(&err);
        assert!(
            line.starts_with(&format!("cannot connect to localhost:1: tried {first} (")),
            "{line}"
        );
        assert!(line.contains(&format!("), {second} (")), "{line}");
        assert!(line.contains("refused"), "{line}");

        // One address: the system's words alone, as before.
        let err = tcp_to(&first.to_string(), &[first], None, Duration::from_secs(5))
            .await
            .expect_err("refused");
        let line = crate::error::one_line(&err);
        assert!(
            line.starts_with(&format!("cannot connect to {first}: Connection refused")),
            "{line}"
        );
    }
}
