//! `inspect` against wsppsrv and against hand-written peers that misbehave: what the
//! transcript shows, and the one line and exit status a user gets for each way a
//! session can go wrong.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use wsppclient::Error;
use wsppclient::commands::catalog::Request;
use wsppclient::commands::{Options, Outgoing};
use wsppclient::net::settings::ConnectSettings;

use crate::support::{
    Server, assert_refused_x_mystery, fast_server_config, raw, run_binary, transcript_with,
};

/// Asserts that `text` holds every one of `wanted`.
fn contains_all(text: &str, wanted: &[&str]) {
    for want in wanted {
        assert!(text.contains(want), "no {want:?} in:\n{text}");
    }
}

/// Settings and options that inspect `path` on `addr`, send `messages` and listen
/// `wait` after.
fn inspecting(
    addr: &str,
    path: &str,
    messages: Vec<Outgoing>,
    wait: Duration,
) -> (ConnectSettings, Options) {
    let mut options = Options::default();
    options.inspect.url = Some(format!("ws://{addr}{path}"));
    options.inspect.messages = messages;
    options.inspect.wait = wait;
    (ConnectSettings::new(addr), options)
}

#[tokio::test]
async fn inspect_shows_the_upgrade_our_messages_their_echoes_pings_and_close_1000() {
    let server = Server::start(fast_server_config()).await;
    let addr = server.addr.to_string();
    let (settings, options) = inspecting(
        &addr,
        "/pingpong?from=inspect",
        vec![
            Outgoing::Text("hello".into()),
            Outgoing::Binary(vec![0, 1, 0xfe, 0xff]),
        ],
        Duration::from_millis(200),
    );
    let (result, text) = transcript_with(Request::Inspect, &settings, &options).await;
    result.expect("inspect succeeds");
    contains_all(
        &text,
        &[
            "→ GET /pingpong?from=inspect HTTP/1.1",
            "← HTTP/1.1 101 Switching Protocols",
            "→ Text fin=1 mask=1 len=5 \"hello\"",
            "← Text fin=1 mask=0 len=5 \"hello\"",
            "→ Binary fin=1 mask=1 len=4",
            "← Binary fin=1 mask=0 len=4",
        ],
    );
    // The server pings every 20 ms: each Ping is answered while inspect listens.
    assert!(text.contains("← Ping fin=1 mask=0"), "{text}");
    assert!(text.contains("→ Pong fin=1 mask=1"), "{text}");
    // Our message goes before the listening note; the close handshake after it.
    let sent = text.find("→ Text").expect("sent");
    let listening = text.find("listening for 200ms").expect("listening note");
    let closing = text.find("→ Close fin=1 mask=1").expect("our close");
    assert!(sent < listening && listening < closing, "{text}");
    assert!(
        text.contains("the server answered: 1000 (Normal Closure)"),
        "{text}"
    );
    let last = text.lines().rev().nth(1).expect("two lines at least");
    assert!(last.contains("wireshark filter: tcp.port == "), "{text}");
}

#[tokio::test]
async fn the_binary_inspects_with_hex_dumps_and_keeps_the_message_order() {
    let server = Server::start(fast_server_config()).await;
    let url = format!("ws://{}/pingpong", server.addr);
    let output = run_binary(&[
        "inspect",
        &url,
        "--send",
        "Hello",
        "--send-binary",
        "00 01 fe ff",
        "--send",
        "again",
        "--wait",
        "100ms",
        "--hex",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("0000  48 65 6c 6c 6f                                    Hello"),
        "{stdout}"
    );
    assert!(
        stdout.contains("0000  00 01 fe ff                                       ...."),
        "{stdout}"
    );
    let hello = stdout
        .find("→ Text fin=1 mask=1 len=5 \"Hello\"")
        .expect("hello");
    let binary = stdout.find("→ Binary").expect("binary");
    let again = stdout
        .find("→ Text fin=1 mask=1 len=5 \"again\"")
        .expect("again");
    assert!(hello < binary && binary < again, "{stdout}");
}

#[tokio::test]
async fn a_refusal_shows_status_headers_and_a_body_that_came_apart() {
    let (addr, _peer) = raw::serve_one(|mut stream| async move {
        raw::read_head(&mut stream).await;
        let body = "go away: this is not for you\n";
        let head = format!(
            "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        // Two writes: the body need not come with the head.
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.flush().await;
        let _ = stream.write_all(body.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
    let url = format!("ws://{addr}/secret");
    let output = run_binary(&["inspect", &url]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("← HTTP/1.1 403 Forbidden"), "{stdout}");
    assert!(stdout.contains("Content-Type: text/plain"), "{stdout}");
    assert!(
        stdout.contains("← body 29 bytes \"go away: this is not for you\\n\""),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "wsppclient: {url} refused the upgrade: 403 Forbidden (go away: this is not for you)"
        )
    );
}

#[tokio::test]
async fn a_reset_is_named_1006_with_the_bytes_that_had_arrived() {
    let (addr, _peer) = raw::serve_one(|mut stream| async move {
        raw::accept_upgrade(&mut stream).await;
        raw::send(&mut stream, raw::TEXT, b"brace yourself").await;
        // Reset once the client's message is in: the client has read ours by then.
        let _ = raw::read_frame(&mut stream).await;
        // Linger zero does not block on drop: it makes the close a reset, the point here.
        #[allow(deprecated)]
        stream.set_linger(Some(Duration::ZERO)).expect("linger");
        drop(stream);
    })
    .await;
    let addr = addr.to_string();
    let (settings, options) = inspecting(
        &addr,
        "/",
        vec![Outgoing::Text("hi".into())],
        Duration::from_secs(5),
    );
    let (result, text) = transcript_with(Request::Inspect, &settings, &options).await;
    let Err(Error::AbnormalClosure {
        reset, received, ..
    }) = &result
    else {
        panic!("{result:?}\n{text}");
    };
    assert!(*reset, "{result:?}");
    // The 101 answer and the 16-byte Text frame.
    assert!(*received > 100, "{result:?}");
    contains_all(
        &text,
        &[
            "← Text fin=1 mask=0 len=14",
            &format!(
                "1006 (Abnormal Closure): the server reset the connection without a close frame; {received} bytes had arrived"
            ),
            "wireshark filter",
        ],
    );
}

#[tokio::test]
async fn an_end_without_a_close_frame_is_1006_too() {
    let (addr, _peer) = raw::serve_one(|mut stream| async move {
        raw::accept_upgrade(&mut stream).await;
        raw::send(&mut stream, raw::TEXT, b"bye, no close frame").await;
        let _ = stream.shutdown().await;
        // Keep reading until the client hangs up, so that nothing it sends is reset.
        while raw::read_frame(&mut stream).await.is_some() {}
    })
    .await;
    let url = format!("ws://{addr}/");
    let output = run_binary(&["inspect", &url, "--wait", "5s"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("\"bye, no close frame\""), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "wsppclient: {url}: the connection ended without a close frame (1006 Abnormal Closure): the server closed it after "
        )),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[tokio::test]
async fn a_server_that_closes_with_1011_is_shown_and_fails() {
    let (addr, _peer) = raw::serve_one(|mut stream| async move {
        raw::accept_upgrade(&mut stream).await;
        let mut close = 1011u16.to_be_bytes().to_vec();
        close.extend_from_slice(b"oops");
        raw::send(&mut stream, raw::CLOSE, &close).await;
        while let Some((opcode, payload)) = raw::read_frame(&mut stream).await {
            if opcode == raw::CLOSE {
                assert_eq!(payload[..2], 1011u16.to_be_bytes(), "the echo of our code");
                break;
            }
        }
        let _ = stream.shutdown().await;
    })
    .await;
    let addr = addr.to_string();
    let (settings, options) = inspecting(&addr, "/", vec![], Duration::from_secs(5));
    let (result, text) = transcript_with(Request::Inspect, &settings, &options).await;
    assert!(
        matches!(&result, Err(Error::Closed { code: Some(1011), reason }) if reason == "oops"),
        "{result:?}"
    );
    contains_all(
        &text,
        &[
            "← Close fin=1 mask=0 len=6 1011 (Internal Error) \"oops\"",
            "→ Close fin=1 mask=1 len=6 1011",
            "connection closed",
        ],
    );
}

/// Runs the binary with `args` and then a ws:// URL of a one-connection `peer`.
async fn against<F, Fut>(args: &[&str], peer: F) -> (String, std::process::Output)
where
    F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (addr, _peer) = raw::serve_one(peer).await;
    let url = format!("ws://{addr}/");
    let mut all = args.to_vec();
    all.push(&url);
    let output = run_binary(&all).await;
    assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
    (url, output)
}

#[tokio::test]
async fn a_hang_up_before_the_answer_is_said_in_words_by_inspect_and_ping() {
    for args in [&["inspect"][..], &["ping", "-c", "1"]] {
        let (url, output) = against(args, |mut stream| async move {
            raw::read_head(&mut stream).await;
            drop(stream);
        })
        .await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr.trim_end(),
            format!(
                "wsppclient: {url}: the server closed the connection before answering the upgrade"
            ),
            "{args:?}"
        );
    }
}

#[tokio::test]
async fn a_peer_that_does_not_speak_http_is_said_in_words() {
    for args in [&["inspect"][..], &["ping", "-c", "1"]] {
        let (url, output) = against(args, |mut stream| async move {
            raw::read_head(&mut stream).await;
            let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.6\r\n").await;
            let _ = stream.shutdown().await;
        })
        .await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with(&format!(
                "wsppclient: {url}: the server does not speak HTTP"
            )),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("httparse"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        if args[0] == "inspect" {
            assert!(stderr.contains("SSH-2.0-OpenSSH_9.6"), "{stderr}");
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(stdout.contains("← ?? not HTTP: 21 bytes"), "{stdout}");
        }
    }
}

#[tokio::test]
async fn bad_urls_and_bad_hex_are_one_line_and_exit_2() {
    for args in [
        &["inspect", "http://example.test/"][..],
        &["inspect", "ws://"],
        &["inspect", "ws://127.0.0.1:9/", "--send-binary", "abc"],
        &["inspect", "ws://127.0.0.1:9/", "--send-binary", "zz"],
    ] {
        let output = run_binary(args).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.starts_with("wsppclient: bad url") || stderr.starts_with("error: invalid value"),
            "{args:?}: {stderr}"
        );
    }
}

#[tokio::test]
async fn inspect_over_wss_shows_the_same_frames_inside_tls() {
    let (_server, tls) = crate::support::Server::start_tls(fast_server_config()).await;
    let url = format!("wss://localhost:{}/pingpong", tls.addr.port());
    let ca = tls.ca.to_string_lossy().into_owned();
    let output = run_binary(&[
        "--ca", &ca, "inspect", &url, "--send", "secret", "--wait", "50ms",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    contains_all(
        &stdout,
        &[
            "tls ",
            "→ GET /pingpong HTTP/1.1",
            "← HTTP/1.1 101 Switching Protocols",
            "→ Text fin=1 mask=1 len=6 \"secret\"",
            "← Text fin=1 mask=0 len=6 \"secret\"",
            "the server answered: 1000 (Normal Closure)",
        ],
    );
}

#[tokio::test]
async fn inspect_with_deflate_shows_each_compressed_frame_and_what_it_inflated_to() {
    let server = Server::start(fast_server_config()).await;
    let url = format!("ws://{}/pingpong", server.addr);
    let output = run_binary(&[
        "inspect",
        &url,
        "--deflate",
        "--send",
        "hello",
        "--wait",
        "50ms",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    contains_all(
        &stdout,
        &[
            "sec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits",
            "sec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\n",
            "→ Text fin=1 mask=1 len=7 rsv=100 compressed\n               inflated 5 bytes \"hello\"",
            "← Text fin=1 mask=0 len=7 rsv=100 compressed\n               inflated 5 bytes \"hello\"",
        ],
    );
}

#[tokio::test]
async fn ping_both_with_deflate_times_compressed_echoes() {
    let server = Server::start(fast_server_config()).await;
    let addr = server.addr.to_string();
    let output = run_binary(&[
        "--server",
        &addr,
        "ping",
        "--deflate",
        "--both",
        "-c",
        "2",
        "-i",
        "0",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let echoes = stdout.lines().filter(|l| l.contains(": echo seq=")).count();
    assert_eq!(echoes, 2, "{stdout}");
}

#[tokio::test]
async fn an_extension_the_client_does_not_implement_is_closed_with_1010() {
    let (addr, peer) = raw::serve_one(|mut stream| async move {
        raw::accept_upgrade_with(&mut stream, "Sec-WebSocket-Extensions: x-mystery\r\n").await;
        raw::read(&mut stream)
            .await
            .and_then(|frame| frame.close_code())
    })
    .await;
    let url = format!("ws://{addr}/");
    let output = run_binary(&["inspect", "-H", "Sec-WebSocket-Extensions: x-mystery", &url]).await;
    assert_refused_x_mystery(&output, &url);
    // The transcript warns at the 101, before the Close that fails the connection.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let at = |needle: &str| {
        stdout
            .find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{stdout}"))
    };
    let (answer, warning, close) = (
        at("← HTTP/1.1 101 Switching Protocols"),
        at(
            "   warning: the server accepted extension \"x-mystery\", which this client does not \
            implement: failing the connection with 1010 (Mandatory Extension)\n",
        ),
        at("→ Close fin=1 mask=1 len=23 1010 (Mandatory Extension) \"unsupported extension\""),
    );
    assert!(answer < warning && warning < close, "{stdout}");
    assert_eq!(peer.await.expect("the peer"), Some(1010));
}
