//! WebSocket RTT through wspp's own code, from both ends.
//!
//! * **Client view**: wsppclient's [`Pinger`] (the machinery behind `wsppclient ping`)
//!   against a `wsppsrv` child on `/pingpong`, one ping at a time: the timestamps are
//!   the ones `wsppclient ping` prints.
//! * **Server view**: the RTT the server itself records. `/openandclosewebsocket` pings
//!   `--open-close-pings` times back to back (the next ping as soon as a pong arrives),
//!   so a server started with a large count and `RUST_LOG=wsppsrv::session=info` logs a
//!   sequential run of its own RTTs, which is parsed from its log file afterwards. The
//!   client answering is a plain tokio-tungstenite stream from wsppclient's `connect`,
//!   answering with tungstenite's automatic Pong, as any client would. No server code
//!   exists for the benchmark's sake.
//!
//! * **The binary**: `wsppclient ping -i 0 -c N --json`, the program users run, as a
//!   child process on the clients' core; its JSON summary gives the percentiles (of
//!   every ping, with no warm-up skipped). It catches what the library view cannot:
//!   the binary's runtime and its ping loop.
//!
//! The log gives `rtt_us` to the nanosecond (`17.345`); an older server's whole,
//! truncated microseconds are read as the middle of their microsecond.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use tokio_tungstenite::tungstenite::Message;
use wspp::busy_poll::BusyPoll;
use wspp::rtt_log;
use wsppclient::net::connect;
use wsppclient::net::settings::{ConnectSettings, DEFAULT_CONNECT_TIMEOUT, Headers, Server};
use wsppclient::net::upgrade;
use wsppclient::net::url::WsUrl;
use wsppclient::probe::Pinger;

use crate::figures::{self, Summary};
use crate::procs::Child;

/// How long one ping may wait for its pong before the run counts as failed.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// `warmup + count` sequential pings with [`Pinger::ping_once`], busy-polling for
/// `busy_poll` after each (zero: not at all); the histogram holds the last `count` RTTs
/// in ns. A lost ping fails the run: on loopback there is none.
pub async fn client_view(
    addr: SocketAddr,
    busy_poll: Duration,
    warmup: u64,
    count: u64,
) -> Result<Histogram<u64>> {
    let settings = ConnectSettings::new(addr.to_string());
    let url = WsUrl::for_route(&settings.server, wspp::routes::PINGPONG)?;
    let mut pinger = Pinger::connect(&settings, &url, wspp::payload::MIN_LEN, false).await?;
    pinger.busy_poll(busy_poll);
    let mut histogram = figures::histogram();
    for i in 0..warmup + count {
        match pinger.ping_once(PING_TIMEOUT).await? {
            // User-to-user, as the floor and every other client in the tables are
            // timed: the kernel's clock would leave out the very wake-ups compared.
            Some(rtt) if i >= warmup => figures::record(&mut histogram, rtt.user),
            Some(_) => {}
            None => bail!("ping {i} was not answered within {PING_TIMEOUT:?}"),
        }
    }
    pinger.close().await?;
    Ok(histogram)
}

/// Runs `wsppclient ping -i 0 -c COUNT --json --busy-poll SECS` against `addr`; its
/// percentiles, µs.
pub fn binary_view(
    client_bin: &Path,
    addr: SocketAddr,
    busy_poll: Duration,
    count: u64,
) -> Result<Summary> {
    let mut command = std::process::Command::new(client_bin);
    command
        .arg("--server")
        .arg(addr.to_string())
        .args(["ping", "-i", "0", "-W", "5", "--json", "-c"])
        .arg(count.to_string())
        .arg("--busy-poll")
        .arg(busy_poll.as_secs_f64().to_string())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut child = Child::spawn(command, "wsppclient ping")?;
    let out = child.read_stdout()?;
    // Bounded by the ping count and the per-ping timeout; this only reaps it.
    child.wait_or_kill(Duration::from_secs(10))?;
    let json: serde_json::Value = serde_json::from_str(out.trim())
        .with_context(|| format!("wsppclient ping printed {out:?}, not its JSON summary"))?;
    ensure!(
        json["received"].as_u64() == Some(count),
        "wsppclient ping: {} of {count} pings answered",
        json["received"]
    );
    let us = |key: &str| -> Result<f64> {
        json[key]
            .as_f64()
            .map(|ms| ms * 1000.0)
            .with_context(|| format!("no {key} in wsppclient's JSON"))
    };
    // `user_rtt_*`: user-to-user, as `client_view` and the floor are timed.
    Ok(Summary {
        p50: us("user_rtt_p50_ms")?,
        p90: us("user_rtt_p90_ms")?,
        p99: us("user_rtt_p99_ms")?,
        p999: us("user_rtt_p999_ms")?,
        max: us("user_rtt_max_ms")?,
    })
}

/// Opens `/openandclosewebsocket` and answers the server's pings until it closes,
/// busy-polling for `busy_poll` after each (zero: not at all); returns how many pings
/// it answered.
pub async fn answer_server_pings(
    addr: SocketAddr,
    busy_poll: Duration,
    expected: u64,
) -> Result<u64> {
    let headers = Headers::default();
    let url = WsUrl::for_route(
        &Server::plain(addr.to_string()),
        wspp::routes::OPEN_AND_CLOSE,
    )?;
    let stream = connect::tcp(&url.addr, DEFAULT_CONNECT_TIMEOUT).await?;
    let (mut ws, _) = upgrade::upgrade(stream, &headers, DEFAULT_CONNECT_TIMEOUT, &url).await?;
    let busy = BusyPoll::start(busy_poll);
    // One bound for the whole run, so that no timer is armed per ping.
    // Generous per ping: a server that schedules each ping on a millisecond timer
    // tick needs about a millisecond each.
    let bound = PING_TIMEOUT + Duration::from_millis(5 * expected);
    let answer = async {
        let mut pings = 0;
        while let Some(message) = ws.next().await {
            match message {
                // tungstenite queues the Pong and sends it on the next read.
                Ok(Message::Ping(_)) => {
                    pings += 1;
                    busy.touch();
                }
                Ok(_) => {}
                Err(error) => return Err(error.into()),
            }
        }
        anyhow::Ok(pings)
    };
    match tokio::time::timeout(bound, answer).await {
        Ok(pings) => pings,
        Err(_) => bail!("the server's {expected} pings took longer than {bound:?}"),
    }
}

/// `RUST_LOG` for a server whose RTTs [`server_view_from_log`] reads: `base`, and its
/// RTT lines at info.
pub fn server_view_log_filter(base: &str) -> String {
    format!("{base},{}=info", rtt_log::TARGET)
}

/// The RTTs in a wsppsrv log, skipping sequence numbers below `warmup`.
pub fn server_view_from_log(path: &Path, warmup: u64) -> Result<Histogram<u64>> {
    let log = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the server log {}", path.display()))?;
    let mut histogram = figures::histogram();
    for (seq, us) in log.lines().filter_map(rtt_of) {
        if seq >= warmup {
            figures::record(&mut histogram, Duration::from_secs_f64(us / 1e6));
        }
    }
    Ok(histogram)
}

/// The sequence number and the RTT in µs of one of the server's RTT lines (see
/// [`rtt_log`]); `None` for any other line.
fn rtt_of(line: &str) -> Option<(u64, f64)> {
    let head = format!("{}: {} ", rtt_log::TARGET, rtt_log::MESSAGE);
    let fields = &line[line.find(&head)? + head.len() - 1..];
    let seq = field(fields, rtt_log::SEQ)?.parse().ok()?;
    let rtt_us = field(fields, rtt_log::RTT_US)?;
    let us: f64 = rtt_us.parse().ok()?;
    // A whole number is an older server's truncated microseconds: take the middle.
    Some((seq, if rtt_us.contains('.') { us } else { us + 0.5 }))
}

/// The number after ` name=` in a log line, as written.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=");
    let rest = &line[line.find(&key)? + key.len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

#[cfg(test)]
mod tests {
    use std::io::{self, Write};
    use std::sync::{Arc, Mutex};

    use tokio::sync::oneshot;
    use tracing_subscriber::EnvFilter;

    use super::*;

    /// What the server wrote, as its log file would hold it.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("unpoisoned").extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The lines an in-process wsppsrv logs, in its binary's format and with the filter
    /// the benchmark gives it, while a client answers `pings` pings on
    /// `/openandclosewebsocket`.
    async fn server_log_of_pings(pings: u32) -> String {
        let log = Captured::default();
        let writer = log.clone();
        // `warn`: the benchmark's default `--server-log`.
        let filter = EnvFilter::new(server_view_log_filter("warn"));
        let subscriber = wsppsrv::logging::subscriber(filter, move || writer.clone(), false);
        // This thread's only: the test's runtime runs the server and the client on it.
        let _logging = tracing::subscriber::set_default(subscriber.finish());
        let listener = wsppsrv::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
        let addr = listener.local_addr().expect("bound");
        let config = wsppsrv::Config {
            open_close_pings: pings,
            ..wsppsrv::Config::default()
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(wsppsrv::run(listener, config, async {
            let _ = stopped.await;
        }));
        let answered = tokio::time::timeout(
            Duration::from_secs(20),
            answer_server_pings(addr, Duration::ZERO, u64::from(pings)),
        )
        .await
        .expect("the pings within 20 s")
        .expect("the pings answered");
        assert_eq!(answered, u64::from(pings));
        let _ = stop.send(());
        server.await.expect("server task").expect("server");
        let bytes = log.0.lock().expect("unpoisoned").clone();
        String::from_utf8(bytes).expect("utf-8 log")
    }

    #[tokio::test]
    async fn the_lines_the_server_writes_are_read_back() {
        let log = server_log_of_pings(4).await;
        let samples: Vec<(u64, f64)> = log.lines().filter_map(rtt_of).collect();
        let seqs: Vec<u64> = samples.iter().map(|s| s.0).collect();
        assert_eq!(seqs, [0, 1, 2, 3], "in\n{log}");
        for (_, us) in &samples {
            assert!(us.is_finite() && *us > 0.0, "{us} µs in\n{log}");
        }
        // The whole path the benchmark takes: the log file, the warm-up skipped.
        let path = std::env::temp_dir().join(format!("wsppbench-rtt-{}.log", std::process::id()));
        std::fs::write(&path, &log).expect("writable");
        let histogram = server_view_from_log(&path, 1).expect("readable");
        let _ = std::fs::remove_file(&path);
        assert_eq!(histogram.len(), 3);
    }

    #[test]
    fn other_lines_and_an_older_servers_whole_microseconds() {
        let line = |fields: &str| {
            format!(
                "2025-01-01T00:00:00.000000Z  INFO conn{{client_id=1 peer=127.0.0.1:5}}: {}: {} {fields}",
                rtt_log::TARGET,
                rtt_log::MESSAGE
            )
        };
        assert_eq!(rtt_of(&line("seq=12 rtt_us=31")), Some((12, 31.5)));
        assert_eq!(
            rtt_of(&line("seq=3 rtt_us=17.345 clock=kernel user_rtt_us=40.1")),
            Some((3, 17.345))
        );
        assert_eq!(rtt_of(&line("seq=3 user_rtt_us=40.1")), None);
        assert_eq!(rtt_of("wsppsrv::session: websocket open"), None);
    }
}
