//! Proxies: which one a connection goes through, and the tunnel through it.
//!
//! Many networks reach the outside only through a proxy, so a WebSocket tool that
//! cannot use one cannot reach the servers people run. The rules are curl's, as
//! hyper-util's
//! [`Matcher`](hyper_util::client::proxy::matcher::Matcher) implements them: `--proxy URL` for every connection, or
//! else `HTTPS_PROXY`, `HTTP_PROXY` and `ALL_PROXY` (and their lowercase twins), with
//! `NO_PROXY` naming the hosts reached directly. A `ws://` URL is matched as `http://`
//! and a `wss://` URL as `https://`, since that is what each becomes on the wire.
//!
//! The tunnel is hyper-util's too: an HTTP `CONNECT` ([`Tunnel`](hyper_util::client::legacy::connect::proxy::Tunnel)) or a SOCKS5 handshake
//! ([`SocksV5`](hyper_util::client::legacy::connect::proxy::SocksV5)), run over the TCP connection the caller has already opened and timed,
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
//!
//! Two files: [`route`] decides which proxy a connection goes through (the flag, the
//! environment, `NO_PROXY`), [`tunnel`](mod@tunnel) opens the tunnel through it and records the
//! exchange.

pub mod route;
pub mod tunnel;

pub use route::{FLAG, Proxies, ProxyKind, Route, check};
pub use tunnel::{ProxyInfo, tunnel};
