//! The physical floor: a raw TCP ping-pong on loopback.
//!
//! A 2-byte message goes out, the peer echoes it, one round trip at a time, with
//! `TCP_NODELAY` on both sockets: nothing a WebSocket ping over the same loopback can
//! do faster. It runs four ways: with blocking `std::net` sockets (the floor every
//! ratio is taken against), with tokio on a current-thread runtime (what an async
//! program pays for its reactor before any WebSocket code runs), and the same two
//! busy-polling at both ends, the floors of wspp's busy-poll mode: std spinning on
//! non-blocking sockets (what no sleeping process can beat), and tokio with wspp's
//! [`BusyPoll`].
//!
//! The echo side is a child process (`wsppbench floor-server`) pinned to the server's
//! core, exactly like wsppsrv is, so floor and wspp differ only by the code under test.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wspp::busy_poll::BusyPoll;

use crate::cli::{FloorClientArgs, FloorKind};
use crate::figures;
use crate::procs::{self, Child};

/// The message: two bytes, the floor docs/benchmarks.md defines: so small that a round
/// trip costs the loopback and the system calls, not the copying.
const MESSAGE: [u8; 2] = *b"wp";
/// How long every busy-polling end of the benchmark polls after each message.
pub const BUSY_POLL: Duration = Duration::from_millis(1);
/// How long one round trip may take before the run is abandoned.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// `floor-client`: the std floor, measured against its echo server on
/// `args.server_cpu`, printed as [`figures::Summary::line`].
pub fn client(args: &FloorClientArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let floor = measure(
        &runtime,
        FloorKind::Std,
        args.server_cpu,
        args.warmup,
        args.count,
    )?;
    println!("{}", figures::Summary::of(&floor).line());
    Ok(())
}

/// `floor-server`: binds a free loopback port, prints `port N`, echoes on the first
/// connection until it closes.
pub fn serve(kind: FloorKind) -> Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    println!("port {}", listener.local_addr()?.port());
    std::io::stdout().flush()?;
    match kind {
        FloorKind::Std => {
            let (mut stream, _) = listener.accept()?;
            stream.set_nodelay(true)?;
            let mut buf = [0u8; MESSAGE.len()];
            while stream.read_exact(&mut buf).is_ok() {
                stream.write_all(&buf)?;
            }
            Ok(())
        }
        FloorKind::Spin => {
            let (mut stream, _) = listener.accept()?;
            stream.set_nodelay(true)?;
            stream.set_nonblocking(true)?;
            let mut buf = [0u8; MESSAGE.len()];
            // Ends when the client hangs up (or goes quiet for IO_TIMEOUT).
            while read_spinning(&mut stream, &mut buf).is_ok() {
                stream.write_all(&buf)?;
            }
            Ok(())
        }
        FloorKind::Tokio | FloorKind::TokioSpin => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let busy = BusyPoll::start(match kind {
                    FloorKind::TokioSpin => BUSY_POLL,
                    _ => Duration::ZERO,
                });
                listener.set_nonblocking(true)?;
                let listener = tokio::net::TcpListener::from_std(listener)?;
                let (mut stream, _) = listener.accept().await?;
                stream.set_nodelay(true)?;
                let mut buf = [0u8; MESSAGE.len()];
                while stream.read_exact(&mut buf).await.is_ok() {
                    stream.write_all(&buf).await?;
                    busy.touch();
                }
                Ok(())
            })
        }
    }
}

/// A running floor echo server.
pub struct FloorServer {
    _child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// Starts `floor-server --kind KIND` on `cpu`.
fn start(kind: FloorKind, cpu: Option<usize>) -> Result<FloorServer> {
    let exe = procs::self_exe()?;
    let mut command = procs::command_on(cpu, &exe);
    command
        .arg("floor-server")
        .arg("--kind")
        .arg(match kind {
            FloorKind::Std => "std",
            FloorKind::Tokio => "tokio",
            FloorKind::TokioSpin => "tokio-spin",
            FloorKind::Spin => "spin",
        })
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut child = Child::spawn(command, "the floor server")?;
    let port = read_port(&mut child)?;
    Ok(FloorServer {
        _child: child,
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
    })
}

fn read_port(child: &mut Child) -> Result<u16> {
    let stdout = child
        .inner_mut()
        .stdout
        .take()
        .context("the floor server has no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    line.trim()
        .strip_prefix("port ")
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("the floor server said {line:?}, not its port"))
}

/// Starts the floor server of `kind` on `cpu` and measures `warmup + count` round trips
/// against it with a client of the same kind; the histogram holds the last `count`, in ns.
pub fn measure(
    runtime: &tokio::runtime::Runtime,
    kind: FloorKind,
    cpu: Option<usize>,
    warmup: u64,
    count: u64,
) -> Result<Histogram<u64>> {
    let server = start(kind, cpu)?;
    match kind {
        FloorKind::Std => measure_std(server.addr, false, warmup, count),
        FloorKind::Spin => measure_std(server.addr, true, warmup, count),
        FloorKind::Tokio => {
            runtime.block_on(measure_tokio(server.addr, Duration::ZERO, warmup, count))
        }
        FloorKind::TokioSpin => {
            runtime.block_on(measure_tokio(server.addr, BUSY_POLL, warmup, count))
        }
    }
}

/// `warmup + count` round trips with std sockets, blocking or (`spin`) busy-polled; the
/// histogram holds the last `count`, in ns.
fn measure_std(addr: SocketAddr, spin: bool, warmup: u64, count: u64) -> Result<Histogram<u64>> {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    // Two bytes always fit the empty send buffer: a non-blocking write is whole.
    stream.set_nonblocking(spin)?;
    let mut histogram = figures::histogram();
    let mut buf = [0u8; MESSAGE.len()];
    for i in 0..warmup + count {
        let start = Instant::now();
        stream.write_all(&MESSAGE)?;
        if spin {
            read_spinning(&mut stream, &mut buf)?;
        } else {
            stream.read_exact(&mut buf)?;
        }
        let rtt = start.elapsed();
        if i >= warmup {
            figures::record(&mut histogram, rtt);
        }
    }
    Ok(histogram)
}

/// Fills `buf` from a non-blocking socket, retrying at once while nothing has arrived;
/// fails after [`IO_TIMEOUT`] without a byte, or at the end of the stream.
fn read_spinning(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<()> {
    let give_up = Instant::now() + IO_TIMEOUT;
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() > give_up {
                    return Err(ErrorKind::TimedOut.into());
                }
                std::hint::spin_loop();
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The same with tokio, on the caller's (current-thread) runtime, busy-polling for
/// `busy_poll` after each message (zero: not at all). One timeout bounds the
/// whole run rather than each round trip, so that no timer is armed per round trip:
/// this is the reactor's cost alone.
async fn measure_tokio(
    addr: SocketAddr,
    busy_poll: Duration,
    warmup: u64,
    count: u64,
) -> Result<Histogram<u64>> {
    let bound = IO_TIMEOUT + Duration::from_millis(warmup + count);
    let busy = BusyPoll::start(busy_poll);
    let run = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut histogram = figures::histogram();
        let mut buf = [0u8; MESSAGE.len()];
        for i in 0..warmup + count {
            let start = Instant::now();
            stream.write_all(&MESSAGE).await?;
            busy.touch();
            stream.read_exact(&mut buf).await?;
            let rtt = start.elapsed();
            if i >= warmup {
                figures::record(&mut histogram, rtt);
            }
        }
        anyhow::Ok(histogram)
    };
    match tokio::time::timeout(bound, run).await {
        Ok(result) => result,
        Err(_) => bail!("the tokio floor run did not finish within {bound:?}"),
    }
}
