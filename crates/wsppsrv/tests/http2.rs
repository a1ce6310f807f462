//! WebSockets over HTTP/2 (RFC 8441), by hyper's own HTTP/2 client: prior knowledge on
//! the plain port, ALPN `h2` on the TLS one, the extended CONNECT and its refusals.
//!
//! The frames inside the stream are written and read by the hand-made peer of
//! `wspp::test_util` (masked out, unmasked in), as over HTTP/1.1 in `sessions`: only
//! what carries them changes.
//!
//! The idle timeout is watched at the frame level by a raw peer: the GOAWAY it gets,
//! then the end of the connection.

use bytes::Bytes;
use http_body_util::Empty;
use hyper::client::conn::http2::{self, SendRequest};
use hyper::ext::Protocol;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use wspp::clients::HttpVersion;
use wspp::h2_settings;
use wspp::stream::Layered;
use wspp::test_util::peer::{self, CLOSE, PING, PONG, TEXT};
use wsppsrv::Config;

use crate::support::{TestServer, within};

/// An HTTP/2 connection over `io`, driven by a task, once the server's SETTINGS have
/// arrived, and whether they enable the extended CONNECT.
async fn h2<T>(io: T) -> (SendRequest<Empty<Bytes>>, bool)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, enabled, _) = h2_driven(io).await;
    (send, enabled)
}

/// [`h2`], and the task driving the connection: it ends when the server closes it.
async fn h2_driven<T>(
    io: T,
) -> (
    SendRequest<Empty<Bytes>>,
    bool,
    tokio::task::JoinHandle<hyper::Result<()>>,
)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (watch, mut settings) = h2_settings::watch();
    let io = TokioIo::new(Layered::new(io, watch));
    let (send, conn) = within(http2::handshake(TokioExecutor::new(), io))
        .await
        .expect("an HTTP/2 handshake");
    let driver = tokio::spawn(conn);
    let first = within(settings.wait()).await;
    let enabled = first.is_some_and(|frame| frame.enables_connect_protocol());
    (send, enabled, driver)
}

/// An extended CONNECT to `path` with `version` as `sec-websocket-version`.
fn connect(authority: &str, path: &str, version: &str) -> Request<Empty<Bytes>> {
    Request::builder()
        .method(Method::CONNECT)
        .uri(format!("https://{authority}{path}"))
        .header("sec-websocket-version", version)
        .extension(Protocol::from_static("websocket"))
        .body(Empty::new())
        .expect("a valid request")
}

async fn send(
    h2: &mut SendRequest<Empty<Bytes>>,
    req: Request<Empty<Bytes>>,
) -> Response<hyper::body::Incoming> {
    within(async {
        h2.ready().await.expect("connection ready");
        h2.send_request(req).await.expect("a response")
    })
    .await
}

/// Opens `/pingpong` on `h2`; answers the server's first Ping, has a masked Text
/// echoed, finds the client listed as HTTP/2 and counted, and closes with 1000.
async fn ping_pong_session(
    server: &TestServer,
    h2: &mut SendRequest<Empty<Bytes>>,
    authority: &str,
) {
    let response = send(h2, connect(authority, "/pingpong", "13")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("sec-websocket-accept").is_none());
    let mut ws = TokioIo::new(
        within(hyper::upgrade::on(response))
            .await
            .expect("the stream is handed over on a 200"),
    );
    let ping = within(peer::read(&mut ws))
        .await
        .expect("the server's ping");
    assert_eq!(ping.opcode, PING);
    assert!(!ping.masked, "a server's frames are not masked");
    peer::client::send(&mut ws, PONG, &ping.payload).await;
    peer::client::send(&mut ws, TEXT, b"over h2").await;
    let echo = peer::client::read_until(&mut ws, TEXT).await;
    assert_eq!(echo.payload, b"over h2");

    let report = server
        .wait_for_clients(|r| r.clients.iter().any(|c| c.pongs_received == 1))
        .await;
    let client = &report.clients[0];
    assert_eq!(client.http_version, Some(HttpVersion::Http2));
    assert_eq!(client.route, "/pingpong");
    assert_eq!(
        client.rtt_clock,
        Some(wspp::wire_clock::Clock::User),
        "a stream has no socket of its own to stamp"
    );
    let metrics = server.metrics().await;
    let connected = "wspp_clients_connected{route=\"/pingpong\",http_version=\"2\"}";
    assert_eq!(metrics.value(connected), 1.0);
    let accepted = "wspp_upgrades_total{route=\"/pingpong\",http_version=\"2\",status=\"200\"}";
    assert_eq!(metrics.value(accepted), 1.0);

    peer::client::send(&mut ws, CLOSE, &1000u16.to_be_bytes()).await;
    let close = peer::client::read_until(&mut ws, CLOSE).await;
    assert_eq!(close.close_code(), Some(1000));
    server.wait_for_metric(connected, 0.0).await;
}

#[tokio::test]
async fn h2c_carries_a_websocket_by_extended_connect() {
    let server = TestServer::start(Config::default()).await;
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let (mut h2, enabled) = h2(tcp).await;
    assert!(enabled, "the server sends SETTINGS_ENABLE_CONNECT_PROTOCOL");
    ping_pong_session(&server, &mut h2, &server.addr.to_string()).await;
}

#[tokio::test]
async fn tls_with_alpn_h2_carries_a_websocket() {
    let (server, fixture) = TestServer::start_tls(Config::default()).await;
    let stream = fixture.connect(&[b"h2", b"http/1.1"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut h2, enabled) = h2(stream).await;
    assert!(enabled);
    ping_pong_session(
        &server,
        &mut h2,
        &format!("localhost:{}", fixture.addr.port()),
    )
    .await;
}

#[tokio::test]
async fn refusals_over_h2_have_their_status() {
    let server = TestServer::start(Config::default()).await;
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let (mut h2, _) = h2(tcp).await;
    let authority = server.addr.to_string();

    // A CONNECT without :protocol is a tunnel request: no path, nothing to tunnel.
    let tunnel = Request::builder()
        .method(Method::CONNECT)
        .uri(authority.as_str())
        .body(Empty::new())
        .expect("a valid request");
    assert_eq!(
        send(&mut h2, tunnel).await.status(),
        StatusCode::BAD_REQUEST
    );

    let wrong_version = send(&mut h2, connect(&authority, "/pingpong", "8")).await;
    assert_eq!(wrong_version.status(), StatusCode::BAD_REQUEST);
    assert_eq!(wrong_version.headers()["sec-websocket-version"], "13");

    let mut other = connect(&authority, "/openandclosewebsocket", "13");
    other
        .extensions_mut()
        .insert(Protocol::from_static("connect-udp"));
    assert_eq!(send(&mut h2, other).await.status(), StatusCode::BAD_REQUEST);

    let nowhere = send(&mut h2, connect(&authority, "/nowhere", "13")).await;
    assert_eq!(nowhere.status(), StatusCode::NOT_FOUND);

    // A GET of a WebSocket route over HTTP/2 is the wrong method; the page is served.
    let get = |path: &str| {
        Request::get(format!("http://{authority}{path}"))
            .body(Empty::new())
            .expect("a valid request")
    };
    let plain_get = send(&mut h2, get("/pingpong")).await;
    assert_eq!(plain_get.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(plain_get.headers()["allow"], "CONNECT");
    assert_eq!(
        send(&mut h2, get("/clients.json")).await.status(),
        StatusCode::OK
    );

    let metrics = server.metrics().await;
    let refused = "wspp_upgrades_total{route=\"/pingpong\",http_version=\"2\",status=\"400\"}";
    assert_eq!(metrics.value(refused), 1.0);
    assert!(server.clients().await.clients.is_empty());
}

#[tokio::test]
async fn with_http2_off_neither_port_speaks_it() {
    let config = Config {
        http2: false,
        ..Config::default()
    };
    let (server, fixture) = TestServer::start_tls(config).await;
    let stream = fixture.connect(&[b"h2", b"http/1.1"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));

    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let (mut h2, enabled) = h2(tcp).await;
    assert!(!enabled, "HTTP/1.1 sends no SETTINGS");
    let refused = within(async {
        h2.ready().await?;
        h2.send_request(connect(&server.addr.to_string(), "/pingpong", "13"))
            .await
    })
    .await;
    assert!(
        refused.is_err(),
        "an HTTP/1.1 server does not answer a preface"
    );
}

/// A short header timeout, which is also the HTTP/2 connection's idle timeout.
fn idle_config() -> Config {
    Config {
        header_read_timeout: Duration::from_millis(300),
        ping_interval: Duration::from_millis(50),
        ..Config::default()
    }
}

#[tokio::test]
async fn a_connection_that_opens_no_stream_gets_goaway_after_the_header_timeout() {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    // Frame types and the ACK flag (RFC 9113, 6).
    const SETTINGS: u8 = 0x4;
    const PING: u8 = 0x6;
    const GOAWAY: u8 = 0x7;
    const ACK: u8 = 0x1;
    let server = TestServer::start(idle_config()).await;
    let mut tcp = server.connect().await;
    tcp.write_all(PREFACE).await.expect("send");
    tcp.write_all(&[0, 0, 0, SETTINGS, 0, 0, 0, 0, 0])
        .await
        .expect("send");
    // Every frame until the server hangs up; its SETTINGS and PINGs acknowledged, as
    // a graceful GOAWAY waits for a PING's acknowledgement before its last word.
    let mut goaways = Vec::new();
    within(async {
        let mut head = [0u8; 9];
        while tcp.read_exact(&mut head).await.is_ok() {
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let mut payload = vec![0; len];
            tcp.read_exact(&mut payload).await.expect("a whole frame");
            let ack = match (head[3], head[4] & ACK) {
                (SETTINGS, 0) => Some([0, 0, 0, SETTINGS, ACK, 0, 0, 0, 0].to_vec()),
                (PING, 0) => Some([&[0, 0, 8, PING, ACK, 0, 0, 0, 0], &payload[..]].concat()),
                (GOAWAY, _) => {
                    let code = u32::from_be_bytes(payload[4..8].try_into().expect("4 bytes"));
                    goaways.push(code);
                    None
                }
                _ => None,
            };
            if let Some(ack) = ack {
                // The server may be gone already: its end is what is waited for.
                let _ = tcp.write_all(&ack).await;
            }
        }
    })
    .await;
    assert!(!goaways.is_empty(), "the server said GOAWAY before closing");
    assert!(
        goaways.iter().all(|&code| code == 0),
        "NO_ERROR: {goaways:?}"
    );
    server.wait_until_clean().await;
}

#[tokio::test]
async fn an_open_websocket_keeps_its_connection_and_its_end_lets_it_go_idle() {
    let config = idle_config();
    let server = TestServer::start(config.clone()).await;
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let (mut h2, enabled, driver) = h2_driven(tcp).await;
    assert!(enabled);
    let response = send(
        &mut h2,
        connect(&server.addr.to_string(), "/pingpong", "13"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut ws = TokioIo::new(
        within(hyper::upgrade::on(response))
            .await
            .expect("the stream is handed over on a 200"),
    );
    // The server's own pinger spaces these out: they span more than twice the idle
    // timeout, which would have closed the connection had the stream not counted.
    let pings = 2 * config.header_read_timeout.as_millis() / config.ping_interval.as_millis() + 4;
    for _ in 0..pings {
        let ping = peer::client::read_until(&mut ws, PING).await;
        peer::client::send(&mut ws, PONG, &ping.payload).await;
    }
    // Still open, and still taking streams: no GOAWAY was sent meanwhile.
    let list = Request::get(format!("http://{}/clients.json", server.addr))
        .body(Empty::new())
        .expect("a valid request");
    assert_eq!(send(&mut h2, list).await.status(), StatusCode::OK);
    peer::client::send(&mut ws, CLOSE, &1000u16.to_be_bytes()).await;
    let close = peer::client::read_until(&mut ws, CLOSE).await;
    assert_eq!(close.close_code(), Some(1000));
    drop(ws);
    within(driver)
        .await
        .expect("the driver task ran")
        .expect("the server closed the idle connection cleanly");
    server.wait_until_clean().await;
}
