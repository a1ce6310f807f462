//! `--json`'s one summary object and `--ndjson`'s object per probe: the contract for
//! scripts and the benchmark, every key carrying its unit.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::json;
use wspp::payload::Encoding;
use wspp::stats::as_ms;
use wspp::wire_clock::Clock;

use crate::probe::report::{PingEvent, PingReport, ProbeStats};
use crate::probe::{Probe, Probes};

/// Nanosecond precision is all the clock has; more digits are float noise.
pub fn round_ns(ms: f64) -> f64 {
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
        "error": report.ended_by.as_ref().map(|e| crate::error::one_line(e)),
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
            bytes,
            skipped,
            ..
        } => {
            let mut lines: Vec<ProbeLine> = (seq.saturating_sub(*skipped)..*seq)
                .map(|s| lost(*probe, s))
                .collect();
            // `rtt_ms` is the network's whenever the kernel timed it, whichever clock
            // the printed line showed (`-U`).
            let clock = rtt.clock(Clock::Kernel);
            lines.push(ProbeLine {
                kind: probe.name(),
                seq: *seq,
                rtt_ms: Some(round_ns(as_ms(rtt.on(clock)))),
                clock: Some(clock),
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

/// Seconds since the Unix epoch, to the microsecond; 0 for a clock set before 1970.
pub(super) fn unix_seconds(now: SystemTime) -> f64 {
    let since = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    since.as_secs() as f64 + f64::from(since.subsec_micros()) / 1e6
}
