//! What `wsppclient ping` prints: ping(8)-style lines, or one JSON object.
//!
//! Pure functions from events and reports to text, so the layout is unit-tested and
//! the terminal UI can reuse the same wording. The JSON object is the contract for
//! scripts (and the benchmark): its keys carry their unit, and RTT fields are `null`
//! when no pong came back.

use std::time::Duration;

use serde_json::json;
use wspp::stats::as_ms;

use super::{PingEvent, PingReport};

/// The first line, printed once connected:
/// `PING ws://127.0.0.1:8080/pingpong (127.0.0.1:8080): 16 payload bytes per ping`.
pub fn header(url: &str, peer: std::net::SocketAddr, payload_size: usize) -> String {
    format!("PING {url} ({peer}): {payload_size} payload bytes per ping")
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
    json!({
        "url": report.url,
        "sent": report.counts.sent,
        "received": report.received(),
        "lost": report.lost(),
        "loss_pct": round(report.loss_pct()),
        "late": report.counts.late,
        "unsolicited": report.counts.unsolicited,
        "time_ms": round(as_ms(report.elapsed)),
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
            counts: Counts {
                sent,
                answered,
                lost: sent - answered,
                late: 0,
                unsolicited: 2,
            },
            latency,
            elapsed: Duration::from_millis(2003),
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

    #[test]
    fn json_is_one_line_with_unit_suffixed_keys() {
        let text = json(&report(1, 1, &[250]));
        assert!(!text.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid json");
        assert_eq!(value["rtt_avg_ms"], 0.25);
        assert_eq!(value["received"], 1);
        assert_eq!(value["unsolicited"], 2);
    }
}
