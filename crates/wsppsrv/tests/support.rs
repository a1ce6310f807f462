//! What every test file shares: a server started in-process ([`TestServer`]), a raw
//! HTTP/WebSocket client ([`raw`], from `wspp::test_util`), a well-behaved client to
//! keep beside hostile ones ([`Bystander`]), and the leak check run after each hostile
//! test ([`TestServer::wait_until_clean`]).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use wspp::clients::ClientsReport;
use wsppsrv::Config;

/// The `wsppsrv` binary as a child process.
pub mod child;
/// wsppsrv in the test's runtime (wsppclient's suite starts it the same way).
pub mod in_process;

/// wsppsrv in the test's runtime, with what this suite asks of it below.
pub use in_process::Server as TestServer;
pub use wspp::test_util::{PATIENCE, within};

impl TestServer {
    pub async fn start(config: Config) -> TestServer {
        let listener = wsppsrv::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind loopback");
        TestServer::serve(wsppsrv::Listeners::plain(listener), config)
    }

    /// A server with `/metrics` on a listener of its own, whose address is returned.
    pub async fn start_with_metrics_listener(config: Config) -> (TestServer, SocketAddr) {
        let bind = || wsppsrv::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
        let (plain, metrics) = (bind(), bind());
        let metrics_addr = metrics.local_addr().expect("local addr");
        let listeners = wsppsrv::Listeners::plain(plain).with_metrics(metrics);
        (TestServer::serve(listeners, config), metrics_addr)
    }

    /// `GET path` on a fresh connection; returns the whole response.
    pub async fn get(&self, path: &str) -> Response {
        self.request(&format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        ))
        .await
    }

    /// Sends raw bytes as a request and reads one response: its head, then as many body
    /// bytes as `Content-Length` says (or up to EOF without one). A `HEAD` answer is read
    /// to EOF whatever its `Content-Length` says (which is the GET's length), so that a
    /// body sent where none may be shows in `body`: send `HEAD` with `Connection: close`.
    pub async fn request(&self, raw: &str) -> Response {
        let mut stream = self.connect().await;
        stream
            .write_all(raw.as_bytes())
            .await
            .expect("send request");
        let head = raw::read_head(&mut stream).await;
        let mut response = Response::parse(head.as_bytes());
        let mut body = Vec::new();
        match response.header("content-length").map(|n| n.parse::<u64>()) {
            _ if raw.starts_with("HEAD ") => {
                within(stream.read_to_end(&mut body))
                    .await
                    .expect("read to the end");
            }
            Some(Ok(len)) => {
                within((&mut stream).take(len).read_to_end(&mut body))
                    .await
                    .expect("read body");
            }
            Some(Err(_)) | None => {
                within(stream.read_to_end(&mut body))
                    .await
                    .expect("read body");
            }
        }
        response.body = String::from_utf8_lossy(&body).into_owned();
        response
    }

    pub async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr)
            .await
            .expect("connect to the test server")
    }

    /// Connects with a receive buffer of a few KiB, so that a client that does not read
    /// pushes back on the server after a few KiB instead of after megabytes of kernel
    /// buffer: the server's own buffering is what the test then sees.
    pub async fn connect_small_window(&self) -> TcpStream {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        socket
            .connect(self.addr)
            .await
            .expect("connect to the test server")
    }

    /// Waits until the server lists no client and holds no socket but its listener.
    ///
    /// Descriptors are counted per server, not per process: the tests of this binary
    /// run in parallel in one process, so `/proc/self/fd` as a whole moves with every
    /// other test. Every socket whose local port is this server's port is one of its
    /// descriptors (the listener, or an accepted connection), so the count of those
    /// among `/proc/self/fd` is this server's own, and a leaked connection shows as
    /// one more. TIME_WAIT leftovers own no descriptor and do not count.
    pub async fn wait_until_clean(&self) {
        let mut last = (usize::MAX, usize::MAX);
        let waited = tokio::time::timeout(PATIENCE, async {
            loop {
                let listed = self.clients().await.clients.len();
                let sockets = self.open_sockets();
                if listed == 0 && sockets == 1 {
                    return;
                }
                last = (listed, sockets);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "server not clean: {} clients listed, {} sockets open (want 0 and the listener)",
            last.0,
            last.1
        );
    }

    /// Polls [`TestServer::open_sockets`] until it reads `count`: a connection just closed
    /// by the peer may take a moment to be closed by the server too.
    pub async fn wait_for_sockets(&self, count: usize) {
        let mut last = usize::MAX;
        let waited = tokio::time::timeout(PATIENCE, async {
            loop {
                last = self.open_sockets();
                if last == count {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "{last} sockets open on the server, not {count}"
        );
    }

    /// The descriptors of this process that are sockets bound to the server's port.
    pub fn open_sockets(&self) -> usize {
        let ours = socket_inodes_on_port(self.addr.port());
        std::fs::read_dir("/proc/self/fd")
            .expect("/proc/self/fd")
            .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
            .filter_map(|target| {
                let target = target.to_str()?.to_owned();
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .parse::<u64>()
                    .ok()
            })
            .filter(|inode| ours.contains(inode))
            .count()
    }

    /// `GET /metrics`, checked for its status and content type.
    pub async fn metrics(&self) -> Metrics {
        let response = self.get("/metrics").await;
        assert_eq!(response.status, 200, "{}", response.head);
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        Metrics(response.body)
    }

    /// Polls `/metrics` until `series` reads `value`; the outer bound fails the test.
    pub async fn wait_for_metric(&self, series: &str, value: f64) -> Metrics {
        let mut last = None;
        let waited = tokio::time::timeout(PATIENCE, async {
            loop {
                let metrics = self.metrics().await;
                last = metrics.get(series);
                if last == Some(value) {
                    return metrics;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        waited.unwrap_or_else(|_| panic!("{series} is {last:?}, not {value}"))
    }

    pub async fn clients(&self) -> ClientsReport {
        let response = self.get("/clients.json").await;
        assert_eq!(response.status, 200, "{}", response.head);
        serde_json::from_str(&response.body).expect("clients.json parses")
    }

    /// Polls `/clients.json` until `done` holds; the outer bound fails the test.
    pub async fn wait_for_clients(
        &self,
        mut done: impl FnMut(&ClientsReport) -> bool,
    ) -> ClientsReport {
        within(async {
            loop {
                let report = self.clients().await;
                if done(&report) {
                    return report;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
    }
}

/// The text of one `/metrics` answer.
#[derive(Debug)]
pub struct Metrics(pub String);

impl Metrics {
    /// The value of the sample written exactly as `series` (its name and labels, in the
    /// order the server writes them); `None` when there is no such sample.
    pub fn get(&self, series: &str) -> Option<f64> {
        self.0.lines().find_map(|line| {
            let value = line.strip_prefix(series)?.strip_prefix(' ')?;
            value.parse().ok()
        })
    }

    /// Like [`Metrics::get`], for a sample that must be there.
    pub fn value(&self, series: &str) -> f64 {
        self.get(series)
            .unwrap_or_else(|| panic!("no {series} in\n{}", self.0))
    }
}

/// The inodes of the TCP sockets (v4 and v6) whose local port is `port`.
fn socket_inodes_on_port(port: u16) -> HashSet<u64> {
    let mut inodes = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields
                .get(1)
                .and_then(|local| local.rsplit_once(':'))
                .and_then(|(_, port)| u16::from_str_radix(port, 16).ok());
            let inode = fields.get(9).and_then(|inode| inode.parse::<u64>().ok());
            if let (Some(p), Some(inode)) = (local_port, inode)
                && p == port
                && inode != 0
            {
                inodes.insert(inode);
            }
        }
    }
    inodes
}

/// A well-behaved `/pingpong` client, kept open beside hostile ones to prove that the
/// server goes on serving others while it deals with them.
pub struct Bystander {
    ws: TcpStream,
    sent: u32,
}

impl Bystander {
    pub async fn join(server: &TestServer) -> Bystander {
        Bystander {
            ws: raw::upgrade(server, "/pingpong", "User-Agent: bystander\r\n").await,
            sent: 0,
        }
    }

    /// Sends a text message and waits for its echo, answering pings on the way.
    pub async fn still_served(&mut self) {
        self.sent += 1;
        let text = format!("bystander {}", self.sent);
        raw::send(&mut self.ws, raw::TEXT, text.as_bytes()).await;
        let echo = raw::read_until(&mut self.ws, raw::TEXT).await;
        assert_eq!(echo.payload, text.as_bytes(), "the bystander's echo");
    }

    /// Checks it is still served, then closes properly.
    pub async fn leave(mut self) {
        self.still_served().await;
        raw::send(&mut self.ws, raw::CLOSE, &1000u16.to_be_bytes()).await;
        let close = raw::read_to_close(&mut self.ws)
            .await
            .expect("a close reply");
        assert_eq!(close.close_code(), Some(1000));
    }
}

/// An HTTP response as text.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Response {
    pub fn parse(bytes: &[u8]) -> Response {
        let text = String::from_utf8_lossy(bytes);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Response {
            status,
            head: head.to_string(),
            body: body.to_string(),
        }
    }

    /// The value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// The hand-written WebSocket client of `wspp::test_util::peer` (it builds and parses
/// frames by hand, so the tests check the server against the RFC, not against
/// tungstenite), and what only this suite asks of it: upgrades on a [`TestServer`], a
/// keep-alive GET, and the kernel's queues of a connection.
pub mod raw {
    pub use wspp::test_util::peer::client::*;

    use super::*;

    /// Opens a WebSocket on `path` with extra header lines; panics unless 101.
    pub async fn upgrade(server: &TestServer, path: &str, extra: &str) -> TcpStream {
        let mut stream = server.connect().await;
        let head = send_upgrade(&mut stream, path, extra).await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let accept = Response::parse(head.as_bytes());
        assert_eq!(accept.header("sec-websocket-accept"), Some(ACCEPT));
        stream
    }

    /// `GET path` on `stream`, keeping it open: reads the head and the body its
    /// `Content-Length` announces, and nothing more.
    pub async fn keep_alive_get(stream: &mut TcpStream, path: &str) -> Response {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send a request");
        let head = read_head(stream).await;
        let mut response = Response::parse(head.as_bytes());
        let len: u64 = response
            .header("content-length")
            .and_then(|n| n.parse().ok())
            .expect("a content length");
        let mut body = Vec::new();
        within(stream.take(len).read_to_end(&mut body))
            .await
            .expect("read the body");
        response.body = String::from_utf8_lossy(&body).into_owned();
        response
    }

    /// The bytes the kernel holds for one TCP connection, as `/proc/net/tcp` shows them.
    #[derive(Debug, Clone, Copy)]
    pub struct Queues {
        /// Written by the socket's owner and not yet acknowledged by the peer.
        pub send: u64,
        /// Received and not yet read by the socket's owner.
        pub receive: u64,
    }

    /// The queues of the IPv4 socket at `local` connected to `remote`, if there is one.
    pub fn tcp_queues(local: SocketAddr, remote: SocketAddr) -> Option<Queues> {
        let port = |field: &str| {
            let (_, port) = field.rsplit_once(':')?;
            u16::from_str_radix(port, 16).ok()
        };
        let text = std::fs::read_to_string("/proc/net/tcp").ok()?;
        text.lines().skip(1).find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if port(fields.get(1)?)? != local.port() || port(fields.get(2)?)? != remote.port() {
                return None;
            }
            let (send, receive) = fields.get(4)?.split_once(':')?;
            Some(Queues {
                send: u64::from_str_radix(send, 16).ok()?,
                receive: u64::from_str_radix(receive, 16).ok()?,
            })
        })
    }
}

/// What a test needs to reach the TLS listener of [`TestServer::start_tls`].
pub struct TlsFixture {
    /// The TLS listener (the plain one is `TestServer::addr`).
    pub addr: SocketAddr,
    /// The server's self-signed certificate, to trust.
    pub cert: rustls_pki_types::CertificateDer<'static>,
}

impl TlsFixture {
    /// A TLS connection to the TLS listener, offering `alpn` and verifying the
    /// certificate for `localhost`.
    pub async fn connect(&self, alpn: &[&[u8]]) -> tokio_rustls::client::TlsStream<TcpStream> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.clone()).expect("a usable root");
        let mut config = rustls::ClientConfig::builder_with_provider(wsppsrv::tls::provider())
            .with_safe_default_protocol_versions()
            .expect("default versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let tcp = TcpStream::connect(self.addr).await.expect("connect");
        let name = rustls_pki_types::ServerName::try_from("localhost").expect("a dns name");
        within(tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)).connect(name, tcp))
            .await
            .expect("tls handshake")
    }
}

impl TestServer {
    /// A server with plain HTTP on `addr` and TLS next to it, both on `127.0.0.1:0`,
    /// with a certificate generated for `localhost`, `127.0.0.1` and `::1`.
    pub async fn start_tls(config: Config) -> (TestServer, TlsFixture) {
        let wsppsrv::tls::SelfSigned { identity, cert_pem } =
            wsppsrv::tls::Identity::self_signed().expect("a certificate");
        let cert = rustls_pki_types::pem::PemObject::from_pem_slice(cert_pem.as_bytes())
            .expect("the certificate parses");
        let tls_config = identity.server_config().expect("rustls takes it");
        let plain = wsppsrv::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
        let tls = wsppsrv::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
        let tls_addr = tls.local_addr().expect("local addr");
        let listeners = wsppsrv::Listeners::plain(plain)
            .with_tls(wsppsrv::tls::TlsListener::new(tls, tls_config));
        let server = TestServer::serve(listeners, config);
        let fixture = TlsFixture {
            addr: tls_addr,
            cert,
        };
        (server, fixture)
    }
}
