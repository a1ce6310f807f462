//! Open-and-close cycles: how fast the server takes a client from TCP connect to the
//! end of the close handshake.
//!
//! One cycle: connect (from one of several 127.0.1.x addresses, so ports recycle
//! slowly), upgrade on `/openandclosewebsocket`, answer the server's pings (three by
//! default), answer its Close 1000, and read until the server closes the TCP
//! connection. Cycles run one at a time, then 32 at once, on one current-thread
//! runtime; the server's CPU time over each phase divided by its cycles is the
//! server's cost of one cycle.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use futures_util::StreamExt;
use tokio::net::TcpSocket;
use tokio::task::JoinSet;
use wsppclient::net::settings::{DEFAULT_CONNECT_TIMEOUT, Headers, Server};
use wsppclient::net::upgrade;
use wsppclient::net::url::WsUrl;

use crate::figures::{self, Summary};
use crate::procs;

/// How long one cycle may take before it counts as failed.
const CYCLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Source addresses the cycles rotate over (127.0.1.x: not the load generators').
const SOURCES: u64 = 16;

/// One phase's figures.
#[derive(Debug, Clone)]
pub struct OpenCloseRow {
    /// Cycles in flight at once.
    pub concurrency: usize,
    /// Cycles completed.
    pub cycles: u64,
    /// Cycles that failed.
    pub failures: u64,
    /// Wall time of the phase.
    pub elapsed: Duration,
    /// Cycle times, µs.
    pub cycle: Summary,
    /// Server CPU time over the phase.
    pub server_cpu: Duration,
}

impl OpenCloseRow {
    /// Completed cycles per second.
    pub fn rate(&self) -> f64 {
        self.cycles as f64 / self.elapsed.as_secs_f64()
    }

    /// Server CPU per completed cycle, µs.
    pub fn server_us_per_cycle(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / self.cycles.max(1) as f64
    }
}

/// Runs up to `max_cycles` cycles (or for `max_time`) with `concurrency` in flight,
/// against the server `pid` at `addr`.
pub async fn measure(
    addr: SocketAddr,
    pid: u32,
    concurrency: usize,
    max_cycles: u64,
    max_time: Duration,
) -> Result<OpenCloseRow> {
    let headers = Arc::new(Headers::default());
    let url = Arc::new(WsUrl::for_route(
        &Server::plain(addr.to_string()),
        wspp::routes::OPEN_AND_CLOSE,
    )?);
    let next = Arc::new(AtomicU64::new(0));
    let cpu_before = procs::cpu_time(pid)?;
    let start = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let (headers, url, next) = (Arc::clone(&headers), Arc::clone(&url), Arc::clone(&next));
        workers.spawn(async move {
            let mut histogram = figures::histogram();
            let mut failures = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= max_cycles || start.elapsed() >= max_time {
                    break;
                }
                let source = Ipv4Addr::new(127, 0, 1, 1 + (i % SOURCES) as u8);
                match tokio::time::timeout(CYCLE_TIMEOUT, cycle(addr, source, &headers, &url)).await
                {
                    Ok(Ok(took)) => figures::record(&mut histogram, took),
                    _ => failures += 1,
                }
            }
            (histogram, failures)
        });
    }
    let mut histogram = figures::histogram();
    let mut failures = 0;
    while let Some(done) = workers.join_next().await {
        let (h, f) = done?;
        histogram.add(&h)?;
        failures += f;
    }
    let elapsed = start.elapsed();
    let server_cpu = procs::cpu_time(pid)?.saturating_sub(cpu_before);
    ensure!(!histogram.is_empty(), "no open-and-close cycle completed");
    Ok(OpenCloseRow {
        concurrency,
        cycles: histogram.len(),
        failures,
        elapsed,
        cycle: Summary::of(&histogram),
        server_cpu,
    })
}

/// One cycle, from connect to the server's FIN.
async fn cycle(
    addr: SocketAddr,
    source: Ipv4Addr,
    headers: &Headers,
    url: &WsUrl,
) -> Result<Duration> {
    let start = Instant::now();
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from((source, 0)))?;
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut ws, _) = upgrade::upgrade(stream, headers, DEFAULT_CONNECT_TIMEOUT, url).await?;
    // Pings are answered and the Close is echoed by tungstenite as it reads; the
    // stream ends when the server closes the TCP connection.
    while let Some(message) = ws.next().await {
        message?;
    }
    Ok(start.elapsed())
}
