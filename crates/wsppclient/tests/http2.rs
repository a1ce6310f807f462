//! `--http2`: WebSockets over HTTP/2 (RFC 8441), against wsppsrv over h2c and TLS,
//! and against an HTTP/2 server (hyper's, as is) that does not enable the extended
//! CONNECT: the client must say so in one line and exit 2, not send a CONNECT the
//! server never allowed.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::Response;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::support::{Server, fast_server_config, run_binary};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the binary with `args`, which must succeed; its stdout.
async fn succeeds(args: &[&str]) -> String {
    let out = run_binary(args).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn ping_over_h2c_gets_its_rtts_on_the_user_clock() {
    let server = Server::start(fast_server_config()).await;
    let url = format!("ws://{}/pingpong", server.addr);
    let stdout = succeeds(&["--http2", "ping", "-c", "2", "-i", "0.05", &url]).await;
    assert!(
        stdout.contains("2 pings sent, 2 pongs received, 0% loss"),
        "{stdout}"
    );
    assert!(
        stdout.contains("over HTTP/2 the WebSocket is one stream"),
        "{stdout}"
    );
    assert!(stdout.contains("rtt clock: user"), "{stdout}");
}

#[tokio::test]
async fn ping_over_tls_offers_h2_alone() {
    let (_server, tls) = Server::start_tls(fast_server_config()).await;
    let url = format!("wss://localhost:{}/pingpong", tls.addr.port());
    let ca = tls.ca.to_string_lossy().into_owned();
    let stdout = succeeds(&["--http2", "--ca", &ca, "ping", "-c", "1", &url]).await;
    assert!(stdout.contains("ALPN h2"), "{stdout}");
    assert!(stdout.contains("1 ping sent, 1 pong received"), "{stdout}");
}

/// An HTTP/2 server (h2c) whose SETTINGS do not enable the extended CONNECT, answering
/// every request it gets 404; returns its address.
async fn plain_h2_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let service = service_fn(|_req| async {
                let mut response = Response::new(Empty::<Bytes>::new());
                *response.status_mut() = hyper::StatusCode::NOT_FOUND;
                Ok::<_, Infallible>(response)
            });
            tokio::spawn(
                http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), service),
            );
        }
    });
    addr
}

#[tokio::test]
async fn a_server_without_extended_connect_is_told_in_one_line() {
    let addr = plain_h2_server().await;
    let url = format!("ws://{addr}/pingpong");
    let out = run_binary(&["--http2", "ping", "-c", "1", &url]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "wsppclient: {url}: the server does not accept WebSockets over HTTP/2: it did not send SETTINGS_ENABLE_CONNECT_PROTOCOL\n"
        )
    );
}

#[tokio::test]
async fn inspect_over_h2_shows_the_connect_and_the_frames_inside() {
    let server = Server::start(fast_server_config()).await;
    let url = format!("ws://{}/pingpong", server.addr);
    let args = ["--http2", "inspect", &url, "--send", "hi", "--wait", "0.1"];
    let stdout = succeeds(&args).await;
    for line in [
        "← SETTINGS ",
        "ENABLE_CONNECT_PROTOCOL=1",
        "→ HEADERS :method CONNECT :protocol websocket :scheme http",
        ":path /pingpong sec-websocket-version: 13",
        "← HEADERS :status 200",
        "→ Text fin=1 mask=1 len=2 \"hi\"",
        "← Text fin=1 mask=0 len=2 \"hi\"",
        "← Close fin=1 mask=0",
    ] {
        assert!(stdout.contains(line), "no {line:?} in\n{stdout}");
    }
    assert!(!stdout.contains("not HTTP"), "{stdout}");
}
