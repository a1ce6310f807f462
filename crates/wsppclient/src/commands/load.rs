//! `wsppclient load`: many connections from one process, each pinging on its own
//! schedule, and the latency they see, open loop and on the wire's clock.
//!
//! The idea, in layers:
//!
//! * [`options`]: what a run is asked (how many connections, how fast they open, how
//!   often each probes, for how long), plain data apart from the connection settings.
//! * [`connection`]: one task per connection. It opens through the client's usual
//!   path (`Pinger::connect_from`, so TLS, proxies, headers and the kernel's
//!   timestamps behave as in `ping`), then sends a probe at each of its times whether
//!   or not the earlier ones were answered, and counts lateness when the generator
//!   itself fell behind (coordinated omission).
//! * [`tally`]: what the tasks count, in one locked window taken once a second.
//! * [`run`] (here): raises the descriptor limit, opens the connections (at
//!   `--open-rate`, or as fast as the server takes them with at most
//!   `--open-concurrency` handshakes in flight), reports each second to its caller's
//!   hook ([`report::LoadEvent`]; a display that plots the run keeps
//!   [`report::SecondFigures`]), writes the [`hlog`] interval log, ends the run after its
//!   duration (or at once on Ctrl-C, SIGTERM or the hard deadline) and returns the
//!   [`report::LoadReport`]; [`output`] prints both. With `--metrics-addr` it also
//!   serves the run's figures to Prometheus ([`metrics`]), updated each second.
//! * [`system`]: the descriptor limit and the process's CPU time.
//!
//! The probes of all connections are spread evenly over one interval (connection `i`
//! of `N` is due at `i/N` of it), so the generator sends at a steady rate rather than
//! in a burst each interval.

pub mod connection;
pub mod hlog;
pub mod metrics;
pub mod options;
pub mod output;
pub mod report;
pub mod system;
pub mod tally;
mod woken_reads;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use wspp::wire_clock::Clock;

use self::connection::Shared;
use self::hlog::HdrLog;
pub use self::hlog::{Merged, merge};
use self::metrics::LoadMetrics;
pub use self::options::{LoadFormat, LoadOptions, MergeOptions};
pub use self::report::{LoadEvent, LoadReport, Second, SecondFigures};
use self::tally::Tally;
use crate::error::Error;
use crate::net::settings::{ConnectSettings, Server};
use crate::net::url::WsUrl;
use crate::stop::Stop;

/// How often a run reports.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// The URL `options` asks for: its own, or `server`'s `/pingpong`.
pub fn target(server: &Server, options: &LoadOptions) -> Result<WsUrl, Error> {
    match &options.url {
        Some(url) => WsUrl::parse(url),
        None => WsUrl::for_route(server, wspp::routes::PINGPONG),
    }
}

/// Runs a load as `options` asks against `settings`' server (or `options.url`): opens
/// the connections, holds them for the duration once all have been tried (or until
/// `stop` fires or the hard deadline passes), reporting to `on_event` as it goes.
///
/// Fails only if the run cannot start (a bad URL, an interval log that cannot be
/// created); connections that fail are counted, not returned.
pub async fn run(
    settings: &ConnectSettings,
    options: &LoadOptions,
    stop: &Stop,
    mut on_event: impl FnMut(&LoadEvent),
) -> Result<LoadReport, Error> {
    let url = target(&settings.server, options)?;
    let base = SystemTime::now();
    let hdr_log = options
        .hdr_log
        .as_deref()
        .map(|path| HdrLog::create(path, base))
        .transpose()?;
    let exported = match options.metrics_addr {
        Some(addr) => {
            let listener = metrics::bind(addr).await?;
            let bound = listener.local_addr().unwrap_or(addr);
            let figures = Arc::new(LoadMetrics::default());
            let serving = tokio::spawn(metrics::serve(listener, Arc::clone(&figures)));
            on_event(&LoadEvent::Serving(bound));
            Some((figures, AbortOnDrop(serving)))
        }
        None => None,
    };
    let asked = u64::from(options.connections);
    let fds_per_connection = if settings.server.in_process { 2 } else { 1 };
    let mut planned = asked;
    if let Some(room) = system::raise_fd_limit(fds_per_connection)
        && room.connections < asked
    {
        planned = room.connections;
        on_event(&LoadEvent::Notice(format!(
            "the descriptor limit ({}) allows {planned} of the {asked} connections{}; \
             going on with {planned}",
            room.limit,
            if fds_per_connection == 2 {
                " (two descriptors each with the server in this process)"
            } else {
                ""
            }
        )));
    }
    let start = Instant::now();
    let cpu_start = system::cpu_time();
    let shared = Arc::new(Shared {
        settings: settings.clone(),
        url: Arc::new(url.clone()),
        schedule: connection::Schedule {
            origin: start,
            interval: options.interval,
            connections: usize::try_from(planned).unwrap_or(usize::MAX),
        },
        timeout: options.timeout,
        payload_size: options.payload_size,
        kinds: options.probes.kinds(),
        echo: options.probes.echo(),
        sources: options.sources.clone(),
        stop_on_error: options.stop_on_error,
        http2_groups: (settings.dial.http2 && options.streams > 1).then(|| {
            connection::Http2Groups::new(
                usize::try_from(planned).unwrap_or(usize::MAX),
                usize::try_from(options.streams).unwrap_or(usize::MAX),
            )
        }),
        // Each connection's life is the time the run takes to churn all of them.
        churn: options.churn_every.map(|every| connection::Schedule {
            origin: start,
            interval: every.saturating_mul(u32::try_from(planned).unwrap_or(u32::MAX)),
            connections: usize::try_from(planned).unwrap_or(usize::MAX),
        }),
        tally: Tally::default(),
        attempted: AtomicUsize::new(0),
        ramped: CancellationToken::new(),
        finish: CancellationToken::new(),
        stop: stop.clone(),
    });

    let work = open_and_wait(Arc::clone(&shared), planned, options);
    tokio::pin!(work);
    // The duration is the time the connections are held, once all have been tried:
    // however long opening them takes, the run then has its full length at full load.
    let held = async {
        shared.ramped.cancelled().await;
        tokio::time::sleep(options.duration).await;
    };
    tokio::pin!(held);
    let hard_at = options
        .deadline
        .map(|d| tokio::time::Instant::from_std(start + d));
    let mut ticks = tokio::time::interval_at(
        tokio::time::Instant::from_std(start) + REPORT_EVERY,
        REPORT_EVERY,
    );
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reporter = Reporter {
        shared: Arc::clone(&shared),
        start,
        last: (start, cpu_start),
        sums: Some(Sums {
            total: tally::Window::default(),
            spare: Some(tally::Live::default()),
            hdr_log,
        }),
        metrics: exported.as_ref().map(|(figures, _)| Arc::clone(figures)),
    };
    loop {
        tokio::select! {
            () = &mut work => break,
            _ = ticks.tick() => on_event(&LoadEvent::Second(Box::new(reporter.second().await?))),
            () = &mut held, if !shared.finish.is_cancelled() => {
                shared.finish.cancel();
            }
            () = sleep_until_some(hard_at), if !stop.is_cancelled() => stop.cancel(),
        }
    }
    on_event(&LoadEvent::Second(Box::new(reporter.second().await?)));
    let total = reporter.sums.map(|sums| sums.total).unwrap_or_default();
    let elapsed = start.elapsed();
    let cpu_pct = system::cpu_time()
        .zip(cpu_start)
        .map(|(end, begin)| system::cpu_pct(end.saturating_sub(begin), elapsed));
    let opened = shared.tally.connections().clone();
    Ok(LoadReport {
        url: url.text,
        connections: asked,
        clock: clock_of(opened.user_clock),
        opened,
        probes: total,
        cpu_pct,
        server_in_process: settings.server.in_process,
        elapsed,
    })
}

/// What the once-a-second report keeps between seconds.
struct Reporter {
    /// What the connections count into.
    shared: Arc<Shared>,
    /// The run's start.
    start: Instant,
    /// When the last second ended, and the CPU time then.
    last: (Instant, Option<Duration>),
    /// Handed to the summing thread and back each second; `None` only while there.
    sums: Option<Sums>,
    /// What `/metrics` serves, with `--metrics-addr`.
    metrics: Option<Arc<LoadMetrics>>,
}

/// What the summing thread adds to and writes: moved there and back each second.
struct Sums {
    /// Every probe so far.
    total: tally::Window,
    /// An empty [`tally::Live`] to swap in, with the room the last second's samples
    /// took; `None` only while swapped in.
    spare: Option<tally::Live>,
    /// The interval log, if asked for.
    hdr_log: Option<HdrLog>,
}

impl Reporter {
    /// The second that just ended. What the connections recorded is swapped for an
    /// empty one on this thread; made a window, added to the total (and written to
    /// the interval log) on a blocking thread: walking the histograms here would hold
    /// up the connections' probes due meanwhile.
    async fn second(&mut self) -> Result<Second, Error> {
        let now = Instant::now();
        let cpu = system::cpu_time();
        let mut sums = self
            .sums
            .take()
            .expect("the sums come back from the summing thread every second");
        let mut live = self
            .shared
            .tally
            .swap(sums.spare.take().unwrap_or_default());
        let length = now.duration_since(self.last.0);
        let from = self.last.0.duration_since(self.start);
        let metrics = self.metrics.clone();
        let kernel = !self.shared.tally.connections().user_clock;
        let summing = tokio::task::spawn_blocking(move || {
            let window = live.take_window();
            if let Some(metrics) = metrics {
                metrics.add(&window, kernel);
            }
            sums.total.add(&window);
            sums.spare = Some(live);
            let written = match sums.hdr_log.as_mut() {
                Some(log) => log.write(&window.rtt, from, length),
                None => Ok(()),
            };
            (window, sums, written)
        });
        let (window, sums, written) = match summing.await {
            Ok(done) => done,
            // A blocking task cannot be cancelled: this is a panic, to be raised here.
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        };
        self.sums = Some(sums);
        written?;
        let connections = self.shared.tally.connections();
        if let Some(metrics) = &self.metrics {
            metrics.set_connections(&connections);
        }
        let second = Second {
            at: now.duration_since(self.start),
            length,
            open: connections.open,
            opened: connections.opened,
            failed: connections.failed(),
            window,
            clock: clock_of(connections.user_clock),
            cpu_pct: cpu
                .zip(self.last.1)
                .map(|(now_cpu, then)| system::cpu_pct(now_cpu.saturating_sub(then), length)),
        };
        self.last = (now, cpu);
        Ok(second)
    }
}

/// A task ended when its handle is dropped: the `/metrics` endpoint lives as long as
/// the run, whichever way the run ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The clock a run's RTTs are on: the kernel's unless a connection had no stamps.
fn clock_of(user_clock: bool) -> Clock {
    if user_clock {
        Clock::User
    } else {
        Clock::Kernel
    }
}

/// Sleeps until `at`; forever without one.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Opens `planned` connections, each in its own task, paced by `options`, and waits
/// until every one has ended.
async fn open_and_wait(shared: Arc<Shared>, planned: u64, options: &LoadOptions) {
    let handshakes = Arc::new(Semaphore::new(
        usize::try_from(options.open_concurrency.max(1)).unwrap_or(1),
    ));
    let mut tasks = JoinSet::new();
    for index in 0..planned {
        let index = usize::try_from(index).unwrap_or(usize::MAX);
        if let Some(every) = options.open_every {
            let at = shared.schedule.origin + every.mul_f64(index as f64);
            tokio::select! {
                () = tokio::time::sleep_until(at.into()) => {}
                () = shared.finish.cancelled() => break,
                () = shared.stop.cancelled() => break,
            }
        }
        let permit = tokio::select! {
            permit = Arc::clone(&handshakes).acquire_owned() => permit,
            () = shared.finish.cancelled() => break,
            () = shared.stop.cancelled() => break,
        };
        let Ok(permit) = permit else { break };
        tasks.spawn(connection::run(Arc::clone(&shared), index, permit));
        // Reap the connections that already ended, so the set does not keep them.
        while tasks.try_join_next().is_some() {}
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(err) = done
            && err.is_panic()
        {
            std::panic::resume_unwind(err.into_panic());
        }
    }
}
