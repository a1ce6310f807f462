//! `load`: a thousand connections against wsppsrv, a server that stalls, the interval
//! log read back and merged, the descriptor limit, and Ctrl-C and SIGTERM on the
//! built binary. Each run lasts a few seconds at most.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::TcpListener;
use wspp::payload::Encoding;
use wsppclient::commands::load::{self, LoadEvent, LoadFormat, LoadOptions};
use wsppclient::front::invocation::{FrontEnd, Invocation};
use wsppclient::net::settings::ConnectSettings;
use wsppclient::outcome::Outcome;
use wsppclient::probe::Probes;
use wsppclient::stop::Stop;

use crate::support::{Running, Server, raw, run_binary, within};

/// A fresh path in the temporary directory for an interval log.
fn log_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("wspp-load-{}-{name}.hlog", std::process::id()))
}

/// A load run as `options` says with `settings`, its lines a second unread.
async fn run_load(settings: &ConnectSettings, options: &LoadOptions) -> load::LoadReport {
    within(load::run(settings, options, &Stop::new(), |_| {}))
        .await
        .expect("the run starts")
}

/// Figures that must be in order: min ≤ p50 ≤ … ≤ max, under `prefix`.
fn assert_ordered(summary: &Value, prefix: &str) {
    let figures: Vec<f64> = ["min", "p50", "p90", "p99", "p999", "max"]
        .iter()
        .map(|name| {
            summary[format!("{prefix}rtt_{name}_ms")]
                .as_f64()
                .unwrap_or_else(|| panic!("{prefix}rtt_{name}_ms in {summary}"))
        })
        .collect();
    assert!(
        figures.windows(2).all(|w| w[0] <= w[1]),
        "{prefix}: {figures:?}"
    );
    assert!(figures[0] > 0.0, "{figures:?}");
}

#[tokio::test]
async fn a_thousand_connections_open_and_every_probe_is_answered() {
    let server = Server::start(wsppsrv::Config::default()).await;
    let hlog = log_path("thousand");
    let options = LoadOptions {
        connections: 1000,
        duration: Duration::from_secs(3),
        interval: Duration::from_millis(500),
        hdr_log: Some(hlog.clone()),
        format: LoadFormat::Json,
        ..LoadOptions::default()
    };
    let invocation = Invocation::new(server.addr.to_string(), FrontEnd::Load(Box::new(options)));
    let mut out = Vec::new();
    // A thousand handshakes and their closes on a debug build, with the server on the
    // same thread, outlast the usual patience on a busy machine: a bound of its own.
    let run = wsppclient::front::invoke::run(invocation, &mut out);
    let outcome = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the run ends within two minutes")
        .expect("the run starts");
    let stdout = String::from_utf8_lossy(&out);
    let summary: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(outcome, Outcome::Success, "{summary}");
    assert_eq!(summary["record"], "summary");
    assert_eq!(summary["connections"], 1000);
    assert_eq!(summary["connections_opened"], 1000, "{summary}");
    assert_eq!(summary["connections_failed"], 0);
    assert_eq!(summary["failures"], serde_json::json!({}));
    assert_eq!(summary["closes"]["client_1000"], 1000, "{summary}");
    let sent = summary["sent"].as_u64().expect("sent");
    assert!(sent >= 1000, "{summary}");
    assert_eq!(summary["received"], sent, "{summary}");
    assert_eq!(summary["lost"], 0);
    assert!(summary["late_sends"].is_u64());
    assert_eq!(summary["clock"], "kernel");
    assert_ordered(&summary, "");
    assert_ordered(&summary, "user_");
    assert!(
        summary["generator_cpu_pct"]
            .as_f64()
            .is_some_and(|p| p > 0.0)
    );
    assert!(summary["duration_s"].as_f64().is_some_and(|d| d >= 3.0));
    // The interval log, read back by hdrhistogram's own reader, holds every answer.
    let merged = load::merge(std::slice::from_ref(&hlog)).expect("the log reads back");
    assert_eq!(merged.histogram.len(), sent);
    assert!(merged.intervals >= 3, "{}", merged.intervals);
    let _ = std::fs::remove_file(hlog);
}

/// The hook a display follows the run by (the terminal UI's load pane): a record
/// each second, whose counts add up to the summary's.
#[tokio::test]
async fn each_second_reaches_the_hook_and_the_seconds_add_up_to_the_summary() {
    let server = Server::start(wsppsrv::Config::default()).await;
    let options = LoadOptions {
        connections: 5,
        duration: Duration::from_millis(1500),
        interval: Duration::from_millis(100),
        ..LoadOptions::default()
    };
    let mut seconds = Vec::new();
    let report = within(load::run(
        &server.client_settings(),
        &options,
        &Stop::new(),
        |event| {
            if let LoadEvent::Second(second) = event {
                seconds.push(second.figures());
            }
        },
    ))
    .await
    .expect("the run starts");
    // A second's record at 1 s at least, and the last one's at the end.
    assert!(seconds.len() >= 2, "{seconds:#?}");
    assert!(
        seconds.windows(2).all(|w| w[0].at < w[1].at),
        "{seconds:#?}"
    );
    let last = seconds.last().expect("a second");
    assert_eq!(last.opened, 5, "{last:?}");
    assert_eq!(last.failed, 0, "{last:?}");
    let sum = |pick: fn(&load::SecondFigures) -> u64| seconds.iter().map(pick).sum::<u64>();
    assert_eq!(sum(|s| s.sent), report.probes.counts.sent);
    assert_eq!(sum(|s| s.received), report.probes.counts.received);
    assert_eq!(sum(|s| s.lost), report.probes.counts.lost);
    assert!(report.probes.counts.received >= 5, "{report:?}");
    // The first full second was busy: five connections, ten probes a second each.
    let first = &seconds[0];
    assert!(first.sent > 0 && first.received > 0, "{first:?}");
    let (Some(p50), Some(p99)) = (first.p50, first.p99) else {
        panic!("no percentiles in {first:?}");
    };
    assert!(p50 <= p99, "{first:?}");
}

/// A WebSocket server that answers Pings, and the addresses its clients came from.
/// With `stalls`, for 300 ms of every 2 s (from 1 s after it starts) it answers
/// nothing, then everything that waited.
async fn ping_server(stalls: bool) -> (SocketAddr, Arc<Mutex<Vec<IpAddr>>>) {
    const CYCLE: Duration = Duration::from_secs(2);
    const STALL_FROM: Duration = Duration::from_secs(1);
    const STALL: Duration = Duration::from_millis(300);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    let peers = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&peers);
    let start = Instant::now();
    tokio::spawn(async move {
        while let Ok((mut stream, peer)) = listener.accept().await {
            seen.lock().expect("not poisoned").push(peer.ip());
            tokio::spawn(async move {
                raw::accept_upgrade(&mut stream).await;
                while let Some((opcode, payload)) = raw::read_frame(&mut stream).await {
                    if raw::answer_close(&mut stream, opcode, &payload).await {
                        return;
                    }
                    if opcode != raw::PING {
                        continue;
                    }
                    let into_cycle = Duration::from_nanos(
                        (start.elapsed().as_nanos() % CYCLE.as_nanos()) as u64,
                    );
                    if stalls && into_cycle >= STALL_FROM && into_cycle < STALL_FROM + STALL {
                        tokio::time::sleep(STALL_FROM + STALL - into_cycle).await;
                    }
                    raw::send(&mut stream, raw::PONG, &payload).await;
                }
            });
        }
    });
    (addr, peers)
}

/// What [`deflate_echo_server`] received: data frames compressed (RSV1) and not.
#[derive(Debug, Default)]
struct DataFrames {
    compressed: u64,
    plain: u64,
}

/// A WebSocket server that takes a permessage-deflate offer and echoes each message
/// compressed; it checks that each compressed message inflates, and counts the data
/// frames that came compressed and those that did not.
async fn deflate_echo_server() -> (SocketAddr, Arc<Mutex<DataFrames>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use wspp::deflate::codec::{compress_message, inflate_message};
    use wspp::frame::{apply_mask, decode, encode};

    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    let counts = Arc::new(Mutex::new(DataFrames::default()));
    let seen = Arc::clone(&counts);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                raw::accept_upgrade_with(
                    &mut stream,
                    "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
                     client_no_context_takeover\r\n",
                )
                .await;
                let mut input = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some((header, at)) = decode(&input) {
                        let end = at + header.len as usize;
                        if input.len() < end {
                            break;
                        }
                        let mut payload = input[at..end].to_vec();
                        input.drain(..end);
                        if let Some(key) = header.mask {
                            apply_mask(&mut payload, key, 0);
                        }
                        let reply = match (header.opcode, header.rsv) {
                            (raw::CLOSE, _) => {
                                raw::send(&mut stream, raw::CLOSE, &payload).await;
                                return;
                            }
                            (raw::PING, _) => encode(true, raw::PONG, None, &payload),
                            (opcode, 0b100) => {
                                seen.lock().expect("not poisoned").compressed += 1;
                                let plain = inflate_message(&payload).expect("valid DEFLATE");
                                let compressed = compress_message(&plain, 15);
                                encode(true, 0x40 | opcode, None, &compressed)
                            }
                            (opcode, _) => {
                                seen.lock().expect("not poisoned").plain += 1;
                                encode(true, opcode, None, &payload)
                            }
                        };
                        if stream.write_all(&reply).await.is_err() {
                            return;
                        }
                    }
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => input.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (addr, counts)
}

#[tokio::test]
async fn deflate_echo_probes_go_and_come_back_compressed() {
    let (addr, counts) = deflate_echo_server().await;
    let mut settings = ConnectSettings::new(addr.to_string());
    settings.headers.deflate = true;
    let options = LoadOptions {
        connections: 4,
        duration: Duration::from_millis(300),
        interval: Duration::from_millis(50),
        probes: Probes::Echo(Encoding::Text),
        ..LoadOptions::default()
    };
    let report = run_load(&settings, &options).await;
    assert!(report.passed(), "{report:?}");
    assert_eq!(report.probes.counts.received, report.probes.counts.sent);
    // Every probe went compressed, and its compressed echo was inflated and matched.
    let counts = counts.lock().expect("not poisoned");
    assert_eq!(counts.compressed, report.probes.counts.sent, "{counts:?}");
    assert_eq!(counts.plain, 0, "{counts:?}");
}

#[tokio::test]
async fn sources_take_turns_as_the_connections_local_addresses() {
    let (addr, peers) = ping_server(false).await;
    let options = LoadOptions {
        connections: 6,
        duration: Duration::from_millis(300),
        interval: Duration::from_millis(100),
        sources: vec![
            "127.0.0.2".parse().expect("ip"),
            "127.0.0.3".parse().expect("ip"),
        ],
        ..LoadOptions::default()
    };
    let report = run_load(&ConnectSettings::new(addr.to_string()), &options).await;
    assert_eq!(report.opened.opened, 6);
    assert!(report.passed());
    let mut seen = peers.lock().expect("not poisoned").clone();
    seen.sort();
    let want: Vec<IpAddr> = [
        "127.0.0.2",
        "127.0.0.2",
        "127.0.0.2",
        "127.0.0.3",
        "127.0.0.3",
        "127.0.0.3",
    ]
    .iter()
    .map(|ip| ip.parse().expect("ip"))
    .collect();
    assert_eq!(seen, want);
}

#[tokio::test]
async fn a_server_that_stalls_shows_in_the_p90_under_open_loop() {
    let (addr, _) = ping_server(true).await;
    let options = LoadOptions {
        connections: 20,
        duration: Duration::from_secs(2),
        interval: Duration::from_millis(50),
        ..LoadOptions::default()
    };
    let settings = ConnectSettings::new(addr.to_string());
    let report = run_load(&settings, &options).await;
    assert_eq!(report.opened.opened, 20);
    assert_eq!(report.probes.counts.lost, 0);
    assert_eq!(report.probes.counts.received, report.probes.counts.sent);
    // About 15% of the probes met the stall, each delayed by up to 300 ms: the p90
    // is among them. A closed-loop generator would have sent one probe per
    // connection into it, and its p90 would not show it.
    let summary = report.probes.rtt.summary();
    let p50 = summary.p50.expect("answers");
    let p90 = summary.p90.expect("answers");
    assert!(p90 >= Duration::from_millis(30), "p50 {p50:?}, p90 {p90:?}");
    assert!(p50 < Duration::from_millis(30), "p50 {p50:?}, p90 {p90:?}");
    assert!(
        summary
            .max
            .is_some_and(|max| max >= Duration::from_millis(200))
    );
}

#[tokio::test]
async fn over_tls_each_connection_shakes_hands_and_its_time_is_counted_apart() {
    let (_server, tls) = Server::start_tls(wsppsrv::Config::default()).await;
    let mut settings = ConnectSettings::new(format!("localhost:{}", tls.addr.port()));
    settings.server.tls = true;
    settings.dial.tls.ca = Some(tls.ca.clone());
    let options = LoadOptions {
        connections: 5,
        duration: Duration::from_millis(300),
        interval: Duration::from_millis(100),
        ..LoadOptions::default()
    };
    let report = run_load(&settings, &options).await;
    assert_eq!(report.opened.opened, 5, "{:?}", report.opened.failures);
    assert!(report.passed());
    assert!(report.url.starts_with("wss://"), "{}", report.url);
    assert_eq!(report.opened.tls.summary().count, 5);
    let summary: Value = serde_json::from_str(&load::output::json(&report)).expect("JSON");
    assert!(
        summary["tls_handshake_p50_ms"]
            .as_f64()
            .is_some_and(|ms| ms > 0.0)
    );
    // Trust withheld: every connection fails on TLS, and says so.
    settings.dial.tls.ca = None;
    let refused = run_load(&settings, &options).await;
    assert_eq!(
        refused.opened.failures.get("tls"),
        Some(&5),
        "{:?}",
        refused.opened.failures
    );
}

/// wsppsrv with room for five WebSocket connections: the sixth is answered 503 with
/// `Retry-After: 1`.
async fn server_of_five() -> Server {
    Server::start(wsppsrv::Config {
        max_connections: 5,
        ..wsppsrv::Config::default()
    })
    .await
}

#[tokio::test]
async fn a_server_at_capacity_is_counted_by_its_503_and_retry_after() {
    let server = server_of_five().await;
    let options = LoadOptions {
        connections: 8,
        duration: Duration::from_millis(500),
        interval: Duration::from_millis(100),
        ..LoadOptions::default()
    };
    let report = run_load(&server.client_settings(), &options).await;
    assert_eq!(report.opened.opened, 5);
    assert_eq!(report.opened.failures.get("status_503"), Some(&3));
    assert_eq!(report.opened.retry_after.as_deref(), Some("1"));
    assert!(!report.passed());
    let text = load::output::summary(&report).join("\n");
    assert!(
        text.contains("failed: status_503 3 (Retry-After: 1)"),
        "{text}"
    );
}

/// The body of `GET /metrics` from `addr`, read to the end of the connection.
async fn scrape(addr: SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// The value of the sample written exactly as `series` in a scrape.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_are_served_while_the_run_lasts() {
    let server = Server::start(wsppsrv::Config::default()).await;
    let options = LoadOptions {
        connections: 20,
        duration: Duration::from_secs(30),
        interval: Duration::from_millis(100),
        metrics_addr: Some("127.0.0.1:0".parse().expect("an address")),
        ..LoadOptions::default()
    };
    let stop = Stop::new();
    let (events, mut heard) = tokio::sync::mpsc::unbounded_channel();
    let settings = server.client_settings();
    let run = load::run(&settings, &options, &stop, move |event| {
        let _ = events.send(event.clone());
    });
    let scraper = async {
        let mut addr = None;
        // The first second in which every connection is open and probes were
        // answered: its figures are in /metrics before the second is reported.
        while let Some(event) = heard.recv().await {
            match event {
                load::LoadEvent::Serving(bound) => addr = Some(bound),
                load::LoadEvent::Second(second)
                    if second.open == 20 && second.window.counts.received > 0 =>
                {
                    break;
                }
                _ => {}
            }
        }
        let text = scrape(addr.expect("the address is said before the first second")).await;
        stop.cancel();
        text
    };
    let (report, text) = within(async { tokio::join!(run, scraper) }).await;
    let report = report.expect("the run starts");
    assert_eq!(
        sample(&text, "wsppclient_connections_open"),
        Some(20.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "wsppclient_connections_opened_total"),
        Some(20.0)
    );
    let received = sample(&text, "wsppclient_probes_received_total").expect("received");
    let sent = sample(&text, "wsppclient_probes_sent_total").expect("sent");
    assert!(received > 0.0 && sent >= received, "{text}");
    assert_eq!(
        sample(&text, "wsppclient_rtt_seconds_count{clock=\"kernel\"}"),
        Some(received),
        "{text}"
    );
    assert_eq!(
        sample(&text, "wsppclient_rtt_seconds_count{clock=\"user\"}"),
        Some(received)
    );
    assert_eq!(
        sample(
            &text,
            "wsppclient_rtt_seconds_bucket{clock=\"kernel\",le=\"+Inf\"}"
        ),
        Some(received)
    );
    // What was scraped mid-run is part of the run's totals.
    assert!(report.probes.counts.received as f64 >= received, "{text}");
}

#[tokio::test]
async fn a_metrics_address_in_use_is_said_in_one_line() {
    let server = Server::start(wsppsrv::Config::default()).await;
    let taken = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let target = server.addr.to_string();
    let output = run_binary(&["load", "--server", &target, "--metrics-addr", &addr]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    // As for any address the user gave that cannot be used: a usage error.
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
}

#[tokio::test]
async fn churn_closes_and_reopens_connections_under_load() {
    let server = Server::start(wsppsrv::Config::default()).await;
    let options = LoadOptions {
        connections: 10,
        churn_every: Some(Duration::from_millis(50)),
        duration: Duration::from_millis(1500),
        interval: Duration::from_millis(50),
        ..LoadOptions::default()
    };
    let report = run_load(&server.client_settings(), &options).await;
    let c = &report.opened;
    let counts = (c.opened, c.churned, &c.failures, c.dropped, &c.closes);
    // 20 a second over at least 1.5 s: every connection had at least one turn.
    assert!(c.churned >= 10, "{counts:?}");
    // Each churn close is followed by a reopening, except where the run ended between
    // the two: at most one a connection.
    let reopened = c.opened.saturating_sub(10);
    assert!(
        reopened <= c.churned && c.churned - reopened <= 10,
        "{counts:?}"
    );
    assert_eq!((c.failed(), c.dropped, c.open), (0, 0, 0), "{counts:?}");
    assert_eq!(c.closes.get("client_1000"), Some(&c.opened), "{counts:?}");
    assert_eq!(report.probes.counts.lost, 0);
    assert!(report.passed());
    let json: Value = serde_json::from_str(&load::output::json(&report)).expect("json");
    assert_eq!(json["connections_churned"], c.churned);
}

#[tokio::test]
async fn churn_waits_out_a_refusals_retry_after() {
    let server = server_of_five().await;
    // Ten turns a second for each of the 8 connections: a connection that retried at
    // its turns instead of after the server's Retry-After (1 s) would be refused
    // about ten times a second.
    let options = LoadOptions {
        connections: 8,
        churn_every: Some(Duration::from_millis(12)),
        duration: Duration::from_millis(1500),
        interval: Duration::from_millis(100),
        ..LoadOptions::default()
    };
    let report = run_load(&server.client_settings(), &options).await;
    let c = &report.opened;
    let refused = c.failures.get("status_503").copied().unwrap_or(0);
    let counts = (c.opened, c.churned, &c.failures);
    assert!(refused >= 3, "{counts:?}");
    assert_eq!(c.retry_after.as_deref(), Some("1"));
    // At most one refusal a second per connection, the first at once.
    let ceiling = 8 * (report.elapsed.as_secs() + 2);
    assert!(
        refused <= ceiling,
        "{refused} refusals in {:?}: {counts:?}",
        report.elapsed
    );
    assert!(c.churned > 0, "{counts:?}");
}

/// A run of 10 connections against a server shut down once all are open, with
/// `stop_on_error` as given: the report, and the text summary.
async fn server_goes_away(stop_on_error: bool) -> (load::LoadReport, String) {
    let server = Server::start(wsppsrv::Config::default()).await;
    let options = LoadOptions {
        connections: 10,
        duration: Duration::from_secs(60),
        interval: Duration::from_millis(50),
        stop_on_error,
        ..LoadOptions::default()
    };
    let settings = server.client_settings();
    let stop = Stop::new();
    let (open, mut heard) = tokio::sync::mpsc::unbounded_channel();
    let run = load::run(&settings, &options, &stop, move |event| {
        if let load::LoadEvent::Second(second) = event {
            let _ = open.send(second.open);
        }
    });
    let shut = async {
        while let Some(open) = heard.recv().await {
            if open == 10 {
                break;
            }
        }
        server.shutdown().await;
    };
    // A run that outlived its server would last its 60 s: `within` gives it 10.
    let (report, ()) = within(async { tokio::join!(run, shut) }).await;
    let report = report.expect("the run starts");
    let text = load::output::summary(&report).join("\n");
    (report, text)
}

#[tokio::test]
async fn a_server_that_goes_away_is_counted_by_how_each_connection_ended() {
    let (report, text) = server_goes_away(false).await;
    let c = &report.opened;
    assert_eq!((c.opened, c.dropped, c.open), (10, 10, 0), "{text}");
    // wsppsrv shutting down says Going Away to each of its clients.
    assert_eq!(c.closes.get("server_1001"), Some(&10), "{text}");
    assert_eq!(c.stopped_on, None);
    assert!(!report.passed());
    assert!(
        text.contains("10 connections: 10 opened, 0 failed, 10 dropped"),
        "{text}"
    );
}

#[tokio::test]
async fn stop_on_error_ends_the_run_at_the_first_drop() {
    let (report, text) = server_goes_away(true).await;
    let c = &report.opened;
    assert_eq!(c.stopped_on.as_deref(), Some("server_1001"), "{text}");
    assert_eq!(c.open, 0);
    assert!(
        text.contains("stopped at the first error (--stop-on-error): server_1001"),
        "{text}"
    );
}

#[tokio::test]
async fn stop_on_error_ends_the_run_at_the_first_refusal() {
    let server = server_of_five().await;
    let options = LoadOptions {
        connections: 8,
        open_concurrency: 1,
        // Without the stop, the five that opened would be held for a minute, past
        // `within`'s patience.
        duration: Duration::from_secs(60),
        interval: Duration::from_millis(50),
        stop_on_error: true,
        ..LoadOptions::default()
    };
    let report = run_load(&server.client_settings(), &options).await;
    let c = &report.opened;
    assert_eq!(c.stopped_on.as_deref(), Some("status_503"));
    assert_eq!(c.opened, 5);
    assert_eq!(c.closes.get("client_1000"), Some(&5));
    assert!(!report.passed());
    let json: Value = serde_json::from_str(&load::output::json(&report)).expect("json");
    assert_eq!(json["stopped_on"], "status_503");
}

#[tokio::test]
async fn merge_adds_the_counts_of_several_logs() {
    let server = Server::start(wsppsrv::Config::default()).await;
    let mut received = 0;
    let mut paths = Vec::new();
    for name in ["first", "second"] {
        let path = log_path(name);
        let options = LoadOptions {
            connections: 10,
            duration: Duration::from_secs(1),
            interval: Duration::from_millis(100),
            hdr_log: Some(path.clone()),
            ..LoadOptions::default()
        };
        let report = run_load(&server.client_settings(), &options).await;
        assert!(report.probes.counts.received > 0);
        received += report.probes.counts.received;
        paths.push(path);
    }
    let files: Vec<&str> = paths.iter().filter_map(|p| p.to_str()).collect();
    let mut args = vec!["merge", "--json"];
    args.extend(&files);
    let output = run_binary(&args).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let merged: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(merged["files"], 2);
    assert_eq!(merged["received"], received, "{merged}");
    assert!(merged["rtt_p50_ms"].as_f64().is_some_and(|p| p > 0.0));
    let text = run_binary(&["merge", files[0]]).await;
    assert!(String::from_utf8_lossy(&text.stdout).starts_with("1 logs, "));
    let missing = run_binary(&["merge", "/nonexistent/wspp.hlog"]).await;
    assert_eq!(missing.status.code(), Some(2));
    for path in paths {
        let _ = std::fs::remove_file(path);
    }
}

#[tokio::test]
async fn a_low_descriptor_limit_is_said_in_one_line_and_the_run_goes_on() {
    let server = Server::start(wsppsrv::Config::default()).await;
    let addr = server.addr.to_string();
    let script = "ulimit -n 150 && exec \"$0\" \"$@\"";
    let output = run_binary_under_bash(
        script,
        &[
            "--server",
            &addr,
            "load",
            "--connections",
            "500",
            "--duration",
            "1",
            "-i",
            "0.2",
            "--json",
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let notice: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("descriptor limit"))
        .collect();
    assert_eq!(notice.len(), 1, "{stderr}");
    assert!(notice[0].contains("of the 500 connections"), "{stderr}");
    let summary: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    let opened = summary["connections_opened"].as_u64().expect("opened");
    assert!(opened > 0 && opened < 500, "{summary}");
    assert_eq!(summary["connections_failed"], 0, "{summary}");
    assert_eq!(output.status.code(), Some(0), "{summary}");
}

/// The binary started by `bash -c script`, with `args` after it.
async fn run_binary_under_bash(script: &str, args: &[&str]) -> std::process::Output {
    let child = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_wsppclient"))
        .args(args)
        .env_remove("WSPP_SERVER")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    within(child).await.expect("the binary ran")
}

/// `load --ndjson` stopped by `signal` after its first second: the summary comes all
/// the same, and the connections close with `code`.
async fn stopped_by(signal: &str, code: &str) -> (Value, Option<i32>) {
    let server = Server::start(wsppsrv::Config::default()).await;
    let addr = server.addr.to_string();
    let mut run = Running::start(&[
        "--server",
        &addr,
        "load",
        "--connections",
        "20",
        "--duration",
        "60",
        "-i",
        "0.1",
        "--ndjson",
    ]);
    let first = run.line().await.expect("a line a second");
    let first: Value = serde_json::from_str(&first).expect("JSON");
    assert_eq!(first["record"], "second");
    run.signal(signal).await;
    let (rest, status, stderr) = run.finish().await;
    let last = rest
        .last()
        .unwrap_or_else(|| panic!("no summary: {stderr}"));
    let summary: Value = serde_json::from_str(last).expect("JSON");
    assert_eq!(summary["record"], "summary");
    assert_eq!(
        summary["closes"][code], summary["connections_opened"],
        "{summary}"
    );
    assert!(summary["duration_s"].as_f64().is_some_and(|d| d < 60.0));
    (summary, status.code())
}

#[tokio::test]
async fn ctrl_c_ends_the_run_with_its_summary_and_close_1000() {
    let (summary, code) = stopped_by("INT", "client_1000").await;
    // A probe in flight at Ctrl-C counts as lost, as ping(8) counts it.
    let lost = summary["lost"].as_u64().expect("lost");
    assert_eq!(code, Some(if lost == 0 { 0 } else { 1 }), "{summary}");
}

#[tokio::test]
async fn sigterm_ends_the_run_with_its_summary_and_close_1001() {
    let (_, code) = stopped_by("TERM", "client_1001").await;
    assert_eq!(code, Some(143));
}

/// The server's `/clients.json`, asked over HTTP/1.1 on a connection of its own.
async fn clients_json(addr: SocketAddr) -> wspp::clients::ClientsReport {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(b"GET /clients.json?limit=100 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.expect("the answer");
    let answer = String::from_utf8(answer).expect("text");
    let (_, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    serde_json::from_str(body).expect("the clients list")
}

#[tokio::test]
async fn http2_streams_put_that_many_websockets_on_each_connection() {
    let server = Server::start(wsppsrv::Config::default()).await;
    let mut settings = server.client_settings();
    settings.dial.http2 = true;
    let options = LoadOptions {
        connections: 10,
        streams: 4,
        duration: Duration::from_secs(30),
        interval: Duration::from_millis(100),
        ..LoadOptions::default()
    };
    let stop = Stop::new();
    let run = tokio::spawn({
        let stop = stop.clone();
        async move { load::run(&settings, &options, &stop, |_| {}).await }
    });
    // All ten listed and answering: then they are grouped by the port they came from.
    let report = within(async {
        loop {
            let report = clients_json(server.addr).await;
            if report.clients.len() == 10 && report.clients.iter().all(|c| c.pongs_received > 0) {
                return report;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let mut per_port = std::collections::BTreeMap::<String, usize>::new();
    for client in &report.clients {
        assert_eq!(client.http_version, Some(wspp::clients::HttpVersion::Http2));
        *per_port.entry(client.peer.clone()).or_default() += 1;
    }
    let mut groups: Vec<usize> = per_port.into_values().collect();
    groups.sort_unstable();
    assert_eq!(groups, [2, 4, 4], "ten WebSockets, four to a connection");
    stop.cancel();
    let report = within(run)
        .await
        .expect("the run's task")
        .expect("the run starts");
    assert_eq!(report.opened.opened, 10, "{:?}", report.opened.failures);
    assert_eq!(
        report.opened.tcp.summary().count,
        3,
        "a TCP connection counted once, by the WebSocket that opened it"
    );
}
