//! Servers that die mid-session, and `hold --reconnect` across a server restart.
//!
//! A killed server's kernel ends its connections with a FIN (nothing left unread) or a
//! reset (data left unread, or `SO_LINGER` 0). Raw peers do both on purpose, after a
//! real upgrade, so `ping`, `hold` and `open-close` each meet a server that vanishes
//! without a Close frame; the binary must then print one line and exit 2. The restart
//! is the real wsppsrv, shut down and bound again on its own port.

use std::time::Duration;
use wsppclient::commands::Options;

use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;
use wsppclient::commands::catalog::Request;
use wsppclient::watch::transcript::{Entry, EntryKind, Transcript};

use crate::support::{HeldPort, Server, fast_server_config, raw, run_binary, within};

/// How the raw server vanishes.
#[derive(Debug, Clone, Copy)]
enum Vanish {
    /// As a killed process whose socket had nothing unread: FIN, no Close frame.
    Fin,
    /// As a killed process with data unread, or a middlebox: RST.
    Reset,
}

/// A WebSocket server that accepts the upgrade, reads `frames` client frames (so the
/// session is really under way), then vanishes as `how` says.
async fn vanishing_server(frames: usize, how: Vanish) -> std::net::SocketAddr {
    let (addr, _task) = raw::serve_one(move |mut stream: TcpStream| async move {
        raw::accept_upgrade(&mut stream).await;
        for _ in 0..frames {
            if raw::read_frame(&mut stream).await.is_none() {
                return;
            }
        }
        if let Vanish::Reset = how {
            stream.set_zero_linger().expect("set SO_LINGER 0");
        }
        drop(stream);
    })
    .await;
    addr
}

/// Runs the binary against a server that vanishes, and checks the one line on stderr.
async fn assert_one_line_and_exit_2(args: &[&str], expected_start: &str) {
    let output = run_binary(args).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: stderr {stderr:?}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
    assert!(
        stderr.starts_with(expected_start),
        "{args:?}: {stderr:?} should start with {expected_start:?}"
    );
}

#[tokio::test]
async fn ping_reports_a_server_that_vanishes_and_exits_2() {
    for how in [Vanish::Fin, Vanish::Reset] {
        let addr = vanishing_server(2, how).await;
        let url = format!("ws://{addr}/pingpong");
        assert_one_line_and_exit_2(
            &["ping", &url, "-i", "0.02", "-W", "5"],
            &format!("wsppclient: lost the connection to {url}: "),
        )
        .await;
    }
}

#[tokio::test]
async fn hold_reports_a_server_that_vanishes_and_exits_2() {
    for how in [Vanish::Fin, Vanish::Reset] {
        let addr = vanishing_server(2, how).await;
        let server = addr.to_string();
        assert_one_line_and_exit_2(
            &["--server", &server, "hold", "--interval", "20ms"],
            &format!("wsppclient: lost the connection to ws://{addr}/pingpong: "),
        )
        .await;
    }
}

#[tokio::test]
async fn open_close_reports_a_server_that_vanishes_and_exits_2() {
    for how in [Vanish::Fin, Vanish::Reset] {
        let addr = vanishing_server(0, how).await;
        let server = addr.to_string();
        assert_one_line_and_exit_2(
            &["--server", &server, "open-close"],
            &format!("wsppclient: lost the connection to ws://{addr}/openandclosewebsocket: "),
        )
        .await;
    }
}

/// A server that starts a long text frame with bytes that are not UTF-8 and sends no
/// more of it: the client must fail at once, not wait for the frame's end (RFC 6455,
/// 8.1; Autobahn 6.4.3), as the server does with a client's text.
#[tokio::test]
async fn invalid_utf8_from_the_server_fails_before_its_frame_ends() {
    let (addr, _task) = raw::serve_one(|mut stream: TcpStream| async move {
        raw::accept_upgrade(&mut stream).await;
        // A text frame declaring 1 MiB, of which only the first, impossible bytes come.
        let mut start = vec![0x81, 127];
        start.extend_from_slice(&(1u64 << 20).to_be_bytes());
        start.extend_from_slice(&[b'o', b'k', 0xf4, 0x90]);
        tokio::io::AsyncWriteExt::write_all(&mut stream, &start)
            .await
            .expect("send the frame's start");
        // Held open until the client goes: only its own verdict can end the test.
        while raw::read_frame(&mut stream).await.is_some() {}
    })
    .await;
    let url = format!("ws://{addr}/pingpong");
    let output = run_binary(&["ping", &url, "-c", "1", "-W", "30"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr {stderr:?}");
    assert!(stderr.contains("invalid utf-8"), "{stderr:?}");
}

#[tokio::test]
async fn a_fin_without_close_reads_as_a_hang_up() {
    let addr = vanishing_server(1, Vanish::Fin).await;
    let output = run_binary(&["--server", &addr.to_string(), "hold", "--interval", "20ms"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .trim_end()
            .ends_with("the server hung up without a close frame"),
        "{stderr:?}"
    );
}

/// Reads transcript entries until one satisfies `wanted`; returns it. Every entry
/// read on the way is appended to `seen`, for the failure message.
async fn wait_for(
    rx: &mut UnboundedReceiver<Entry>,
    seen: &mut Vec<String>,
    wanted: impl Fn(&EntryKind) -> bool,
) -> EntryKind {
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(entry) = rx.recv().await {
            seen.push(entry.to_string());
            if wanted(&entry.kind) {
                return Some(entry.kind);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(kind)) => kind,
        _ => panic!("not in the transcript so far:\n{}", seen.join("\n")),
    }
}

fn note_starting(prefix: &'static str) -> impl Fn(&EntryKind) -> bool {
    move |kind| matches!(kind, EntryKind::Note(text) if text.starts_with(prefix))
}

fn an_echo(kind: &EntryKind) -> bool {
    matches!(kind, EntryKind::Rtt { what: "echo", .. })
}

#[tokio::test]
async fn hold_reconnects_across_a_server_restart_and_echoes_on() {
    // The port stays held between the two servers, so that no parallel test can take
    // it while the server is down.
    let held = HeldPort::new();
    let addr = held.addr;
    let first = Server::start_on(addr, fast_server_config()).await;
    let settings = first.client_settings();
    let mut options = Options::default();
    options.hold.interval = Duration::from_millis(20);
    options.hold.reconnect = true;
    let (transcript, mut rx) = Transcript::new();
    let cancel = CancellationToken::new();
    let hold = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            wsppclient::commands::run(Request::Hold, &settings, &options, &transcript, &cancel)
                .await
        }
    });
    let mut seen = Vec::new();
    wait_for(&mut rx, &mut seen, an_echo).await;

    // A restart: the server goes away (Close 1001), and while it is down the
    // attempts are refused and the back-off grows.
    first.shutdown().await;
    let disconnected = wait_for(&mut rx, &mut seen, note_starting("disconnected: ")).await;
    assert!(
        matches!(&disconnected, EntryKind::Note(t) if t.contains("1001 (Going Away)")),
        "{disconnected:?}"
    );
    // Each wait is drawn between half its ceiling and the ceiling (jitter).
    for (attempt, ceiling) in [(1, 100), (2, 200)] {
        let note = wait_for(&mut rx, &mut seen, note_starting("reconnecting in ")).await;
        let EntryKind::Note(text) = &note else {
            panic!("{note:?}")
        };
        let ms: u64 = text
            .strip_prefix("reconnecting in ")
            .and_then(|rest| rest.strip_suffix(&format!("ms (attempt {attempt})")))
            .and_then(|ms| ms.parse().ok())
            .unwrap_or_else(|| panic!("{text}"));
        assert!(ceiling / 2 <= ms && ms <= ceiling, "{text}");
    }
    let second = Server::start_on(addr, fast_server_config()).await;
    wait_for(&mut rx, &mut seen, note_starting("reconnected after ")).await;
    // The echo goes on, on the new connection.
    wait_for(&mut rx, &mut seen, an_echo).await;

    cancel.cancel();
    within(hold)
        .await
        .expect("hold did not panic")
        .expect("a cancelled hold ends cleanly");
    while let Some(entry) = within(rx.recv()).await {
        seen.push(entry.to_string());
    }
    let text = seen.join("\n");
    assert!(text.contains(" echoes, rtt min/avg/max = "), "{text}");
    assert!(text.contains("the server answered: 1000"), "{text}");
    // The filter isolates both connections, not only the last.
    let filter = text
        .lines()
        .find_map(|l| l.split_once("wireshark filter: ").map(|(_, f)| f))
        .unwrap_or_else(|| panic!("no filter: {text}"));
    let ports: Vec<u16> = filter
        .strip_prefix("tcp.port in {")
        .and_then(|f| f.strip_suffix('}'))
        .unwrap_or_else(|| panic!("{filter}"))
        .split(' ')
        .map(|p| p.parse().expect("a port"))
        .collect();
    assert_eq!(ports.len(), 2, "{filter}");
    assert_ne!(ports[0], ports[1], "{filter}");
    second.shutdown().await;
}

#[tokio::test]
async fn hold_without_reconnect_fails_when_the_server_goes_away() {
    let server = Server::start(fast_server_config()).await;
    let settings = server.client_settings();
    let mut options = Options::default();
    options.hold.interval = Duration::from_millis(20);
    let (transcript, mut rx) = Transcript::new();
    let cancel = CancellationToken::new();
    let hold = tokio::spawn(async move {
        wsppclient::commands::run(Request::Hold, &settings, &options, &transcript, &cancel).await
    });
    let mut seen = Vec::new();
    wait_for(&mut rx, &mut seen, an_echo).await;
    server.shutdown().await;
    let result = within(hold).await.expect("hold did not panic");
    assert!(
        matches!(
            result,
            Err(wsppclient::Error::Closed {
                code: Some(1001),
                ..
            })
        ),
        "{result:?}"
    );
}
