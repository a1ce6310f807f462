//! The reference client: the least a WebSocket ping loop can be, to hold
//! `wsppclient ping` to.
//!
//! A plain tokio-tungstenite client on a current-thread runtime (as `wsppclient`'s),
//! in its own process on the clients' core: connect, upgrade, then one `Ping(seq)` at a
//! time, reading until the Pong that echoes it. No timer in the runtime, no tracker, no
//! statistics beyond one histogram allocated before the first ping. Whatever `wsppclient ping -i 0`
//! adds to this against the same server is wsppclient's own cost: the suite runs the
//! two interleaved, and compares them within each round.
//!
//! It prints one line, `p50 P90 P99 P999 MAX` in µs, for the suite to read.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::cli::ReferenceArgs;
use crate::figures::{self, Summary};
use crate::procs::{self, Child};

/// Slack on the whole run's bound (one more millisecond per ping).
const RUN_SLACK: Duration = Duration::from_secs(5);

/// `reference-client`: `warmup + count` pings against `ws://ADDR/pingpong`; prints the
/// percentiles of the last `count`.
pub fn run(args: &ReferenceArgs) -> Result<()> {
    // The bound on the run is a thread, not a tokio timer: a timer in the runtime makes
    // every park an `epoll_wait` with a timeout, and the reference has none of that.
    let bound = RUN_SLACK + Duration::from_millis(args.warmup + args.count);
    std::thread::spawn(move || {
        std::thread::sleep(bound);
        eprintln!("wsppbench reference-client: the run did not finish within {bound:?}");
        std::process::exit(2);
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let histogram = runtime.block_on(ping_loop(args.addr, args.warmup, args.count))?;
    println!("{}", Summary::of(&histogram).line());
    Ok(())
}

async fn ping_loop(
    addr: SocketAddr,
    warmup: u64,
    count: u64,
) -> Result<hdrhistogram::Histogram<u64>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let url = format!("ws://{addr}{}", wspp::routes::PINGPONG);
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await?;
    let mut histogram = figures::histogram();
    for seq in 0..warmup + count {
        let payload = seq.to_be_bytes();
        let start = Instant::now();
        ws.send(Message::Ping(payload.to_vec().into())).await?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Pong(echo))) if echo[..] == payload => break,
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error.into()),
                None => bail!("the server closed the connection at ping {seq}"),
            }
        }
        if seq >= warmup {
            figures::record(&mut histogram, start.elapsed());
        }
    }
    // Closing is a courtesy; the figures are taken.
    let _ = ws.close(None).await;
    Ok(histogram)
}

/// Runs `wsppbench reference-client` against `addr` as a child (on this process's core);
/// its percentiles, µs.
pub fn measure(addr: SocketAddr, warmup: u64, count: u64) -> Result<Summary> {
    let mut command = std::process::Command::new(procs::self_exe()?);
    command
        .arg("reference-client")
        .arg("--addr")
        .arg(addr.to_string())
        .arg("--warmup")
        .arg(warmup.to_string())
        .arg("--count")
        .arg(count.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut child = Child::spawn(command, "the reference client")?;
    let out = child.read_stdout()?;
    child.wait_or_kill(Duration::from_secs(10))?;
    let values: Vec<f64> = out
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("the reference client printed {out:?}"))?;
    ensure!(
        values.len() == 5,
        "the reference client printed {out:?}, not five figures"
    );
    Ok(Summary {
        p50: values[0],
        p90: values[1],
        p99: values[2],
        p999: values[3],
        max: values[4],
    })
}
