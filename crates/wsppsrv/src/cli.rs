//! The command line, and its translation into a [`Config`].
//!
//! Every flag has a `WSPP_*` environment twin, so the server can be configured the same
//! way from a shell, a unit file or a container.
//!
//! TLS is not part of [`Config`]: it decides what the server listens on, which the
//! binary sets up before [`crate::run_with`], so [`Args::cert_source`] hands it over
//! separately. `--addr` is always the plain listener and `--tls-addr` always the TLS
//! one, so adding a certificate never moves or closes the plain port.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{BoolishValueParser, TypedValueParser};
use clap::{ArgAction, ArgGroup, Parser};

use wspp::duration::{parse as parse_budget, parse_delay, parse_positive};

use crate::config::Config;
use crate::docs::DocsCommand;
use crate::tls::CertSource;

/// wsppsrv: a WebSocket ping-pong server that measures each client's round-trip time.
///
/// Routes: `/` (page of connected clients), `/clients.json`, `/metrics` (Prometheus;
/// on --metrics-addr when set), `/openandclosewebsocket` (ping a few times, then
/// close), `/pingpong` (long-lived: pings, echo). Logs go to stderr, filtered by
/// RUST_LOG (default `info`).
///
/// With --tls-cert and --tls-key, or --tls-self-signed, it also serves https:// and
/// wss:// on --tls-addr, next to plain http:// and ws:// on --addr.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
#[command(group(ArgGroup::new("tls").args(["tls_cert", "tls_self_signed"])))]
pub struct Args {
    /// Address to listen on for plain http:// and ws://.
    #[arg(long, env = "WSPP_ADDR", default_value = wspp::routes::DEFAULT_ADDR)]
    pub addr: SocketAddr,

    /// Address to listen on for https:// and wss:// (needs --tls-cert or --tls-self-signed).
    #[arg(long, env = "WSPP_TLS_ADDR", default_value = wspp::routes::DEFAULT_TLS_ADDR, requires = "tls")]
    pub tls_addr: SocketAddr,

    /// TLS certificate chain, PEM, leaf first (e.g. Let's Encrypt's fullchain.pem).
    #[arg(long, env = "WSPP_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// Private key of --tls-cert, PEM (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "WSPP_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve TLS with a certificate generated at start-up for localhost, 127.0.0.1 and
    /// ::1. Its SHA-256 fingerprint is logged, and it is written to
    /// --tls-self-signed-cert for the client's --ca.
    #[arg(
        long,
        env = "WSPP_TLS_SELF_SIGNED",
        action = ArgAction::SetTrue,
        // So that the variable reads as people write it: 1, true, yes (0, false, no).
        value_parser = BoolishValueParser::new()
    )]
    pub tls_self_signed: bool,

    /// Where --tls-self-signed writes its certificate (PEM) [default: wsppsrv-self-signed.pem in the temporary directory, e.g. /tmp]
    #[arg(
        long,
        env = "WSPP_TLS_SELF_SIGNED_CERT",
        value_name = "FILE",
        requires = "tls_self_signed"
    )]
    pub tls_self_signed_cert: Option<PathBuf>,

    /// How often /pingpong sessions are pinged (e.g. 1s, 200ms).
    #[arg(long, env = "WSPP_PING_INTERVAL", default_value = "1s",
          value_parser = parse_positive, allow_hyphen_values = true)]
    pub ping_interval: Duration,

    /// Delay before the first ping of a /pingpong session (0s: at once). Conformance
    /// suites such as Autobahn script every frame and count a server ping as a wrong
    /// answer: scripts/autobahn.sh sets this to an hour.
    #[arg(long, env = "WSPP_FIRST_PING_DELAY", default_value = "0s",
          value_parser = parse_delay, allow_hyphen_values = true)]
    pub first_ping_delay: Duration,

    /// How long a ping may go unanswered before the peer is dropped.
    #[arg(long, env = "WSPP_PING_TIMEOUT", default_value = "5s",
          value_parser = parse_positive, allow_hyphen_values = true)]
    pub ping_timeout: Duration,

    /// Pings sent on /openandclosewebsocket before closing.
    #[arg(long, env = "WSPP_OPEN_CLOSE_PINGS", default_value_t = Config::default().open_close_pings,
          allow_negative_numbers = true)]
    pub open_close_pings: u32,

    /// WebSocket sessions served at once; beyond it an upgrade gets 503.
    #[arg(long, env = "WSPP_MAX_CONNECTIONS", default_value_t = Config::default().max_connections,
          allow_negative_numbers = true)]
    pub max_connections: usize,

    /// Connections kept for plain HTTP (the page, /clients.json, /metrics) on top of
    /// --max-connections, so the server can still be looked at when sessions fill it;
    /// past both, a connection gets 503 before its request is read.
    #[arg(long, env = "WSPP_HTTP_RESERVE", default_value_t = Config::default().http_reserve,
          allow_negative_numbers = true)]
    pub http_reserve: usize,

    /// Serve /metrics (Prometheus) on this address instead of on --addr, to keep it off
    /// the public port; --addr then answers /metrics with 404.
    #[arg(long, env = "WSPP_METRICS_ADDR", value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Largest WebSocket message in bytes; larger ones are closed with 1009.
    #[arg(long, env = "WSPP_MAX_MESSAGE_SIZE", default_value_t = Config::default().max_message_size,
          allow_negative_numbers = true)]
    pub max_message_size: usize,

    /// How long a client may take to send its request headers; also how long an HTTP/2 connection with no stream open is kept.
    #[arg(long, env = "WSPP_HEADER_TIMEOUT", default_value = "10s",
          value_parser = parse_positive, allow_hyphen_values = true)]
    pub header_timeout: Duration,

    /// Largest request head in bytes (8192 or more); a larger one gets 431.
    #[arg(long, env = "WSPP_MAX_HEADER_BYTES", default_value_t = Config::default().max_header_bytes,
          value_parser = clap::value_parser!(u32).range(8192..).map(|n| n as usize),
          allow_negative_numbers = true)]
    pub max_header_bytes: usize,

    /// Origin allowed to open a WebSocket (repeatable; default: every origin).
    #[arg(
        long = "allowed-origin",
        env = "WSPP_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// A reverse proxy's address or range (repeatable, e.g. 127.0.0.1/32): from it, the
    /// client is the right-most address of Forwarded or X-Forwarded-For that is not a
    /// trusted proxy too. From any other peer those headers are ignored.
    #[arg(
        long = "trusted-proxy",
        env = "WSPP_TRUSTED_PROXIES",
        value_name = "CIDR",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<crate::forwarded::Cidr>,

    /// Worker threads; 1 runs everything on one thread, which gives the lowest RTT.
    #[arg(long, env = "WSPP_THREADS", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..), allow_negative_numbers = true)]
    pub threads: u16,

    /// Keep polling the sockets this long (e.g. 1ms) after each ping sent and each
    /// message read, instead of sleeping until the next one: takes the server's own
    /// wake-up out of its RTTs, for a busy core while it polls (0: never). Needs
    /// --threads 1.
    #[arg(long, env = "WSPP_BUSY_POLL", default_value = "0s",
          value_parser = parse_budget, allow_hyphen_values = true)]
    pub busy_poll: Duration,

    /// Serve HTTP/2 beside HTTP/1.1 (on|off): ALPN h2 on the TLS port, prior knowledge
    /// (h2c) on the plain port, and WebSockets over either by extended CONNECT (RFC 8441).
    #[arg(long, env = "WSPP_HTTP2", default_value = "on", value_name = "on|off",
          action = ArgAction::Set, value_parser = parse_switch)]
    pub http2: bool,

    /// Take a client's permessage-deflate offer (RFC 7692): on (as browsers meet it in
    /// production) or off.
    #[arg(long, env = "WSPP_DEFLATE", value_name = "on|off", default_value = "on", action = ArgAction::Set,
          value_parser = parse_switch)]
    pub deflate: bool,

    /// Without a subcommand, serve
    #[command(subcommand)]
    pub command: Option<DocsCommand>,
}

impl Args {
    /// The library's view of these arguments.
    pub fn config(&self) -> Config {
        Config {
            ping_interval: self.ping_interval,
            first_ping_delay: self.first_ping_delay,
            ping_timeout: self.ping_timeout,
            open_close_pings: self.open_close_pings,
            max_connections: self.max_connections,
            http_reserve: self.http_reserve,
            max_message_size: self.max_message_size,
            header_read_timeout: self.header_timeout,
            max_header_bytes: self.max_header_bytes,
            allowed_origins: self.allowed_origins.clone(),
            trusted_proxies: self.trusted_proxies.clone(),
            busy_poll: self.busy_poll,
            http2: self.http2,
            deflate: self.deflate,
            ..Config::default()
        }
    }

    /// Flag combinations clap cannot judge; the error is the line to print.
    pub fn check(&self) -> Result<(), String> {
        if self.threads > 1 && !self.busy_poll.is_zero() {
            // One poller keeps one thread awake; the others would still sleep and
            // wake, and the reactor need not be on the polling one.
            return Err("--busy-poll needs --threads 1".into());
        }
        Ok(())
    }

    /// Where the TLS certificate comes from; `None` when TLS is off.
    pub fn cert_source(&self) -> Option<CertSource> {
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            return Some(CertSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            });
        }
        self.tls_self_signed.then(|| CertSource::SelfSigned {
            write_cert_to: self
                .tls_self_signed_cert
                .clone()
                .unwrap_or_else(CertSource::default_self_signed_path),
        })
    }
}

/// `on` or `off`, as a switch is written on the command line and in a unit file.
fn parse_switch(value: &str) -> Result<bool, String> {
    match value {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{value:?} is neither on nor off")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_library() {
        let args = Args::try_parse_from(["wsppsrv"]).expect("defaults parse");
        let config = args.config();
        let default = Config::default();
        assert_eq!(args.addr.to_string(), wspp::routes::DEFAULT_ADDR);
        assert_eq!(config.ping_interval, default.ping_interval);
        assert_eq!(config.ping_timeout, default.ping_timeout);
        assert_eq!(config.max_connections, default.max_connections);
        assert_eq!(config.http_reserve, default.http_reserve);
        assert_eq!(args.metrics_addr, None);
        assert_eq!(config.max_message_size, default.max_message_size);
        assert_eq!(config.header_read_timeout, default.header_read_timeout);
        assert_eq!(config.first_ping_delay, default.first_ping_delay);
        assert_eq!(config.max_header_bytes, default.max_header_bytes);
        assert_eq!(config.http2, default.http2);
    }

    #[test]
    fn http2_is_a_switch() {
        assert!(!parse(&["--http2", "off"]).expect("parses").config().http2);
        assert!(parse(&["--http2", "on"]).expect("parses").config().http2);
        let err = parse(&["--http2", "yes"])
            .expect_err("not a switch")
            .to_string();
        assert!(err.contains("neither on nor off"), "{err}");
    }

    #[test]
    fn deflate_is_on_unless_turned_off() {
        assert!(parse(&[]).expect("parses").config().deflate);
        assert!(
            !parse(&["--deflate", "off"])
                .expect("parses")
                .config()
                .deflate
        );
        assert!(
            parse(&["--deflate", "on"])
                .expect("parses")
                .config()
                .deflate
        );
        assert!(parse(&["--deflate", "maybe"]).is_err());
    }

    #[test]
    fn metrics_move_to_their_own_address_when_told() {
        let args =
            parse(&["--metrics-addr", "127.0.0.1:9100", "--http-reserve", "8"]).expect("parses");
        assert_eq!(
            args.metrics_addr,
            Some("127.0.0.1:9100".parse().expect("addr"))
        );
        assert_eq!(args.config().http_reserve, 8);
        assert!(parse(&["--metrics-addr", "nowhere"]).is_err());
    }

    #[test]
    fn the_head_limit_has_hypers_floor() {
        let args = parse(&["--max-header-bytes", "65536"]).expect("parses");
        assert_eq!(args.config().max_header_bytes, 65536);
        // hyper cannot read a head into less than 8 KiB.
        assert!(parse(&["--max-header-bytes", "8191"]).is_err());
        assert!(parse(&["--max-header-bytes", "lots"]).is_err());
    }

    #[test]
    fn durations_are_human() {
        let args = Args::try_parse_from(["wsppsrv", "--ping-interval", "200ms"])
            .expect("a human duration parses");
        assert_eq!(args.ping_interval, Duration::from_millis(200));
        assert!(Args::try_parse_from(["wsppsrv", "--ping-interval", "0s"]).is_err());
        for flag in [
            "--ping-interval",
            "--ping-timeout",
            "--header-timeout",
            "--first-ping-delay",
            "--busy-poll",
        ] {
            let err = Args::try_parse_from(["wsppsrv", flag, "banana"])
                .expect_err("not a duration")
                .to_string();
            assert!(err.contains("500ms, 2s or 1m"), "{flag}: {err}");
        }
        assert!(Args::try_parse_from(["wsppsrv", "--ping-timeout", "500000000000years"]).is_err());
        let args = Args::try_parse_from(["wsppsrv", "--first-ping-delay", "0s"])
            .expect("a delay may be zero");
        assert_eq!(args.first_ping_delay, Duration::ZERO);
    }

    #[test]
    fn durations_are_capped_and_refused_in_one_line() {
        let args = parse(&["--ping-interval", "0.2"]).expect("plain seconds parse");
        assert_eq!(args.ping_interval, Duration::from_millis(200));
        for (flag, value, words) in [
            ("--ping-interval", "-1", "negative"),
            ("--ping-timeout", "-5s", "negative"),
            ("--first-ping-delay", "400d", "at most 365d"),
            ("--header-timeout", "1e19", "at most 365d"),
            ("--busy-poll", "NaN", "500ms, 2s or 1m"),
            ("--ping-interval", "500us", "at least 1ms"),
            ("--first-ping-delay", "10us", "at least 1ms"),
        ] {
            let err = parse(&[flag, value]).expect_err(value).to_string();
            assert!(err.contains(words), "{flag} {value}: {err}");
        }
        // A number below zero is the value's own error, not a flag clap does not know.
        for flag in ["--max-connections", "--threads", "--max-header-bytes"] {
            let err = parse(&[flag, "-1"]).expect_err(flag).to_string();
            assert!(!err.contains("unexpected argument"), "{flag}: {err}");
        }
    }

    #[test]
    fn plain_wsppsrv_serves_and_the_docs_are_subcommands() {
        assert_eq!(parse(&[]).expect("parses").command, None);
        assert_eq!(
            parse(&["completions", "bash"]).expect("parses").command,
            Some(DocsCommand::Completions {
                shell: crate::docs::Shell::Bash
            })
        );
        assert_eq!(
            parse(&["man"]).expect("parses").command,
            Some(DocsCommand::Man { dir: None })
        );
        assert!(parse(&["completions", "tcsh"]).is_err());
        assert!(parse(&["serve"]).is_err());
    }

    #[test]
    fn busy_polling_is_off_by_default_and_needs_one_thread() {
        let args = parse(&[]).expect("defaults parse");
        assert_eq!(args.config().busy_poll, Duration::ZERO);
        assert_eq!(args.check(), Ok(()));
        let args = parse(&["--busy-poll", "1ms"]).expect("parses");
        assert_eq!(args.config().busy_poll, Duration::from_millis(1));
        assert_eq!(args.check(), Ok(()));
        let args = parse(&["--busy-poll", "1ms", "--threads", "2"]).expect("parses");
        assert_eq!(args.check(), Err("--busy-poll needs --threads 1".into()));
        assert_eq!(parse(&["--threads", "2"]).expect("parses").check(), Ok(()));
    }

    #[test]
    fn origins_repeat() {
        let args = Args::try_parse_from([
            "wsppsrv",
            "--allowed-origin",
            "http://a",
            "--allowed-origin",
            "http://b",
        ])
        .expect("repeated origins parse");
        assert_eq!(args.config().allowed_origins, ["http://a", "http://b"]);
    }

    #[test]
    fn trusted_proxies_repeat_and_a_bad_range_says_its_shape() {
        let args = parse(&[
            "--trusted-proxy",
            "127.0.0.1/32",
            "--trusted-proxy",
            "fd00::/8",
        ])
        .expect("repeated ranges parse");
        let ranges: Vec<String> = args
            .config()
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(ranges, ["127.0.0.1/32", "fd00::/8"]);
        let error = parse(&["--trusted-proxy", "10.0.0.0/99"]).expect_err("a bad prefix");
        assert!(
            error.to_string().contains("write it like 10.0.0.0/8"),
            "{error}"
        );
    }

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("wsppsrv").chain(args.iter().copied()))
    }

    #[test]
    fn tls_is_off_unless_asked_for() {
        let args = parse(&[]).expect("defaults parse");
        assert_eq!(args.cert_source(), None);
        assert_eq!(args.tls_addr.to_string(), wspp::routes::DEFAULT_TLS_ADDR);
    }

    #[test]
    fn a_certificate_needs_its_key_and_excludes_self_signing() {
        let args = parse(&["--tls-cert", "c.pem", "--tls-key", "k.pem"]).expect("parses");
        assert_eq!(
            args.cert_source(),
            Some(CertSource::Files {
                cert: "c.pem".into(),
                key: "k.pem".into()
            })
        );
        assert!(parse(&["--tls-cert", "c.pem"]).is_err());
        assert!(parse(&["--tls-key", "k.pem"]).is_err());
        assert!(
            parse(&["--tls-cert", "c", "--tls-key", "k", "--tls-self-signed"]).is_err(),
            "two certificates"
        );
    }

    #[test]
    fn self_signing_writes_to_the_temp_dir_unless_told() {
        let args = parse(&["--tls-self-signed"]).expect("parses");
        assert_eq!(
            args.cert_source(),
            Some(CertSource::SelfSigned {
                write_cert_to: std::env::temp_dir().join("wsppsrv-self-signed.pem")
            })
        );
        let args =
            parse(&["--tls-self-signed", "--tls-self-signed-cert", "my.pem"]).expect("parses");
        assert_eq!(
            args.cert_source(),
            Some(CertSource::SelfSigned {
                write_cert_to: "my.pem".into()
            })
        );
        assert!(parse(&["--tls-self-signed-cert", "my.pem"]).is_err());
    }

    #[test]
    fn a_tls_address_needs_a_certificate() {
        assert!(parse(&["--tls-addr", "127.0.0.1:9443"]).is_err());
        let args = parse(&["--tls-self-signed", "--tls-addr", "[::1]:9443"]).expect("parses");
        assert_eq!(args.tls_addr.to_string(), "[::1]:9443");
        // Plain HTTP stays where it was.
        assert_eq!(args.addr.to_string(), wspp::routes::DEFAULT_ADDR);
    }
}
