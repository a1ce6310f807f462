//! The menu requests and their transcripts, against wsppsrv and a raw peer: what a
//! user would read, down to the frame bits.

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;
use wsppclient::Error;
use wsppclient::commands::Options;
use wsppclient::commands::catalog::Request;
use wsppclient::net::settings::ConnectSettings;
use wsppclient::watch::transcript::{EntryKind, Transcript};

use crate::support::{
    Server, assert_open_close_wire, fast_server_config, raw, refused_addr, run_binary,
    transcript_of, within,
};

#[tokio::test]
async fn open_close_shows_every_ping_our_pongs_and_close_1000() {
    let server = Server::start(wsppsrv::Config {
        open_close_pings: 2,
        ..fast_server_config()
    })
    .await;
    let (result, text) = transcript_of(Request::OpenClose, &server.client_settings()).await;
    result.expect("open-close succeeds");
    // Server frames are unmasked, ours masked: the wire, not tungstenite's view.
    assert_open_close_wire(&text, 2);
    assert_eq!(
        text.matches("→ Pong fin=1 mask=1 len=16 seq=").count(),
        2,
        "{text}"
    );
    assert!(text.contains("← Close fin=1 mask=0"), "{text}");
    assert!(text.contains("→ Close fin=1 mask=1"), "{text}");
    assert!(text.contains("1000 (Normal Closure)"), "{text}");
    assert!(
        text.contains("the server closed: 1000 (Normal Closure)"),
        "{text}"
    );
    assert!(text.contains("wireshark filter: tcp.port == "), "{text}");
}

#[tokio::test]
async fn broken_upgrades_show_the_servers_refusal() {
    let server = Server::start(fast_server_config()).await;
    let settings = server.client_settings();

    let (result, text) = transcript_of(Request::NoKey, &settings).await;
    result.expect("a refusal is the expected answer");
    // Header names exactly as RFC 6455 spells them, the key left out.
    assert!(
        text.lines().any(|l| l.trim() == "Upgrade: websocket"),
        "{text}"
    );
    assert!(text.contains("Sec-WebSocket-Version: 13"), "{text}");
    assert!(!text.contains("Sec-WebSocket-Key:"), "{text}");
    assert!(text.contains("← HTTP/1.1 400 Bad Request"), "{text}");

    let (result, text) = transcript_of(Request::BadVersion, &settings).await;
    result.expect("a refusal is the expected answer");
    assert!(text.contains("Sec-WebSocket-Key: "), "{text}");
    assert!(text.contains("Sec-WebSocket-Version: 8"), "{text}");
    assert!(text.contains("← HTTP/1.1 426 Upgrade Required"), "{text}");
    // hyper writes header names in lowercase; the note names it canonically.
    assert!(
        text.to_ascii_lowercase()
            .contains("sec-websocket-version: 13"),
        "{text}"
    );
    assert!(
        text.contains("the server speaks Sec-WebSocket-Version: 13"),
        "{text}"
    );

    let (result, text) = transcript_of(Request::NoUpgrade, &settings).await;
    result.expect("a refusal is the expected answer");
    assert!(
        !text.lines().any(|l| l.trim() == "Upgrade: websocket"),
        "{text}"
    );
    assert!(text.contains("← HTTP/1.1 400 Bad Request"), "{text}");

    for request in [Request::NoKey, Request::BadVersion, Request::NoUpgrade] {
        let (_, text) = transcript_of(request, &settings).await;
        assert!(!text.contains(" fin="), "no frames after a refusal: {text}");
    }
}

#[tokio::test]
async fn favicon_is_refused_with_404() {
    let server = Server::start(fast_server_config()).await;
    let (result, text) = transcript_of(Request::Favicon, &server.client_settings()).await;
    result.expect("favicon succeeds");
    assert!(text.contains("→ GET /favicon.ico HTTP/1.1"), "{text}");
    assert!(text.contains("← HTTP/1.1 404 Not Found"), "{text}");
    assert!(
        text.contains("404 Not Found: refused, as wsppsrv does"),
        "{text}"
    );
}

#[tokio::test]
async fn page_prints_the_connected_clients() {
    let server = Server::start(fast_server_config()).await;
    // Another client, holding a /pingpong session with its own User-Agent.
    let stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let mut request = format!("ws://{}/pingpong", server.addr)
        .into_client_request()
        .expect("valid request");
    request.headers_mut().insert(
        "user-agent",
        "test-holder/1".parse().expect("valid header value"),
    );
    let (mut holder, _) = within(tokio_tungstenite::client_async(request, stream))
        .await
        .expect("upgrade");
    // The server pings a session only once it has registered it.
    loop {
        match within(holder.next()).await {
            Some(Ok(Message::Ping(_))) => break,
            Some(Ok(_)) => continue,
            other => panic!("the holder ended: {other:?}"),
        }
    }

    let (result, text) = transcript_of(Request::Page, &server.client_settings()).await;
    result.expect("page succeeds");
    assert!(text.contains("→ GET / HTTP/1.1"), "{text}");
    assert!(text.contains("→ GET /clients.json HTTP/1.1"), "{text}");
    assert_eq!(text.matches("← HTTP/1.1 200 OK").count(), 2, "{text}");
    // Both requests went over one connection: one "connected" line.
    assert_eq!(text.matches("connected to ").count(), 1, "{text}");
    let row = text
        .lines()
        .find(|l| l.contains("test-holder/1"))
        .unwrap_or_else(|| panic!("no row for the holder:\n{text}"));
    assert!(row.contains("/pingpong"), "{row}");
    assert!(text.contains("1 client now"), "{text}");
}

#[tokio::test]
async fn hold_echoes_until_cancelled_then_closes_with_1000() {
    let server = Server::start(fast_server_config()).await;
    let settings = server.client_settings();
    let mut options = Options::default();
    options.hold.interval = std::time::Duration::from_millis(10);
    let cancel = CancellationToken::new();
    let (transcript, mut rx) = Transcript::new();
    let run = async {
        let transcript = transcript;
        wsppclient::commands::run(Request::Hold, &settings, &options, &transcript, &cancel).await
    };
    let watch = async {
        let mut lines = Vec::new();
        let mut echoes = 0;
        while let Some(entry) = rx.recv().await {
            if let EntryKind::Rtt { what: "echo", .. } = entry.kind {
                echoes += 1;
                if echoes == 2 {
                    cancel.cancel();
                }
            }
            lines.push(entry.to_string());
        }
        lines.join("\n")
    };
    let (result, text) = within(async { tokio::join!(run, watch) }).await;
    result.expect("hold ends cleanly when cancelled");
    assert!(text.contains("echo seq=0 rtt="), "{text}");
    assert!(text.contains("echo seq=1 rtt="), "{text}");
    assert!(
        text.contains("→ Text fin=1 mask=1 len=15 \"wspp echo seq=0\""),
        "{text}"
    );
    assert!(
        text.contains("← Text fin=1 mask=0 len=15 \"wspp echo seq=0\""),
        "{text}"
    );
    assert!(
        text.contains("→ Close fin=1 mask=1 len=5 1000 (Normal Closure) \"bye\""),
        "{text}"
    );
    assert!(
        text.contains("the server answered: 1000 (Normal Closure)"),
        "{text}"
    );
}

#[tokio::test]
async fn the_transcript_shows_real_fragments_not_reassembled_messages() {
    let (addr, peer) = raw::serve_one(|mut stream| async move {
        raw::accept_upgrade(&mut stream).await;
        let mut bytes = raw::encode(false, raw::TEXT, b"hel", false);
        bytes.extend(raw::encode(true, 0x0, b"lo", false));
        bytes.extend(raw::encode(true, raw::PING, b"abc", false));
        tokio::io::AsyncWriteExt::write_all(&mut stream, &bytes)
            .await
            .expect("send frames");
        loop {
            match raw::read_frame(&mut stream).await {
                Some((raw::PONG, payload)) => {
                    assert_eq!(payload, b"abc");
                    break;
                }
                Some(_) => continue,
                None => panic!("the client left before its pong"),
            }
        }
        raw::send(&mut stream, raw::CLOSE, b"\x03\xe9bye").await;
        // Wait for the client's Close reply, then end the connection.
        while let Some((opcode, _)) = raw::read_frame(&mut stream).await {
            if opcode == raw::CLOSE {
                break;
            }
        }
    })
    .await;
    let settings = ConnectSettings::new(addr.to_string());
    let (result, text) = transcript_of(Request::OpenClose, &settings).await;
    result.expect("open-close succeeds");
    assert!(text.contains("← Text fin=0 mask=0 len=3 \"hel\""), "{text}");
    assert!(
        text.contains("← Continuation fin=1 mask=0 len=2 \"lo\""),
        "{text}"
    );
    assert!(text.contains("← Ping fin=1 mask=0 len=3 \"abc\""), "{text}");
    assert!(text.contains("→ Pong fin=1 mask=1 len=3 \"abc\""), "{text}");
    assert!(
        text.contains("← Close fin=1 mask=0 len=5 1001 (Going Away) \"bye\""),
        "{text}"
    );
    within(peer).await.expect("peer task");
}

#[tokio::test]
async fn a_refused_connection_is_an_error_without_a_filter() {
    let held = refused_addr();
    let settings = ConnectSettings::new(held.to_string());
    let (result, text) = transcript_of(Request::Page, &settings).await;
    assert!(matches!(result, Err(Error::Connect { .. })), "{result:?}");
    assert!(!text.contains("wireshark filter"), "{text}");
}

#[tokio::test]
async fn the_binary_runs_a_request_subcommand() {
    let server = Server::start(fast_server_config()).await;
    let addr = server.addr.to_string();
    let output = run_binary(&["--server", &addr, "bad-version"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("← HTTP/1.1 426 Upgrade Required"),
        "{stdout}"
    );
    assert!(
        stdout.contains("wireshark filter: tcp.port == "),
        "{stdout}"
    );

    let held = refused_addr();
    let refused = held.to_string();
    let output = run_binary(&["--server", &refused, "page"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!("wsppclient: cannot connect to {refused}")),
        "{stderr}"
    );
}

#[tokio::test]
async fn user_headers_and_origin_go_on_every_kind_of_request() {
    let server = Server::start(fast_server_config()).await;
    let mut settings = server.client_settings();
    settings
        .headers
        .custom
        .push("X-Probe: 42".parse().expect("valid header"));
    settings.headers.origin = Some("http://origin.test".into());
    settings.headers.user_agent = "probe-agent/1".into();
    // One request per way of writing a request: hyper, hand-written, tungstenite.
    for request in [Request::Favicon, Request::NoKey, Request::OpenClose] {
        let (result, text) = transcript_of(request, &settings).await;
        result.expect("request succeeds");
        let lower = text.to_ascii_lowercase();
        for header in [
            "x-probe: 42",
            "origin: http://origin.test",
            "user-agent: probe-agent/1",
        ] {
            assert!(
                lower.contains(header),
                "{request:?} lacks {header}:\n{text}"
            );
        }
    }
}

#[tokio::test]
async fn hold_answers_the_servers_close_and_reports_it() {
    let server = Server::start(fast_server_config()).await;
    let settings = server.client_settings();
    let cancel = CancellationToken::new();
    let (transcript, mut rx) = Transcript::new();
    let run = async {
        let transcript = transcript;
        let options = Options::default();
        wsppclient::commands::run(Request::Hold, &settings, &options, &transcript, &cancel).await
    };
    let watch = async {
        let mut lines = Vec::new();
        let mut server = Some(server);
        while let Some(entry) = rx.recv().await {
            // Once the session is echoing, shut the server down under it.
            if matches!(entry.kind, EntryKind::Rtt { .. })
                && let Some(server) = server.take()
            {
                server.shutdown().await;
            }
            lines.push(entry.to_string());
        }
        lines.join("\n")
    };
    let (result, text) = within(async { tokio::join!(run, watch) }).await;
    let err = result.expect_err("the server ended the session");
    assert!(
        matches!(
            err,
            Error::Closed {
                code: Some(1001),
                ..
            }
        ),
        "{}",
        wsppclient::error::one_line(&err)
    );
    assert!(text.contains("← Close fin=1 mask=0"), "{text}");
    // tungstenite's reply went out before the connection was dropped.
    assert!(text.contains("→ Close fin=1 mask=1"), "{text}");
}
