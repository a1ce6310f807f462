//! A minimal, timed HTTP/1.1 GET over a blocking socket.
//!
//! The suite times how long wsppsrv takes to serve `GET /` and `/clients.json` with
//! thousands of clients listed. A raw request with `Connection: close`, read to the
//! end, measures exactly that: connect, the server's work, and the transfer, with no
//! client library's pooling or buffering in between.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use wspp::clients::ClientsReport;

/// What a GET brought back.
#[derive(Debug)]
pub struct Fetched {
    /// From connect to the last byte.
    pub elapsed: Duration,
    /// The body (the server always sends `Content-Length`, never chunks).
    pub body: Vec<u8>,
}

/// `GET path`, which must answer 200.
pub fn get(addr: SocketAddr, path: &str) -> Result<Fetched> {
    let timeout = Duration::from_secs(10);
    let start = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: wsppbench\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .with_context(|| format!("reading GET {path}"))?;
    let elapsed = start.elapsed();
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .with_context(|| format!("GET {path}: no complete response head"))?;
    if !response.starts_with(b"HTTP/1.1 200") {
        let line = String::from_utf8_lossy(&response[..head_end.min(80)]).into_owned();
        bail!("GET {path} answered {line:?}");
    }
    Ok(Fetched {
        elapsed,
        body: response.split_off(head_end + 4),
    })
}

/// `GET /clients.json`, parsed: its first page.
pub fn clients(addr: SocketAddr) -> Result<(Fetched, ClientsReport)> {
    clients_page(addr, wspp::routes::CLIENTS_JSON)
}

fn clients_page(addr: SocketAddr, path: &str) -> Result<(Fetched, ClientsReport)> {
    let fetched = get(addr, path)?;
    let report =
        serde_json::from_slice(&fetched.body).with_context(|| format!("parsing {path}"))?;
    Ok((fetched, report))
}

/// The largest page the server gives (`?limit=`); asking for more is clamped to it.
pub const LARGEST_PAGE: usize = 1000;

/// What walking every page of `/clients.json` brought back.
#[derive(Debug)]
pub struct Listing {
    /// All the pages' GETs together, each from connect to its last byte.
    pub elapsed: Duration,
    /// All the pages' bodies together.
    pub bytes: usize,
    /// How many pages it took.
    pub pages: usize,
    /// Every client, oldest first, with the first page's `server` summary.
    pub report: ClientsReport,
}

/// Every client `/clients.json` lists, page after page along its `next` cursor.
pub fn all_clients(addr: SocketAddr) -> Result<Listing> {
    let base = format!("{}?limit={LARGEST_PAGE}", wspp::routes::CLIENTS_JSON);
    let (first, mut report) = clients_page(addr, &base)?;
    let (mut elapsed, mut bytes, mut pages) = (first.elapsed, first.body.len(), 1);
    // The registry holds at most as many clients as the server admits; a cursor that
    // kept going past any plausible count would be a server bug, not more clients.
    let mut pages_left = 1_000;
    while let Some(after) = report.next.take() {
        pages_left -= 1;
        anyhow::ensure!(pages_left > 0, "/clients.json's cursor does not end");
        let (fetched, page) = clients_page(addr, &format!("{base}&after={after}"))?;
        elapsed += fetched.elapsed;
        bytes += fetched.body.len();
        pages += 1;
        report.clients.extend(page.clients);
        report.next = page.next;
    }
    Ok(Listing {
        elapsed,
        bytes,
        pages,
        report,
    })
}
