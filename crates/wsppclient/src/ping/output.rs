//! What `wsppclient ping` prints: ping(8)-style lines, or one JSON object.
//!
//! Pure functions from events and reports to text, so the layout is unit-tested and
//! the terminal UI can reuse the same wording. The JSON object is the contract for
//! scripts (and the benchmark): its keys carry their unit, and RTT fields are `null`
//! when no pong came back; the `tls_*` fields are `null` over plain `ws://`.

use std::time::Duration;

use serde_json::json;
use wspp::stats::as_ms;

use super::{PingEvent, PingReport, Setup};
use crate::tls::TlsInfo;

/// The first line, printed once connected:
/// `PING ws://127.0.0.1:8080/pingpong (127.0.0.1:8080): 16 payload bytes per ping`,
/// and `, busy-polling 1 ms after each` when it does, since that changes what the RTTs
/// include.
pub fn header(
    url: &str,
    peer: std::net::SocketAddr,
    payload_size: usize,
    busy_poll: Duration,
) -> String {
    let mut line = format!("PING {url} ({peer}): {payload_size} payload bytes per ping");
    if !busy_poll.is_zero() {
        line.push_str(&format!(", busy-polling {} ms after each", ms(busy_poll)));
    }
    line
}

/// The line under the header over `wss://`, with what the handshake took apart from
/// the RTTs: `tls handshake 2.345 ms: TLSv1.3, …, certificate verified; resolve
/// 0.050 ms, tcp connect 0.081 ms, upgrade 0.412 ms`. `None` over plain `ws://`, whose
/// output stays ping(8)'s.
pub fn setup_line(setup: &Setup) -> Option<String> {
    let tls = setup.tls.as_ref()?;
    Some(format!(
        "{}; resolve {} ms, tcp connect {} ms, upgrade {} ms",
        tls_line(tls),
        ms(setup.resolve),
        ms(setup.tcp_connect),
        ms(setup.upgrade)
    ))
}

/// `tls handshake 2.345 ms: TLSv1.3, TLS13_AES_256_GCM_SHA384, X25519, ALPN http/1.1,
/// SNI localhost, certificate verified`.
pub fn tls_line(tls: &TlsInfo) -> String {
    let trust = if tls.verified {
        "certificate verified"
    } else {
        "certificate NOT verified (--insecure)"
    };
    format!(
        "tls handshake {} ms: {}, {trust}",
        ms(tls.handshake),
        tls.summary()
    )
}

/// The last line: the Wireshark display filter that isolates this session, by our
/// end's port (the same words every other request ends its transcript with).
pub fn wireshark_filter(local: std::net::SocketAddr) -> String {
    format!("wireshark filter: tcp.port == {}", local.port())
}

/// The line for one event, e.g. `16 bytes from ws://…: seq=3 rtt=0.052 ms`; `None`
/// for [`PingEvent::Started`], whose line is [`header`].
pub fn event_line(url: &str, event: &PingEvent) -> Option<String> {
    Some(match event {
        PingEvent::Started { .. } => return None,
        PingEvent::Reply {
            seq,
            rtt,
            bytes,
            skipped,
        } => {
            let mut line = format!("{bytes} bytes from {url}: seq={seq} rtt={} ms", ms(*rtt));
            if *skipped > 0 {
                line.push_str(&format!(
                    " ({skipped} older ping{} now lost)",
                    plural(*skipped)
                ));
            }
            line
        }
        PingEvent::Timeout { seq } => format!("no pong for seq={seq}"),
        PingEvent::Late { seq } => format!("late pong for seq={seq} (not counted as a reply)"),
        PingEvent::Unsolicited { bytes } => {
            format!("unsolicited pong of {bytes} bytes (not counted as a reply)")
        }
    })
}

/// The closing lines, as ping(8) prints them after `---`.
pub fn summary(report: &PingReport) -> Vec<String> {
    let c = &report.counts;
    let mut counts = format!(
        "{} ping{} sent, {} pong{} received, {} loss, time {}ms",
        c.sent,
        plural(c.sent),
        c.answered,
        plural(c.answered),
        percent(report.loss_pct()),
        report.elapsed.as_millis()
    );
    if c.late > 0 {
        counts.push_str(&format!(", {} late", c.late));
    }
    if c.unsolicited > 0 {
        counts.push_str(&format!(", {} unsolicited", c.unsolicited));
    }
    let mut lines = vec![format!("--- {} ws ping statistics ---", report.url), counts];
    let s = report.latency.summary();
    if let (Some(min), Some(avg), Some(max), Some(mdev)) = (s.min, s.avg, s.max, s.mdev) {
        lines.push(format!(
            "rtt min/avg/max/mdev = {}/{}/{}/{} ms",
            ms(min),
            ms(avg),
            ms(max),
            ms(mdev)
        ));
    }
    if let (Some(p50), Some(p90), Some(p99), Some(p999)) = (s.p50, s.p90, s.p99, s.p999) {
        lines.push(format!(
            "rtt p50/p90/p99/p99.9 = {}/{}/{}/{} ms",
            ms(p50),
            ms(p90),
            ms(p99),
            ms(p999)
        ));
    }
    lines
}

/// The one-line JSON summary for `--json`.
pub fn json(report: &PingReport) -> String {
    let s = report.latency.summary();
    // Nanosecond precision is all the clock has; more digits are float noise.
    let round = |ms: f64| (ms * 1e6).round() / 1e6;
    let ms = |d: Option<Duration>| d.map(|d| round(as_ms(d)));
    let tls = report.setup.tls.as_ref();
    json!({
        "url": report.url,
        "sent": report.counts.sent,
        "received": report.received(),
        "lost": report.lost(),
        "loss_pct": round(report.loss_pct()),
        "late": report.counts.late,
        "unsolicited": report.counts.unsolicited,
        "time_ms": round(as_ms(report.elapsed)),
        "resolve_ms": round(as_ms(report.setup.resolve)),
        "tcp_connect_ms": round(as_ms(report.setup.tcp_connect)),
        "tls_handshake_ms": tls.map(|t| round(as_ms(t.handshake))),
        "tls_version": tls.map(|t| t.version.as_str()),
        "tls_cipher_suite": tls.map(|t| t.cipher_suite.as_str()),
        "upgrade_ms": round(as_ms(report.setup.upgrade)),
        "busy_poll_ms": round(as_ms(report.busy_poll)),
        "rtt_min_ms": ms(s.min),
        "rtt_avg_ms": ms(s.avg),
        "rtt_max_ms": ms(s.max),
        "rtt_mdev_ms": ms(s.mdev),
        "rtt_p50_ms": ms(s.p50),
        "rtt_p90_ms": ms(s.p90),
        "rtt_p99_ms": ms(s.p99),
        "rtt_p999_ms": ms(s.p999),
        "error": report.ended_by.as_ref().map(|e| crate::error::report(e)),
    })
    .to_string()
}

/// Milliseconds with microsecond precision, as ping(8) prints small RTTs.
fn ms(d: Duration) -> String {
    format!("{:.3}", as_ms(d))
}

/// `0%`, `100%`, `33.3%`.
fn percent(pct: f64) -> String {
    if pct.fract() == 0.0 {
        format!("{pct:.0}%")
    } else {
        format!("{pct:.1}%")
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wspp::stats::Latency;
    use wspp::tracker::Counts;

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
                tls: None,
                upgrade: Duration::from_micros(400),
            },
            counts: Counts {
                sent,
                answered,
                lost: sent - answered,
                late: 0,
                unsolicited: 2,
            },
            latency,
            elapsed: Duration::from_millis(2003),
            busy_poll: Duration::ZERO,
            ended_by: None,
        }
    }

    #[test]
    fn reply_lines_look_like_ping() {
        let event = PingEvent::Reply {
            seq: 3,
            rtt: Duration::from_micros(52),
            bytes: 16,
            skipped: 0,
        };
        assert_eq!(
            event_line("ws://h:1/pingpong", &event).as_deref(),
            Some("16 bytes from ws://h:1/pingpong: seq=3 rtt=0.052 ms")
        );
        let skipped = PingEvent::Reply {
            seq: 5,
            rtt: Duration::from_millis(2),
            bytes: 16,
            skipped: 1,
        };
        assert!(
            event_line("u", &skipped)
                .is_some_and(|l| l.ends_with("rtt=2.000 ms (1 older ping now lost)"))
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
            setup_line(&r.setup),
            None,
            "plain ws:// output stays ping(8)'s"
        );
        let plain: serde_json::Value = serde_json::from_str(&json(&r)).expect("valid json");
        assert_eq!(plain["resolve_ms"], 0.05);
        assert_eq!(plain["tcp_connect_ms"], 0.08);
        assert_eq!(plain["upgrade_ms"], 0.4);
        assert!(plain["tls_handshake_ms"].is_null() && plain["tls_version"].is_null());

        r.setup.tls = Some(tls_info());
        assert_eq!(
            setup_line(&r.setup).as_deref(),
            Some(
                "tls handshake 2.345 ms: TLSv1.3, TLS13_AES_256_GCM_SHA384, X25519, \
                 ALPN http/1.1, SNI localhost, certificate verified; \
                 resolve 0.050 ms, tcp connect 0.080 ms, upgrade 0.400 ms"
            )
        );
        let value: serde_json::Value = serde_json::from_str(&json(&r)).expect("valid json");
        assert_eq!(value["tls_handshake_ms"], 2.345);
        assert_eq!(value["tls_version"], "TLSv1.3");
        assert_eq!(value["tls_cipher_suite"], "TLS13_AES_256_GCM_SHA384");
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
            header(url, peer, 16, Duration::ZERO),
            "PING ws://127.0.0.1:8080/pingpong (127.0.0.1:8080): 16 payload bytes per ping"
        );
        assert_eq!(
            header(url, peer, 16, Duration::from_millis(1)),
            "PING ws://127.0.0.1:8080/pingpong (127.0.0.1:8080): 16 payload bytes per ping, \
             busy-polling 1.000 ms after each"
        );
    }
}
