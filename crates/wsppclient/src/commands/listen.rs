//! `listen`: a WebSocket server that shows its clients as `inspect` shows servers.
//!
//! Half of WebSocket debugging is on the client's side: what does a browser page, an
//! app or a bot really send? `listen` accepts an upgrade on any path and prints, for
//! each connection, the transcript `inspect` prints turned around: the request head
//! as it arrived, our answer, every frame both ways with its bits (the client's mask
//! keys among them), the close handshake and the Wireshark filter of the connection.
//! The tap, the frame follower and the transcript are the client's own
//! ([`crate::watch`]): they do not care which side opened the connection.
//!
//! What a client meets is chosen on the command line ([`ListenOptions`]): the
//! subprotocols we speak, a refusal, a close after N messages, an echo, Pings timed
//! on the kernel's clock, a limit on clients. Lines typed on standard input go to
//! every open connection as Text (or to one). Several clients may talk at once:
//! every line of output names its connection.
//!
//! The parts, bottom up: [`options`] (what to do), [`event`] (what connections report),
//! `handshake` (the answer to a request, a pure function), `session` (one
//! WebSocket), `conn` (one connection, accept to summary), `output` (lines or JSON);
//! the accept loop, here, is the only part that knows them all. It hands each event to
//! whoever serves ([`Listener::serve_with`]): the printer, for the command line, or
//! the terminal UI's listen pane.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncBufRead;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

mod conn;
pub mod event;
mod handshake;
pub mod options;
mod output;
mod session;

pub use self::options::{DEFAULT_CLOSE_CODE, DEFAULT_LISTEN_ADDR, ListenFormat, ListenOptions};

use self::conn::Shared;
use self::event::{Event, EventKind};
use self::output::Printer;
use crate::error::Error;

/// How long the accept loop pauses after a failed accept (out of file descriptors,
/// say) before it tries again, rather than spin or give up.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long, once stopped, the loop waits for the connections to close before it
/// leaves without them.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// A bound `listen`, not yet serving.
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    /// Set for wss://.
    tls: Option<Arc<rustls::ServerConfig>>,
    options: ListenOptions,
}

impl Listener {
    /// Binds `options.addr` (and sets TLS up when asked).
    pub async fn bind(options: ListenOptions) -> Result<Listener, Error> {
        let failed = |source| Error::Listen {
            addr: options.addr.clone(),
            source,
        };
        let addr = tokio::net::lookup_host(&options.addr)
            .await
            .map_err(failed)?
            .next()
            .ok_or_else(|| {
                failed(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the name resolves to no address",
                ))
            })?;
        let tcp = wsppsrv::bind(addr).map_err(failed)?;
        let tls = match &options.tls {
            None => None,
            Some(source) => {
                let config = wsppsrv::tls::load(source)
                    .map_err(|e| Error::TlsSetup(crate::error::one_line(&e)))?;
                let config = match &options.key_log {
                    None => config,
                    Some(path) => {
                        let mut config = (*config).clone();
                        config.key_log = crate::net::tls::key_log(path)?;
                        Arc::new(config)
                    }
                };
                Some(config)
            }
        };
        Ok(Listener { tcp, tls, options })
    }

    /// The address bound (its port, when 0 was asked for).
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.tcp.local_addr()?)
    }

    /// The first line, for stderr: `listening on ws://127.0.0.1:9001/ (any path)`,
    /// and for wss:// the certificate to trust.
    pub fn banner(&self) -> Result<String, Error> {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        let mut line = format!("listening on {scheme}://{}/ (any path)", self.local_addr()?);
        if let Some(wsppsrv::tls::CertSource::SelfSigned { write_cert_to }) = &self.options.tls {
            line.push_str(&format!(
                "\nself-signed certificate for {} written to {}: clients trust it with --ca {}",
                wsppsrv::tls::SELF_SIGNED_NAMES.join(", "),
                write_cert_to.display(),
                write_cert_to.display()
            ));
        }
        Ok(line)
    }

    /// Serves until `stop` resolves: accepts every client, prints what each does to
    /// `out`, and sends each line read from `input` as a Text message. Then closes
    /// every connection with 1001 and prints its summary.
    pub async fn serve(
        self,
        input: impl AsyncBufRead + Unpin,
        out: &mut (dyn Write + Send),
        stop: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        let mut printer = Printer::new(self.options.format, self.options.show_cookies);
        self.serve_with(input, stop, |report| {
            let lines = match report {
                Report::Event(event) => printer.lines(event),
                Report::Notice(text) => vec![printer.notice(&text)],
            };
            for line in lines {
                writeln!(out, "{line}")?;
            }
            // Each event as it happens, even into a pipe: someone is watching.
            out.flush()?;
            Ok(())
        })
        .await
    }

    /// [`Listener::serve`], each event handed to `report` as it comes rather than
    /// printed; an error from `report` ends the serving.
    pub async fn serve_with(
        self,
        input: impl AsyncBufRead + Unpin,
        stop: impl Future<Output = ()>,
        mut report: impl FnMut(Report) -> Result<(), Error>,
    ) -> Result<(), Error> {
        use tokio::io::AsyncBufReadExt;
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let to = self.options.to;
        let shared = Arc::new(Shared {
            sessions: self
                .options
                .max_clients
                .map(|n| Arc::new(Semaphore::new(n))),
            options: self.options,
            tls: self.tls.map(TlsAcceptor::from),
            events: events_tx,
            stop: CancellationToken::new(),
        });
        // Each open connection's way to the lines typed for it.
        let mut open: BTreeMap<u64, mpsc::UnboundedSender<String>> = BTreeMap::new();
        let mut next_id = 1u64;
        let mut lines = input.lines();
        let mut reading = true;
        tokio::pin!(stop);
        let mut stopped = None;
        loop {
            if stopped.is_some() && open.is_empty() {
                break;
            }
            let grace = stopped.unwrap_or_else(|| tokio::time::Instant::now() + STOP_GRACE);
            tokio::select! {
                () = &mut stop, if stopped.is_none() => {
                    shared.stop.cancel();
                    stopped = Some(tokio::time::Instant::now() + STOP_GRACE);
                }
                () = tokio::time::sleep_until(grace), if stopped.is_some() => break,
                accepted = self.tcp.accept(), if stopped.is_none() => match accepted {
                    Ok((tcp, peer)) => {
                        let (typed_tx, typed) = mpsc::unbounded_channel();
                        open.insert(next_id, typed_tx);
                        tokio::spawn(conn::serve(next_id, tcp, peer, Arc::clone(&shared), typed));
                        next_id += 1;
                    }
                    Err(err) => {
                        tracing::warn!(%err, "accept failed; trying again");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
                line = lines.next_line(), if reading => match line {
                    Ok(Some(line)) => {
                        if let Some(problem) = send_typed(&open, to, &line) {
                            report(Report::Notice(problem))?;
                        }
                    }
                    // The end of input ends the typing, not the serving.
                    Ok(None) | Err(_) => reading = false,
                },
                Some(event) = events.recv() => {
                    if let EventKind::Ended(_) = event.kind {
                        open.remove(&event.conn);
                    }
                    report(Report::Event(event))?;
                }
            }
        }
        // What the connections said before they were cut off.
        while let Ok(event) = events.try_recv() {
            report(Report::Event(event))?;
        }
        Ok(())
    }
}

/// What serving reports, as it happens.
#[derive(Debug)]
pub enum Report {
    /// A connection's news.
    Event(Event),
    /// A line of `listen`'s own, of no connection (a typed line it could not send).
    Notice(String),
}

/// Sends a typed line to the connection `to`, or to every open one; what went wrong,
/// to be said, if it could not be sent.
fn send_typed(
    open: &BTreeMap<u64, mpsc::UnboundedSender<String>>,
    to: Option<u64>,
    line: &str,
) -> Option<String> {
    match to {
        Some(id) => match open.get(&id) {
            Some(typed) if typed.send(line.to_owned()).is_ok() => None,
            _ => Some(format!("no connection [{id}] is open; {line:?} not sent")),
        },
        None if open.is_empty() => Some(format!("no connection is open; {line:?} not sent")),
        None => {
            for typed in open.values() {
                let _ = typed.send(line.to_owned());
            }
            None
        }
    }
}
