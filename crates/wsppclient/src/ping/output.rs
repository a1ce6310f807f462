//! What `wsppclient ping` prints: ping(8)-style lines, one JSON object, or one JSON
//! object per probe.
//!
//! Pure functions from events and reports to text, so the layout is unit-tested and
//! the terminal UI can reuse the same wording. The JSON objects are the contract for
//! scripts (and the benchmark): their keys carry their unit, and RTT fields are `null`
//! when no pong came back; the `tls_*` fields are `null` over plain `ws://`, the
//! `proxy*` fields without a proxy, and `subprotocol` when the server chose none.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::json;
use wspp::payload::Encoding;
use wspp::stats::{Latency, as_ms};
use wspp::wire_clock::Clock;

use super::report::{PingEvent, PingReport, ProbeStats, Setup};
use crate::config::{Probe, Probes};
use crate::proxy::ProxyInfo;
use crate::tls::TlsInfo;

/// The first line, printed once connected:
/// `PING ws://127.0.0.1:8080/pingpong (127.0.0.1:8080): 16 payload bytes per ping`,
/// and `, busy-polling 1 ms after each` when it does, since that changes what the RTTs
/// include. Echo probes start it with `ECHO` (or `PING+ECHO`) and say what the
/// messages are.
pub fn header(
    url: &str,
    peer: std::net::SocketAddr,
    payload_size: usize,
    busy_poll: Duration,
    probes: Probes,
) -> String {
    let messages = |encoding: Encoding| {
        let kind = match encoding {
            Encoding::Text => "Text",
            Encoding::Binary => "Binary",
        };
        format!("{kind} messages of {payload_size} bytes or more, echoed")
    };
    let mut line = match probes {
        Probes::Ping => format!("PING {url} ({peer}): {payload_size} payload bytes per ping"),
        Probes::Echo(encoding) => format!("ECHO {url} ({peer}): {}", messages(encoding)),
        Probes::Both(encoding) => format!(
            "PING+ECHO {url} ({peer}): pings of {payload_size} payload bytes and {}, on alternate turns",
            messages(encoding)
        ),
    };
    if !busy_poll.is_zero() {
        line.push_str(&format!(", busy-polling {} ms after each", ms(busy_poll)));
    }
    line
}

/// The lines under the header: how the connection was opened, apart from the RTTs.
/// Through a proxy, its tunnel ([`ProxyInfo::summary`]); over `wss://`, the TLS
/// handshake ([`tls_line`]); the subprotocol the server chose, if it chose one; and
/// always [`phases_line`].
pub fn setup_lines(setup: &Setup) -> Vec<String> {
    let mut lines = Vec::new();
    lines.extend(setup.proxy.as_ref().map(ProxyInfo::summary));
    lines.extend(setup.tls.as_ref().map(tls_line));
    if let Some(chosen) = &setup.subprotocol {
        lines.push(format!("subprotocol: {chosen} (the server's choice)"));
    }
    lines.push(phases_line(setup));
    lines
}

/// What each step of opening the connection took, on one line: `connected in
/// 0.542 ms: resolve 0.050 ms, tcp connect 0.080 ms, proxy 0.300 ms, tls handshake
/// 2.345 ms, upgrade 0.412 ms` (the proxy and TLS steps only when there were some).
pub fn phases_line(setup: &Setup) -> String {
    let mut phases = vec![
        ("resolve", setup.resolve),
        ("tcp connect", setup.tcp_connect),
    ];
    phases.extend(setup.proxy.as_ref().map(|p| ("proxy", p.handshake)));
    phases.extend(setup.tls.as_ref().map(|t| ("tls handshake", t.handshake)));
    phases.push(("upgrade", setup.upgrade));
    let total: Duration = phases.iter().map(|(_, d)| *d).sum();
    let steps: Vec<String> = phases
        .iter()
        .map(|(name, d)| format!("{name} {} ms", ms(*d)))
        .collect();
    format!("connected in {} ms: {}", ms(total), steps.join(", "))
}

/// The line under the header that names the clock of the RTTs, e.g. `rtt: network
/// round trip, from kernel timestamps (-U for user-to-user)`; and when the kernel
/// does not stamp, why.
pub fn clock_line(setup: &Setup) -> String {
    match (setup.clock, &setup.no_kernel_stamps) {
        (Clock::Kernel, _) => {
            "rtt: network round trip, from kernel timestamps (-U for user-to-user)".to_owned()
        }
        (Clock::User, Some(why)) => {
            format!("rtt: user-to-user, this machine's wake-up included ({why})")
        }
        (Clock::User, None) => "rtt: user-to-user, this machine's wake-up included (-U)".to_owned(),
    }
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

/// The words a kind of probe is told with.
struct Words {
    /// What is sent: `ping`, `message`.
    sent: &'static str,
    /// What answers it: `pong`, `echo`.
    answer: &'static str,
    /// An answer to nothing of ours: `unsolicited`, `unrelated`.
    foreign: &'static str,
}

fn words(probe: Probe) -> Words {
    match probe {
        Probe::Ping => Words {
            sent: "ping",
            answer: "pong",
            foreign: "unsolicited",
        },
        Probe::Echo => Words {
            sent: "message",
            answer: "echo",
            foreign: "unrelated",
        },
    }
}

/// The line for one event, e.g. `16 bytes from ws://…: seq=3 rtt=0.052 ms`, or
/// `… echo seq=3 …` for an echo (and `… ping seq=3 …` beside it with both); `None`
/// for [`PingEvent::Started`], whose line is [`header`].
pub fn event_line(url: &str, probes: Probes, event: &PingEvent) -> Option<String> {
    Some(match event {
        PingEvent::Started { .. } => return None,
        PingEvent::Reply {
            probe,
            seq,
            rtt,
            clock,
            bytes,
            skipped,
        } => {
            // ping(8)'s line when pinging only; with echoes, the kind before the seq.
            let kind = match (probes, probe) {
                (Probes::Ping, _) => String::new(),
                (_, probe) => format!("{} ", probe.name()),
            };
            let mut line = format!(
                "{bytes} bytes from {url}: {kind}seq={seq} rtt={} ms",
                ms(rtt.on(*clock))
            );
            // The session's clock is named once, under the header; a reply the kernel
            // did not stamp says it fell back.
            if *clock == Clock::User && rtt.clock(Clock::Kernel) == Clock::User {
                line.push_str(" (user clock)");
            }
            if *skipped > 0 {
                line.push_str(&format!(
                    " ({skipped} older {}{} now lost)",
                    words(*probe).sent,
                    es(words(*probe).sent, *skipped)
                ));
            }
            line
        }
        PingEvent::Timeout { probe, seq } => format!("no {} for seq={seq}", words(*probe).answer),
        PingEvent::Late { probe, seq } => format!(
            "late {} for seq={seq} (not counted as a reply)",
            words(*probe).answer
        ),
        PingEvent::Unsolicited { probe, bytes } => {
            let w = words(*probe);
            let what = match probe {
                Probe::Ping => "pong",
                Probe::Echo => "message",
            };
            format!(
                "{} {what} of {bytes} bytes (not counted as a reply)",
                w.foreign
            )
        }
    })
}

/// `5 pings sent, 5 pongs received, 0% loss` and what else was counted.
fn counts_line(probe: Probe, stats: &ProbeStats, elapsed: Option<Duration>) -> String {
    let c = &stats.counts;
    let w = words(probe);
    let mut line = format!(
        "{} {}{} sent, {} {}{} received, {} loss",
        c.sent,
        w.sent,
        es(w.sent, c.sent),
        c.answered,
        w.answer,
        es(w.answer, c.answered),
        percent(stats.loss_pct()),
    );
    if let Some(elapsed) = elapsed {
        line.push_str(&format!(", time {}ms", elapsed.as_millis()));
    }
    if c.late > 0 {
        line.push_str(&format!(", {} late", c.late));
    }
    if c.unsolicited > 0 {
        line.push_str(&format!(", {} {}", c.unsolicited, w.foreign));
    }
    line
}

/// The closing lines, as ping(8) prints them after `---`. With both kinds of probe,
/// a counts line for each, then their RTTs in one table, row under row, and the
/// difference (echo minus ping) under them.
pub fn summary(report: &PingReport) -> Vec<String> {
    let kinds = report.probes.kinds();
    let title = kinds
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(" and ");
    let mut lines = vec![format!("--- {} ws {title} statistics ---", report.url)];
    let all: Vec<(Probe, ProbeStats)> = kinds
        .iter()
        .filter_map(|&k| report.stats(k).map(|s| (k, s)))
        .collect();
    for (i, (probe, stats)) in all.iter().enumerate() {
        let elapsed = (i == 0).then_some(report.elapsed);
        lines.push(counts_line(*probe, stats, elapsed));
    }
    match all.as_slice() {
        [(_, single)] => lines.extend(rtt_lines(&single.latency)),
        [(_, ping), (_, echo)] => lines.extend(rtt_table(&ping.latency, &echo.latency)),
        _ => {}
    }
    if all.iter().any(|(_, s)| s.latency.summary().p50.is_some()) {
        lines.push(summary_clock(report));
    }
    lines
}

/// Which clock the summary's RTTs are on, and the other clock's percentiles beside
/// them: `rtt clock: kernel (network round trip); user-to-user p50/p90/p99/p99.9 =
/// 0.124/0.150/0.210/0.380 ms`.
fn summary_clock(report: &PingReport) -> String {
    let mut line = match (report.setup.clock, &report.setup.no_kernel_stamps) {
        (Clock::Kernel, _) => "rtt clock: kernel (network round trip)".to_owned(),
        (Clock::User, Some(_)) => "rtt clock: user (no kernel timestamps)".to_owned(),
        (Clock::User, None) => "rtt clock: user (-U)".to_owned(),
    };
    let u = report.user_latency.summary();
    if report.setup.clock == Clock::Kernel
        && let (Some(p50), Some(p90), Some(p99), Some(p999)) = (u.p50, u.p90, u.p99, u.p999)
    {
        line.push_str(&format!(
            "; user-to-user p50/p90/p99/p99.9 = {}/{}/{}/{} ms",
            ms(p50),
            ms(p90),
            ms(p99),
            ms(p999)
        ));
    }
    if report.unstamped > 0 {
        line.push_str(&format!(
            "; {} repl{} without a kernel stamp timed on the user clock",
            report.unstamped,
            if report.unstamped == 1 { "y" } else { "ies" }
        ));
    }
    if report.send_unstamped > 0 {
        line.push_str(&format!(
            "; {} probe{} without a kernel transmit stamp timed from the clock before the write",
            report.send_unstamped,
            if report.send_unstamped == 1 { "" } else { "s" }
        ));
    }
    line
}

/// `rtt min/avg/max/mdev = …` and `rtt p50/p90/p99/p99.9 = …`, when there are RTTs.
fn rtt_lines(latency: &Latency) -> Vec<String> {
    let mut lines = Vec::new();
    let s = latency.summary();
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

/// Pings and echoes side by side, one row each and their difference under them:
///
/// ```text
/// rtt (ms)         min       avg       max      mdev       p50       p90       p99     p99.9
/// ping           0.051     0.062     0.090     0.012     0.060     0.080     0.090     0.090
/// echo           0.058     0.071     0.101     0.013     0.069     0.091     0.101     0.101
/// echo-ping     +0.007    +0.009    +0.011         -    +0.009    +0.011    +0.011    +0.011
/// ```
///
/// The difference of two distributions' figures, not a distribution of differences:
/// what the server's application path adds over its control-frame path.
fn rtt_table(ping: &Latency, echo: &Latency) -> Vec<String> {
    const COLUMNS: [&str; 8] = ["min", "avg", "max", "mdev", "p50", "p90", "p99", "p99.9"];
    let figures = |l: &Latency| {
        let s = l.summary();
        [s.min, s.avg, s.max, s.mdev, s.p50, s.p90, s.p99, s.p999]
    };
    let (p, e) = (figures(ping), figures(echo));
    let row = |name: &str, cells: Vec<String>| {
        let cells: String = cells.iter().map(|c| format!("{c:>10}")).collect();
        format!("{name:<10}{cells}")
    };
    let show = |fig: [Option<Duration>; 8]| {
        fig.iter()
            .map(|d| d.map_or_else(|| "-".to_owned(), ms))
            .collect()
    };
    let diff = p
        .iter()
        .zip(&e)
        .enumerate()
        .map(|(i, pair)| match pair {
            // A difference of spreads says nothing.
            _ if COLUMNS[i] == "mdev" => "-".to_owned(),
            (Some(p), Some(e)) => format!("{:+.3}", as_ms(*e) - as_ms(*p)),
            _ => "-".to_owned(),
        })
        .collect();
    vec![
        row(
            "rtt (ms)",
            COLUMNS.iter().map(|c| (*c).to_owned()).collect(),
        ),
        row("ping", show(p)),
        row("echo", show(e)),
        row("echo-ping", diff),
    ]
}

/// Nanosecond precision is all the clock has; more digits are float noise.
fn round_ns(ms: f64) -> f64 {
    (ms * 1e6).round() / 1e6
}

/// The counts and RTT figures of one kind of probe, under the keys `--json` gives them.
fn stats_json(stats: &ProbeStats) -> serde_json::Map<String, serde_json::Value> {
    let s = stats.latency.summary();
    let ms = |d: Option<Duration>| d.map(|d| round_ns(as_ms(d)));
    let value = json!({
        "sent": stats.counts.sent,
        "received": stats.counts.answered,
        "lost": stats.lost(),
        "loss_pct": round_ns(stats.loss_pct()),
        "late": stats.counts.late,
        "unsolicited": stats.counts.unsolicited,
        "rtt_min_ms": ms(s.min),
        "rtt_avg_ms": ms(s.avg),
        "rtt_max_ms": ms(s.max),
        "rtt_mdev_ms": ms(s.mdev),
        "rtt_p50_ms": ms(s.p50),
        "rtt_p90_ms": ms(s.p90),
        "rtt_p99_ms": ms(s.p99),
        "rtt_p999_ms": ms(s.p999),
    });
    match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// The one-line JSON summary for `--json` (and the last line of `--ndjson`).
///
/// The counts and `rtt_*` keys at the top are the first kind of probe's: the Pings',
/// or the messages' with `--echo`. `probe` says which (`ping`, `echo` or `both`);
/// with `both`, `ping` and `echo` objects hold each kind's under the same keys.
pub fn json(report: &PingReport) -> String {
    let round = round_ns;
    let u = report.user_latency.summary();
    let ms = |d: Option<Duration>| d.map(|d| round(as_ms(d)));
    let tls = report.setup.tls.as_ref();
    let proxy = report.setup.proxy.as_ref();
    let (probe, message) = match report.probes {
        Probes::Ping => ("ping", None),
        Probes::Echo(e) => ("echo", Some(e)),
        Probes::Both(e) => ("both", Some(e)),
    };
    let mut value = json!({
        "url": report.url,
        "probe": probe,
        "message": message.map(|e| match e {
            Encoding::Text => "text",
            Encoding::Binary => "binary",
        }),
        "time_ms": round(as_ms(report.elapsed)),
        "resolve_ms": round(as_ms(report.setup.resolve)),
        "tcp_connect_ms": round(as_ms(report.setup.tcp_connect)),
        "proxy": proxy.map(|p| p.url.as_str()),
        "proxy_ms": proxy.map(|p| round(as_ms(p.handshake))),
        "tls_handshake_ms": tls.map(|t| round(as_ms(t.handshake))),
        "tls_version": tls.map(|t| t.version.as_str()),
        "tls_cipher_suite": tls.map(|t| t.cipher_suite.as_str()),
        "upgrade_ms": round(as_ms(report.setup.upgrade)),
        "subprotocol": report.setup.subprotocol,
        "busy_poll_ms": round(as_ms(report.busy_poll)),
        "clock": report.setup.clock,
        "no_kernel_stamps": report.setup.no_kernel_stamps,
        "unstamped": report.unstamped,
        "send_unstamped": report.send_unstamped,
        "user_rtt_min_ms": ms(u.min),
        "user_rtt_avg_ms": ms(u.avg),
        "user_rtt_max_ms": ms(u.max),
        "user_rtt_mdev_ms": ms(u.mdev),
        "user_rtt_p50_ms": ms(u.p50),
        "user_rtt_p90_ms": ms(u.p90),
        "user_rtt_p99_ms": ms(u.p99),
        "user_rtt_p999_ms": ms(u.p999),
        "error": report.ended_by.as_ref().map(|e| crate::error::report(e)),
    });
    if let Some(object) = value.as_object_mut() {
        let first = report.probes.kinds()[0];
        if let Some(stats) = report.stats(first) {
            object.extend(stats_json(&stats));
        }
        if let Probes::Both(_) = report.probes {
            for kind in report.probes.kinds() {
                if let Some(stats) = report.stats(*kind) {
                    object.insert(kind.name().into(), stats_json(&stats).into());
                }
            }
        }
    }
    value.to_string()
}

/// One `--ndjson` line: a probe as it ended, answered or lost.
///
/// Every line is this one struct, so fields added here reach every line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeLine {
    /// `ping` or `echo`.
    pub kind: &'static str,
    /// The probe's sequence number (counted per kind).
    pub seq: u64,
    /// Its round-trip time, when it was answered, on `clock`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// The clock of `rtt_ms`: `kernel` (the network round trip) or `user`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock: Option<Clock>,
    /// The user-to-user round trip of the same probe, whichever clock `rtt_ms` is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_rtt_ms: Option<f64>,
    /// `true` when it was given up on: timed out, cut off by the end of the run, or
    /// overtaken by the answer to a newer probe.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub lost: bool,
    /// Payload bytes of the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<usize>,
    /// When the answer came or the probe was given up, in seconds since the Unix
    /// epoch (microsecond precision, as ping(8)'s `-D`).
    pub unix_time_s: f64,
}

/// The `--ndjson` lines for `event` at `now`: one for an answer, after one for each
/// older probe it made count as lost; one for a timeout; none for the rest (late and
/// foreign answers are counted in the summary, not probes of their own).
pub fn probe_lines(event: &PingEvent, now: SystemTime) -> Vec<ProbeLine> {
    let unix_time_s = unix_seconds(now);
    let lost = |probe: Probe, seq: u64| ProbeLine {
        kind: probe.name(),
        seq,
        rtt_ms: None,
        clock: None,
        user_rtt_ms: None,
        lost: true,
        bytes: None,
        unix_time_s,
    };
    match event {
        PingEvent::Reply {
            probe,
            seq,
            rtt,
            clock,
            bytes,
            skipped,
        } => {
            let mut lines: Vec<ProbeLine> = (seq.saturating_sub(*skipped)..*seq)
                .map(|s| lost(*probe, s))
                .collect();
            lines.push(ProbeLine {
                kind: probe.name(),
                seq: *seq,
                rtt_ms: Some(round_ns(as_ms(rtt.on(*clock)))),
                clock: Some(*clock),
                user_rtt_ms: Some(round_ns(as_ms(rtt.user))),
                lost: false,
                bytes: Some(*bytes),
                unix_time_s,
            });
            lines
        }
        PingEvent::Timeout { probe, seq } => vec![lost(*probe, *seq)],
        _ => Vec::new(),
    }
}

/// `[1764459264.123456] `, the stamp `-D` puts before a line (ping(8)'s format).
pub fn stamp(now: SystemTime) -> String {
    format!("[{:.6}] ", unix_seconds(now))
}

/// Seconds since the Unix epoch, to the microsecond; 0 for a clock set before 1970.
fn unix_seconds(now: SystemTime) -> f64 {
    let since = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    since.as_secs() as f64 + f64::from(since.subsec_micros()) / 1e6
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

/// The plural ending of `word` for `n`: `pings`, `echoes`.
fn es(word: &str, n: u64) -> &'static str {
    match (n, word.ends_with('o')) {
        (1, _) => "",
        (_, true) => "es",
        _ => "s",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wspp::stats::Latency;
    use wspp::tracker::{Counts, Rtt};

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
            kind: crate::proxy::ProxyKind::Http,
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
}
