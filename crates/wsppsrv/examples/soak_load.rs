//! The load behind `scripts/soak.sh`: churn of WebSocket sessions against a wsppsrv on
//! loopback, bounded in time and in count.
//!
//! Why a Rust example and not Python: it needs nothing the workspace does not already
//! build (no second virtualenv), one process drives hundreds of sessions at once, and
//! it can end a connection exactly the way a crashed client does: a reset (SO_LINGER
//! 0), or a FIN with no close handshake.
//!
//! Each worker repeats, until its deadline or the shared session budget runs out, one
//! of: an echo session on `/pingpong` (messages of random sizes, the server's pings
//! answered, then a proper close, a reset or a bare hang-up), an
//! `/openandclosewebsocket` session, a page or `/clients.json` fetch, a handshake
//! abandoned half-way, or a protocol violation. Every session is bounded by a timeout.
//!
//! `soak_load wait-empty ADDR` polls `/clients.json` until no client is listed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Churn sessions until `--seconds` have passed or `--sessions` have run.
    Load {
        addr: SocketAddr,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        #[arg(long, default_value_t = 1_000_000)]
        sessions: u64,
        #[arg(long, default_value_t = 64)]
        concurrency: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Wait until `/clients.json` lists no client; fail after `--seconds`.
    WaitEmpty {
        addr: SocketAddr,
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
}

/// Longest any one session may take; a session that takes longer counts as an error.
const SESSION_BOUND: Duration = Duration::from_secs(15);

#[derive(Debug, Default)]
struct Tally {
    echo_sessions: AtomicU64,
    echoes: AtomicU64,
    server_pings: AtomicU64,
    open_close: AtomicU64,
    http: AtomicU64,
    abandoned: AtomicU64,
    violations: AtomicU64,
    closed_properly: AtomicU64,
    resets: AtomicU64,
    hang_ups: AtomicU64,
    errors: AtomicU64,
}

fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// xorshift64*: variety without a dependency; a fixed seed replays the same mix.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match Cli::parse().command {
        Command::Load {
            addr,
            seconds,
            sessions,
            concurrency,
            seed,
        } => load(addr, seconds, sessions, concurrency, seed).await,
        Command::WaitEmpty { addr, seconds } => wait_empty(addr, seconds).await,
    }
}

async fn load(
    addr: SocketAddr,
    seconds: u64,
    sessions: u64,
    concurrency: u64,
    seed: u64,
) -> std::process::ExitCode {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let budget = Arc::new(AtomicU64::new(sessions));
    let tally = Arc::new(Tally::default());
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let (budget, tally) = (Arc::clone(&budget), Arc::clone(&tally));
            let mut rng = Rng((seed << 20) ^ (w + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            tokio::spawn(async move {
                while Instant::now() < deadline
                    && budget
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .is_ok()
                {
                    let run = one_session(addr, &mut rng, &tally);
                    match timeout(SESSION_BOUND, run).await {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => {
                            eprintln!("soak_load: {error}");
                            count(&tally.errors);
                        }
                        Err(_) => {
                            eprintln!("soak_load: a session took over {SESSION_BOUND:?}");
                            count(&tally.errors);
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        if worker.await.is_err() {
            count(&tally.errors);
        }
    }
    let t = &tally;
    let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
    println!(
        "soak_load: echo_sessions={} echoes={} server_pings={} open_close={} http={} \
         abandoned={} violations={} closed_properly={} resets={} hang_ups={} errors={}",
        n(&t.echo_sessions),
        n(&t.echoes),
        n(&t.server_pings),
        n(&t.open_close),
        n(&t.http),
        n(&t.abandoned),
        n(&t.violations),
        n(&t.closed_properly),
        n(&t.resets),
        n(&t.hang_ups),
        n(&t.errors),
    );
    if n(&t.errors) == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

async fn one_session(addr: SocketAddr, rng: &mut Rng, tally: &Tally) -> Result<(), Failure> {
    match rng.below(100) {
        0..55 => echo_session(addr, rng, tally).await,
        55..65 => open_and_close(addr, tally).await,
        65..80 => http_get(addr, rng, tally).await,
        80..90 => abandon_handshake(addr, rng, tally).await,
        _ => violate(addr, tally).await,
    }
}

async fn connect(addr: SocketAddr) -> Result<TcpStream, Failure> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

async fn echo_session(addr: SocketAddr, rng: &mut Rng, tally: &Tally) -> Result<(), Failure> {
    let mut request = format!("ws://{addr}/pingpong").into_client_request()?;
    request
        .headers_mut()
        .insert("user-agent", "wspp-soak".parse()?);
    let (mut ws, _) = tokio_tungstenite::client_async(request, connect(addr).await?).await?;
    count(&tally.echo_sessions);
    for _ in 0..1 + rng.below(20) {
        let size = 1 + rng.below(4096) as usize;
        let message = if rng.below(2) == 0 {
            Message::text("w".repeat(size))
        } else {
            Message::binary(vec![rng.below(256) as u8; size])
        };
        ws.send(message.clone()).await?;
        // Reading is also what answers the server's pings (tungstenite does it).
        loop {
            match ws.next().await.ok_or("closed before the echo")?? {
                Message::Ping(_) => count(&tally.server_pings),
                echo if echo == message => break,
                other => return Err(format!("unexpected message {other:?}").into()),
            }
        }
        count(&tally.echoes);
        // Hold the session a while now and then, so the server's pings come due.
        if rng.below(4) == 0 {
            tokio::time::sleep(Duration::from_millis(rng.below(300))).await;
        }
    }
    match rng.below(4) {
        0 | 1 => {
            ws.close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "soak done".into(),
            }))
            .await?;
            while let Some(message) = ws.next().await {
                message?;
            }
            count(&tally.closed_properly);
        }
        2 => {
            reset(ws.into_inner())?;
            count(&tally.resets);
        }
        _ => {
            drop(ws);
            count(&tally.hang_ups);
        }
    }
    Ok(())
}

/// Ends a connection the way a killed process with unread data does: with a reset.
fn reset(stream: TcpStream) -> Result<(), Failure> {
    // Deprecated because it blocks on drop for a non-zero linger; zero does not block.
    #[allow(deprecated)]
    stream.set_linger(Some(Duration::ZERO))?;
    drop(stream);
    Ok(())
}

async fn open_and_close(addr: SocketAddr, tally: &Tally) -> Result<(), Failure> {
    let url = format!("ws://{addr}/openandclosewebsocket");
    let (mut ws, _) = tokio_tungstenite::client_async(url, connect(addr).await?).await?;
    let mut code = None;
    while let Some(message) = ws.next().await {
        if let Message::Close(Some(frame)) = message? {
            code = Some(u16::from(frame.code));
        }
    }
    if code != Some(1000) {
        return Err(format!("open-and-close ended with {code:?}").into());
    }
    count(&tally.open_close);
    Ok(())
}

async fn http_get(addr: SocketAddr, rng: &mut Rng, tally: &Tally) -> Result<(), Failure> {
    let path = if rng.below(2) == 0 {
        "/"
    } else {
        "/clients.json"
    };
    let mut stream = connect(addr).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    if !answer.starts_with(b"HTTP/1.1 200") {
        let line = String::from_utf8_lossy(&answer[..answer.len().min(40)]).into_owned();
        return Err(format!("GET {path}: {line:?}").into());
    }
    count(&tally.http);
    Ok(())
}

async fn abandon_handshake(addr: SocketAddr, rng: &mut Rng, tally: &Tally) -> Result<(), Failure> {
    let mut stream = connect(addr).await?;
    stream
        .write_all(b"GET /pingpong HTTP/1.1\r\nHost: soak\r\nUpgrade: websocket\r\nConn")
        .await?;
    if rng.below(2) == 0 {
        reset(stream)?;
    }
    count(&tally.abandoned);
    Ok(())
}

async fn violate(addr: SocketAddr, tally: &Tally) -> Result<(), Failure> {
    let url = format!("ws://{addr}/pingpong");
    let (ws, _) = tokio_tungstenite::client_async(url, connect(addr).await?).await?;
    let mut stream = ws.into_inner();
    // An unmasked text frame from a client: the server must close with 1002.
    stream.write_all(b"\x81\x02hi").await?;
    let mut rest = Vec::new();
    // The server may reset once it has closed; either way it hung up.
    let _ = stream.read_to_end(&mut rest).await;
    if close_code(&rest) != Some(1002) {
        return Err(format!("no 1002 for an unmasked frame: {rest:02x?}").into());
    }
    count(&tally.violations);
    Ok(())
}

/// The code of the first Close frame among server frames (unmasked, and short: the
/// server sends only pings and a close here).
fn close_code(mut bytes: &[u8]) -> Option<u16> {
    while let [b0, b1, rest @ ..] = bytes {
        let len = usize::from(b1 & 0x7f);
        if len > 125 || rest.len() < len {
            return None;
        }
        if b0 & 0x0f == 0x8 && len >= 2 {
            return Some(u16::from_be_bytes([rest[0], rest[1]]));
        }
        bytes = &rest[len..];
    }
    None
}

async fn wait_empty(addr: SocketAddr, seconds: u64) -> std::process::ExitCode {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        match clients_now(addr).await {
            Ok(0) => return std::process::ExitCode::SUCCESS,
            Ok(n) => last = format!("{n} clients listed"),
            Err(error) => last = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("soak_load: registry not empty after {seconds} s: {last}");
    std::process::ExitCode::FAILURE
}

async fn clients_now(addr: SocketAddr) -> Result<u64, Failure> {
    let mut stream = connect(addr).await?;
    stream
        .write_all(b"GET /clients.json HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")
        .await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let text = String::from_utf8(answer)?;
    let (_, body) = text.split_once("\r\n\r\n").ok_or("no body")?;
    let report: wspp::clients::ClientsReport = serde_json::from_str(body)?;
    Ok(report.server.clients_now)
}
