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

/// `GET /clients.json`, parsed.
pub fn clients(addr: SocketAddr) -> Result<(Fetched, ClientsReport)> {
    let fetched = get(addr, wspp::routes::CLIENTS_JSON)?;
    let report = serde_json::from_slice(&fetched.body).context("parsing /clients.json")?;
    Ok((fetched, report))
}
