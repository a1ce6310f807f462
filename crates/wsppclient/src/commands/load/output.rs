//! What `wsppclient load` prints: a line a second on stderr, and the summary as text,
//! one JSON object, or (`--ndjson`) one object a second before it.
//!
//! Pure functions from a [`Second`] or a [`LoadReport`] to text. The JSON keys are
//! the contract docs/load.md documents; times end in `_ms` (or `_s`), and RTT figures
//! are `null` when no probe was answered.

use std::time::Duration;

use serde_json::{Map, Value, json};
use wspp::stats::{Latency, as_ms};
use wspp::wire_clock::Clock;

use super::hlog::Merged;
use super::report::{LoadReport, Second, SecondFigures};
use super::tally::Window;
use crate::commands::ping::output::{ms, round_ns, rtt_lines};

/// `rtt_min_ms` … `rtt_max_ms` (or with `prefix` `user_` or `uncorrected_`) for
/// `latency`.
fn rtt_json(prefix: &str, latency: &Latency, map: &mut Map<String, Value>) {
    let s = clamped(latency);
    let figures = [
        ("min", s.min),
        ("p50", s.p50),
        ("p90", s.p90),
        ("p99", s.p99),
        ("p999", s.p999),
        ("max", s.max),
    ];
    for (name, value) in figures {
        map.insert(
            format!("{prefix}rtt_{name}_ms"),
            json!(value.map(|d| round_ns(as_ms(d)))),
        );
    }
}

/// `latency`'s summary with its percentiles no larger than its largest sample: a
/// percentile is its histogram bucket's highest value, which may lie a hair above
/// the sample it stands for.
fn clamped(latency: &Latency) -> wspp::stats::Summary {
    let mut s = latency.summary();
    for p in [&mut s.p50, &mut s.p90, &mut s.p99, &mut s.p999] {
        *p = p.zip(s.max).map(|(p, max)| p.min(max));
    }
    s
}

/// The probe counts and both clocks' RTTs of `window`, under their `--json` keys.
fn window_json(window: &Window, clock: Clock, map: &mut Map<String, Value>) {
    map.insert("sent".into(), json!(window.counts.sent));
    map.insert("received".into(), json!(window.counts.received));
    map.insert("lost".into(), json!(window.counts.lost));
    map.insert("late_sends".into(), json!(window.counts.late_sends));
    map.insert(
        "late_max_ms".into(),
        json!(round_ns(as_ms(window.counts.late_max))),
    );
    rtt_json("", &window.rtt, map);
    rtt_json("user_", &window.user, map);
    rtt_json("uncorrected_", &window.uncorrected, map);
    map.insert("clock".into(), json!(clock));
    map.insert("unstamped".into(), json!(window.counts.unstamped));
}

/// Seconds with millisecond precision.
fn seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e3).round() / 1e3
}

/// A CPU share to one decimal.
fn pct(p: Option<f64>) -> Option<f64> {
    p.map(|p| (p * 10.0).round() / 10.0)
}

/// One `--ndjson` line for `second`.
pub fn second_json(second: &Second) -> String {
    let mut map = Map::new();
    map.insert("record".into(), json!("second"));
    map.insert("t_s".into(), json!(seconds(second.at)));
    map.insert("duration_s".into(), json!(seconds(second.length)));
    map.insert("connections".into(), json!(second.open));
    map.insert("connections_opened".into(), json!(second.opened));
    map.insert("connections_failed".into(), json!(second.failed));
    window_json(&second.window, second.clock, &mut map);
    map.insert("generator_cpu_pct".into(), json!(pct(second.cpu_pct)));
    Value::Object(map).to_string()
}

/// The `--json` summary (and `--ndjson`'s last line).
pub fn json(report: &LoadReport) -> String {
    let c = &report.opened;
    let phase = |latency: &Latency, q: f64| latency.quantile(q).map(|d| round_ns(as_ms(d)));
    let mut map = Map::new();
    map.insert("record".into(), json!("summary"));
    map.insert("url".into(), json!(report.url));
    map.insert("connections".into(), json!(report.connections));
    map.insert("connections_opened".into(), json!(c.opened));
    map.insert("connections_failed".into(), json!(c.failed()));
    map.insert("failures".into(), json!(c.failures));
    map.insert("retry_after".into(), json!(c.retry_after));
    map.insert("connections_dropped".into(), json!(c.dropped));
    map.insert("connections_churned".into(), json!(c.churned));
    map.insert("stopped_on".into(), json!(c.stopped_on));
    map.insert("closes".into(), json!(c.closes));
    for (name, latency) in [
        ("tcp_connect", &c.tcp),
        ("tls_handshake", &c.tls),
        ("upgrade", &c.upgrade),
    ] {
        map.insert(format!("{name}_p50_ms"), json!(phase(latency, 0.5)));
        map.insert(format!("{name}_p99_ms"), json!(phase(latency, 0.99)));
    }
    window_json(&report.probes, report.clock, &mut map);
    map.insert("generator_cpu_pct".into(), json!(pct(report.cpu_pct)));
    map.insert("server_in_process".into(), json!(report.server_in_process));
    map.insert("duration_s".into(), json!(seconds(report.elapsed)));
    map.insert("warning".into(), json!(report.warning()));
    Value::Object(map).to_string()
}

/// The line a second on stderr: `load 3.0s: 100 open, 0 failed, 100 probes/s, rtt
/// p50 0.061 ms p99 0.210 ms, cpu 4.2%`.
pub fn progress_line(second: &SecondFigures) -> String {
    let rate = second.sent as f64 / second.length.as_secs_f64().max(1e-3);
    let rtt = match (second.p50, second.p99) {
        (Some(p50), Some(p99)) => format!("rtt p50 {} ms p99 {} ms", ms(p50), ms(p99)),
        _ => "no answers".to_owned(),
    };
    let cpu = second
        .cpu_pct
        .map_or_else(String::new, |p| format!(", cpu {p:.1}%"));
    format!(
        "load {:.1}s: {} open, {} failed, {rate:.0} probes/s, {rtt}{cpu}",
        second.at.as_secs_f64(),
        second.open,
        second.failed,
    )
}

/// `key count, key count`, from a map of counts.
fn counts<'a>(map: impl IntoIterator<Item = (&'a String, &'a u64)>) -> String {
    map.into_iter()
        .map(|(key, n)| format!("{key} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The text summary, ping(8)'s way: counts, then figures.
pub fn summary(report: &LoadReport) -> Vec<String> {
    let c = &report.opened;
    let p = &report.probes;
    let mut lines = vec![
        format!("--- {} load statistics ---", report.url),
        format!(
            "{} connections: {} opened, {} failed, {} dropped{}",
            report.connections,
            c.opened,
            c.failed(),
            c.dropped,
            if c.churned > 0 {
                format!(", {} closed and reopened by --churn", c.churned)
            } else {
                String::new()
            }
        ),
    ];
    if !c.failures.is_empty() {
        let retry = c
            .retry_after
            .as_ref()
            .map_or_else(String::new, |r| format!(" (Retry-After: {r})"));
        lines.push(format!("failed: {}{retry}", counts(&c.failures)));
    }
    if let Some(why) = &c.stopped_on {
        lines.push(format!(
            "stopped at the first error (--stop-on-error): {why}"
        ));
    }
    let mut phases = Vec::new();
    for (name, latency) in [("tcp", &c.tcp), ("tls", &c.tls), ("upgrade", &c.upgrade)] {
        if let (Some(p50), Some(p99)) = (latency.quantile(0.5), latency.quantile(0.99))
            && latency.summary().count > 0
        {
            phases.push(format!("{name} {}/{} ms", ms(p50), ms(p99)));
        }
    }
    if !phases.is_empty() {
        lines.push(format!("connect p50/p99: {}", phases.join(", ")));
    }
    lines.push(format!(
        "{} probes sent, {} received, {} lost, {} late sends{}, time {:.1}s",
        p.counts.sent,
        p.counts.received,
        p.counts.lost,
        p.counts.late_sends,
        if p.counts.late_sends > 0 {
            format!(" (by up to {} ms)", ms(p.counts.late_max))
        } else {
            String::new()
        },
        report.elapsed.as_secs_f64()
    ));
    lines.extend(rtt_lines(&p.rtt));
    // The figures above include each late probe's lateness; the wire never saw it.
    let a = clamped(&p.uncorrected);
    if let (true, Some(p50), Some(p99)) = (p.counts.late_sends > 0, a.p50, a.p99) {
        lines.push(format!(
            "uncorrected (from each probe's real send, as the wire sees it) p50/p99 = {}/{} ms",
            ms(p50),
            ms(p99)
        ));
    }
    let u = clamped(&p.user);
    let clock = match report.clock {
        Clock::Kernel => "kernel (network round trip)",
        Clock::User => "user (no kernel stamps)",
    };
    if let (Some(min), Some(p50), Some(p90), Some(p99), Some(p999), Some(max)) =
        (u.min, u.p50, u.p90, u.p99, u.p999, u.max)
    {
        lines.push(format!(
            "rtt clock: {clock}; user-to-user min/p50/p90/p99/p99.9/max = {}/{}/{}/{}/{}/{} ms",
            ms(min),
            ms(p50),
            ms(p90),
            ms(p99),
            ms(p999),
            ms(max)
        ));
    }
    if !c.closes.is_empty() {
        lines.push(format!("closes: {}", counts(&c.closes)));
    }
    if let Some(cpu) = report.cpu_pct {
        let with = if report.server_in_process {
            " (with the server in this process)"
        } else {
            ""
        };
        lines.push(format!("generator cpu: {cpu:.1}% of one core{with}"));
    }
    lines.extend(report.warning());
    lines
}

/// `merge`'s figures of `merged`, in milliseconds: `(name, value)` pairs, `None`
/// without any round trip.
fn merged_figures(merged: &Merged) -> Vec<(&'static str, Option<f64>)> {
    let h = &merged.histogram;
    let ms = |us: u64| (!h.is_empty()).then(|| us as f64 / 1e3);
    vec![
        ("min", ms(h.min())),
        ("p50", ms(h.value_at_quantile(0.5))),
        ("p90", ms(h.value_at_quantile(0.9))),
        ("p99", ms(h.value_at_quantile(0.99))),
        ("p999", ms(h.value_at_quantile(0.999))),
        ("max", ms(h.max())),
    ]
}

/// `merge --json`: the merged round trips under the same `rtt_*_ms` keys as `load`.
pub fn merge_json(merged: &Merged) -> String {
    let mut map = Map::new();
    map.insert("files".into(), json!(merged.files));
    map.insert("intervals".into(), json!(merged.intervals));
    map.insert("received".into(), json!(merged.histogram.len()));
    for (name, value) in merged_figures(merged) {
        map.insert(format!("rtt_{name}_ms"), json!(value));
    }
    map.insert("duration_s".into(), json!(seconds(merged.span)));
    Value::Object(map).to_string()
}

/// `merge`'s text summary.
pub fn merge_summary(merged: &Merged) -> Vec<String> {
    let mut lines = vec![format!(
        "{} logs, {} intervals, {} round trips over {:.1}s",
        merged.files,
        merged.intervals,
        merged.histogram.len(),
        merged.span.as_secs_f64()
    )];
    let figures: Vec<String> = merged_figures(merged)
        .into_iter()
        .filter_map(|(_, v)| v.map(|v| format!("{v:.3}")))
        .collect();
    if figures.len() == 6 {
        lines.push(format!(
            "rtt min/p50/p90/p99/p99.9/max = {} ms (to the microsecond)",
            figures.join("/")
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::load::tally::Connections;

    fn report() -> LoadReport {
        let mut probes = Window::default();
        for us in [40, 50, 60] {
            probes.rtt.record(Duration::from_micros(us));
            probes.user.record(Duration::from_micros(us + 20));
            probes.uncorrected.record(Duration::from_micros(us));
        }
        (
            probes.counts.sent,
            probes.counts.received,
            probes.counts.lost,
        ) = (4, 3, 1);
        let mut opened = Connections {
            opened: 2,
            ..Connections::default()
        };
        opened.failures.insert("status_503".into(), 1);
        opened.retry_after = Some("1".into());
        opened.closes.insert("client_1000".into(), 2);
        LoadReport {
            url: "ws://h:1/pingpong".into(),
            connections: 3,
            opened,
            probes,
            clock: Clock::Kernel,
            cpu_pct: Some(95.0),
            server_in_process: false,
            elapsed: Duration::from_millis(2500),
        }
    }

    #[test]
    fn the_json_summary_has_the_documented_keys() {
        let value: Value = serde_json::from_str(&json(&report())).expect("valid json");
        for key in [
            "connections",
            "connections_opened",
            "connections_failed",
            "failures",
            "sent",
            "received",
            "lost",
            "late_sends",
            "rtt_min_ms",
            "rtt_p50_ms",
            "rtt_p90_ms",
            "rtt_p99_ms",
            "rtt_p999_ms",
            "rtt_max_ms",
            "user_rtt_min_ms",
            "user_rtt_p50_ms",
            "user_rtt_p90_ms",
            "user_rtt_p99_ms",
            "user_rtt_p999_ms",
            "user_rtt_max_ms",
            "uncorrected_rtt_p50_ms",
            "uncorrected_rtt_p99_ms",
            "clock",
            "generator_cpu_pct",
            "duration_s",
        ] {
            assert!(value.get(key).is_some(), "{key} missing");
        }
        assert_eq!(value["failures"]["status_503"], 1);
        assert_eq!(value["connections_failed"], 1);
        assert_eq!(value["rtt_max_ms"], 0.06);
        assert_eq!(value["user_rtt_min_ms"], 0.06);
        assert_eq!(value["clock"], "kernel");
        assert_eq!(value["duration_s"], 2.5);
    }

    #[test]
    fn the_text_summary_names_failures_and_warns_of_a_busy_generator() {
        let report = report();
        assert!(!report.passed());
        let lines = summary(&report);
        assert!(
            lines.contains(&"failed: status_503 1 (Retry-After: 1)".to_owned()),
            "{lines:#?}"
        );
        assert!(lines.contains(&"3 connections: 2 opened, 1 failed, 0 dropped".to_owned()));
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("rtt p50/p90/p99/p99.9 = 0.050/"))
        );
        assert!(
            lines
                .last()
                .is_some_and(|l| l.starts_with("warning: the generator used 95%"))
        );
    }

    #[test]
    fn late_sends_bring_the_uncorrected_figures_into_the_summary() {
        let mut report = report();
        assert!(
            !summary(&report)
                .iter()
                .any(|l| l.starts_with("uncorrected"))
        );
        // One probe left 5 ms late: the corrected figures carry it, the wire's do not.
        report.probes.counts.late_sends = 1;
        report.probes.rtt.record(Duration::from_micros(5_070));
        report.probes.uncorrected.record(Duration::from_micros(70));
        let lines = summary(&report);
        assert!(
            lines.iter().any(
                |l| l.starts_with("uncorrected (from each probe's real send")
                    && l.ends_with("/0.070 ms")
            ),
            "{lines:#?}"
        );
        let value: Value = serde_json::from_str(&json(&report)).expect("valid json");
        assert_eq!(value["uncorrected_rtt_max_ms"], 0.07);
        assert_eq!(value["rtt_max_ms"], 5.07);
    }
}
