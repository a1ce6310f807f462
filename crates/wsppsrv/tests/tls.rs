//! TLS: a listener next to the plain one, serving the same routes and sessions, and
//! clients that break the handshake without disturbing anyone else.
//!
//! The TLS client here is rustls (trusting the server's self-signed certificate), and
//! the WebSocket over it tungstenite: the frames themselves are checked against the
//! RFC over plain TCP in `sessions`; here, what matters is that TLS changes nothing.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Message;
use wsppsrv::Config;

use crate::support::{Response, TestServer, TlsFixture, within};

/// A TLS connection to the fixture, verifying its certificate for `localhost`.
async fn tls_connect(fixture: &TlsFixture) -> TlsStream<TcpStream> {
    fixture.connect(&[b"http/1.1"]).await
}

/// `GET path` over TLS with `Connection: close`; the whole response.
async fn tls_get(fixture: &TlsFixture, path: &str) -> Response {
    let mut stream = tls_connect(fixture).await;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut bytes = Vec::new();
    // A peer may end TLS without close_notify; what was read until then is the answer.
    let _ = within(stream.read_to_end(&mut bytes)).await;
    Response::parse(&bytes)
}

/// Reads until the peer closes; true if it did within the test's patience.
async fn closed_by_peer(stream: &mut TcpStream) -> bool {
    let mut sink = [0u8; 1024];
    within(async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    })
    .await
}

fn fast() -> Config {
    Config {
        ping_interval: Duration::from_millis(20),
        ..Config::default()
    }
}

#[tokio::test]
async fn plain_and_tls_serve_the_same_routes_side_by_side() {
    let (server, tls) = TestServer::start_tls(Config::default()).await;
    assert_ne!(server.addr, tls.addr);

    let plain = server.get("/clients.json").await;
    assert_eq!(plain.status, 200, "{}", plain.head);
    let secure = tls_get(&tls, "/clients.json").await;
    assert_eq!(secure.status, 200, "{}", secure.head);
    assert!(secure.body.contains("\"clients\""), "{}", secure.body);
    assert_eq!(tls_get(&tls, "/favicon.ico").await.status, 404);
}

#[tokio::test]
async fn a_wss_session_is_pinged_and_listed_like_any_other() {
    let (server, tls) = TestServer::start_tls(fast()).await;
    let stream = tls_connect(&tls).await;
    let (mut ws, response) = within(tokio_tungstenite::client_async(
        "wss://localhost/pingpong",
        stream,
    ))
    .await
    .expect("upgrade over tls");
    assert_eq!(response.status(), 101);
    let first = within(ws.next()).await.expect("open").expect("a message");
    assert!(matches!(first, Message::Ping(_)), "{first:?}");
    ws.send(Message::text("over tls")).await.expect("send");
    loop {
        match within(ws.next()).await.expect("open").expect("a message") {
            Message::Text(text) => {
                assert_eq!(text.as_str(), "over tls");
                break;
            }
            Message::Ping(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    // Listed on the page served over plain HTTP, with its RTTs measured through TLS.
    let report = server
        .wait_for_clients(|r| r.clients.iter().any(|c| c.pongs_received > 0))
        .await;
    assert_eq!(report.clients.len(), 1);
    assert_eq!(report.clients[0].route, "/pingpong");

    // After the close handshake the server ends TLS properly, with close_notify: a
    // read then sees a clean end, not rustls' "unexpected eof".
    ws.close(None).await.expect("close");
    while let Some(message) = within(ws.next()).await {
        message.expect("a clean close handshake");
    }
    let mut tls_stream = ws.into_inner();
    let mut rest = Vec::new();
    within(tls_stream.read_to_end(&mut rest))
        .await
        .expect("close_notify, then the end");
}

#[tokio::test]
async fn broken_tls_clients_disturb_no_one() {
    let (server, tls) = TestServer::start_tls(fast()).await;
    // A healthy session, before and after the others misbehave.
    let (mut ws, _) = within(tokio_tungstenite::client_async(
        "wss://localhost/pingpong",
        tls_connect(&tls).await,
    ))
    .await
    .expect("upgrade over tls");

    // Plain HTTP on the TLS port, a bogus TLS record, and a client that says nothing.
    let mut plain_http = TcpStream::connect(tls.addr).await.expect("connect");
    plain_http
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("send");
    let mut garbage = TcpStream::connect(tls.addr).await.expect("connect");
    garbage
        .write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 0xde, 0xad, 0xbe, 0xef])
        .await
        .expect("send");
    let _silent = TcpStream::connect(tls.addr).await.expect("connect");
    assert!(closed_by_peer(&mut plain_http).await);
    assert!(closed_by_peer(&mut garbage).await);

    // The session still round-trips, and new clients still get in.
    ws.send(Message::text("still here")).await.expect("send");
    loop {
        match within(ws.next()).await.expect("open").expect("a message") {
            Message::Text(text) => {
                assert_eq!(text.as_str(), "still here");
                break;
            }
            Message::Ping(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(tls_get(&tls, "/clients.json").await.status, 200);
    assert_eq!(server.get("/clients.json").await.status, 200);
}

#[tokio::test]
async fn a_silent_tls_client_is_dropped_after_the_header_timeout() {
    let (_server, tls) = TestServer::start_tls(Config {
        header_read_timeout: Duration::from_millis(200),
        ..Config::default()
    })
    .await;
    let start = std::time::Instant::now();
    let mut silent = TcpStream::connect(tls.addr).await.expect("connect");
    assert!(closed_by_peer(&mut silent).await);
    // Dropped by the timeout, not at once.
    assert!(
        start.elapsed() >= Duration::from_millis(150),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn over_the_limit_a_tls_client_hears_503_in_tls() {
    let (_server, tls) = TestServer::start_tls(Config {
        max_connections: 1,
        http_reserve: 0,
        ..Config::default()
    })
    .await;
    // A finished handshake proves the server has accepted (and counted) the first.
    let _first = tls_connect(&tls).await;
    let mut second = tls_connect(&tls).await;
    second
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("send");
    let mut bytes = Vec::new();
    let _ = within(second.read_to_end(&mut bytes)).await;
    let response = Response::parse(&bytes);
    assert_eq!(response.status, 503, "{}", response.head);
}

#[tokio::test]
async fn nothing_to_listen_on_is_an_error() {
    let error = wsppsrv::run_with(wsppsrv::Listeners::default(), Config::default(), async {})
        .await
        .expect_err("no listener");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}

/// The `addr=` of a `listening` log line.
fn logged_addr(line: &str) -> std::net::SocketAddr {
    line.split_whitespace()
        .find_map(|field| field.strip_prefix("addr="))
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no addr in {line:?}"))
}

#[tokio::test]
async fn failed_handshakes_and_vanished_clients_are_logged_at_the_default_level() {
    let cert = std::env::temp_dir().join(format!("wsppsrv-logged-{}.pem", std::process::id()));
    let cert_arg = cert.display().to_string();
    let server = crate::support::child::ChildServer::start(&[
        "--tls-self-signed",
        "--tls-addr",
        "127.0.0.1:0",
        "--tls-self-signed-cert",
        &cert_arg,
    ])
    .await;
    let tls_addr = logged_addr(&server.wait_for_log(|l| l.contains("listening (tls)")).await);
    for _ in 0..3 {
        let mut plain = TcpStream::connect(tls_addr).await.expect("connect");
        plain
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .expect("send");
        assert!(closed_by_peer(&mut plain).await);
    }
    server
        .wait_for_metric("wspp_tls_handshake_failures_total{reason=\"not_tls\"}", 3.0)
        .await;
    let failed = server
        .wait_for_log(|l| l.contains("tls handshake failed"))
        .await;
    assert!(failed.contains("reason=\"not_tls\""), "{failed}");
    assert!(failed.contains("peer=127.0.0.1:"), "{failed}");

    let mut ws = server.connect().await;
    let head = crate::support::raw::send_upgrade(&mut ws, "/pingpong", "").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    drop(ws);
    let gone = server
        .wait_for_log(|l| l.contains("websocket gone without a close"))
        .await;
    assert!(gone.contains("peer=127.0.0.1:"), "{gone}");
    assert!(gone.contains("route=\"/pingpong\""), "{gone}");
    let _ = std::fs::remove_file(&cert);
}
