//! Child processes, CPU pinning, and the figures the kernel keeps about a process.
//!
//! The peer under test always runs in its own process, pinned to its own core with
//! `taskset`, while this process and its load generators are pinned to another: a
//! ping that has to wait for the other side to be scheduled measures the scheduler,
//! not the code. Pinning by `taskset` (util-linux, always there on Linux) keeps the
//! workspace free of `unsafe` and of an affinity crate.
//!
//! Memory is the resident set (`VmRSS`) and CPU is `utime + stime` from `/proc/PID`:
//! what `ps` and `top` would show, read without a dependency. Socket buffers are
//! kernel memory and not part of either.
//!
//! Every child is owned by a [`Child`], which kills it (by its PID, never by name) if
//! the suite leaves early, so an interrupted run leaves nothing behind.

use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// What the report says about the machine.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Processors the kernel lists (before this process pins itself).
    pub nproc: usize,
    /// The first `model name` in `/proc/cpuinfo`.
    pub cpu_model: String,
    /// `/proc/sys/kernel/osrelease`.
    pub kernel: String,
}

impl Machine {
    /// Reads the machine's description from `/proc`.
    pub fn read() -> Machine {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let nproc = cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count()
            .max(1);
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into());
        Machine {
            nproc,
            cpu_model,
            kernel,
        }
    }
}

/// Which cores the server and the clients run on; `None` when pinning is not possible
/// (one core, or no `taskset`).
#[derive(Debug, Clone, Copy)]
pub struct Pinning {
    /// The server's core.
    pub server: Option<usize>,
    /// This process's core, inherited by its load generators.
    pub client: Option<usize>,
}

impl Pinning {
    /// Pins this process (all its threads) to `client_cpu`, and plans to start servers
    /// on `server_cpu`. Must run before any other thread exists, so they inherit it.
    pub fn apply(machine: &Machine, server_cpu: usize, client_cpu: usize) -> Pinning {
        let usable = machine.nproc >= 2
            && server_cpu != client_cpu
            && server_cpu.max(client_cpu) < machine.nproc;
        if !usable {
            return Pinning {
                server: None,
                client: None,
            };
        }
        let pinned = Command::new("taskset")
            .args(["-a", "-p", "-c", &client_cpu.to_string()])
            .arg(std::process::id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if pinned {
            Pinning {
                server: Some(server_cpu),
                client: Some(client_cpu),
            }
        } else {
            Pinning {
                server: None,
                client: None,
            }
        }
    }

    /// A one-line description for the report.
    pub fn describe(&self) -> String {
        match (self.server, self.client) {
            (Some(s), Some(c)) => format!("server on CPU {s}, clients on CPU {c} (taskset)"),
            _ => "not pinned (needs 2 CPUs and taskset)".into(),
        }
    }
}

/// Puts this process (all its threads) under SCHED_FIFO; children inherit it. Must
/// run before any other thread exists. Returns whether it worked.
pub fn make_realtime() -> bool {
    Command::new("chrt")
        .args(["-a", "-f", "-p", "10"])
        .arg(std::process::id().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `program` started on `cpu` (through `taskset`, which execs it: the PID is the program's).
pub fn command_on(cpu: Option<usize>, program: &Path) -> Command {
    match cpu {
        Some(cpu) => {
            let mut command = Command::new("taskset");
            command.arg("-c").arg(cpu.to_string()).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// A child process that is killed if it is still running when dropped.
#[derive(Debug)]
pub struct Child {
    inner: std::process::Child,
    what: String,
}

impl Child {
    /// Starts `command`, naming it `what` in errors.
    pub fn spawn(mut command: Command, what: impl Into<String>) -> Result<Child> {
        let what = what.into();
        let inner = command
            .spawn()
            .with_context(|| format!("cannot start {what}"))?;
        Ok(Child { inner, what })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.inner.id()
    }

    /// Its stdin, stdout and stderr handles.
    pub fn inner_mut(&mut self) -> &mut std::process::Child {
        &mut self.inner
    }

    /// Everything it writes to its stdout (which must be piped) until it closes it.
    pub fn read_stdout(&mut self) -> Result<String> {
        let mut out = String::new();
        self.inner
            .stdout
            .take()
            .with_context(|| format!("{} has no stdout", self.what))?
            .read_to_string(&mut out)?;
        Ok(out)
    }

    /// Fails if it has exited.
    pub fn check_running(&mut self) -> Result<()> {
        match self.inner.try_wait()? {
            None => Ok(()),
            Some(status) => bail!("{} exited early: {status}", self.what),
        }
    }

    /// Asks it to stop with SIGTERM (a graceful shutdown), then kills it if it has not
    /// exited within `grace`.
    pub fn stop(mut self, grace: Duration) -> Result<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .stderr(Stdio::null())
            .status();
        self.wait_or_kill(grace)
    }

    /// Waits for it to exit by itself (e.g. after its stdin closed), killing it after `grace`.
    pub fn wait_or_kill(&mut self, grace: Duration) -> Result<()> {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.inner.try_wait()?.is_some() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(10));
        }
        self.inner.kill()?;
        self.inner.wait()?;
        Ok(())
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.inner.try_wait() {
            let _ = self.inner.kill();
            let _ = self.inner.wait();
        }
    }
}

/// A running `wsppsrv`.
#[derive(Debug)]
pub struct Server {
    /// The process.
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// How to start a `wsppsrv`.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// The binary.
    pub bin: PathBuf,
    /// Its core.
    pub cpu: Option<usize>,
    /// Flags beyond `--addr`.
    pub args: Vec<String>,
    /// `RUST_LOG`.
    pub log: String,
    /// Where its stderr (the log) goes; `None` discards it.
    pub log_file: Option<PathBuf>,
}

impl ServerSpec {
    /// The same server with `args` added.
    pub fn with(&self, args: &[&str]) -> ServerSpec {
        let mut spec = self.clone();
        spec.args.extend(args.iter().map(|s| (*s).to_string()));
        spec
    }

    /// The same server with room for `clients` connections and its own pings pushed
    /// out to an hour: what it then spends is what its clients cause.
    pub fn not_pinging(&self, clients: usize) -> ServerSpec {
        let limit = (clients + 64).to_string();
        self.with(&[
            "--ping-interval",
            "1h",
            "--ping-timeout",
            "1h",
            "--max-connections",
            &limit,
        ])
    }

    /// Starts it on a free loopback port and waits until it accepts connections.
    pub fn start(&self) -> Result<Server> {
        let mut last_error = None;
        // The free port can be taken between the probe and the server's bind; retry.
        for _ in 0..3 {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
            let mut command = command_on(self.cpu, &self.bin);
            command
                .arg("--addr")
                .arg(addr.to_string())
                .args(&self.args)
                .env("RUST_LOG", &self.log)
                .stdin(Stdio::null())
                .stdout(Stdio::null());
            match &self.log_file {
                Some(path) => {
                    let file = fs::File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    command.stderr(file);
                }
                None => {
                    command.stderr(Stdio::null());
                }
            }
            let mut child = Child::spawn(command, "wsppsrv")?;
            match wait_listening(addr, &mut child, Duration::from_secs(10)) {
                Ok(()) => return Ok(Server { child, addr }),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("wsppsrv did not start")))
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot probe a port")?;
    Ok(listener.local_addr()?.port())
}

/// Waits until `addr` accepts a TCP connection, while `child` is alive.
fn wait_listening(addr: SocketAddr, child: &mut Child, within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        child.check_running()?;
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("wsppsrv is not listening on {addr} after {within:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// The resident set of `pid`, in KiB.
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS in /proc/PID/status")
}

/// CPU time `pid` has used (user + system).
pub fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after it are plain numbers.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc/PID/stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|v| v.parse().ok())
            .context("malformed /proc/PID/stat")
    };
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_secs_f64(total as f64 / clock_ticks() as f64))
}

/// Time the hypervisor ran something else while each CPU had work (`steal` in
/// `/proc/stat`): a virtual machine's stall that no program in it can avoid.
pub fn steal_time() -> Result<Duration> {
    let stat = fs::read_to_string("/proc/stat").context("cannot read /proc/stat")?;
    let ticks: u64 = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .and_then(|l| l.split_whitespace().nth(8))
        .and_then(|v| v.parse().ok())
        .context("no steal time in /proc/stat")?;
    Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
}

/// `CLK_TCK`, the unit of `/proc/PID/stat` times (100 on every Linux we know of).
fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// The soft limit on open files of this process (children inherit it).
pub fn open_files_limit() -> Result<u64> {
    let limits =
        fs::read_to_string("/proc/self/limits").context("cannot read /proc/self/limits")?;
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .context("no open-files limit in /proc/self/limits")
}

/// This binary, for starting its own hidden subcommands.
pub fn self_exe() -> Result<PathBuf> {
    std::env::current_exe().context("cannot find this program's path")
}
