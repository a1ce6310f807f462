//! ping(8)'s lines: the header once connected, one line per event, the summary, and
//! the `-D` stamp; also the setup and clock lines the transcript and the terminal UI
//! reuse.

use std::time::{Duration, SystemTime};

use wspp::payload::Encoding;
use wspp::stats::{Latency, as_ms};
use wspp::wire_clock::Clock;

use super::json::unix_seconds;
use crate::net::proxy::ProxyInfo;
use crate::net::tls::TlsInfo;
use crate::probe::report::{PingEvent, PingReport, ProbeStats, Setup};
use crate::probe::{Probe, Probes};

/// The lines a session starts with, once connected and before its first probe: the
/// [`header`], how the connection was opened, and which clock the RTTs are on. `None`
/// for any other event. The subcommand prints them and the menus' transcript notes
/// them, in these words both.
pub fn start_lines(event: &PingEvent) -> Option<Vec<String>> {
    let PingEvent::Started {
        url,
        peer,
        payload_size,
        busy_poll,
        probes,
        setup,
        ..
    } = event
    else {
        return None;
    };
    let mut lines = vec![header(url, *peer, *payload_size, *busy_poll, *probes)];
    lines.extend(setup_lines(setup));
    lines.push(clock_line(setup));
    Some(lines)
}

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
    match (setup.printed, &setup.no_kernel_stamps) {
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
        [_] if leads_user(report) => lines.extend(rtt_lines(&report.user_latency)),
        [(_, single)] => lines.extend(rtt_lines(&single.latency)),
        [(_, ping), (_, echo)] => lines.extend(rtt_table(&ping.latency, &echo.latency)),
        _ => {}
    }
    if all.iter().any(|(_, s)| s.latency.summary().p50.is_some()) {
        lines.push(summary_clock(report));
    }
    lines
}

/// Whether the summary's first RTT lines are on the user's clock although the
/// kernel's timed the session: `-U`, with one kind of probe (with two, the table of
/// both kinds stays on the clock that timed both).
fn leads_user(report: &PingReport) -> bool {
    report.setup.printed == Clock::User
        && report.setup.clock == Clock::Kernel
        && report.probes.kinds().len() == 1
}

/// Which clock the summary's RTTs are on, and the other clock's percentiles beside
/// them: `rtt clock: kernel (network round trip); user-to-user p50/p90/p99/p99.9 =
/// 0.124/0.150/0.210/0.380 ms`, or with `-U` `rtt clock: user (-U); network round
/// trip p50/p90/p99/p99.9 = …`.
fn summary_clock(report: &PingReport) -> String {
    let (lead, other, other_name) = match report.setup.clock {
        Clock::Kernel if leads_user(report) => (
            "rtt clock: user (-U)",
            &report.latency,
            "network round trip",
        ),
        // `-U` with both kinds: the table is the kernel's, the reply lines were not.
        Clock::Kernel if report.setup.printed == Clock::User => (
            "rtt clock: kernel (network round trip; the reply lines were user-to-user, -U)",
            &report.user_latency,
            "user-to-user",
        ),
        Clock::Kernel => (
            "rtt clock: kernel (network round trip)",
            &report.user_latency,
            "user-to-user",
        ),
        Clock::User => (
            "rtt clock: user (no kernel timestamps)",
            &report.user_latency,
            "user-to-user",
        ),
    };
    let mut line = lead.to_owned();
    let u = other.summary();
    if report.setup.clock == Clock::Kernel
        && let (Some(p50), Some(p90), Some(p99), Some(p999)) = (u.p50, u.p90, u.p99, u.p999)
    {
        line.push_str(&format!(
            "; {other_name} p50/p90/p99/p99.9 = {}/{}/{}/{} ms",
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
pub fn rtt_lines(latency: &Latency) -> Vec<String> {
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

/// `[1764459264.123456] `, the stamp `-D` puts before a line (ping(8)'s format).
pub fn stamp(now: SystemTime) -> String {
    format!("[{:.6}] ", unix_seconds(now))
}

/// Milliseconds with microsecond precision, as ping(8) prints small RTTs.
pub fn ms(d: Duration) -> String {
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
