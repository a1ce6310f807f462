//! ping(8) over WebSocket, against any RFC 6455 server.
//!
//! Two layers, so that the printing front-end, the terminal UI and the benchmark
//! share one implementation:
//!
//! * [`Pinger`] (in [`crate::probe`]): one connected WebSocket with its
//!   [`PingTracker`](wspp::tracker::PingTracker). It sends Ping frames, classifies
//!   Pongs, and can do one sequential round trip ([`Pinger::ping_once`]), which is
//!   what a benchmark loop needs.
//! * [`ping`] (here): the ping(8) session: a Ping every interval (or, with a zero
//!   interval, as soon as the previous one is answered), a per-ping timeout, a count,
//!   and Ctrl-C, as its [`PingOptions`] ask. It reports each [`PingEvent`] through a
//!   callback and returns a [`PingReport`] (both plain data, in
//!   [`crate::probe::report`]); [`output`] turns both into ping(8)-style text or JSON.
//!
//! The connection is read all the time, even between pings: a Pong that waits in the
//! socket would be timed late, and tungstenite only answers the server's own Pings
//! while it is read. The socket is not tapped (see [`crate::watch::tap`]): the measured RTT
//! should be the network's, not the transcript's.
//!
//! Over `wss://`, the TLS handshake happens once, before the first Ping; its time is
//! reported apart ([`Setup`](crate::probe::Setup)), next to the TCP connect and the upgrade, and never
//! counted in an RTT.
//!
//! A probe need not be a Ping. Against an echo server, `--echo` sends Text (or
//! Binary) messages that carry the same sequence number and send time, and matches
//! each echo by its content with the same tracker; `--both` alternates the two, so the
//! server's application path and its control-frame path are measured side by side on
//! one connection ([`Probes`]).
//!
//! Every round trip is timed on two clocks ([`Rtt`](wspp::tracker::Rtt)): the
//! network's, from the kernel's transmit stamp of the Ping (or the clock read just
//! before its write system call, where none comes) to the kernel's receive stamp of the
//! Pong (see [`wspp::wire_clock`]), and the user's, from handing the Ping to tungstenite
//! to being handed the Pong. Both are always reported, each under its own name; the
//! first leads (and is `rtt_*` in the JSON) unless the kernel does not stamp, and
//! `--user-latency` (ping(8)'s `-U`) only makes the second lead the printed lines;
//! which clock a figure is on is always said ([`Clock`]).

pub mod output;

use std::time::{Duration, Instant};

use wspp::rare_event::RareEvent;
use wspp::stats::Latency;
use wspp::tracker::PongOutcome;
use wspp::wire_clock::Clock;

use crate::error::Error;
use crate::net::settings::{ConnectSettings, Server};
use crate::net::url::WsUrl;
use crate::probe::{PingEvent, PingReport, Pinger, Probe, ProbeStats, Probes};
use crate::stop::Stop;

/// How a ping session runs; the defaults follow ping(8) where it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingOptions {
    /// The URL to ping; `None` means `ws://{server}/pingpong`.
    pub url: Option<String>,
    /// Stop after this many pings have been answered or given up (of each kind, with
    /// [`Probes::Both`]); `None` runs until cancelled. With a `deadline`, as in
    /// ping(8), this many *answers* end the run, lost probes being replaced.
    pub count: Option<u64>,
    /// End the run this long after the first probe, whatever the count (ping(8)'s
    /// `-w`); probes still unanswered then count as lost.
    pub deadline: Option<Duration>,
    /// Time between pings; zero sends the next ping as soon as the previous one is
    /// answered or given up.
    pub interval: Duration,
    /// How long a ping may wait for its pong before it counts as lost.
    pub timeout: Duration,
    /// Bytes of Ping payload (16..=125; clamped).
    pub payload_size: usize,
    /// How long to keep polling the socket after each Ping instead of sleeping until
    /// the Pong wakes us: takes the client's own wake-up out of the RTT, for a busy
    /// core while it polls. Zero never polls.
    pub busy_poll: Duration,
    /// Pings, echo messages, or both.
    pub probes: Probes,
    /// Report user-to-user RTTs (`-U`), the program's own wake-up included, instead
    /// of the network's.
    pub user_latency: bool,
}

impl Default for PingOptions {
    fn default() -> Self {
        PingOptions {
            url: None,
            count: None,
            deadline: None,
            interval: Duration::from_secs(1),
            // ping(8) waits 10 s; 5 s matches the server's default dead-peer timeout.
            timeout: Duration::from_secs(5),
            payload_size: wspp::payload::MIN_LEN,
            busy_poll: Duration::ZERO,
            probes: Probes::Ping,
            user_latency: false,
        }
    }
}

/// The URL `options` asks for: its own, or `server`'s `/pingpong`.
pub fn target(server: &Server, options: &PingOptions) -> Result<WsUrl, Error> {
    match &options.url {
        Some(url) => WsUrl::parse(url),
        None => WsUrl::for_route(server, wspp::routes::PINGPONG),
    }
}

/// Runs a ping session as `options` describe, over a connection `settings` open, until its count is done, its
/// deadline passes or `stop` fires, reporting each event to `on_event`. Stopped by
/// [`Stop::go_away`] (SIGTERM), it closes with 1001 rather than 1000.
///
/// Fails only if the session cannot start (bad URL, connection or upgrade refused).
/// A connection lost later ends the session; the report says so in `ended_by`.
pub async fn ping(
    settings: &ConnectSettings,
    options: &PingOptions,
    stop: impl Into<Stop>,
    mut on_event: impl FnMut(&PingEvent),
) -> Result<PingReport, Error> {
    let stop: Stop = stop.into();
    let url = target(&settings.server, options)?;
    let connect = Pinger::connect(settings, &url, options.payload_size, options.user_latency);
    let mut pinger = tokio::select! {
        pinger = connect => pinger?,
        () = stop.cancelled() => return Err(Error::Interrupted),
    };
    pinger.busy_poll(options.busy_poll);
    if let Some(encoding) = options.probes.echo() {
        pinger.echo_as(encoding);
    }
    on_event(&PingEvent::Started {
        url: url.text.clone(),
        peer: pinger.peer_addr(),
        local: pinger.local_addr(),
        payload_size: options
            .payload_size
            .clamp(wspp::payload::MIN_LEN, wspp::payload::MAX_LEN),
        busy_poll: options.busy_poll,
        probes: options.probes,
        setup: Box::new(pinger.setup().clone()),
    });

    let kinds = options.probes.kinds();
    // `-c` counts each kind: with both, that many Pings and that many messages.
    let target = options.count.map(|c| c.saturating_mul(kinds.len() as u64));
    let start = Instant::now();
    let run_deadline = options.deadline.map(|d| start + d);
    let clock = pinger.clock();
    let printed = pinger.setup().printed;
    let mut latency = Latency::default();
    let mut user_latency = Latency::default();
    let mut unstamped = 0;
    let mut echo_latency = Latency::default();
    let mut turn = 0usize;
    let mut next_ping = Some(start);
    let mut ended_by = None;
    // One wait for the whole session rather than a new waiter on the token per pong,
    // polled only when the token says so (see `RareEvent`).
    let cancelled = stop.cancelled();
    tokio::pin!(cancelled);
    let mut cancelled = RareEvent::new(cancelled, || stop.is_cancelled());
    // Not in the timer wheel until first reset.
    let timer = tokio::time::sleep(Duration::MAX);
    tokio::pin!(timer);
    loop {
        let all_sent = target.is_some_and(|target| {
            let (ping, echo) = (pinger.counts(), pinger.echo_counts().unwrap_or_default());
            if run_deadline.is_some() {
                // ping(8)'s -w with -c: the count is of answers; a lost probe is replaced.
                ping.answered + echo.answered + pinger.waiting() as u64 >= target
            } else {
                ping.sent + echo.sent >= target
            }
        });
        if all_sent && pinger.waiting() == 0 {
            break;
        }
        let now = Instant::now();
        if run_deadline.is_some_and(|at| at <= now) {
            // ping(8) counts what is still in flight at the deadline as lost.
            for (probe, seq) in pinger.expire(Duration::ZERO) {
                on_event(&PingEvent::Timeout { probe, seq });
            }
            break;
        }
        let ping_at = if all_sent { None } else { next_ping };
        // A due ping goes out now, not through a timer: tokio's timers fire on
        // millisecond ticks, so with `-i 0` every ping would wait up to 1 ms, and the
        // idle gap (both ends asleep) would show in the next RTT.
        if ping_at.is_some_and(|at| at <= now) && !stop.is_cancelled() {
            let probe = kinds[turn % kinds.len()];
            turn += 1;
            if let Err(err) = pinger.send(probe).await {
                ended_by = Some(err);
                break;
            }
            next_ping = match ping_at {
                _ if options.interval.is_zero() => None,
                // Like ping(8), keep the schedule; after a stall, resume from now
                // rather than firing a burst to catch up.
                Some(at) => Some((at + options.interval).max(Instant::now())),
                None => None,
            };
            continue;
        }
        let deadline = pinger.deadline(options.timeout);
        // One timer for whichever comes first, the next ping, the oldest ping's
        // deadline or the run's, moved only when that changes: a later deadline (each
        // ping's is) is one atomic store, where a fresh sleep per turn was a
        // timer-wheel insert and remove per pong.
        let wake_at = [ping_at, deadline, run_deadline]
            .into_iter()
            .flatten()
            .min();
        if let Some(at) = wake_at.map(tokio::time::Instant::from_std)
            && at != timer.deadline()
        {
            timer.as_mut().reset(at);
        }
        tokio::select! {
            biased;
            () = &mut cancelled => break,
            answer = pinger.next_answer() => match answer {
                Ok((probe, outcome, bytes)) => {
                    match outcome {
                        PongOutcome::Reply { seq, rtt, skipped } => {
                            let on = rtt.clock(clock);
                            unstamped += u64::from(on != clock);
                            match probe {
                                Probe::Ping => latency.record(rtt.on(on)),
                                Probe::Echo => echo_latency.record(rtt.on(on)),
                            }
                            // The user's clock beside the first kind's figures, which
                            // the report leads with.
                            if Some(&probe) == options.probes.kinds().first() {
                                user_latency.record(rtt.user);
                            }
                            let clock = if printed == Clock::User { printed } else { on };
                            on_event(&PingEvent::Reply { probe, seq, rtt, clock, bytes, skipped });
                        }
                        PongOutcome::Late { seq } => on_event(&PingEvent::Late { probe, seq }),
                        PongOutcome::Unsolicited => {
                            on_event(&PingEvent::Unsolicited { probe, bytes });
                        }
                    }
                    if options.interval.is_zero() && pinger.waiting() == 0 {
                        next_ping = Some(Instant::now());
                    }
                }
                Err(err) => {
                    ended_by = Some(err);
                    break;
                }
            },
            // A due ping is sent, and a passed run deadline ends the run, at the top of
            // the loop; expiring finds nothing then.
            () = &mut timer, if wake_at.is_some() => {
                for (probe, seq) in pinger.expire(options.timeout) {
                    on_event(&PingEvent::Timeout { probe, seq });
                }
                if options.interval.is_zero() && pinger.waiting() == 0 {
                    next_ping = Some(Instant::now());
                }
            }
        }
    }
    let elapsed = start.elapsed();
    let setup = pinger.setup().clone();
    let (counts, latency, echo) = match (options.probes, pinger.echo_counts()) {
        (Probes::Echo(_), Some(echo_counts)) => (echo_counts, echo_latency, None),
        (Probes::Both(_), Some(echo_counts)) => (
            pinger.counts(),
            latency,
            Some(ProbeStats {
                counts: echo_counts,
                latency: echo_latency,
            }),
        ),
        _ => (pinger.counts(), latency, None),
    };
    let send_unstamped = pinger.send_unstamped();
    // Close politely: our Close (1000, or 1001 when the process is going away), or the
    // reply tungstenite queued to the server's Close. The session is over either way,
    // so a server that does not finish the handshake changes nothing in the report.
    if matches!(ended_by, None | Some(Error::Closed { code: Some(_), .. }))
        && let Err(err) = pinger.close_with(stop.close_frame("")).await
    {
        tracing::debug!(error = %err, "close handshake did not complete");
    }
    Ok(PingReport {
        url: url.text,
        setup,
        probes: options.probes,
        counts,
        latency,
        echo,
        count: options.count,
        deadline: options.deadline,
        user_latency,
        unstamped,
        send_unstamped,
        elapsed,
        busy_poll: options.busy_poll,
        ended_by,
    })
}
