//! The server under ping load: N clients, each pinged every second.
//!
//! The server runs with its default `--ping-interval 1s`; [`crate::hold`] children
//! connect N clients that answer every ping. Once all are connected and a few seconds
//! have passed, the server's CPU time is read from `/proc` over a window; then
//! `/clients.json` and `GET /` are timed with all N connected. `/clients.json` answers
//! a page at a time, so a snapshot walks every page along the `next` cursor (the
//! largest pages the server gives) and its time is all the pages'; `GET /` is the
//! page's first screen. The RTTs the server records come from three such snapshots
//! two seconds apart: in each, every client's latest RTT (`rtt_last_us`) is one
//! sample, so its p50 and p99 are across all clients; the median over the snapshots
//! is reported.
//!
//! `GET /metrics` is timed twice, before the clients connect and with all N: a scrape
//! reads counters and never the client list, so the two should be the same.
//!
//! All of that is the server's own pinging, measured as it always has been so that its
//! figures stay comparable with their history. Then the section measures the server
//! under the project's load engine ([`crate::probed`]): the same N connections
//! opened by `wsppclient load` children, each probing once a second, the server's CPU
//! over a window of the same length and per probe, the probes sent, answered, lost
//! and sent late, and the fleet's RTT percentiles from the children's merged
//! interval logs.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};

use crate::hold::{Compression, Holders};
use crate::http;
use crate::probed::{self, ProbedResult};
use crate::procs::{self, ServerSpec};

/// `/clients.json` snapshots taken, each timed and each giving RTT percentiles.
const SNAPSHOTS: usize = 3;
/// Time between snapshots: longer than the ping interval.
const SNAPSHOT_GAP: Duration = Duration::from_secs(2);

/// The figures of one load run.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Clients connected.
    pub clients: usize,
    /// Server CPU over the window, in percent of one core.
    pub cpu_pct: f64,
    /// The window.
    pub window: Duration,
    /// Steal time (both CPUs) over the window.
    pub steal: Duration,
    /// Median of the clients' latest recorded RTT, µs.
    pub rtt_p50_us: u64,
    /// 99th percentile of the same, µs.
    pub rtt_p99_us: u64,
    /// The smallest and largest p99 of the snapshots, µs.
    pub rtt_p99_range_us: (u64, u64),
    /// Pings the server sent that were not (yet) answered, over all clients.
    pub unanswered: u64,
    /// Pings sent over all clients.
    pub pings_sent: u64,
    /// Median time to serve every page of `/clients.json`, one after another.
    pub json: Duration,
    /// All the pages' size in bytes.
    pub json_bytes: usize,
    /// How many pages list every client.
    pub json_pages: usize,
    /// Median time to serve `GET /`.
    pub page: Duration,
    /// Its size in bytes.
    pub page_bytes: usize,
    /// Median time to serve `GET /metrics` with no client, then with all of them.
    pub scrape: (Duration, Duration),
    /// Its size in bytes with all the clients.
    pub scrape_bytes: usize,
    /// The same number of connections from `wsppclient load`, probing the server.
    pub probed: ProbedResult,
}

/// Times of `GET /metrics`: its median over three and its last size in bytes; checks
/// that it lists `clients` clients connected.
fn scrape(addr: std::net::SocketAddr, clients: usize) -> Result<(Duration, usize)> {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..3 {
        let fetched = http::get(addr, wspp::routes::METRICS)?;
        let text = String::from_utf8_lossy(&fetched.body);
        let connected: f64 = text
            .lines()
            .filter(|line| line.starts_with("wspp_clients_connected{"))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        ensure!(
            connected == clients as f64,
            "/metrics counts {connected} clients connected, not {clients}"
        );
        bytes = fetched.body.len();
        times.push(fetched.elapsed);
    }
    Ok((median(&mut times), bytes))
}

/// Holds `clients` clients under the default 1 s ping for `window` and measures; then
/// as many connections from `client_bin load` children, probing (their files in
/// `work`).
pub fn measure(
    base: &ServerSpec,
    client_bin: &Path,
    clients: usize,
    settle: Duration,
    window: Duration,
    work: &Path,
) -> Result<LoadResult> {
    let limit = (clients + 64).to_string();
    let spec = base.with(&["--ping-interval", "1s", "--max-connections", &limit]);
    let server = spec.start()?;
    let pid = server.child.pid();
    let (scrape_empty, _) = scrape(server.addr, 0)?;
    let holders = Holders::open(
        server.addr,
        wspp::routes::PINGPONG,
        clients,
        Compression::Off,
    )?;
    ensure!(
        holders.ok == clients,
        "{} of {clients} connections failed to open",
        holders.failed
    );
    thread::sleep(settle);
    let (cpu_before, steal_before, start) =
        (procs::cpu_time(pid)?, procs::steal_time()?, Instant::now());
    thread::sleep(window);
    let (cpu_after, window) = (procs::cpu_time(pid)?, start.elapsed());
    let steal = procs::steal_time()?.saturating_sub(steal_before);
    let cpu_pct = (cpu_after - cpu_before).as_secs_f64() / window.as_secs_f64() * 100.0;

    // Each snapshot is taken as its request arrives, before the server spends tens
    // of milliseconds serialising it; the gap lets every client be pinged again, so
    // no snapshot holds an RTT stretched by the previous fetch.
    let mut json_times = Vec::new();
    let (mut p50s, mut p99s) = (Vec::new(), Vec::new());
    let (mut json_bytes, mut json_pages, mut pings_sent, mut answered) = (0, 0, 0, 0);
    for i in 0..SNAPSHOTS {
        if i > 0 {
            thread::sleep(SNAPSHOT_GAP);
        }
        let http::Listing {
            elapsed,
            bytes,
            pages,
            report,
        } = http::all_clients(server.addr)?;
        ensure!(
            report.server.clients_now == clients as u64,
            "the server lists {} clients, not {clients}",
            report.server.clients_now
        );
        let mut rtts: Vec<u64> = report
            .clients
            .iter()
            .filter_map(|c| c.rtt_last_us)
            .collect();
        rtts.sort_unstable();
        ensure!(!rtts.is_empty(), "no client has an RTT yet");
        p50s.push(nearest_rank(&rtts, 0.50));
        p99s.push(nearest_rank(&rtts, 0.99));
        pings_sent = report.clients.iter().map(|c| c.pings_sent).sum();
        answered = report.clients.iter().map(|c| c.pongs_received).sum();
        ensure!(
            report.clients.len() == clients,
            "the pages of /clients.json list {} clients, not {clients}",
            report.clients.len()
        );
        (json_bytes, json_pages) = (bytes, pages);
        json_times.push(elapsed);
    }
    let mut page_times = Vec::new();
    let mut page_bytes = 0;
    for _ in 0..3 {
        let page = http::get(server.addr, wspp::routes::PAGE)?;
        page_bytes = page.body.len();
        page_times.push(page.elapsed);
    }
    let (scrape_full, scrape_bytes) = scrape(server.addr, clients)?;
    holders.close()?;
    server.child.stop(Duration::from_secs(10))?;
    let probed = probed::measure(base, client_bin, clients, settle, window, work)?;
    Ok(LoadResult {
        clients,
        cpu_pct,
        window,
        steal,
        rtt_p50_us: median_u64(&mut p50s),
        rtt_p99_us: median_u64(&mut p99s),
        rtt_p99_range_us: (
            p99s.iter().copied().min().unwrap_or(0),
            p99s.iter().copied().max().unwrap_or(0),
        ),
        unanswered: pings_sent - answered.min(pings_sent),
        pings_sent,
        json: median(&mut json_times),
        json_bytes,
        json_pages,
        page: median(&mut page_times),
        page_bytes,
        scrape: (scrape_empty, scrape_full),
        scrape_bytes,
        probed,
    })
}

/// The nearest-rank quantile of sorted, non-empty `values`.
fn nearest_rank(values: &[u64], q: f64) -> u64 {
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

fn median_u64(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(nearest_rank(&v, 0.5), 50);
        assert_eq!(nearest_rank(&v, 0.99), 99);
        assert_eq!(nearest_rank(&[7], 0.99), 7);
    }
}
