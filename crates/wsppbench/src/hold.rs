//! The load generator: many WebSocket connections held open, answering the server's pings.
//!
//! One process can hold only as many sockets as its open-file limit allows, and one
//! source address only as many connections to one server port as there are ephemeral
//! ports, so the suite spreads large counts over several `wsppbench hold` children,
//! each connecting from its own `127.0.0.x` address. They run on the clients' core.
//!
//! A child opens its connections a few at a time (the server's accept backlog is
//! finite, and a dropped SYN costs a one-second retransmit), waits for each one's
//! first Ping (so the server-side session is running, buffers and all), prints
//! `ready OK FAILED`, then holds everything, answering pings, until its stdin closes
//! or `--max-time` passes. Every wait is bounded.
//!
//! With `--deflate` each connection offers permessage-deflate, fails unless the server
//! takes it, and after the first ping sends one Text message and reads its echo before
//! it idles: the server has then made (and should have freed) a decompressor and a
//! compressor for it, which is the state an idle compressed connection is measured in.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpSocket;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use wsppclient::net::settings::{DEFAULT_CONNECT_TIMEOUT, Headers, Server};
use wsppclient::net::upgrade;
use wsppclient::net::url::WsUrl;

use crate::cli::HoldArgs;
use crate::procs::{self, Child};

/// How long one connection may take to open and see its first ping.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);
/// Connections per `hold` child, each child with its own source address. Well under
/// one process's open-file limit, and under a third of the ports `bind` hands out
/// for one address (it prefers odd ports, about 14,000 of them): past that each
/// `bind` searches longer, and 10,000 connections from one address took 10 s
/// instead of 0.5 s to open.
const PER_PROCESS: usize = 5_000;

/// The message a `--deflate` connection sends once: text that compresses, as a chat
/// message or a JSON event would.
const DEFLATE_MESSAGE: &str = "one message, so that a compressor and a decompressor have existed";

/// Whether held connections offer permessage-deflate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// No extension offered.
    Off,
    /// permessage-deflate offered and taken, and one message echoed before idling.
    Deflate,
}

impl Compression {
    /// How a table names it.
    pub fn label(self) -> &'static str {
        match self {
            Compression::Off => "none",
            Compression::Deflate => "permessage-deflate",
        }
    }
}

/// `wsppbench hold`: runs in the child.
pub fn run(args: &HoldArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // stdin closing (the parent finished, or died) is the signal to let go.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    thread::spawn(move || {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
        let _ = stop_tx.send(());
    });
    runtime.block_on(async {
        let headers = Arc::new(Headers {
            deflate: args.deflate,
            ..Headers::default()
        });
        let url = Arc::new(WsUrl::for_route(
            &Server::plain(args.addr.to_string()),
            &args.route,
        )?);
        let slots = Arc::new(Semaphore::new(args.concurrency.max(1)));
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<bool>();
        for _ in 0..args.count {
            let slot = Arc::clone(&slots).acquire_owned().await?;
            let (headers, url, ready_tx) =
                (Arc::clone(&headers), Arc::clone(&url), ready_tx.clone());
            let (addr, source) = (args.addr, args.source);
            tokio::spawn(async move {
                let opened = tokio::time::timeout(OPEN_TIMEOUT, async {
                    let mut ws = open(addr, source, &headers, &url).await?;
                    // The server pings a new /pingpong session at once.
                    wait_for(&mut ws, |m| matches!(m, Message::Ping(_))).await?;
                    if headers.deflate {
                        ws.send(Message::text(DEFLATE_MESSAGE)).await?;
                        wait_for(&mut ws, |m| matches!(m, Message::Text(_))).await?;
                    }
                    anyhow::Ok(ws)
                })
                .await;
                drop(slot);
                match opened {
                    Ok(Ok(mut ws)) => {
                        let _ = ready_tx.send(true);
                        // Hold, answering pings, until the server or the process ends.
                        while let Some(Ok(_)) = ws.next().await {}
                    }
                    _ => {
                        let _ = ready_tx.send(false);
                    }
                }
            });
        }
        drop(ready_tx);
        let (mut ok, mut failed) = (0usize, 0usize);
        while ok + failed < args.count {
            match ready_rx.recv().await {
                Some(true) => ok += 1,
                Some(false) => failed += 1,
                None => break,
            }
        }
        println!("ready {ok} {failed}");
        std::io::stdout().flush()?;
        tokio::select! {
            _ = stop_rx => {}
            () = tokio::time::sleep(args.max_time) => {}
        }
        anyhow::Ok(())
    })
}

type Held = upgrade::Upgraded<tokio::net::TcpStream>;

/// One upgraded connection from `source`; with `headers.deflate`, one the server took
/// permessage-deflate on.
async fn open(addr: SocketAddr, source: Ipv4Addr, headers: &Headers, url: &WsUrl) -> Result<Held> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from((source, 0)))?;
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    let (ws, response) = upgrade::upgrade(stream, headers, DEFAULT_CONNECT_TIMEOUT, url).await?;
    if headers.deflate {
        let agreed = upgrade::extensions(&response);
        // A server that declined would be measured without what is being measured.
        ensure!(
            agreed.starts_with(wspp::deflate::negotiation::NAME),
            "the server did not take permessage-deflate (extensions: {agreed:?})"
        );
    }
    Ok(ws)
}

/// Reads (answering pings) until a message `wanted` takes.
async fn wait_for(ws: &mut Held, wanted: impl Fn(&Message) -> bool) -> Result<()> {
    while let Some(message) = ws.next().await {
        if wanted(&message?) {
            return Ok(());
        }
    }
    bail!("closed before the message waited for")
}

/// How a child process's connections are split: each child's share of `count`, and
/// the loopback address it connects from, one no earlier child of this run used. The
/// `hold` children and the load section's `wsppclient load` children split alike.
pub fn shares(count: usize) -> Vec<(usize, Ipv4Addr)> {
    let processes = count.div_ceil(PER_PROCESS).max(1);
    (0..processes)
        .map(|i| {
            let share = count / processes + usize::from(i < count % processes);
            (share, fresh_source_address())
        })
        .collect()
}

/// How long children may take to open `count` connections between them.
pub fn open_bound(count: usize) -> Duration {
    Duration::from_secs(30) + OPEN_TIMEOUT + Duration::from_millis(count as u64)
}

/// A loopback source address no earlier child of this run has used
/// (127.0.0.10 upwards). The children's connections end in TIME_WAIT on the client
/// side, holding their ports for a minute: reusing an address would soon run out
/// of ephemeral ports.
fn fresh_source_address() -> Ipv4Addr {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let i = NEXT.fetch_add(1, Ordering::Relaxed);
    Ipv4Addr::new(127, 0, 0, 10 + (i % 240) as u8)
}

/// Several `hold` children holding `count` connections between them.
pub struct Holders {
    children: Vec<Child>,
    /// Connections open and pinged at least once.
    pub ok: usize,
    /// Connections that failed to open.
    pub failed: usize,
    /// How long opening them all took.
    pub open_time: Duration,
}

impl Holders {
    /// Opens `count` connections to `route`, waits until all are open or failed.
    pub fn open(
        addr: SocketAddr,
        route: &str,
        count: usize,
        compression: Compression,
    ) -> Result<Holders> {
        let exe = procs::self_exe()?;
        let shares = shares(count);
        let processes = shares.len();
        let started = Instant::now();
        let (tx, rx) = mpsc::channel::<Result<(usize, usize)>>();
        let mut children = Vec::new();
        for (share, source) in shares {
            let mut command = std::process::Command::new(&exe);
            command
                .arg("hold")
                .arg("--addr")
                .arg(addr.to_string())
                .arg("--route")
                .arg(route)
                .arg("--count")
                .arg(share.to_string())
                .arg("--source")
                .arg(source.to_string())
                .args((compression == Compression::Deflate).then_some("--deflate"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped());
            let mut child = Child::spawn(command, "a hold child")?;
            let stdout = child
                .inner_mut()
                .stdout
                .take()
                .context("hold child without stdout")?;
            let tx = tx.clone();
            thread::spawn(move || {
                let mut line = String::new();
                let parsed = BufReader::new(stdout)
                    .read_line(&mut line)
                    .context("reading a hold child")
                    .and_then(|_| parse_ready(&line));
                let _ = tx.send(parsed);
            });
            children.push(child);
        }
        drop(tx);
        let bound = open_bound(count);
        let (mut ok, mut failed) = (0, 0);
        for _ in 0..processes {
            let (o, f) = rx
                .recv_timeout(bound.saturating_sub(started.elapsed()))
                .context("the hold children did not report in time")??;
            ok += o;
            failed += f;
        }
        Ok(Holders {
            children,
            ok,
            failed,
            open_time: started.elapsed(),
        })
    }

    /// Lets go of every connection: closes the children's stdin and waits for them.
    pub fn close(mut self) -> Result<()> {
        for child in &mut self.children {
            drop(child.inner_mut().stdin.take());
        }
        for child in &mut self.children {
            child.wait_or_kill(Duration::from_secs(10))?;
        }
        Ok(())
    }
}

fn parse_ready(line: &str) -> Result<(usize, usize)> {
    let mut words = line.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("ready"), Some(ok), Some(failed)) => Ok((ok.parse()?, failed.parse()?)),
        _ => bail!("a hold child said {line:?} instead of `ready OK FAILED`"),
    }
}
