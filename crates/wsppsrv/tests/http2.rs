//! WebSockets over HTTP/2 (RFC 8441), by hyper's own HTTP/2 client: prior knowledge on
//! the plain port, ALPN `h2` on the TLS one, the extended CONNECT and its refusals.
//!
//! The frames inside the stream are written and read by the hand-made peer of
//! `wspp::test_util` (masked out, unmasked in), as over HTTP/1.1 in `sessions`: only
//! what carries them changes.

use bytes::Bytes;
use http_body_util::Empty;
use hyper::client::conn::http2::{self, SendRequest};
use hyper::ext::Protocol;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
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
    let (watch, mut settings) = h2_settings::watch();
    let io = TokioIo::new(Layered::new(io, watch));
    let (send, conn) = within(http2::handshake(TokioExecutor::new(), io))
        .await
        .expect("an HTTP/2 handshake");
    tokio::spawn(conn);
    let first = within(settings.wait()).await;
    let enabled = first.is_some_and(|frame| frame.enables_connect_protocol());
    (send, enabled)
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
