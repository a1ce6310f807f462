//! Idle memory per `/pingpong` connection.
//!
//! A fresh server is started for each count, warmed with one connection and one
//! `/clients.json` (so that whatever is allocated once is in the baseline), then
//! its resident set is read with no client and again with N idle clients held by
//! [`crate::hold`]. `(RSS with N - RSS with none) / N` is what each connection costs
//! in user-space memory: the session task, tungstenite's buffers, the registry entry
//! and the connection's log span. Socket buffers are kernel memory and not included.
//!
//! The server pings once at connect and then every hour: "idle" means idle. The
//! figure is read one second after the last connection saw its first ping.
//!
//! Each count is measured twice: with plain clients, then with clients that negotiate
//! permessage-deflate and each send one message and read its echo before idling
//! ([`Compression::Deflate`]). The server makes a compressor and a decompressor for
//! that message (hundreds of KiB together) and must have freed them once it is over:
//! the two figures differ only by what compression leaves behind on an idle
//! connection.

use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use anyhow::{Result, ensure};

use crate::hold::{Compression, Holders};
use crate::http;
use crate::procs::{self, ServerSpec};

/// One count's figures.
#[derive(Debug, Clone)]
pub struct MemoryRow {
    /// Connections asked for.
    pub clients: usize,
    /// What the clients negotiated.
    pub compression: Compression,
    /// Server RSS before, KiB.
    pub rss_before_kib: u64,
    /// Server RSS with every client connected, KiB.
    pub rss_after_kib: u64,
    /// How long opening them took.
    pub open_time: Duration,
}

impl MemoryRow {
    /// KiB per connection.
    pub fn per_connection_kib(&self) -> f64 {
        (self.rss_after_kib as f64 - self.rss_before_kib as f64) / self.clients.max(1) as f64
    }
}

/// Measures the server's RSS with `clients` idle connections.
pub fn measure(server: &ServerSpec, clients: usize, compression: Compression) -> Result<MemoryRow> {
    let server = server.not_pinging(clients).start()?;
    let pid = server.child.pid();
    warm_up(server.addr, compression)?;
    let rss_before_kib = procs::rss_kib(pid)?;
    let holders = Holders::open(server.addr, wspp::routes::PINGPONG, clients, compression)?;
    ensure!(
        holders.ok == clients,
        "{} of {clients} connections failed to open",
        holders.failed
    );
    thread::sleep(Duration::from_secs(1));
    let rss_after_kib = procs::rss_kib(pid)?;
    let open_time = holders.open_time;
    let (_, report) = http::clients(server.addr)?;
    ensure!(
        report.server.clients_now == clients as u64,
        "the server lists {} clients, not {clients}",
        report.server.clients_now
    );
    if compression == Compression::Deflate {
        let plain = report
            .clients
            .iter()
            .filter(|c| !c.extensions.starts_with(wspp::deflate::negotiation::NAME))
            .count();
        ensure!(
            plain == 0,
            "the server lists {plain} clients without permessage-deflate"
        );
    }
    holders.close()?;
    server.child.stop(Duration::from_secs(10))?;
    Ok(MemoryRow {
        clients,
        compression,
        rss_before_kib,
        rss_after_kib,
        open_time,
    })
}

/// One connection opened and closed (compressing as the measured ones will), and one
/// page served, before the baseline.
fn warm_up(addr: SocketAddr, compression: Compression) -> Result<()> {
    Holders::open(addr, wspp::routes::PINGPONG, 1, compression)?.close()?;
    http::clients(addr)?;
    thread::sleep(Duration::from_millis(300));
    Ok(())
}
