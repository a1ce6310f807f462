//! The command line, parsed with clap's derive API and turned into an [`Invocation`].
//!
//! Subcommand names and help texts come from the [`catalog`](crate::commands::catalog), so the
//! menu and the subcommands cannot disagree; a unit test checks that every catalog
//! entry has its subcommand. Nothing below this module sees clap: [`Cli::into_invocation`]
//! hands the library plain data.
//!
//! This module holds the global options ([`Cli`]) and what they become; the
//! subcommands and their own options are in `cli/subcommands.rs` and `listen`'s in
//! `cli/listen.rs` (re-exported here), the checks of the global options' values in `cli/values.rs`, and the
//! parsing of durations (`-i 0.2`, `--wait 500ms`) in [`wspp::duration`].
//!
//! A TLS server is named either way a user reaches for: `--server wss://HOST:PORT`
//! (or `https://`, pasted from a browser) or `--server HOST:PORT --tls`. With `--tls`
//! and no `--server`, the default is wsppsrv's default TLS address rather than its
//! plain one, so `wsppclient --tls ping` works against `wsppsrv --tls-self-signed`.
//!
//! Only a server the user did not name may be started in-process
//! ([`crate::front::local_server`]): `--server` and `WSPP_SERVER` both name one, and
//! `--no-local-server` forbids it. The hidden `--default-server` (`WSPP_DEFAULT_SERVER`)
//! moves the unnamed default, which is how the tests avoid port 8080.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches, Parser};

use super::invocation::{FrontEnd, Invocation, ServerChoice};
use crate::commands::Options;
use crate::net::proxy::Proxies;
use crate::net::settings::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_USER_AGENT, Dial, Header, Headers};
use crate::net::tls::TlsOptions;
use wsppsrv::docs::DocsCommand;

mod listen;
mod subcommands;
mod values;

pub use self::listen::ListenArgs;
pub use self::subcommands::{
    CliCommand, HexBytes, InspectArgs, LoadArgs, MergeArgs, PingArgs, RequestCommand,
};
pub use self::values::{ServerArg, parse_server};
use self::values::{no_proxy_var, parse_header, parse_proxy, parse_subprotocol};

/// The help heading of the options every subcommand takes.
const GLOBAL: &str = "Global options";
/// The help heading of the TLS options.
const TLS: &str = "TLS options (wss://)";

/// A client for wsppsrv: fire requests and watch the WebSocket protocol at work, or
/// measure latency like ping(8) against any WebSocket server.
///
/// Without a subcommand it shows a menu of requests: a terminal UI on a terminal,
/// a numbered menu otherwise (or with --plain). Exit status: 0 on success, 1 when
/// `ping` lost pings, 2 on error. Ctrl-C ends `ping` with its summary and 0 or 1 by
/// loss (as ping(8)), `hold` with 0 and the menus with 130. SIGTERM ends `ping` and
/// `hold` the same way but with Close 1001 (Going Away) instead of 1000, and 143.
#[derive(Debug, Parser)]
#[command(name = "wsppclient", version)]
pub struct Cli {
    /// The server to talk to: HOST:PORT, or wss://HOST:PORT for TLS [default: 127.0.0.1:8080, started in this process if nothing listens there; 127.0.0.1:8443 with --tls]
    #[arg(
        long,
        env = "WSPP_SERVER",
        value_name = "HOST:PORT",
        value_parser = parse_server,
        global = true,
        help_heading = GLOBAL
    )]
    pub server: Option<ServerArg>,

    /// Never start a server in this process: without --server, wsppclient starts one
    /// on the default address when nothing listens there
    #[arg(
        long,
        env = "WSPP_NO_LOCAL_SERVER",
        action = ArgAction::SetTrue,
        value_parser = BoolishValueParser::new(),
        global = true,
        help_heading = GLOBAL
    )]
    pub no_local_server: bool,

    /// Where to look for (and, if none listens, start) the server when --server is not
    /// given; the tests point it at a fresh port (127.0.0.1:0) instead of 8080
    #[arg(
        long,
        env = "WSPP_DEFAULT_SERVER",
        value_name = "IP:PORT",
        hide = true,
        global = true
    )]
    pub default_server: Option<SocketAddr>,

    /// The server speaks TLS: https:// and wss:// instead of http:// and ws://
    #[arg(
        long,
        env = "WSPP_TLS",
        action = ArgAction::SetTrue,
        value_parser = BoolishValueParser::new(),
        global = true,
        help_heading = TLS
    )]
    pub tls: bool,

    /// Trust only the certificate(s) in this PEM file, not the system's roots (e.g. the one wsppsrv --tls-self-signed writes)
    #[arg(
        long,
        env = "WSPP_CA",
        value_name = "FILE",
        global = true,
        help_heading = TLS
    )]
    pub ca: Option<PathBuf>,

    /// Do not verify the server's certificate (a warning says so on stderr)
    #[arg(
        short = 'k',
        long,
        env = "WSPP_INSECURE",
        action = ArgAction::SetTrue,
        value_parser = BoolishValueParser::new(),
        global = true,
        help_heading = TLS
    )]
    pub insecure: bool,

    /// Append TLS session secrets to FILE so that Wireshark can decrypt the capture
    #[arg(
        long,
        env = "SSLKEYLOGFILE",
        value_name = "FILE",
        global = true,
        help_heading = TLS
    )]
    pub key_log: Option<PathBuf>,

    /// Use the numbered menu even on a terminal
    #[arg(long)]
    pub plain: bool,

    /// Add a header to every request (repeatable)
    #[arg(
        short = 'H',
        long = "header",
        value_name = "NAME: VALUE",
        value_parser = parse_header,
        global = true,
        help_heading = GLOBAL
    )]
    pub headers: Vec<Header>,

    /// The Origin header to send (browsers always send one)
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub origin: Option<String>,

    /// Show every payload also as a hex dump (offset, 16 bytes a line, ASCII) in transcripts
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub hex: bool,

    /// The User-Agent header to send (the server's page shows it)
    #[arg(
        long,
        value_name = "TEXT",
        default_value = DEFAULT_USER_AGENT,
        global = true,
        help_heading = GLOBAL
    )]
    pub user_agent: String,

    /// Offer this WebSocket subprotocol (Sec-WebSocket-Protocol); repeatable, in order of preference (listen: the ones it accepts)
    #[arg(
        long = "subprotocol",
        value_name = "NAME",
        value_parser = parse_subprotocol,
        global = true,
        help_heading = GLOBAL
    )]
    pub subprotocols: Vec<String>,

    /// Offer permessage-deflate (RFC 7692): messages compressed both ways if the server agrees, as browsers offer it (listen: take a client's offer)
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub deflate: bool,

    /// Connect through this proxy: http://HOST:PORT (a CONNECT tunnel; http://USER:PASS@HOST:PORT for Basic auth), socks5:// or socks5h:// [default: HTTPS_PROXY for wss://, HTTP_PROXY for ws://, else ALL_PROXY; NO_PROXY lists hosts reached directly; '' for none]
    #[arg(
        long,
        value_name = "URL",
        value_parser = parse_proxy,
        global = true,
        help_heading = GLOBAL
    )]
    pub proxy: Option<String>,

    /// Connect directly, whatever --proxy and the *_PROXY variables say
    #[arg(long, global = true, help_heading = GLOBAL, conflicts_with = "proxy")]
    pub no_proxy: bool,

    /// Open WebSockets over HTTP/2 (RFC 8441): ALPN h2 over TLS, prior knowledge (h2c)
    /// over ws://, then an extended CONNECT once the server's SETTINGS allow it (ping,
    /// hold, inspect and load)
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub http2: bool,

    /// What to run; the menu when absent
    #[command(subcommand)]
    pub command: Option<CliCommand>,
}

/// Parses the process's arguments (exiting with clap's message and status 2 on a bad
/// one), keeping the order of `inspect`'s messages.
pub fn parse() -> Cli {
    from_matches(&Cli::command().get_matches()).unwrap_or_else(|e| e.exit())
}

/// [`parse`] over given arguments, for tests.
pub fn try_parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    from_matches(&Cli::command().try_get_matches_from(args)?)
}

fn from_matches(matches: &ArgMatches) -> Result<Cli, clap::Error> {
    let mut cli = Cli::from_arg_matches(matches)?;
    // Here, not as clap's `requires`: that does not see a global --http2 given before
    // the subcommand.
    if let Some(CliCommand::Load(args)) = &cli.command
        && args.streams.is_some()
        && !cli.http2
    {
        return Err(Cli::command().error(
            clap::error::ErrorKind::MissingRequiredArgument,
            "--streams puts WebSockets on shared HTTP/2 connections: it needs --http2",
        ));
    }
    if let (Some(CliCommand::Request(RequestCommand::Inspect(args))), Some((_, sub))) =
        (&mut cli.command, matches.subcommand())
    {
        args.order_messages(sub);
    }
    Ok(cli)
}

impl Cli {
    /// The completions or man page asked for, if that is what this command line asks:
    /// `main` answers those without making an [`Invocation`].
    pub fn docs(&self) -> Option<&DocsCommand> {
        match &self.command {
            Some(CliCommand::Docs(docs)) => Some(docs),
            _ => None,
        }
    }

    /// The plain settings and front-end this command line asks for (see [`Cli::docs`] for
    /// the subcommands that run nothing).
    pub fn into_invocation(self) -> Invocation {
        let scheme_tls = self.server.as_ref().and_then(|s| s.tls);
        let tls = self.tls || scheme_tls == Some(true);
        let named = self.server.is_some();
        let addr = match (self.server, self.default_server) {
            (Some(server), _) => server.addr,
            (None, Some(default)) => default.to_string(),
            (None, None) if tls => wspp::routes::DEFAULT_TLS_ADDR.to_owned(),
            (None, None) => wspp::routes::DEFAULT_ADDR.to_owned(),
        };
        let server = ServerChoice {
            addr,
            tls,
            may_start: !named && !self.no_local_server,
        };
        let dial = Dial {
            tls: TlsOptions {
                ca: self.ca,
                insecure: self.insecure,
                // An empty SSLKEYLOGFILE is how people unset it in a shell.
                key_log: self.key_log.filter(|p| !p.as_os_str().is_empty()),
            },
            proxy: match self.proxy {
                _ if self.no_proxy => Proxies::direct(),
                // curl's `-x ''`: no proxy, whatever the environment says.
                Some(url) if url.is_empty() => Proxies::direct(),
                Some(url) => Proxies::given(&url, &no_proxy_var()),
                None => Proxies::from_env(),
            },
            timeout: DEFAULT_CONNECT_TIMEOUT,
            http2: self.http2,
        };
        let headers = Headers {
            custom: self.headers,
            origin: self.origin,
            user_agent: self.user_agent,
            subprotocols: self.subprotocols,
            deflate: self.deflate,
        };
        let hex = self.hex;
        let command = match self.command {
            Some(CliCommand::Request(command)) => Some(command),
            Some(CliCommand::Load(args)) => {
                let front_end = FrontEnd::Load(Box::new(args.into_options()));
                return Invocation {
                    server,
                    dial,
                    headers,
                    front_end,
                };
            }
            Some(CliCommand::Merge(args)) => {
                let front_end = FrontEnd::Merge(args.into_options());
                return Invocation {
                    server,
                    dial,
                    headers,
                    front_end,
                };
            }
            Some(CliCommand::Listen(args)) => {
                let key_log = dial.tls.key_log.clone();
                let options =
                    args.into_options(headers.subprotocols.clone(), headers.deflate, key_log, hex);
                return Invocation {
                    server,
                    dial,
                    headers,
                    front_end: FrontEnd::Listen { options },
                };
            }
            // Answered before a run is made (`Cli::docs`); nothing of a run is left.
            Some(CliCommand::Docs(_)) | None => None,
        };
        let mut options = Options::default();
        let front_end = match command {
            None => FrontEnd::Menu {
                plain: self.plain,
                options,
                hex,
            },
            Some(RequestCommand::Ping(args)) => {
                let format = args.format();
                FrontEnd::Ping {
                    options: args.into_options(),
                    format,
                }
            }
            Some(command) => {
                let request = command.request();
                match command {
                    RequestCommand::Hold {
                        interval,
                        reconnect,
                    } => {
                        options.hold.interval = interval;
                        options.hold.reconnect = reconnect;
                    }
                    RequestCommand::Inspect(args) => options.inspect = args.into_options(),
                    _ => {}
                }
                FrontEnd::Request {
                    request,
                    options,
                    hex,
                }
            }
        };
        Invocation {
            server,
            dial,
            headers,
            front_end,
        }
    }
}

#[cfg(test)]
mod tests;
