//! What `listen` is asked to do, as plain data: the command line fills it, the tests
//! build it, and each connection reads only it.

use std::path::PathBuf;
use std::time::Duration;

use wsppsrv::tls::CertSource;

/// Where `listen` listens when no address is given.
pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:9001";

/// The close code `--close-after` closes with unless told otherwise.
pub const DEFAULT_CLOSE_CODE: u16 = 1000;

/// How `listen` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenFormat {
    /// Each connection's transcript, every line labelled with its connection.
    Text {
        /// Every payload also as a hex dump.
        hex: bool,
    },
    /// One JSON object per event (`--json`).
    Json,
}

/// What `listen` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenOptions {
    /// `HOST:PORT` to listen on (a bare port is made `127.0.0.1:PORT` by the command
    /// line).
    pub addr: String,
    /// Where the TLS certificate comes from; plain ws:// without one.
    pub tls: Option<CertSource>,
    /// Where to append the TLS secrets (`SSLKEYLOGFILE`), for Wireshark.
    pub key_log: Option<PathBuf>,
    /// The subprotocols we speak: the first one a client offers that is here is
    /// chosen.
    pub subprotocols: Vec<String>,
    /// Answer every upgrade with this status instead of 101.
    pub refuse: Option<u16>,
    /// Close a connection after it has sent this many messages.
    pub close_after: Option<u64>,
    /// The code `close_after` closes with.
    pub close_code: u16,
    /// Send every message back as it came.
    pub echo: bool,
    /// Take a client's permessage-deflate offer (RFC 7692) rather than decline it.
    pub deflate: bool,
    /// Ping each client this often, and show its round trip.
    pub ping_interval: Option<Duration>,
    /// Open WebSocket sessions at most; upgrades beyond them get 503.
    pub max_clients: Option<usize>,
    /// Show cookie values as they came, rather than masked.
    pub show_cookies: bool,
    /// Send the lines typed on standard input to this connection only.
    pub to: Option<u64>,
    /// How to print.
    pub format: ListenFormat,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            addr: DEFAULT_LISTEN_ADDR.to_owned(),
            tls: None,
            key_log: None,
            subprotocols: Vec::new(),
            refuse: None,
            close_after: None,
            close_code: DEFAULT_CLOSE_CODE,
            echo: false,
            deflate: false,
            ping_interval: None,
            max_clients: None,
            show_cookies: false,
            to: None,
            format: ListenFormat::Text { hex: false },
        }
    }
}
