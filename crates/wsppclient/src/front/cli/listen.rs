//! `listen`'s own options, and the checks of their values.
//!
//! Apart from the subcommands of the catalog: `listen` is no request to a server but
//! a server itself. It takes two global options in its own sense: `--subprotocol`
//! lists the subprotocols it speaks, `--key-log` (`SSLKEYLOGFILE`) where its TLS
//! secrets go; and `--hex`, as every transcript does.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use wsppsrv::tls::CertSource;

use crate::commands::listen::{
    DEFAULT_CLOSE_CODE, DEFAULT_LISTEN_ADDR, ListenFormat, ListenOptions,
};
use wspp::duration::parse_positive;

/// What `listen` says after its options in `--help`.
pub(super) const LISTEN_HELP: &str = "--subprotocol NAME (repeatable) names the subprotocols \
listen speaks: the first one a client offers that is named is chosen. Lines typed on \
standard input are sent as Text messages to every open connection (--to N: to one); \
without input, listen keeps serving. Ctrl-C (or SIGTERM, exit status 143) closes every \
connection with 1001 (Going Away) and prints a summary line for each. In Wireshark: \
each connection's filter is its last line.";

/// The options of `listen`.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Where to listen: HOST:PORT, or a PORT on 127.0.0.1 (0: any free port, which
    /// the first line names) [default: 127.0.0.1:9001]
    #[arg(value_name = "ADDR", value_parser = parse_listen_addr)]
    pub addr: Option<String>,

    /// Serve wss:// with a certificate generated now for localhost, 127.0.0.1 and ::1,
    /// written as PEM for the clients' --ca
    #[arg(long, conflicts_with = "tls_cert")]
    pub tls_self_signed: bool,

    /// Serve wss:// with this certificate chain (PEM, leaf first); needs --tls-key
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Answer every upgrade with this status (e.g. 403) and a short body instead of
    /// 101, to watch how a client takes it
    #[arg(long, value_name = "STATUS", value_parser = parse_refusal)]
    pub refuse: Option<u16>,

    /// Close a connection once its client has sent N messages
    #[arg(long, value_name = "N", value_parser = super::values::parse_count,
          allow_negative_numbers = true)]
    pub close_after: Option<u64>,

    /// The close code of --close-after: 1000 to 1003, 1007 to 1014, or 3000 to 4999
    #[arg(long, value_name = "CODE", default_value_t = DEFAULT_CLOSE_CODE,
          value_parser = parse_close_code, requires = "close_after")]
    pub close_code: u16,

    /// Send every message back as it came
    #[arg(long)]
    pub echo: bool,

    /// Ping every client this often (seconds, or e.g. 500ms) and show each round
    /// trip, timed on the kernel's clock as wsppsrv times it
    #[arg(long, value_name = "DURATION", value_parser = parse_positive,
          allow_hyphen_values = true)]
    pub ping_interval: Option<Duration>,

    /// At most N WebSocket sessions at once; upgrades beyond them get 503
    #[arg(long, value_name = "N", value_parser = super::values::parse_count,
          allow_negative_numbers = true)]
    pub max_clients: Option<u64>,

    /// Send the lines typed on standard input to connection N only (the number its
    /// lines start with) [default: every open connection]
    #[arg(long, value_name = "N", value_parser = super::values::parse_count,
          allow_negative_numbers = true)]
    pub to: Option<u64>,

    /// Show cookie values as they came [default: masked, NAME=***]
    #[arg(long)]
    pub show_cookies: bool,

    /// One JSON object per line and event (connect, request, response, frame, rtt,
    /// note, filter, close), for scripts
    #[arg(long)]
    pub json: bool,
}

impl ListenArgs {
    /// What `listen` is asked to do; `subprotocols`, `deflate`, `key_log` and `hex`
    /// are the global options'.
    pub(super) fn into_options(
        self,
        subprotocols: Vec<String>,
        deflate: bool,
        key_log: Option<PathBuf>,
        hex: bool,
    ) -> ListenOptions {
        let tls = match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => Some(CertSource::Files { cert, key }),
            _ if self.tls_self_signed => Some(CertSource::SelfSigned {
                write_cert_to: std::env::temp_dir().join("wsppclient-listen-self-signed.pem"),
            }),
            _ => None,
        };
        ListenOptions {
            addr: self.addr.unwrap_or_else(|| DEFAULT_LISTEN_ADDR.to_owned()),
            tls,
            key_log,
            subprotocols,
            refuse: self.refuse,
            close_after: self.close_after,
            close_code: self.close_code,
            echo: self.echo,
            deflate,
            ping_interval: self.ping_interval,
            max_clients: self
                .max_clients
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            show_cookies: self.show_cookies,
            to: self.to,
            format: if self.json {
                ListenFormat::Json
            } else {
                ListenFormat::Text { hex }
            },
        }
    }
}

/// `9001` (on 127.0.0.1), or `HOST:PORT`; port 0 asks the system for a free one.
fn parse_listen_addr(s: &str) -> Result<String, String> {
    let wrong = |why: &str| {
        format!(
            "{s:?} is not an address to listen on: {why}give PORT or HOST:PORT \
             (9001, 127.0.0.1:9001, [::1]:9001, 0.0.0.0:9001)"
        )
    };
    if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() {
        return match s.parse::<u16>() {
            Ok(port) => Ok(format!("127.0.0.1:{port}")),
            Err(_) => Err(wrong("a port is a number from 0 to 65535; ")),
        };
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(wrong(""));
    };
    if port.parse::<u16>().is_err() {
        return Err(wrong(&format!(
            "port {port:?} is not a number from 0 to 65535; "
        )));
    }
    let host_ok = match host.strip_prefix('[') {
        Some(v6) => v6
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok()),
        None => !host.is_empty() && !host.contains([':', '/', '[', ']', ' ']),
    };
    if !host_ok {
        return Err(wrong(""));
    }
    Ok(s.to_owned())
}

/// A status a refusal can have: 200 to 599 (101 is the upgrade itself).
fn parse_refusal(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(status @ 200..=599) => Ok(status),
        _ => Err(format!(
            "{s:?} is not a status to refuse with: give one from 200 to 599, like 403"
        )),
    }
}

/// A close code an endpoint may send (RFC 6455, 7.4): not 1004 to 1006 or 1015,
/// which are never on the wire.
fn parse_close_code(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(code @ (1000..=1003 | 1007..=1014 | 3000..=4999)) => Ok(code),
        _ => Err(format!(
            "{s:?} is not a close code to send: give 1000 to 1003, 1007 to 1014, or 3000 to 4999"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_a_port_or_host_and_port() {
        assert_eq!(parse_listen_addr("9001").as_deref(), Ok("127.0.0.1:9001"));
        assert_eq!(parse_listen_addr("0").as_deref(), Ok("127.0.0.1:0"));
        assert_eq!(parse_listen_addr("0.0.0.0:80").as_deref(), Ok("0.0.0.0:80"));
        assert_eq!(parse_listen_addr("[::1]:9001").as_deref(), Ok("[::1]:9001"));
        assert_eq!(
            parse_listen_addr("localhost:9001").as_deref(),
            Ok("localhost:9001")
        );
        for bad in ["70000", "host", "host:x", ":9001", "ws://x:1"] {
            let err = parse_listen_addr(bad).expect_err(bad);
            assert!(err.contains("give PORT or HOST:PORT"), "{err}");
        }
    }

    #[test]
    fn refusals_and_close_codes_are_checked() {
        assert_eq!(parse_refusal("403"), Ok(403));
        assert!(parse_refusal("101").is_err());
        assert!(parse_refusal("600").is_err());
        assert_eq!(parse_close_code("4000"), Ok(4000));
        assert_eq!(parse_close_code("1001"), Ok(1001));
        for bad in ["1005", "1006", "999", "5000", "x"] {
            assert!(parse_close_code(bad).is_err(), "{bad}");
        }
    }
}
