//! The tunnel through a proxy: hyper-util's HTTP `CONNECT` ([`Tunnel`]) or SOCKS5
//! handshake ([`SocksV5`]) over the TCP connection the caller opened and timed, with
//! the bytes of the handshake recorded (bounded) for the transcript and for an error
//! that names the proxy's answer.

use std::io;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::Uri;
use hyper_util::client::legacy::connect::proxy::{SocksV5, Tunnel};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;
use tower_service::Service;
use wspp::stream::{Layer, Layered};

use super::route::{ProxyKind, Route};
use crate::error::Error;
use crate::watch::wire::{Direction, Head, WireEvent, WireParser};

/// How many bytes of a proxy's handshake are kept for the transcript: a head.
const MAX_RECORDED: usize = crate::watch::wire::MAX_HEAD;

/// What the proxy's handshake was, and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyInfo {
    /// The kind of proxy.
    pub kind: ProxyKind,
    /// The proxy's URL, the password hidden.
    pub url: String,
    /// `--proxy`, or the environment variable it came from.
    pub from: String,
    /// `HOST:PORT` the tunnel leads to.
    pub target: String,
    /// From the first byte of the handshake to the open tunnel.
    pub handshake: Duration,
    /// What was sent, as lines: the `CONNECT` head (credentials hidden), or the SOCKS5
    /// request in words.
    pub request: Vec<String>,
    /// What the proxy answered, as lines: its response head, or the SOCKS5 reply.
    pub response: Vec<String>,
}

impl ProxyInfo {
    /// `http proxy http://127.0.0.1:3128 (--proxy): CONNECT 127.0.0.1:8080 → 200
    /// Connection established`.
    pub fn summary(&self) -> String {
        let answer = self
            .response
            .first()
            .map(|line| status_of(line))
            .unwrap_or_default();
        format!(
            "{} proxy {} ({}): CONNECT {} → {answer}",
            self.kind.scheme(),
            self.url,
            self.from,
            self.target
        )
    }
}

/// Opens the tunnel to `target` (`HOST:PORT`) over `tcp`, a fresh connection to the
/// proxy of `route`, within `limit`. Returns the same socket, now a tunnel.
pub async fn tunnel(
    tcp: TcpStream,
    route: &Route,
    target: &str,
    limit: Duration,
) -> Result<(TcpStream, ProxyInfo), Error> {
    let record = Arc::new(Mutex::new(Exchange::default()));
    let io = TokioIo::new(Layered::new(
        tcp,
        Recorder {
            record: Arc::clone(&record),
        },
    ));
    let start = Instant::now();
    let opening = async {
        match route.kind {
            ProxyKind::Http => {
                let mut tunnel = Tunnel::new(route.uri.clone(), Handover(Some(io)));
                if let Some(auth) = &route.basic {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                let dst = destination(target)?;
                drive(&mut tunnel, dst)
                    .await
                    .map_err(|e| http_failure(route, target, &record, &e))
            }
            ProxyKind::Socks5 { remote_dns } => {
                let mut socks = SocksV5::new(route.uri.clone(), Handover(Some(io)));
                if let Some((user, pass)) = &route.login {
                    socks = socks.with_auth(user.clone(), pass.clone());
                }
                // socks5:// resolves here, asynchronously (hyper-util's own local
                // resolution would block the runtime); socks5h:// leaves it to the proxy.
                let dst = if remote_dns {
                    destination(target)?
                } else {
                    let resolved = crate::net::resolve::resolve(target, limit).await?;
                    destination(&resolved[0].to_string())?
                };
                drive(&mut socks, dst)
                    .await
                    .map_err(|e| socks_failure(route, target, &e))
            }
        }
    };
    let io = match tokio::time::timeout(limit, opening).await {
        Ok(opened) => opened?,
        Err(_) => {
            return Err(Error::ProxyFailed {
                proxy: route.addr.clone(),
                target: target.to_owned(),
                reason: format!("no answer within {}", humantime::format_duration(limit)),
            });
        }
    };
    let handshake = start.elapsed();
    let tcp = io.into_inner().into_inner();
    let exchange = take(&record);
    let (request, response) = match route.kind {
        ProxyKind::Http => (
            hide_credentials(head_lines(Direction::Outgoing, &exchange.sent)),
            head_lines(Direction::Incoming, &exchange.received),
        ),
        ProxyKind::Socks5 { .. } => (
            vec![format!(
                "socks5 CONNECT {target} ({}, {} bytes)",
                if route.login.is_some() {
                    "user/password"
                } else {
                    "no authentication"
                },
                exchange.sent.len()
            )],
            vec![format!(
                "socks5 reply: succeeded ({} bytes)",
                exchange.received.len()
            )],
        ),
    };
    let info = ProxyInfo {
        kind: route.kind,
        url: route.shown.clone(),
        from: route.from.clone(),
        target: target.to_owned(),
        handshake,
        request,
        response,
    };
    Ok((tcp, info))
}

/// `http://HOST:PORT/`: how hyper-util's connectors take a destination.
fn destination(target: &str) -> Result<Uri, Error> {
    Uri::from_str(&format!("http://{target}/")).map_err(|e| Error::BadUrl {
        url: target.to_owned(),
        reason: e.to_string(),
    })
}

/// Runs a tower connector once: ready, then called.
async fn drive<S>(service: &mut S, dst: Uri) -> Result<S::Response, S::Error>
where
    S: Service<Uri>,
{
    std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
    service.call(dst).await
}

/// Why an HTTP `CONNECT` failed, from what the proxy answered: hyper-util only says
/// "unsuccessful", the recording has its status line.
fn http_failure(
    route: &Route,
    target: &str,
    record: &Mutex<Exchange>,
    err: &(dyn std::error::Error + 'static),
) -> Error {
    let exchange = take(record);
    let head = first_head(Direction::Incoming, &exchange.received);
    if let Some(head) = head.filter(|h| h.status.is_some()) {
        let status = head.status.unwrap_or_default();
        let hint = match status {
            401 | 407 if route.has_credentials() => "; it did not accept the credentials given",
            407 => "; give the credentials in the proxy URL: http://USER:PASSWORD@HOST:PORT",
            _ => "",
        };
        return Error::ProxyRefused {
            proxy: route.addr.clone(),
            target: target.to_owned(),
            answer: status_of(head.start_line()),
            hint,
            exchange: Box::new((
                hide_credentials(head_lines(Direction::Outgoing, &exchange.sent)),
                head.lines,
            )),
        };
    }
    let reason = if !exchange.received.is_empty() {
        "its answer is not HTTP (a SOCKS proxy? then use socks5://)".to_owned()
    } else {
        match io_cause(err) {
            Some(io) => format!("the connection broke: {io}"),
            None => "it closed the connection without answering CONNECT".to_owned(),
        }
    };
    Error::ProxyFailed {
        proxy: route.addr.clone(),
        target: target.to_owned(),
        reason,
    }
}

/// The I/O error somewhere in `err`'s chain.
fn io_cause<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a io::Error> {
    let mut next = Some(err);
    while let Some(cause) = next {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return Some(io);
        }
        next = cause.source();
    }
    None
}

/// Why a SOCKS5 handshake failed: the proxy's reply in words (hyper-util's, without
/// its `SOCKS error: ` prefix), or the broken connection.
fn socks_failure(route: &Route, target: &str, err: &(dyn std::error::Error + 'static)) -> Error {
    let proxy = route.addr.clone();
    let target = target.to_owned();
    if let Some(io) = io_cause(err) {
        return Error::ProxyFailed {
            proxy,
            target,
            reason: format!("the connection broke: {io}"),
        };
    }
    let text = err.to_string();
    let answer = text
        .strip_prefix("SOCKS error: ")
        .unwrap_or(&text)
        .to_owned();
    Error::ProxyRefused {
        proxy,
        target,
        answer,
        hint: "",
        exchange: Box::default(),
    }
}

/// `200 Connection established` from `HTTP/1.1 200 Connection established`.
fn status_of(line: &str) -> String {
    line.split_once(' ')
        .map_or(line, |(_, rest)| rest)
        .to_owned()
}

/// The lines of the first head in `bytes`, or what became of them.
fn head_lines(direction: Direction, bytes: &[u8]) -> Vec<String> {
    first_head(direction, bytes).map_or_else(Vec::new, |head| head.lines)
}

fn first_head(direction: Direction, bytes: &[u8]) -> Option<Head> {
    WireParser::new(direction)
        .feed(bytes)
        .into_iter()
        .find_map(|event| match event {
            WireEvent::Head(head) => Some(head),
            _ => None,
        })
}

/// The head with its `Proxy-Authorization` value hidden: a transcript gets pasted
/// into bug reports.
fn hide_credentials(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .map(|line| match line.split_once(':') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("proxy-authorization") => {
                let scheme = value.split_whitespace().next().unwrap_or("");
                format!("{name}: {scheme} (hidden)")
            }
            _ => line,
        })
        .collect()
}

/// The bytes of a proxy's handshake, each way.
#[derive(Debug, Default)]
struct Exchange {
    sent: Vec<u8>,
    received: Vec<u8>,
}

fn take(record: &Mutex<Exchange>) -> Exchange {
    std::mem::take(&mut *record.lock().unwrap_or_else(|e| e.into_inner()))
}

/// The socket's layer during the proxy's handshake: it keeps a copy of what crosses
/// it. Shared with the caller, because a connector that fails drops the socket with
/// the copy.
#[derive(Debug)]
struct Recorder {
    record: Arc<Mutex<Exchange>>,
}

impl Recorder {
    fn keep(&self, sent: bool, bytes: &[u8]) {
        let mut record = self.record.lock().unwrap_or_else(|e| e.into_inner());
        let side = if sent {
            &mut record.sent
        } else {
            &mut record.received
        };
        let room = MAX_RECORDED.saturating_sub(side.len());
        side.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

impl Layer for Recorder {
    fn poll_read<S: AsyncRead + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.keep(false, &buf.filled()[before..]);
        }
        polled
    }

    fn wrote(&mut self, written: &[u8]) {
        self.keep(true, written);
    }
}

/// The socket to the proxy, recorded.
type Recorded = Layered<TcpStream, Recorder>;

/// The connector under hyper-util's tunnels: it hands over the connection already
/// open to the proxy (opened by [`crate::net::connect`], which times it) instead of
/// dialing one.
#[derive(Debug)]
struct Handover(Option<TokioIo<Recorded>>);

impl Service<Uri> for Handover {
    type Response = TokioIo<Recorded>;
    type Error = io::Error;
    type Future = std::future::Ready<Result<Self::Response, io::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _proxy: Uri) -> Self::Future {
        std::future::ready(
            self.0
                .take()
                .ok_or_else(|| io::Error::other("the connection to the proxy was used already")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_the_transcript() {
        let lines = vec![
            "CONNECT h:1 HTTP/1.1".to_owned(),
            "Proxy-Authorization: Basic YWxpY2U6czNjcmV0".to_owned(),
        ];
        assert_eq!(
            hide_credentials(lines),
            [
                "CONNECT h:1 HTTP/1.1",
                "Proxy-Authorization: Basic (hidden)"
            ]
        );
    }
}
