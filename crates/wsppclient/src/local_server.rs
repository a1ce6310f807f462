//! wsppsrv started inside the client, so that one command shows everything.
//!
//! A newcomer who runs `wsppclient` without having started `wsppsrv` would otherwise
//! meet "connection refused" before seeing anything. When the user named no server
//! (neither `--server` nor `WSPP_SERVER`) and nothing listens on the default address,
//! the client serves wsppsrv's library on that address itself, for as long as it runs.
//! It is still real loopback TCP, so Wireshark sees exactly what it would see with a
//! separate server.
//!
//! Whether something listens is learnt by binding the address, not by connecting to
//! it: a probe connection would show up in the capture and in the server's logs, and
//! between a failed probe and a bind another program could take the port. A bind that
//! succeeds is the answer and the listener at once.
//!
//! An address given by the user is never served here: against it, a refused
//! connection stays the error it is.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::catalog::Request;
use crate::config::{Config, FrontEnd};

/// How long [`LocalServer::stop`] waits beyond the server's own grace period (in which
/// its clients answer the Close 1001) before abandoning it.
const STOP_MARGIN: Duration = Duration::from_secs(1);

/// wsppsrv serving in this process until [`LocalServer::stop`].
#[derive(Debug)]
pub struct LocalServer {
    addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<io::Result<()>>,
}

/// Whether this run may start its own server: the user named none, and what it runs
/// talks to wsppsrv (`ping URL` and `inspect URL` talk to whatever URL they were
/// given). Only plain
/// ws:// is served; a TLS server would need a certificate the client trusts.
pub fn wanted(config: &Config, front_end: &FrontEnd) -> bool {
    config.start_local_server
        && !config.server_tls
        && match front_end {
            FrontEnd::Request(Request::Inspect) => config.inspect.url.is_none(),
            FrontEnd::Menu { .. } | FrontEnd::Request(_) => true,
            FrontEnd::Ping { .. } => config.ping.url.is_none(),
            FrontEnd::Load(options) => options.url.is_none(),
            FrontEnd::Merge(_) => false,
        }
}

impl LocalServer {
    /// Serves wsppsrv (its default settings, as `wsppsrv` without flags) on `addr` if
    /// nothing listens there; `None` if something does, or if the address cannot be
    /// bound for another reason (the connection will then say what is wrong).
    ///
    /// Must be called within a tokio runtime.
    pub fn start(addr: SocketAddr) -> Option<LocalServer> {
        let listener = match wsppsrv::bind(addr) {
            Ok(listener) => listener,
            Err(error) => {
                tracing::debug!(%addr, %error, "not starting a server in this process");
                return None;
            }
        };
        // Port 0 (for tests) binds a fresh port: the client must go there.
        let addr = listener.local_addr().unwrap_or(addr);
        let stop = CancellationToken::new();
        let task = tokio::spawn(wsppsrv::run(
            listener,
            wsppsrv::Config::default(),
            stop.clone().cancelled_owned(),
        ));
        Some(LocalServer { addr, stop, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The line that tells the user what happened; `asked` is the address the client
    /// looked for a server on.
    pub fn notice(&self, asked: &str) -> String {
        let at = if asked == self.addr.to_string() {
            String::new()
        } else {
            format!(" on {}", self.addr)
        };
        format!(
            "no server on {asked}: started one{at} in this process; it stops when wsppclient exits"
        )
    }

    /// Shuts the server down as `wsppsrv` does on a signal: no new connections, Close
    /// 1001 (Going Away) to every client, a grace period for their answers.
    pub async fn stop(self) {
        self.stop.cancel();
        let patience = wsppsrv::Config::default().shutdown_grace + STOP_MARGIN;
        match tokio::time::timeout(patience, self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => tracing::warn!(%error, "the local server failed"),
            Ok(Err(error)) => tracing::warn!(%error, "the local server task failed"),
            Err(_) => tracing::warn!(?patience, "the local server did not stop in time"),
        }
    }
}
