//! A whole run of the client as plain data: where the server is (or may be started),
//! how connections are made, and which front-end runs what.
//!
//! [`crate::front::cli`] makes one from the command line; tests make one directly, so
//! nothing below the command line depends on clap. It is taken apart once, in
//! [`crate::front::invoke`]: the server is settled first (found, or started in this
//! process), then the [`ConnectSettings`](crate::net::settings::ConnectSettings) are
//! built with it and never changed.

use crate::commands::Options;
use crate::commands::catalog::Request;
use crate::commands::listen::ListenOptions;
use crate::commands::load::{LoadOptions, MergeOptions};
use crate::commands::ping::PingOptions;
use crate::commands::ping::output::PingFormat;
use crate::net::settings::{Dial, Headers};

/// A whole run: the server, the connection settings, and what to do with them.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Where the server is, and whether one may be started there.
    pub server: ServerChoice,
    /// How connections are opened.
    pub dial: Dial,
    /// What every request says.
    pub headers: Headers,
    /// Which front-end runs.
    pub front_end: FrontEnd,
}

impl Invocation {
    /// A run of `front_end` against the server at `addr` (plain, never started here),
    /// with the default connection settings.
    pub fn new(addr: impl Into<String>, front_end: FrontEnd) -> Self {
        Invocation {
            server: ServerChoice {
                addr: addr.into(),
                tls: false,
                may_start: false,
            },
            dial: Dial::default(),
            headers: Headers::default(),
            front_end,
        }
    }
}

/// The server the requests go to, before anything is known of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerChoice {
    /// `HOST:PORT`.
    pub addr: String,
    /// Whether it speaks TLS.
    pub tls: bool,
    /// Whether wsppsrv may be started in this process when nothing listens on `addr`:
    /// only when the user named no server (see [`crate::front::local_server`]).
    pub may_start: bool,
}

/// Which front-end a run uses: the menu, one request printed as its transcript,
/// ping(8)'s output, or `listen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrontEnd {
    /// The interactive menu.
    Menu {
        /// Use the numbered menu even on a terminal.
        plain: bool,
        /// What the requests run with.
        options: Options,
        /// Whether transcripts show every payload also as a hex dump.
        hex: bool,
    },
    /// One request, its transcript printed.
    Request {
        /// Which.
        request: Request,
        /// What it runs with.
        options: Options,
        /// Whether the transcript shows every payload also as a hex dump.
        hex: bool,
    },
    /// ping(8): one line per reply, then a summary.
    Ping {
        /// How the session pings.
        options: PingOptions,
        /// ping(8)'s lines, fewer of them, stamped, or JSON.
        format: PingFormat,
    },
    /// `load`: many connections, a line a second, then a summary (boxed: the
    /// options are most of the enum's size).
    Load(Box<LoadOptions>),
    /// `merge`: interval logs added up into one summary.
    Merge(MergeOptions),
    /// `listen`: a server, each client's transcript printed.
    Listen {
        /// What it does.
        options: ListenOptions,
    },
}

impl FrontEnd {
    /// Whether what runs talks to the configured server, rather than only to a URL it
    /// was given (`ping URL`, `inspect URL`).
    pub fn uses_server(&self) -> bool {
        match self {
            FrontEnd::Request {
                request: Request::Inspect,
                options,
                ..
            } => options.inspect.url.is_none(),
            FrontEnd::Menu { .. } | FrontEnd::Request { .. } => true,
            FrontEnd::Ping { options, .. } => options.url.is_none(),
            FrontEnd::Load(options) => options.url.is_none(),
            FrontEnd::Merge(_) => false,
            FrontEnd::Listen { .. } => false,
        }
    }
}
