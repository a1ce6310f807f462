//! The `wsppsrv` binary run as a child process, for what an in-process server cannot
//! show: its own resident memory and descriptors (the tests of one binary share a
//! process), and a descriptor limit of its own.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{PATIENCE, Response, within};

/// A running `wsppsrv`; dropping it kills the process (by its handle) and reaps it.
pub struct ChildServer {
    pub addr: SocketAddr,
    child: Child,
    /// Every line the server has logged so far, collected by a thread.
    log: Arc<Mutex<Vec<String>>>,
}

impl ChildServer {
    /// `wsppsrv --addr 127.0.0.1:0 ARGS`, once it says where it listens.
    pub async fn start(args: &[&str]) -> ChildServer {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wsppsrv"));
        command.args(["--addr", "127.0.0.1:0"]).args(args);
        ChildServer::spawn(command).await
    }

    /// [`ChildServer::start`] under a soft and hard `RLIMIT_NOFILE` of `limit`, set by
    /// the shell that then becomes the server.
    pub async fn start_with_fd_limit(limit: u32, args: &[&str]) -> ChildServer {
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_wsppsrv"))
            .args(["--addr", "127.0.0.1:0"])
            .args(args);
        ChildServer::spawn(command).await
    }

    async fn spawn(mut command: Command) -> ChildServer {
        let mut child = command
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wsppsrv");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                lines.lock().expect("log lock").push(line);
            }
        });
        let mut server = ChildServer {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            child,
            log,
        };
        let line = server
            .wait_for_log(|line| line.contains(" listening ") && line.contains("addr="))
            .await;
        let addr = line
            .split_whitespace()
            .find_map(|field| field.strip_prefix("addr="))
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        server.addr = addr;
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The lines logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }

    /// Waits for a logged line that `matches`, and returns it.
    pub async fn wait_for_log(&self, matches: impl Fn(&str) -> bool) -> String {
        within(async {
            loop {
                let found = self.log().into_iter().find(|line| matches(line));
                if let Some(line) = found {
                    return line;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
    }

    /// The server's resident memory, in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("the server's /proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
            .expect("VmRSS")
    }

    /// The server's open descriptors.
    pub fn descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("the server's /proc fd")
            .count()
    }

    pub async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr)
            .await
            .expect("connect to the server")
    }

    /// `GET path`, with `Connection: close`, read to the end: within three patiences, as
    /// the server, a debug build, may have many answers of a thousand rows to make.
    pub async fn get(&self, path: &str) -> Response {
        let mut stream = self.connect().await;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send request");
        let mut answer = Vec::new();
        let read = tokio::time::timeout(3 * PATIENCE, stream.read_to_end(&mut answer)).await;
        if read.is_err() {
            let log = self.log();
            let tail = &log[log.len().saturating_sub(5)..];
            panic!(
                "GET {path}: {} bytes in {:?}; the server's last lines:\n{tail:#?}",
                answer.len(),
                3 * PATIENCE
            );
        }
        let text = String::from_utf8_lossy(&answer).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut response = Response::parse(format!("{head}\r\n\r\n").as_bytes());
        response.body = body.to_owned();
        response
    }

    /// Polls `/metrics` until `series` reads `value`. More patient than an in-process
    /// wait: a child process competes for the cores with the whole test binary.
    pub async fn wait_for_metric(&self, series: &str, value: f64) {
        let mut last = None;
        let waited = tokio::time::timeout(3 * PATIENCE, async {
            loop {
                let metrics = super::Metrics(self.get("/metrics").await.body);
                last = metrics.get(series);
                if last == Some(value) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        if waited.is_err() {
            let log = self.log();
            let tail = &log[log.len().saturating_sub(5)..];
            panic!("{series} is {last:?}, not {value}; the server's last lines:\n{tail:#?}");
        }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
