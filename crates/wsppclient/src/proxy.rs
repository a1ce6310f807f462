//! Proxies: which one a connection goes through, and the tunnel through it.
//!
//! Many networks reach the outside only through a proxy, so a WebSocket tool that
//! cannot use one cannot reach the servers people run. The rules are curl's, as
//! hyper-util's [`Matcher`] implements them: `--proxy URL` for every connection, or
//! else `HTTPS_PROXY`, `HTTP_PROXY` and `ALL_PROXY` (and their lowercase twins), with
//! `NO_PROXY` naming the hosts reached directly. A `ws://` URL is matched as `http://`
//! and a `wss://` URL as `https://`, since that is what each becomes on the wire.
//!
//! The tunnel is hyper-util's too: an HTTP `CONNECT` ([`Tunnel`]) or a SOCKS5 handshake
//! ([`SocksV5`]), run over the TCP connection the caller has already opened and timed,
//! so the proxy's handshake is a phase of its own. What comes out is the same plain
//! `TcpStream`: TLS and the upgrade then run inside the tunnel exactly as they would
//! without a proxy, and whatever wraps a socket (the tap, kernel timestamps) wraps it
//! the same way.
//!
//! The bytes of the proxy's handshake are recorded (bounded), because hyper-util
//! reports a refused `CONNECT` only as "unsuccessful": the recording gives the
//! transcript the exchange as it was on the wire, and the error the proxy's status.
//!
//! A proxy URL that cannot be used is refused when a connection would go through it,
//! naming where it came from, so a broken `ALL_PROXY` is one clear line rather than a
//! proxy silently skipped.

use std::io;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::Uri;
use hyper::header::HeaderValue;
use hyper_util::client::legacy::connect::proxy::{SocksV5, Tunnel};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tower_service::Service;

use crate::error::Error;
use crate::wire::{Direction, Head, WireEvent, WireParser};

/// The option that names a proxy on the command line, as messages name it.
pub const FLAG: &str = "--proxy";
/// The port of a proxy URL without one, as curl assumes.
const DEFAULT_PORT: u16 = 1080;
/// How many bytes of a proxy's handshake are kept for the transcript: a head.
const MAX_RECORDED: usize = crate::wire::MAX_HEAD;

/// The environment variables read, as hyper-util's matcher reads them: for each, the
/// first of the pair that is set.
const ENV_ALL: [&str; 2] = ["ALL_PROXY", "all_proxy"];
const ENV_HTTP: [&str; 2] = ["HTTP_PROXY", "http_proxy"];
const ENV_HTTPS: [&str; 2] = ["HTTPS_PROXY", "https_proxy"];
const ENV_NO: [&str; 2] = ["NO_PROXY", "no_proxy"];

/// Which proxy serves which connection; by default none.
#[derive(Debug, Clone, Default)]
pub struct Proxies {
    /// `None`: every connection is direct.
    rules: Option<Arc<Rules>>,
}

/// The proxies of `http://` (`ws://`) and `https://` (`wss://`) destinations.
#[derive(Debug)]
struct Rules {
    /// Only the URLs that passed [`check`]; it applies `NO_PROXY` and the scheme.
    matcher: Matcher,
    http: Option<Setting>,
    https: Option<Setting>,
}

/// One configured proxy URL and where it came from.
#[derive(Debug)]
struct Setting {
    /// `--proxy`, or the variable's name.
    from: String,
    /// The URL as given.
    url: String,
    /// Why it cannot be used, if it cannot.
    bad: Option<String>,
}

impl Setting {
    fn new(from: &str, url: &str) -> Setting {
        Setting {
            from: from.to_owned(),
            url: url.trim().to_owned(),
            bad: check(url).err(),
        }
    }
}

/// The kind of proxy, by its URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// `http://` (or no scheme): an HTTP `CONNECT` tunnel.
    Http,
    /// `socks5://`: this client resolves the name; `socks5h://`: the proxy does.
    Socks5 {
        /// Whether the proxy resolves the destination's name.
        remote_dns: bool,
    },
}

impl ProxyKind {
    /// `http`, `socks5`, `socks5h`.
    pub fn scheme(self) -> &'static str {
        match self {
            ProxyKind::Http => "http",
            ProxyKind::Socks5 { remote_dns: false } => "socks5",
            ProxyKind::Socks5 { remote_dns: true } => "socks5h",
        }
    }
}

/// The proxy one connection goes through.
#[derive(Debug, Clone)]
pub struct Route {
    /// Its kind.
    pub kind: ProxyKind,
    /// `HOST:PORT` to open the TCP connection to.
    pub addr: String,
    /// The URL as shown: the password, if any, hidden.
    pub shown: String,
    /// `--proxy`, or the environment variable it came from.
    pub from: String,
    /// The proxy's URI, as hyper-util's connectors take it.
    uri: Uri,
    /// `Proxy-Authorization` for an HTTP proxy given `user:pass@`.
    basic: Option<HeaderValue>,
    /// The user name and password for a SOCKS5 proxy given `user:pass@`.
    login: Option<(String, String)>,
}

impl Route {
    /// Whether credentials were given for the proxy.
    fn has_credentials(&self) -> bool {
        self.basic.is_some() || self.login.is_some()
    }
}

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

impl Proxies {
    /// No proxy at all: `--no-proxy`, `--proxy ''`, and every library caller that does
    /// not ask for one.
    pub fn direct() -> Proxies {
        Proxies::default()
    }

    /// `--proxy URL` for every connection, except to the hosts of `no_proxy` (the
    /// `NO_PROXY` list, as curl also applies it to its `--proxy`).
    pub fn given(url: &str, no_proxy: &str) -> Proxies {
        let good = if check(url).is_ok() { url.trim() } else { "" };
        Proxies::with(
            Matcher::builder()
                .all(good.to_owned())
                .no(no_proxy.to_owned()),
            Some(Setting::new(FLAG, url)),
            Some(Setting::new(FLAG, url)),
        )
    }

    /// The proxies the environment names: `HTTPS_PROXY` for `wss://`, `HTTP_PROXY` for
    /// `ws://`, `ALL_PROXY` for either when its own is not set, `NO_PROXY` to skip
    /// some hosts; each upper-case name first, then its lowercase twin.
    pub fn from_env() -> Proxies {
        Proxies::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Proxies::from_env`] over any source of variables (tests give a table).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Proxies {
        // The first of the pair that is set, as hyper-util reads them; empty is unset.
        let first = |names: [&'static str; 2]| {
            names
                .iter()
                .find_map(|name| var(name).map(|value| (*name, value)))
                .filter(|(_, value)| !value.trim().is_empty())
        };
        let all = first(ENV_ALL);
        let pick = |own: [&'static str; 2]| first(own).or_else(|| all.clone());
        let (http, https) = (pick(ENV_HTTP), pick(ENV_HTTPS));
        if http.is_none() && https.is_none() {
            return Proxies::direct();
        }
        let no = first(ENV_NO).map(|(_, v)| v).unwrap_or_default();
        let setting = |chosen: &Option<(&str, String)>| {
            chosen
                .as_ref()
                .map(|(name, value)| Setting::new(name, value))
        };
        let usable = |chosen: &Option<(&str, String)>| {
            chosen
                .as_ref()
                .filter(|(_, value)| check(value).is_ok())
                .map_or_else(String::new, |(_, value)| value.clone())
        };
        Proxies::with(
            Matcher::builder()
                .http(usable(&http))
                .https(usable(&https))
                .no(no),
            setting(&http),
            setting(&https),
        )
    }

    fn with(
        builder: hyper_util::client::proxy::matcher::Builder,
        http: Option<Setting>,
        https: Option<Setting>,
    ) -> Proxies {
        Proxies {
            rules: Some(Arc::new(Rules {
                matcher: builder.build(),
                http,
                https,
            })),
        }
    }

    /// Whether any proxy is configured at all.
    pub fn is_direct(&self) -> bool {
        self.rules.is_none()
    }

    /// The proxy for a connection to `addr` (`HOST:PORT`), `tls` for `wss://` and
    /// `https://`; `None` to connect directly. Fails if the proxy that applies is not
    /// a usable URL.
    pub fn route(&self, addr: &str, tls: bool) -> Result<Option<Route>, Error> {
        let Some(rules) = &self.rules else {
            return Ok(None);
        };
        let scheme = if tls { "https" } else { "http" };
        let setting = if tls { &rules.https } else { &rules.http };
        let Some(setting) = setting else {
            return Ok(None);
        };
        if let Some(reason) = &setting.bad {
            return Err(Error::BadProxy {
                url: setting.url.clone(),
                from: setting.from.clone(),
                reason: reason.clone(),
            });
        }
        let dst = Uri::from_str(&format!("{scheme}://{addr}/")).map_err(|e| Error::BadUrl {
            url: addr.to_owned(),
            reason: e.to_string(),
        })?;
        let Some(intercept) = rules.matcher.intercept(&dst) else {
            return Ok(None);
        };
        let uri = intercept.uri().clone();
        let kind = match uri.scheme_str() {
            Some("socks5") => ProxyKind::Socks5 { remote_dns: false },
            Some("socks5h") => ProxyKind::Socks5 { remote_dns: true },
            _ => ProxyKind::Http,
        };
        let host = uri.host().unwrap_or_default();
        let port = uri.port_u16().unwrap_or(DEFAULT_PORT);
        let login = intercept
            .raw_auth()
            .map(|(user, pass)| (user.to_owned(), pass.to_owned()));
        let basic = intercept.basic_auth().cloned();
        let credentials =
            user_in(&setting.url).map_or(String::new(), |user| format!("{user}:***@"));
        Ok(Some(Route {
            kind,
            addr: format!("{host}:{port}"),
            shown: format!("{}://{credentials}{host}:{port}", kind.scheme()),
            from: setting.from.clone(),
            uri,
            basic,
            login,
        }))
    }
}

/// The user name in a proxy URL's `user:pass@`, as given, to show it.
fn user_in(url: &str) -> Option<String> {
    let authority = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = authority.split('/').next().unwrap_or(authority);
    let (userinfo, _) = authority.rsplit_once('@')?;
    Some(userinfo.split(':').next().unwrap_or(userinfo).to_owned())
}

/// Whether `url` is a proxy URL this client can use; the reason if not.
pub fn check(url: &str) -> Result<(), String> {
    let url = url.trim();
    if url.is_empty() {
        return Err("empty".into());
    }
    let uri = Uri::from_str(url).map_err(|e| format!("not a URL ({e})"))?;
    match uri.scheme_str() {
        None | Some("http" | "socks5" | "socks5h") => {}
        Some("https") => {
            return Err(
                "https:// proxies (TLS to the proxy itself) are not supported: use http:// \
                 (wss:// still runs TLS end to end inside the tunnel) or socks5://"
                    .into(),
            );
        }
        Some(other) => {
            return Err(format!(
                "{other}:// proxies are not supported: use http://, socks5:// or socks5h://"
            ));
        }
    }
    let authority = uri.authority().ok_or("no host")?;
    let host_port = authority
        .as_str()
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, hp)| hp);
    if host_port.is_empty() || host_port.starts_with(':') {
        return Err("no host".into());
    }
    Ok(())
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
    let io = TokioIo::new(Recorder {
        io: tcp,
        record: Arc::clone(&record),
    });
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
                    let resolved = crate::connect::resolve(target, limit).await?;
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
    let tcp = io.into_inner().io;
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
            407 if route.has_credentials() => "; it did not accept the credentials given",
            407 => "; give the credentials in the proxy URL: http://USER:PASSWORD@HOST:PORT",
            _ => "",
        };
        return Error::ProxyRefused {
            proxy: route.addr.clone(),
            target: target.to_owned(),
            answer: status_of(head.start_line()),
            hint,
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

/// The socket during the proxy's handshake, keeping a copy of what crosses it. Shared
/// with the caller, because a connector that fails drops the socket with the copy.
#[derive(Debug)]
struct Recorder {
    io: TcpStream,
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

impl AsyncRead for Recorder {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.keep(false, &buf.filled()[before..]);
        }
        polled
    }
}

impl AsyncWrite for Recorder {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            this.keep(true, &buf[..n]);
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The connector under hyper-util's tunnels: it hands over the connection already
/// open to the proxy (opened by [`crate::connect`], which times it) instead of
/// dialing one.
#[derive(Debug)]
struct Handover(Option<TokioIo<Recorder>>);

impl Service<Uri> for Handover {
    type Response = TokioIo<Recorder>;
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

    fn vars(table: &'static [(&'static str, &'static str)]) -> Proxies {
        Proxies::from_vars(|name| {
            table
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    fn via(proxies: &Proxies, addr: &str, tls: bool) -> Option<(String, String)> {
        proxies
            .route(addr, tls)
            .expect("usable")
            .map(|r| (r.shown, r.from))
    }

    #[test]
    fn ws_is_matched_as_http_and_wss_as_https() {
        let p = vars(&[
            ("HTTP_PROXY", "http://p1:3128"),
            ("https_proxy", "socks5h://u:pw@p2:1080"),
        ]);
        assert_eq!(
            via(&p, "example.test:80", false),
            Some(("http://p1:3128".into(), "HTTP_PROXY".into()))
        );
        assert_eq!(
            via(&p, "example.test:443", true),
            Some(("socks5h://u:***@p2:1080".into(), "https_proxy".into()))
        );
    }

    #[test]
    fn all_proxy_fills_in_and_no_proxy_bypasses() {
        let p = vars(&[
            ("ALL_PROXY", "p:8080"),
            ("HTTPS_PROXY", ""),
            ("NO_PROXY", "internal.test, 10.0.0.0/8"),
        ]);
        assert_eq!(
            via(&p, "example.test:443", true),
            Some(("http://p:8080".into(), "ALL_PROXY".into()))
        );
        assert_eq!(via(&p, "ws.internal.test:80", false), None);
        assert_eq!(via(&p, "10.1.2.3:80", false), None);
        assert!(vars(&[("NO_PROXY", "x")]).is_direct());
    }

    #[test]
    fn upper_case_names_come_first_and_a_port_defaults_to_1080() {
        let p = vars(&[
            ("http_proxy", "http://lower:1"),
            ("HTTP_PROXY", "http://upper"),
        ]);
        assert_eq!(
            via(&p, "h:80", false),
            Some(("http://upper:1080".into(), "HTTP_PROXY".into()))
        );
        assert_eq!(via(&p, "h:443", true), None);
    }

    #[test]
    fn a_bad_url_fails_when_used_naming_its_source() {
        let p = vars(&[("HTTPS_PROXY", "ftp://x:1"), ("HTTP_PROXY", "http://ok:1")]);
        assert!(via(&p, "h:80", false).is_some());
        let err = p.route("h:443", true).expect_err("ftp is no proxy");
        assert_eq!(
            err.to_string(),
            "bad proxy url \"ftp://x:1\" (from HTTPS_PROXY): ftp:// proxies are not \
             supported: use http://, socks5:// or socks5h://"
        );
        let given = Proxies::given("http://", "");
        assert!(given.route("h:80", false).is_err());
    }

    #[test]
    fn given_proxies_serve_both_schemes_except_no_proxy_hosts() {
        let p = Proxies::given("http://alice:pw@127.0.0.1:3128", "localhost");
        let route = p
            .route("example.test:443", true)
            .expect("usable")
            .expect("a proxy");
        assert_eq!(route.addr, "127.0.0.1:3128");
        assert_eq!(route.shown, "http://alice:***@127.0.0.1:3128");
        assert_eq!(route.from, "--proxy");
        assert!(route.basic.is_some() && route.login.is_none());
        assert!(p.route("localhost:80", false).expect("usable").is_none());
        assert!(
            Proxies::direct()
                .route("h:80", false)
                .expect("ok")
                .is_none()
        );
    }

    #[test]
    fn proxy_urls_are_checked() {
        for good in [
            "http://h:1",
            "h:3128",
            "socks5://u:p@h:1",
            "socks5h://h",
            "http://[::1]:8",
        ] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "https://h:1",
            "socks4://h:1",
            "http://",
            "http://:80",
            "not a url",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }

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
        assert_eq!(user_in("http://alice:pw@h:1/"), Some("alice".into()));
        assert_eq!(user_in("h:1"), None);
    }
}
