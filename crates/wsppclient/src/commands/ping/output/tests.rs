//! The output's tests, text and JSON together: most check that the lines and the
//! JSON keys say the same thing about one report.

use std::time::{Duration, SystemTime};

use wspp::payload::Encoding;
use wspp::stats::Latency;
use wspp::tracker::{Counts, Rtt};
use wspp::wire_clock::Clock;

use super::*;
use crate::net::proxy::ProxyInfo;
use crate::net::tls::TlsInfo;
use crate::probe::report::{PingEvent, PingReport, ProbeStats, Setup};
use crate::probe::{Probe, Probes};

fn report(sent: u64, answered: u64, rtts_us: &[u64]) -> PingReport {
    let mut latency = Latency::default();
    for &us in rtts_us {
        latency.record(Duration::from_micros(us));
    }
    PingReport {
        url: "ws://h:1/pingpong".into(),
        setup: Setup {
            resolve: Duration::from_micros(50),
            tcp_connect: Duration::from_micros(80),
            proxy: None,
            tls: None,
            upgrade: Duration::from_micros(400),
            subprotocol: None,
            clock: Clock::Kernel,
            printed: Clock::Kernel,
            no_kernel_stamps: None,
        },
        probes: Probes::Ping,
        counts: Counts {
            sent,
            answered,
            lost: sent - answered,
            late: 0,
            unsolicited: 2,
        },
        user_latency: latency.clone(),
        latency,
        unstamped: 0,
        send_unstamped: 0,
        echo: None,
        count: None,
        deadline: None,
        elapsed: Duration::from_millis(2003),
        busy_poll: Duration::ZERO,
        ended_by: None,
    }
}

#[test]
fn reply_lines_look_like_ping() {
    let event = PingEvent::Reply {
        probe: Probe::Ping,
        seq: 3,
        rtt: Rtt {
            user: Duration::from_micros(120),
            kernel: Some(Duration::from_micros(52)),
        },
        clock: Clock::Kernel,
        bytes: 16,
        skipped: 0,
    };
    assert_eq!(
        event_line("ws://h:1/pingpong", Probes::Ping, &event).as_deref(),
        Some("16 bytes from ws://h:1/pingpong: seq=3 rtt=0.052 ms")
    );
    let skipped = PingEvent::Reply {
        probe: Probe::Ping,
        seq: 5,
        rtt: Rtt {
            user: Duration::from_millis(2),
            kernel: None,
        },
        clock: Clock::User,
        bytes: 16,
        skipped: 1,
    };
    // Timed on the user's clock for want of a kernel stamp: it says so.
    assert!(
        event_line("u", Probes::Ping, &skipped)
            .is_some_and(|l| l.ends_with("rtt=2.000 ms (user clock) (1 older ping now lost)"))
    );
}

#[test]
fn the_filter_line_names_our_port() {
    let local = "127.0.0.1:47866".parse().expect("valid address");
    assert_eq!(
        wireshark_filter(local),
        "wireshark filter: tcp.port == 47866"
    );
}

#[test]
fn the_summary_has_counts_and_both_rtt_lines() {
    let lines = summary(&report(3, 2, &[100, 300]));
    assert_eq!(lines[0], "--- ws://h:1/pingpong ws ping statistics ---");
    assert_eq!(
        lines[1],
        "3 pings sent, 2 pongs received, 33.3% loss, time 2003ms, 2 unsolicited"
    );
    assert_eq!(
        lines[2],
        "rtt min/avg/max/mdev = 0.100/0.200/0.300/0.100 ms"
    );
    assert!(
        lines[3].starts_with("rtt p50/p90/p99/p99.9 = 0.100/0.300/"),
        "{}",
        lines[3]
    );
}

/// `-U` leads with the user's clock and keeps the kernel's beside it; the JSON's
/// fields mean what they always mean.
#[test]
fn user_latency_leads_the_summary_and_keeps_the_kernels_line() {
    let mut r = report(2, 2, &[100, 300]);
    r.setup.printed = Clock::User;
    r.user_latency = Latency::default();
    for us in [400, 600] {
        r.user_latency.record(Duration::from_micros(us));
    }
    let lines = summary(&r);
    assert_eq!(
        lines[2],
        "rtt min/avg/max/mdev = 0.400/0.500/0.600/0.100 ms"
    );
    assert!(
        lines[4].starts_with(
            "rtt clock: user (-U); network round trip p50/p90/p99/p99.9 = 0.100/0.300/"
        ),
        "{}",
        lines[4]
    );
    let value: serde_json::Value = serde_json::from_str(&json(&r)).expect("valid json");
    assert_eq!(value["clock"], "kernel");
    assert_eq!(value["rtt_min_ms"], 0.1);
    assert_eq!(value["user_rtt_min_ms"], 0.4);
    assert_eq!(
        clock_line(&r.setup),
        "rtt: user-to-user, this machine's wake-up included (-U)"
    );
}

#[test]
fn without_replies_there_are_no_rtt_lines_and_json_nulls() {
    let r = report(2, 0, &[]);
    assert_eq!(summary(&r).len(), 2);
    let value: serde_json::Value = serde_json::from_str(&json(&r)).expect("valid json");
    assert_eq!(value["sent"], 2);
    assert_eq!(value["lost"], 2);
    assert_eq!(value["loss_pct"], 100.0);
    assert!(value["rtt_min_ms"].is_null() && value["rtt_p999_ms"].is_null());
}

fn tls_info() -> TlsInfo {
    TlsInfo {
        handshake: Duration::from_micros(2345),
        version: "TLSv1.3".into(),
        cipher_suite: "TLS13_AES_256_GCM_SHA384".into(),
        key_exchange: Some("X25519".into()),
        alpn: Some("http/1.1".into()),
        sni: Some("localhost".into()),
        verified: true,
        key_log: None,
    }
}

#[test]
fn tls_setup_gets_its_own_line_and_json_keys() {
    let mut r = report(1, 1, &[250]);
    assert_eq!(
        setup_lines(&r.setup),
        ["connected in 0.530 ms: resolve 0.050 ms, tcp connect 0.080 ms, upgrade 0.400 ms"]
    );
    let plain: serde_json::Value = serde_json::from_str(&json(&r)).expect("valid json");
    assert_eq!(plain["resolve_ms"], 0.05);
    assert_eq!(plain["tcp_connect_ms"], 0.08);
    assert_eq!(plain["upgrade_ms"], 0.4);
    assert!(plain["tls_handshake_ms"].is_null() && plain["tls_version"].is_null());

    r.setup.tls = Some(tls_info());
    assert_eq!(
        setup_lines(&r.setup),
        [
            "tls handshake 2.345 ms: TLSv1.3, TLS13_AES_256_GCM_SHA384, X25519, \
             ALPN http/1.1, SNI localhost, certificate verified",
            "connected in 2.875 ms: resolve 0.050 ms, tcp connect 0.080 ms, \
             tls handshake 2.345 ms, upgrade 0.400 ms"
        ]
    );
    let value: serde_json::Value = serde_json::from_str(&json(&r)).expect("valid json");
    assert_eq!(value["tls_handshake_ms"], 2.345);
    assert_eq!(value["tls_version"], "TLSv1.3");
    assert_eq!(value["tls_cipher_suite"], "TLS13_AES_256_GCM_SHA384");
}

#[test]
fn the_proxy_and_the_subprotocol_get_lines_and_json_keys() {
    let mut r = report(1, 1, &[250]);
    let plain: serde_json::Value = serde_json::from_str(&json(&r)).expect("valid json");
    assert!(plain["proxy"].is_null() && plain["proxy_ms"].is_null());
    assert!(plain["subprotocol"].is_null());

    r.setup.proxy = Some(ProxyInfo {
        kind: crate::net::proxy::ProxyKind::Http,
        url: "http://alice:***@127.0.0.1:3128".into(),
        from: "HTTPS_PROXY".into(),
        target: "h:1".into(),
        handshake: Duration::from_micros(300),
        request: vec!["CONNECT h:1 HTTP/1.1".into()],
        response: vec!["HTTP/1.1 200 Connection established".into()],
    });
    r.setup.subprotocol = Some("chat".into());
    assert_eq!(
        setup_lines(&r.setup),
        [
            "http proxy http://alice:***@127.0.0.1:3128 (HTTPS_PROXY): CONNECT h:1 → \
             200 Connection established",
            "subprotocol: chat (the server's choice)",
            "connected in 0.830 ms: resolve 0.050 ms, tcp connect 0.080 ms, \
             proxy 0.300 ms, upgrade 0.400 ms"
        ]
    );
    let value: serde_json::Value = serde_json::from_str(&json(&r)).expect("valid json");
    assert_eq!(value["proxy"], "http://alice:***@127.0.0.1:3128");
    assert_eq!(value["proxy_ms"], 0.3);
    assert_eq!(value["subprotocol"], "chat");
}

#[test]
fn an_unverified_handshake_says_so() {
    let mut tls = tls_info();
    tls.verified = false;
    assert!(tls_line(&tls).ends_with("certificate NOT verified (--insecure)"));
}

#[test]
fn json_is_one_line_with_unit_suffixed_keys() {
    let text = json(&report(1, 1, &[250]));
    assert!(!text.contains('\n'));
    let value: serde_json::Value = serde_json::from_str(&text).expect("valid json");
    assert_eq!(value["rtt_avg_ms"], 0.25);
    assert_eq!(value["received"], 1);
    assert_eq!(value["unsolicited"], 2);
    assert_eq!(value["busy_poll_ms"], 0.0);
}

#[test]
fn the_header_says_when_the_client_busy_polls() {
    let peer = "127.0.0.1:8080".parse().expect("address");
    let url = "ws://127.0.0.1:8080/pingpong";
    assert_eq!(
        header(url, peer, 16, Duration::ZERO, Probes::Ping),
        "PING ws://127.0.0.1:8080/pingpong (127.0.0.1:8080): 16 payload bytes per ping"
    );
    assert_eq!(
        header(url, peer, 16, Duration::from_millis(1), Probes::Ping),
        "PING ws://127.0.0.1:8080/pingpong (127.0.0.1:8080): 16 payload bytes per ping, \
         busy-polling 1.000 ms after each"
    );
}

fn echoes(sent: u64, answered: u64, rtts_us: &[u64]) -> ProbeStats {
    let mut latency = Latency::default();
    for &us in rtts_us {
        latency.record(Duration::from_micros(us));
    }
    ProbeStats {
        counts: Counts {
            sent,
            answered,
            lost: sent - answered,
            late: 1,
            unsolicited: 3,
        },
        latency,
    }
}

#[test]
fn echo_lines_and_summary_say_echo() {
    let echo = Probes::Echo(Encoding::Text);
    let reply = PingEvent::Reply {
        probe: Probe::Echo,
        seq: 2,
        rtt: Rtt {
            user: Duration::from_micros(90),
            kernel: Some(Duration::from_micros(61)),
        },
        clock: Clock::Kernel,
        bytes: 21,
        skipped: 2,
    };
    assert_eq!(
        event_line("u", echo, &reply).as_deref(),
        Some("21 bytes from u: echo seq=2 rtt=0.061 ms (2 older messages now lost)")
    );
    let lines = |event| event_line("u", echo, &event).unwrap_or_default();
    assert_eq!(
        lines(PingEvent::Timeout {
            probe: Probe::Echo,
            seq: 4
        }),
        "no echo for seq=4"
    );
    assert_eq!(
        lines(PingEvent::Late {
            probe: Probe::Echo,
            seq: 1
        }),
        "late echo for seq=1 (not counted as a reply)"
    );
    assert_eq!(
        lines(PingEvent::Unsolicited {
            probe: Probe::Echo,
            bytes: 5
        }),
        "unrelated message of 5 bytes (not counted as a reply)"
    );

    let stats = echoes(3, 2, &[100, 300]);
    let mut r = report(0, 0, &[]);
    r.probes = echo;
    r.counts = stats.counts;
    r.latency = stats.latency;
    let text = summary(&r);
    assert_eq!(text[0], "--- ws://h:1/pingpong ws echo statistics ---");
    assert_eq!(
        text[1],
        "3 messages sent, 2 echoes received, 33.3% loss, time 2003ms, 1 late, 3 unrelated"
    );
    assert_eq!(text[2], "rtt min/avg/max/mdev = 0.100/0.200/0.300/0.100 ms");
    let value: serde_json::Value = serde_json::from_str(&json(&r)).expect("valid json");
    assert_eq!(value["probe"], "echo");
    assert_eq!(value["message"], "text");
    assert_eq!(value["sent"], 3);
    assert_eq!(value["rtt_avg_ms"], 0.2);
    assert!(value.get("echo").is_none());

    let peer = "127.0.0.1:8080".parse().expect("address");
    assert_eq!(
        header(
            "ws://h/e",
            peer,
            16,
            Duration::ZERO,
            Probes::Echo(Encoding::Binary)
        ),
        "ECHO ws://h/e (127.0.0.1:8080): Binary messages of 16 bytes or more, echoed"
    );
}

#[test]
fn both_kinds_sit_side_by_side_with_their_difference() {
    let mut r = report(3, 3, &[100, 200, 300]);
    r.probes = Probes::Both(Encoding::Text);
    r.echo = Some(echoes(3, 3, &[150, 260, 400]));
    let text = summary(&r);
    assert_eq!(
        text[0],
        "--- ws://h:1/pingpong ws ping and echo statistics ---"
    );
    assert_eq!(
        text[1],
        "3 pings sent, 3 pongs received, 0% loss, time 2003ms, 2 unsolicited"
    );
    assert_eq!(
        text[2],
        "3 messages sent, 3 echoes received, 0% loss, 1 late, 3 unrelated"
    );
    assert_eq!(
        text[3],
        "rtt (ms)         min       avg       max      mdev       p50       p90       p99     p99.9"
    );
    assert!(
        text[4].starts_with("ping           0.100     0.200     0.300     0.082"),
        "{}",
        text[4]
    );
    assert!(
        text[5].starts_with("echo           0.150     0.270     0.400"),
        "{}",
        text[5]
    );
    assert!(
        text[6].starts_with("echo-ping     +0.050    +0.070    +0.100         -"),
        "{}",
        text[6]
    );

    // With -U the table stays on the clock that timed both kinds, and says so.
    r.setup.printed = Clock::User;
    let text = summary(&r);
    assert!(text[4].starts_with("ping           0.100"), "{}", text[4]);
    assert!(
        text[7].starts_with(
            "rtt clock: kernel (network round trip; the reply lines were user-to-user, -U)"
        ),
        "{}",
        text[7]
    );

    let value: serde_json::Value = serde_json::from_str(&json(&r)).expect("valid json");
    assert_eq!(value["probe"], "both");
    assert_eq!(value["rtt_avg_ms"], 0.2, "the top level is the pings'");
    assert_eq!(value["ping"]["rtt_avg_ms"], 0.2);
    assert_eq!(value["echo"]["rtt_avg_ms"], 0.27);
    assert_eq!(value["echo"]["late"], 1);
    assert_eq!(value["echo"]["unsolicited"], 3);
    assert!(r.all_answered() && r.passed());
    r.echo = Some(echoes(3, 2, &[150, 260]));
    assert!(!r.passed(), "a lost echo is a loss");
}

#[test]
fn a_deadline_passes_by_ping8s_rule() {
    let mut r = report(5, 4, &[100, 100, 100, 100]);
    assert!(!r.passed());
    r.deadline = Some(Duration::from_secs(1));
    assert!(r.passed(), "without -c, one answer is enough");
    r.count = Some(4);
    assert!(r.passed());
    r.count = Some(5);
    assert!(!r.passed(), "fewer answers than -c by the deadline");
}

#[test]
fn ndjson_lines_are_one_object_per_probe() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_micros(1_764_459_264_123_456);
    let reply = PingEvent::Reply {
        probe: Probe::Ping,
        seq: 7,
        rtt: Rtt {
            user: Duration::from_nanos(98_765),
            kernel: Some(Duration::from_nanos(52_345)),
        },
        clock: Clock::Kernel,
        bytes: 16,
        skipped: 2,
    };
    let lines: Vec<String> = probe_lines(&reply, now)
        .iter()
        .map(|l| serde_json::to_string(l).expect("serializes"))
        .collect();
    assert_eq!(
        lines,
        [
            r#"{"kind":"ping","seq":5,"lost":true,"unix_time_s":1764459264.123456}"#,
            r#"{"kind":"ping","seq":6,"lost":true,"unix_time_s":1764459264.123456}"#,
            r#"{"kind":"ping","seq":7,"rtt_ms":0.052345,"clock":"kernel","user_rtt_ms":0.098765,"bytes":16,"unix_time_s":1764459264.123456}"#,
        ]
    );
    let timeout = PingEvent::Timeout {
        probe: Probe::Echo,
        seq: 1,
    };
    let lost = probe_lines(&timeout, now);
    assert_eq!(lost.len(), 1);
    assert!(lost[0].lost && lost[0].kind == "echo" && lost[0].rtt_ms.is_none());
    let late = PingEvent::Late {
        probe: Probe::Ping,
        seq: 1,
    };
    assert!(probe_lines(&late, now).is_empty());
    assert_eq!(stamp(now), "[1764459264.123456] ");
}
