//! `ping --echo`, `--echo --binary` and `--both`: messages matched to their echoes by
//! their content, against wsppsrv's `/pingpong` echo and against a hand-written server
//! that also says things of its own.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wspp::payload::Encoding;
use wsppclient::commands::ping;
use wsppclient::commands::ping::PingOptions;
use wsppclient::net::settings::ConnectSettings;
use wsppclient::probe::PingEvent;
use wsppclient::probe::{Probe, Probes};

use crate::support::{Server, fast_server_config, last_json_line, raw, run_binary, within};

#[tokio::test]
async fn echo_against_wsppsrv_says_echo_in_every_line() {
    let server = Server::start(fast_server_config()).await;
    let addr = server.addr.to_string();
    let output = run_binary(&["--server", &addr, "ping", "--echo", "-c", "3", "-i", "0"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let url = format!("ws://{addr}/pingpong");
    assert!(
        stdout.starts_with(&format!(
            "ECHO {url} ({addr}): Text messages of 16 bytes or more, echoed\n"
        )),
        "{stdout}"
    );
    for seq in 0..3 {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(&format!(" bytes from {url}: echo seq={seq} rtt="))),
            "{stdout}"
        );
    }
    assert!(stdout.contains(&format!("--- {url} ws echo statistics ---")));
    assert!(
        stdout.contains("3 messages sent, 3 echoes received, 0% loss, time "),
        "{stdout}"
    );
    assert!(stdout.contains("rtt min/avg/max/mdev = "), "{stdout}");
}

#[tokio::test]
async fn binary_echoes_and_both_kinds_reach_the_json() {
    let server = Server::start(fast_server_config()).await;
    let addr = server.addr.to_string();
    let base = ["--server", &addr, "ping", "-c", "4", "-i", "0", "--json"];

    let output = run_binary(&[&base[..], &["--echo", "--binary"]].concat()).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json = last_json_line(&output);
    assert_eq!(json["probe"], "echo");
    assert_eq!(json["message"], "binary");
    assert_eq!(
        (json["sent"].as_u64(), json["received"].as_u64()),
        (Some(4), Some(4))
    );
    assert!(json["rtt_p50_ms"].is_number(), "{json}");

    let output = run_binary(&[&base[..], &["--both"]].concat()).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json = last_json_line(&output);
    assert_eq!(json["probe"], "both");
    assert_eq!(json["message"], "text");
    for kind in ["ping", "echo"] {
        assert_eq!(json[kind]["sent"], 4, "-c counts each kind: {json}");
        assert_eq!(json[kind]["received"], 4, "{json}");
        assert!(json[kind]["rtt_p50_ms"].is_number(), "{json}");
    }
    assert_eq!(
        json["sent"], json["ping"]["sent"],
        "the top level is the pings'"
    );

    // --binary means nothing without an echo.
    let output = run_binary(&["--server", &addr, "ping", "--binary"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}

#[tokio::test]
async fn both_alternates_and_prints_the_two_distributions_side_by_side() {
    let server = Server::start(fast_server_config()).await;
    let addr = server.addr.to_string();
    let output = run_binary(&["--server", &addr, "ping", "--both", "-c", "2", "-i", "0"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let kinds: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains(" bytes from "))
        .filter_map(|l| l.split(": ").nth(1)?.split(' ').next())
        .collect();
    assert_eq!(kinds, ["ping", "echo", "ping", "echo"], "{stdout}");
    assert!(
        stdout.contains("ws ping and echo statistics ---"),
        "{stdout}"
    );
    assert!(stdout.contains("\n2 pings sent, 2 pongs received, 0% loss, time "));
    assert!(stdout.contains("\n2 messages sent, 2 echoes received, 0% loss\n"));
    for row in [
        "rtt (ms)         min",
        "\nping  ",
        "\necho  ",
        "\necho-ping  ",
    ] {
        assert!(stdout.contains(row), "{row:?} in {stdout}");
    }
}

#[tokio::test]
async fn unrelated_messages_and_late_echoes_are_counted_never_taken_as_replies() {
    const CHATTER: &[u8] = b"the server's own news";
    let (addr, peer) = raw::serve_one(|mut stream| async move {
        raw::accept_upgrade(&mut stream).await;
        while let Some((opcode, payload)) = raw::read_frame(&mut stream).await {
            if raw::answer_close(&mut stream, opcode, &payload).await {
                break;
            }
            if opcode == raw::TEXT {
                // Something of its own first, then the echo, then the echo again.
                raw::send(&mut stream, raw::TEXT, CHATTER).await;
                raw::send(&mut stream, raw::TEXT, &payload).await;
                raw::send(&mut stream, raw::TEXT, &payload).await;
            }
        }
    })
    .await;
    let settings = ConnectSettings::new("unused:1");
    let options = PingOptions {
        url: Some(format!("ws://{addr}/")),
        count: Some(3),
        interval: Duration::ZERO,
        probes: Probes::Echo(Encoding::Text),
        ..PingOptions::default()
    };
    let mut events = Vec::new();
    let report = within(ping::ping(
        &settings,
        &options,
        &CancellationToken::new(),
        |e| events.push(e.clone()),
    ))
    .await
    .expect("the session starts");
    assert_eq!(
        (report.counts.sent, report.received()),
        (3, 3),
        "{events:?}"
    );
    assert!(report.all_answered());
    assert_eq!(report.counts.unsolicited, 3, "{events:?}");
    // The last duplicate may come after the run has ended.
    assert!(report.counts.late >= 2, "{events:?}");
    let replies: Vec<(Probe, u64)> = events
        .iter()
        .filter_map(|e| match e {
            PingEvent::Reply { probe, seq, .. } => Some((*probe, *seq)),
            _ => None,
        })
        .collect();
    assert_eq!(
        replies,
        [(Probe::Echo, 0), (Probe::Echo, 1), (Probe::Echo, 2)]
    );
    assert!(events.contains(&PingEvent::Unsolicited {
        probe: Probe::Echo,
        bytes: CHATTER.len()
    }));
    assert!(events.contains(&PingEvent::Late {
        probe: Probe::Echo,
        seq: 0
    }));
    within(peer).await.expect("peer task");
}

/// A server that answers Pings but echoes nothing: every message is lost, every Ping
/// answered, and the two are told apart.
#[tokio::test]
async fn a_server_that_does_not_echo_loses_the_messages_only() {
    let (addr, peer) = raw::serve_one(|mut stream| async move {
        raw::accept_upgrade(&mut stream).await;
        while let Some((opcode, payload)) = raw::read_frame(&mut stream).await {
            if raw::answer_close(&mut stream, opcode, &payload).await {
                break;
            }
            if opcode == raw::PING {
                raw::send(&mut stream, raw::PONG, &payload).await;
            }
        }
    })
    .await;
    let url = format!("ws://{addr}/");
    let output = run_binary(&[
        "ping", &url, "--both", "-c", "2", "-i", "0", "-W", "0.2", "--json",
    ])
    .await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let json = last_json_line(&output);
    assert_eq!(json["ping"]["received"], 2, "{json}");
    assert_eq!(json["echo"]["received"], 0, "{json}");
    assert_eq!(json["echo"]["lost"], 2, "{json}");
    within(peer).await.expect("peer task");
}
