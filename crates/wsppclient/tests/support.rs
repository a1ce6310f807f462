//! What the tests talk to, and how they watch the client.
//!
//! * [`Server`]: the real wsppsrv, in-process on `127.0.0.1:0`; dropping it shuts it down.
//!   [`Server::start_tls`] adds a TLS listener with a fresh self-signed certificate.
//! * [`raw`]: the hand-written WebSocket server of `wspp::test_util::peer`, which the
//!   tests bend into peers that misbehave (a silent server, one that sends unsolicited
//!   pongs, one that refuses the upgrade), so the client is also checked against
//!   something that is not our own server.
//! * [`transcript_of`] runs a request and returns its transcript as text;
//!   [`run_binary`] runs the built `wsppclient` as a user would.
//!
//! * [`proxies`]: an HTTP `CONNECT` proxy and a SOCKS5 proxy that count their tunnels;
//!   [`subprotocols`]: a WebSocket server that answers `Sec-WebSocket-Protocol`.
//!
//! Nothing here sleeps to synchronise: every wait is for an event, bounded by [`within`]
//! (`wspp::test_util`'s, as both programs' suites are).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Output;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wsppclient::commands::Options;
use wsppclient::commands::catalog::Request;
use wsppclient::commands::ping::{self, PingOptions};
use wsppclient::net::settings::ConnectSettings;
use wsppclient::probe::{PingEvent, PingReport};
use wsppclient::watch::transcript::{Entry, Transcript};

/// wsppsrv's own suite's in-process server, so that both suites start it one way.
#[path = "../../wsppsrv/tests/support/in_process.rs"]
mod in_process;
pub mod proxies;
pub mod subprotocols;

pub use in_process::Server;
pub use wspp::test_util::peer::server as raw;
pub use wspp::test_util::within;

/// wsppsrv with intervals short enough for tests.
pub fn fast_server_config() -> wsppsrv::Config {
    wsppsrv::Config {
        ping_interval: Duration::from_millis(20),
        ping_timeout: Duration::from_secs(5),
        ..wsppsrv::Config::default()
    }
}

impl Server {
    pub async fn start(config: wsppsrv::Config) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        Server::serve(wsppsrv::Listeners::plain(listener), config)
    }

    /// wsppsrv on `addr` through `wsppsrv::bind` (`SO_REUSEADDR`), so that a server
    /// shut down can be started again on the port it had: a restart.
    pub async fn start_on(addr: SocketAddr, config: wsppsrv::Config) -> Server {
        let listener = wsppsrv::bind(addr).expect("bind loopback");
        Server::serve(wsppsrv::Listeners::plain(listener), config)
    }

    /// Connection settings pointing at this server.
    pub fn client_settings(&self) -> ConnectSettings {
        ConnectSettings::new(self.addr.to_string())
    }
}

/// The TLS side of [`Server::start_tls`].
pub struct TlsSide {
    /// Where TLS listens (the plain listener is `Server::addr`).
    pub addr: std::net::SocketAddr,
    /// The server's certificate as a PEM file, for `--ca`.
    pub ca: PathBuf,
}

impl Server {
    /// wsppsrv with TLS next to plain HTTP, both on `127.0.0.1:0`, with a certificate
    /// generated for `localhost`, `127.0.0.1` and `::1`.
    pub async fn start_tls(config: wsppsrv::Config) -> (Server, TlsSide) {
        Server::start_tls_with(
            config,
            &wsppsrv::tls::SELF_SIGNED_NAMES,
            rustls::DEFAULT_VERSIONS,
        )
        .await
    }

    /// [`Server::start_tls`] with a certificate for `names` and only the TLS `versions`.
    pub async fn start_tls_with(
        config: wsppsrv::Config,
        names: &[&str],
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> (Server, TlsSide) {
        let generated = wsppsrv::tls::Identity::self_signed_for(names).expect("a certificate");
        let tls_config = generated
            .identity
            .server_config_with_versions(versions)
            .expect("rustls takes it");
        Server::start_tls_serving(config, tls_config, &generated.cert_pem).await
    }

    /// A server whose TLS listener serves `tls_config`; `ca_pem` is what the client is
    /// given to trust, in [`TlsSide::ca`].
    pub async fn start_tls_serving(
        config: wsppsrv::Config,
        tls_config: std::sync::Arc<rustls::ServerConfig>,
        ca_pem: &str,
    ) -> (Server, TlsSide) {
        let ca = temp_file("ca.pem", ca_pem);
        let plain = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let tls = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let tls_addr = tls.local_addr().expect("bound address");
        let listeners = wsppsrv::Listeners::plain(plain)
            .with_tls(wsppsrv::tls::TlsListener::new(tls, tls_config));
        let server = Server::serve(listeners, config);
        (server, TlsSide { addr: tls_addr, ca })
    }
}

/// A new file in this test binary's scratch directory holding `contents`; the name
/// ends in `suffix` and is never reused within a run.
pub fn temp_file(suffix: &str, contents: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("wsppclient-{}-{n}-{suffix}", std::process::id()));
    std::fs::write(&path, contents).expect("write a scratch file");
    path
}

/// A loopback port held bound but not listening, for as long as this value lives.
///
/// A connect to it is refused, and no other test can take the port meanwhile: the
/// kernel hands out neither a listening port nor a client's source port that a socket
/// still holds. (An address bound and then released could be reused by a parallel
/// test before the connect, which would then reach that test's server.) `SO_REUSEADDR`
/// lets a server ([`Server::start_on`]) listen on the port while it is held.
pub struct HeldPort {
    _socket: tokio::net::TcpSocket,
    pub addr: SocketAddr,
}

impl HeldPort {
    pub fn new() -> HeldPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind loopback");
        let addr = socket.local_addr().expect("bound address");
        HeldPort {
            _socket: socket,
            addr,
        }
    }
}

impl std::fmt::Display for HeldPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.addr.fmt(f)
    }
}

/// An address where nothing listens, held for the life of the returned value.
pub fn refused_addr() -> HeldPort {
    HeldPort::new()
}

/// Runs `request` with the default options to its end and returns its result and its
/// transcript as text.
pub async fn transcript_of(
    request: Request,
    settings: &ConnectSettings,
) -> (Result<(), wsppclient::Error>, String) {
    transcript_with(request, settings, &Options::default()).await
}

/// [`transcript_of`] with `options`.
pub async fn transcript_with(
    request: Request,
    settings: &ConnectSettings,
    options: &Options,
) -> (Result<(), wsppclient::Error>, String) {
    let cancel = CancellationToken::new();
    let (transcript, mut rx) = Transcript::new();
    let result = within(wsppclient::commands::run(
        request,
        settings,
        options,
        &transcript,
        &cancel,
    ))
    .await;
    drop(transcript);
    let mut entries: Vec<Entry> = Vec::new();
    while let Some(entry) = within(rx.recv()).await {
        entries.push(entry);
    }
    let text = entries
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    (result, text)
}

/// Runs the `wsppclient` binary with `args` and waits for it to exit.
/// The wire of an `open-close` against a server pinging `pings` times, as a transcript
/// shows it, over plain TCP or inside TLS alike: the upgrade, the server's unmasked
/// Pings, and a Close 1000.
pub fn assert_open_close_wire(text: &str, pings: usize) {
    assert!(
        text.contains("→ GET /openandclosewebsocket HTTP/1.1"),
        "{text}"
    );
    assert!(
        text.contains("← HTTP/1.1 101 Switching Protocols"),
        "{text}"
    );
    assert_eq!(
        text.matches("← Ping fin=1 mask=0 len=16 seq=").count(),
        pings,
        "{text}"
    );
    assert!(text.contains("1000 (Normal Closure)"), "{text}");
}

/// Asserts that the binary failed with exit status 2 and the one line for a server at
/// `url` that accepted extension `x-mystery`, which the client does not implement.
pub fn assert_refused_x_mystery(output: &Output, url: &str) {
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "wsppclient: {url}: the server accepted extension \"x-mystery\", which this client \
             does not implement; closed with 1010"
        )
    );
}

pub async fn run_binary(args: &[&str]) -> Output {
    run_binary_with_env(args, &[]).await
}

/// [`run_binary`] with extra environment variables (e.g. `SSLKEYLOGFILE`).
pub async fn run_binary_with_env(args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Output {
    let child = binary(args, env)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    within(child).await.expect("the binary ran")
}

/// The `wsppclient` binary with `args` and `env`, in an environment of its own: what
/// the machine running the tests has set (a server, a log filter, a key log file, a
/// proxy, which would reroute the tests) is removed, and a test that wants one sets it
/// in `env`.
fn binary(args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_wsppclient"));
    command.args(args);
    for name in [
        "WSPP_SERVER",
        "RUST_LOG",
        "SSLKEYLOGFILE",
        "ALL_PROXY",
        "all_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command
}

/// The `wsppclient` binary started with `args`, its stdout piped and read line by
/// line, for tests that act while it runs (signals, live output).
pub struct Running {
    pub child: tokio::process::Child,
    pub lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Running {
    pub fn start(args: &[&str]) -> Running {
        Running::start_with_env(args, &[])
    }

    /// [`Running::start`] with extra environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Running {
        use tokio::io::AsyncBufReadExt;
        let mut child = binary(args, env)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        Running {
            child,
            lines: tokio::io::BufReader::new(stdout).lines(),
        }
    }

    /// The next line of stdout (`None` at its end).
    pub async fn line(&mut self) -> Option<String> {
        within(self.lines.next_line())
            .await
            .expect("stdout readable")
    }

    /// Reads stdout until a line satisfies `wanted`; returns every line read.
    pub async fn until(&mut self, wanted: impl Fn(&str) -> bool) -> Vec<String> {
        let mut seen = Vec::new();
        while let Some(line) = self.line().await {
            let done = wanted(&line);
            seen.push(line);
            if done {
                return seen;
            }
        }
        panic!("stdout ended before the line wanted: {seen:?}");
    }

    /// Sends `signal` (`INT`, `TERM`) with kill(1), as a shell or a supervisor would.
    pub async fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("still running").to_string();
        let status = tokio::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .await
            .expect("kill(1) runs");
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// The rest of stdout, then the exit status and stderr.
    pub async fn finish(mut self) -> (Vec<String>, std::process::ExitStatus, String) {
        use tokio::io::AsyncReadExt;
        let mut rest = Vec::new();
        while let Some(line) = self.line().await {
            rest.push(line);
        }
        let status = within(self.child.wait()).await.expect("the binary ends");
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = within(pipe.read_to_string(&mut stderr)).await;
        }
        (rest, status, stderr)
    }
}

/// The last line of the binary's stdout, parsed as JSON.
pub fn last_json_line(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().expect("stdout has a line");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last:?}"))
}

/// What a library ping session runs with.
pub type Session = (ConnectSettings, PingOptions);

/// A session pinging `url` `count` times back to back, with the default settings.
pub fn pinging(url: String, count: u64) -> Session {
    let options = PingOptions {
        url: Some(url),
        count: Some(count),
        interval: Duration::ZERO,
        ..PingOptions::default()
    };
    (ConnectSettings::new("unused:1"), options)
}

/// Runs a library ping session to its end; returns its events and report.
pub async fn ping_session(
    (settings, options): &Session,
) -> (Vec<PingEvent>, Result<PingReport, wsppclient::Error>) {
    let mut events = Vec::new();
    let report = within(ping::ping(
        settings,
        options,
        &CancellationToken::new(),
        |e| events.push(e.clone()),
    ))
    .await;
    (events, report)
}
