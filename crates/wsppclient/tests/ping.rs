//! `ping`: the library session and the binary's output and exit codes, against
//! wsppsrv and against hand-written servers that misbehave on purpose.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wspp::payload::PingId;
use wsppclient::commands::ping;
use wsppclient::commands::ping::PingOptions;
use wsppclient::net::settings::ConnectSettings;
use wsppclient::net::url::WsUrl;
use wsppclient::probe::{PingEvent, Pinger};

use crate::support::{
    Server, assert_refused_x_mystery, fast_server_config, last_json_line, raw, refused_addr,
    run_binary, within,
};

fn quick(options: &mut PingOptions, count: u64) {
    options.count = Some(count);
    options.interval = Duration::ZERO;
    options.timeout = Duration::from_secs(5);
}

#[tokio::test]
async fn the_binary_pings_wsppsrv_and_exits_0_with_json_last() {
    let server = Server::start(fast_server_config()).await;
    let addr = server.addr.to_string();
    let output = run_binary(&["--server", &addr, "ping", "-c", "5", "-i", "0.01", "--json"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json = last_json_line(&output);
    assert_eq!(json["url"], format!("ws://{addr}/pingpong"));
    assert_eq!(json["sent"], 5);
    assert_eq!(json["received"], 5);
    assert_eq!(json["lost"], 0);
    assert_eq!(json["loss_pct"], 0.0);
    assert_eq!(json["unsolicited"], 0);
    for key in [
        "rtt_min_ms",
        "rtt_avg_ms",
        "rtt_max_ms",
        "rtt_mdev_ms",
        "rtt_p50_ms",
        "rtt_p90_ms",
        "rtt_p99_ms",
        "rtt_p999_ms",
    ] {
        assert!(json[key].is_number(), "{key}: {json}");
    }
    assert!(json["rtt_min_ms"].as_f64() <= json["rtt_max_ms"].as_f64());
    // The network's RTT by default, and the user's beside it: never more than it,
    // since the user's clock stops later on the same round trip.
    assert_eq!(json["clock"], "kernel", "{json}");
    assert!(json["no_kernel_stamps"].is_null());
    for (network, user) in [
        ("rtt_p50_ms", "user_rtt_p50_ms"),
        ("rtt_max_ms", "user_rtt_max_ms"),
    ] {
        assert!(json[network].as_f64() <= json[user].as_f64(), "{json}");
    }
}

/// `-U` prints the user-to-user RTT on each reply line and leads the summary with it,
/// and says so; the network's stays beside it, and in the JSON every field keeps its
/// one meaning: `rtt_*` the kernel's clock, `user_rtt_*` the user's.
#[tokio::test]
async fn user_latency_prints_the_user_clock_and_keeps_the_kernels() {
    let server = Server::start(fast_server_config()).await;
    let addr = server.addr.to_string();
    let args = ["--server", &addr, "ping", "-c", "3", "-i", "0", "-U"];
    let output = run_binary(&args).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("rtt: user-to-user, this machine's wake-up included (-U)")
            && stdout.contains("rtt clock: user (-U); network round trip p50/p90/p99/p99.9 = "),
        "{stdout}"
    );
    let output = run_binary(&[&args[..], &["--json"]].concat()).await;
    let json = last_json_line(&output);
    assert_eq!(json["clock"], "kernel", "{json}");
    assert!(
        json["rtt_p50_ms"].as_f64() <= json["user_rtt_p50_ms"].as_f64(),
        "{json}"
    );
    let output = run_binary(&[&args[..], &["--ndjson"]].concat()).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let first: serde_json::Value =
        serde_json::from_str(stdout.lines().next().unwrap_or_default()).expect("a JSON line");
    assert_eq!(first["clock"], "kernel", "{stdout}");
}

/// Busy polling changes how the client waits for a pong, not what it counts.
#[tokio::test]
async fn busy_polling_pings_as_usual() {
    let server = Server::start(fast_server_config()).await;
    let addr = server.addr.to_string();
    let args = ["--server", &addr, "ping", "-c", "20", "-i", "0", "--json"];
    let output = run_binary(&[&args[..], &["--busy-poll", "1ms"]].concat()).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json = last_json_line(&output);
    assert_eq!(
        (json["sent"].as_u64(), json["received"].as_u64()),
        (Some(20), Some(20))
    );
    assert_eq!(json["busy_poll_ms"], 1.0);
    let output = run_binary(&[&args[..], &["--busy-poll", "soon"]].concat()).await;
    assert_eq!(
        output.status.code(),
        Some(2),
        "a bad budget is a usage error"
    );
}

#[tokio::test]
async fn the_binary_prints_ping8_style_lines_and_summary() {
    let server = Server::start(fast_server_config()).await;
    let addr = server.addr.to_string();
    let output = run_binary(&["--server", &addr, "ping", "-c", "3", "-i", "0", "-s", "40"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with(&format!("PING ws://{addr}/pingpong")),
        "{stdout}"
    );
    for seq in 0..3 {
        let prefix = format!("40 bytes from ws://{addr}/pingpong: seq={seq} rtt=");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&prefix) && l.ends_with(" ms")),
            "{stdout}"
        );
    }
    assert!(stdout.contains(&format!("--- ws://{addr}/pingpong ws ping statistics ---")));
    assert!(
        stdout.contains("3 pings sent, 3 pongs received, 0% loss, time "),
        "{stdout}"
    );
    assert!(stdout.contains("rtt min/avg/max/mdev = "), "{stdout}");
    assert!(stdout.contains("rtt p50/p90/p99/p99.9 = "), "{stdout}");
    // Like every other request, it ends with the filter that isolates it in a capture.
    let port = lines
        .last()
        .and_then(|l| l.strip_prefix("wireshark filter: tcp.port == "))
        .and_then(|p| p.parse::<u16>().ok());
    assert!(port.is_some_and(|p| p != server.addr.port()), "{stdout}");
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn a_refused_connection_exits_2_with_one_line_on_stderr() {
    let held = refused_addr();
    let addr = held.to_string();
    let output = run_binary(&["--server", &addr, "ping", "-c", "1"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("wsppclient: cannot connect to {addr}: ")),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[tokio::test]
async fn a_refused_upgrade_exits_2_naming_the_status() {
    let (addr, peer) = raw::serve_one(|mut stream| async move {
        raw::refuse(&mut stream, "404 Not Found").await;
    })
    .await;
    let url = format!("ws://{addr}/pingpong");
    let output = run_binary(&["ping", &url, "-c", "1"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!("wsppclient: {url} refused the upgrade: 404 Not Found")
    );
    within(peer).await.expect("peer task");
}

#[tokio::test]
async fn bad_urls_exit_2() {
    let http = run_binary(&["ping", "http://127.0.0.1:1/"]).await;
    assert_eq!(http.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&http.stderr).trim_end(),
        "wsppclient: bad url \"http://127.0.0.1:1/\": the scheme is not ws:// or wss://; \
         expected ws://HOST[:PORT]/PATH or wss://HOST[:PORT]/PATH"
    );
}

/// A server that completes the handshake and then never answers a ping.
async fn silent_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    raw::serve_one(|mut stream| async move {
        raw::accept_upgrade(&mut stream).await;
        while let Some((opcode, payload)) = raw::read_frame(&mut stream).await {
            if raw::answer_close(&mut stream, opcode, &payload).await {
                break;
            }
        }
    })
    .await
}

#[tokio::test]
async fn a_silent_server_loses_every_ping_and_the_binary_exits_1() {
    let (addr, peer) = silent_server().await;
    let url = format!("ws://{addr}/pingpong");
    let output = run_binary(&["ping", &url, "-c", "2", "-i", "0.05", "-W", "0.2", "--json"]).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 1);
    let json = last_json_line(&output);
    assert_eq!(json["sent"], 2);
    assert_eq!(json["received"], 0);
    assert_eq!(json["lost"], 2);
    assert_eq!(json["loss_pct"], 100.0);
    assert!(json["rtt_min_ms"].is_null() && json["rtt_p999_ms"].is_null());
    within(peer).await.expect("peer task");
}

#[tokio::test]
async fn timeouts_are_reported_per_ping() {
    let (addr, _peer) = silent_server().await;
    let settings = ConnectSettings::new("unused:1");
    let options = PingOptions {
        url: Some(format!("ws://{addr}/x")),
        count: Some(2),
        interval: Duration::ZERO,
        timeout: Duration::from_millis(50),
        ..PingOptions::default()
    };
    let mut timeouts = Vec::new();
    let report = within(ping::ping(
        &settings,
        &options,
        &CancellationToken::new(),
        |e| {
            if let PingEvent::Timeout { seq, .. } = e {
                timeouts.push(*seq);
            }
        },
    ))
    .await
    .expect("the session starts");
    // With a zero interval the second ping waits for the first to time out.
    assert_eq!(timeouts, [0, 1]);
    assert_eq!(
        (report.counts.sent, report.received(), report.lost()),
        (2, 0, 2)
    );
    assert!(!report.all_answered());
}

#[tokio::test]
async fn unsolicited_and_forged_pongs_are_counted_never_taken_as_replies() {
    let (addr, peer) = raw::serve_one(|mut stream| async move {
        raw::accept_upgrade(&mut stream).await;
        // A heartbeat pong, before any ping (RFC 6455 allows it).
        raw::send(&mut stream, raw::PONG, b"heartbeat").await;
        while let Some((opcode, payload)) = raw::read_frame(&mut stream).await {
            if raw::answer_close(&mut stream, opcode, &payload).await {
                break;
            }
            if opcode != raw::PING {
                continue;
            }
            // First a pong naming the right seq with the wrong send time, then the
            // real echo: only the echo may count.
            let id = PingId::decode(&payload).expect("a wspp ping payload");
            let forged = PingId {
                seq: id.seq,
                sent: id.sent + Duration::from_nanos(1),
            }
            .encode(payload.len());
            raw::send(&mut stream, raw::PONG, &forged).await;
            raw::send(&mut stream, raw::PONG, &payload).await;
        }
    })
    .await;
    let settings = ConnectSettings::new("unused:1");
    let mut options = PingOptions {
        url: Some(format!("ws://{addr}/")),
        ..PingOptions::default()
    };
    quick(&mut options, 3);
    let mut events = Vec::new();
    let report = within(ping::ping(
        &settings,
        &options,
        &CancellationToken::new(),
        |e| events.push(e.clone()),
    ))
    .await
    .expect("the session starts");
    assert_eq!(report.counts.sent, 3);
    assert_eq!(report.received(), 3);
    assert_eq!(report.counts.unsolicited, 4, "{events:?}");
    assert!(report.all_answered());
    let replies: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            PingEvent::Reply { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    assert_eq!(replies, [0, 1, 2]);
    assert!(events.contains(&PingEvent::Unsolicited {
        probe: wsppclient::probe::Probe::Ping,
        bytes: 9
    }));
    within(peer).await.expect("peer task");
}

#[tokio::test]
async fn cancelling_a_session_returns_the_summary_so_far() {
    let server = Server::start(fast_server_config()).await;
    let settings = server.client_settings();
    let options = PingOptions {
        interval: Duration::ZERO,
        count: None,
        ..PingOptions::default()
    };
    let cancel = CancellationToken::new();
    let report = within(ping::ping(&settings, &options, &cancel, |e| {
        if let PingEvent::Reply { seq: 4, .. } = e {
            cancel.cancel();
        }
    }))
    .await
    .expect("the session starts");
    assert_eq!(report.received(), 5);
    assert_eq!(report.counts.sent, 5);
    assert!(report.ended_by.is_none());
    assert_eq!(report.latency.summary().count, 5);
}

#[tokio::test]
async fn a_server_going_away_ends_the_session_with_its_close_code() {
    let server = Server::start(fast_server_config()).await;
    let settings = server.client_settings();
    let options = PingOptions {
        interval: Duration::from_millis(5),
        ..PingOptions::default()
    };
    let (first_reply, replied) = tokio::sync::oneshot::channel::<()>();
    let mut first_reply = Some(first_reply);
    let session = async {
        ping::ping(&settings, &options, &CancellationToken::new(), |e| {
            if matches!(e, PingEvent::Reply { .. })
                && let Some(tx) = first_reply.take()
            {
                let _ = tx.send(());
            }
        })
        .await
    };
    let stop = async {
        let _ = replied.await;
        server.shutdown().await;
    };
    let (report, ()) = within(async { tokio::join!(session, stop) }).await;
    let report = report.expect("the session starts");
    let err = report.ended_by.expect("the server ended the session");
    let text = err.to_string();
    assert!(
        text.starts_with("the server closed the connection with 1001 (Going Away)"),
        "{text}"
    );
}

/// `ping_once` keeps one timer between calls: each ping must get its own full timeout,
/// whether the previous one was answered or timed out.
#[tokio::test]
async fn a_pinger_gives_each_ping_its_own_timeout() {
    let (addr, _peer) = silent_server().await;
    let settings = ConnectSettings::new(addr.to_string());
    let url = WsUrl::parse(&format!("ws://{addr}/x")).expect("valid url");
    let mut pinger = within(Pinger::connect(&settings, &url, 16, false))
        .await
        .expect("connect and upgrade");
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let rtt = within(pinger.ping_once(Duration::from_millis(50)))
            .await
            .expect("connection alive");
        assert_eq!(rtt, None, "the silent server answers nothing");
        assert!(
            started.elapsed() >= Duration::from_millis(50),
            "a full timeout"
        );
    }
    let counts = pinger.counts();
    assert_eq!((counts.sent, counts.answered, counts.lost), (3, 0, 3));
}

#[tokio::test]
async fn a_pinger_does_sequential_round_trips() {
    let server = Server::start(fast_server_config()).await;
    let settings = server.client_settings();
    let url = WsUrl::for_route(&settings.server, wspp::routes::PINGPONG).expect("valid url");
    let mut pinger = within(Pinger::connect(&settings, &url, 16, false))
        .await
        .expect("connect and upgrade");
    for _ in 0..20 {
        let rtt = within(pinger.ping_once(Duration::from_secs(5)))
            .await
            .expect("connection alive");
        assert!(rtt.is_some_and(|rtt| rtt.user < Duration::from_secs(5)
            && rtt.kernel.is_none_or(|kernel| kernel <= rtt.user)));
    }
    let counts = pinger.counts();
    assert_eq!((counts.sent, counts.answered, counts.lost), (20, 20, 0));
    within(pinger.close()).await.expect("close handshake");
}

#[tokio::test]
async fn an_extension_offered_with_h_and_accepted_is_closed_with_1010_not_misread() {
    // The server takes the offer and its first frame uses the extension (RSV1), as
    // Python `websockets` and Node `ws` do with a raw permessage-deflate offer to a
    // client that cannot inflate: the client fails the connection over the extension,
    // never over the reserved bit.
    let (addr, peer) = raw::serve_one(|mut stream| async move {
        raw::accept_upgrade_with(&mut stream, "Sec-WebSocket-Extensions: x-mystery\r\n").await;
        raw::send(&mut stream, 0x41, b"uses the extension").await;
        loop {
            match raw::read(&mut stream).await {
                Some(frame) if frame.close_code().is_some() => break frame.close_code(),
                Some(_) => {}
                None => break None,
            }
        }
    })
    .await;
    let url = format!("ws://{addr}/");
    let output = run_binary(&[
        "-H",
        "Sec-WebSocket-Extensions: x-mystery",
        "ping",
        "-c",
        "1",
        &url,
    ])
    .await;
    assert_refused_x_mystery(&output, &url);
    assert_eq!(peer.await.expect("the peer"), Some(1010));
}
