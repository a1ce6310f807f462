//! One connection of a `load` run, in its own task: open it (within the run's
//! handshake budget), then send a probe at each of its scheduled times, whatever
//! became of the earlier ones, until the run ends; then close it.
//!
//! The probes ride on a [`Pinger`], so they are matched to their answers by payload
//! and timed on the kernel's clock and the user's exactly as `ping` times them.
//! Open loop: the connection reads all the time and sends on its own clock; several
//! probes may wait for their answers at once. When a probe leaves more than
//! [`LATE_SLACK`] after its time (the generator fell behind), its lateness is added
//! to its round trip on both clocks: a server that stalled the generator's sends
//! must not look faster for it (coordinated omission).
//!
//! With `--http2 --streams N`, a "connection" of the run is one WebSocket: connection
//! `i` opens its WebSocket as a stream of the run's HTTP/2 connection `i / N`
//! ([`Http2Groups`]), which the first of its group to need it opens; the group's
//! TCP (and TLS) setup is counted once, by that one.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::net::IpAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, OwnedSemaphorePermit};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use wspp::payload::Encoding;
use wspp::tracker::PongOutcome;

use super::tally::{Connections, Tally, close_key, failure_reason};
use super::woken_reads::WokenReads;
use crate::error::Error;
use crate::net::settings::ConnectSettings;
use crate::net::url::WsUrl;
use crate::probe::{Http2Connection, Pinger, Probe};
use crate::stop::Stop;

/// How late a probe may leave before it counts as sent late: tokio's timers fire on
/// millisecond ticks, so up to a tick of delay is the timer's, not the generator's.
pub const LATE_SLACK: Duration = Duration::from_millis(2);

/// What every connection of a run shares.
#[derive(Debug)]
pub struct Shared {
    /// How each connection is opened.
    pub settings: ConnectSettings,
    /// Where; each connection's `Pinger` holds it too.
    pub url: Arc<WsUrl>,
    /// When each connection's probes are due.
    pub schedule: Schedule,
    /// How long a probe waits for its answer.
    pub timeout: Duration,
    /// Payload bytes per probe.
    pub payload_size: usize,
    /// The probe kinds, sent in turn.
    pub kinds: &'static [Probe],
    /// How echo messages are written, when some are sent.
    pub echo: Option<Encoding>,
    /// Local addresses to bind to, in turn by connection index.
    pub sources: Vec<IpAddr>,
    /// `--stop-on-error`: the first connection that fails or drops ends the run.
    pub stop_on_error: bool,
    /// With `--http2 --streams N` (N above 1): the HTTP/2 connections the
    /// WebSockets share.
    pub http2_groups: Option<Http2Groups>,
    /// With `--churn`: when each connection closes to open again, on the same pattern
    /// as the probes (each in turn, spread evenly, so that the run closes its rate
    /// a second).
    pub churn: Option<Schedule>,
    /// The counts.
    pub tally: Tally,
    /// Connection attempts that have ended, opened or failed.
    pub attempted: AtomicUsize,
    /// Cancelled once every planned connection has been attempted: the run's
    /// duration counts from then.
    pub ramped: CancellationToken,
    /// Cancelled at the end of the run's duration: no more probes; connections close
    /// once those waiting are answered or timed out.
    pub finish: CancellationToken,
    /// Ctrl-C, SIGTERM or the hard deadline: what waits is lost, connections close now
    /// (1001 after SIGTERM, 1000 otherwise).
    pub stop: Stop,
}

/// How a connection's probing ended.
enum Ended {
    /// The run asked it to.
    Asked,
    /// The server sent its Close, with this code.
    ByServer(Option<u16>),
    /// The connection broke without a Close.
    Dropped,
}

/// Opens connection `index` and probes on it until the run ends; `permit` is its
/// place among the handshakes in flight, given back once it is open. With `--churn`,
/// the connection closes at each of its turns and opens again.
pub async fn run(shared: Arc<Shared>, index: usize, permit: OwnedSemaphorePermit) {
    let mut permit = Some(permit);
    loop {
        let source = match shared.sources.len() {
            0 => None,
            n => Some(shared.sources[index % n]),
        };
        // Boxed: opening (resolve, TCP, a proxy's tunnel, TLS, the upgrade) is by far
        // the largest state of this task, and a task is as large as its largest state;
        // on the heap, it is freed once open instead of held for the connection's life.
        let connecting = Box::pin(open(&shared, index, source));
        let connected = tokio::select! {
            biased;
            () = shared.stop.cancelled() => return,
            () = shared.finish.cancelled() => return,
            connected = connecting => connected,
        };
        // The first attempt alone counts towards the ramp; reopening holds no permit.
        if let Some(permit) = permit.take() {
            drop(permit);
            if shared.attempted.fetch_add(1, Ordering::Relaxed) + 1 == shared.schedule.connections {
                shared.ramped.cancel();
            }
        }
        let (pinger, dialled) = match connected {
            Ok(opened) => opened,
            Err(err) => {
                tracing::debug!(index, error = %crate::error::one_line(&err), "connection failed");
                let (reason, retry_after) = failure_reason(&err);
                // Without --churn a connection that failed stays failed.
                let Some(churn) = shared.churn else {
                    failed(&shared, reason, retry_after);
                    return;
                };
                let now = Instant::now();
                // A refusal that says when to come back is taken at its word; else the
                // connection tries again at its next turn.
                let again = retry_after
                    .as_deref()
                    .and_then(retry_after_secs)
                    .map_or_else(|| churn.first(index, now), |wait| now + wait);
                failed(&shared, reason, retry_after);
                tokio::select! {
                    biased;
                    () = shared.stop.cancelled() => return,
                    () = shared.finish.cancelled() => return,
                    () = tokio::time::sleep_until(again.into()) => continue,
                }
            }
        };
        if !hold(&shared, index, pinger_opened(&shared, pinger, dialled)).await {
            return;
        }
    }
}

/// The WebSockets of a run over shared HTTP/2 connections (`--streams N`): `N` of
/// them to a connection, in the order of their index.
#[derive(Debug)]
pub struct Http2Groups {
    /// WebSockets per connection.
    streams: usize,
    /// Connection `g`, once opened: a tokio mutex, held while it is being opened, so
    /// that the rest of its group waits for it instead of opening their own.
    connections: Vec<Mutex<Option<Arc<Http2Connection>>>>,
}

impl Http2Groups {
    /// Room for `websockets` WebSockets, `streams` to a connection.
    pub fn new(websockets: usize, streams: usize) -> Self {
        let streams = streams.max(1);
        Http2Groups {
            streams,
            connections: (0..websockets.div_ceil(streams))
                .map(|_| Mutex::new(None))
                .collect(),
        }
    }
}

/// Opens connection `index`'s WebSocket: on a connection of its own, or, over shared
/// HTTP/2 connections, on its group's, which it opens first if the group has none (or
/// the one it had has ended). Whether it opened a TCP connection.
///
/// The Pinger comes boxed: a kilobyte moved by value through this task's states
/// (the opening's result, then `hold`'s argument and its local) was kept once in
/// each of them for the connection's life, three copies in all.
async fn open(
    shared: &Shared,
    index: usize,
    source: Option<IpAddr>,
) -> Result<(Box<Pinger>, bool), Error> {
    let (settings, url) = (&shared.settings, &shared.url);
    let Some(groups) = &shared.http2_groups else {
        let pinger = Pinger::connect_from(settings, url, shared.payload_size, false, source);
        return Ok((Box::new(pinger.await?), true));
    };
    let (connection, dialled) = {
        let Some(group) = groups.connections.get(index / groups.streams) else {
            return Err(Error::Unexpected(format!(
                "connection {index} is beyond the run's HTTP/2 connections"
            )));
        };
        let mut group = group.lock().await;
        match group.as_ref().filter(|c| !c.is_closed()) {
            Some(connection) => (Arc::clone(connection), false),
            None => {
                let connection = Arc::new(Http2Connection::dial(settings, url, source).await?);
                *group = Some(Arc::clone(&connection));
                (connection, true)
            }
        }
    };
    let pinger = Pinger::on_stream(
        &connection,
        dialled,
        settings,
        url,
        shared.payload_size,
        false,
    );
    Ok((Box::new(pinger.await?), dialled))
}

/// Counts `pinger` as opened and sets it up for the run's probes; its TCP connection
/// (and TLS handshake) too when it `dialled` one rather than sharing another's.
fn pinger_opened(shared: &Shared, mut pinger: Box<Pinger>, dialled: bool) -> Box<Pinger> {
    {
        let setup = pinger.setup();
        let mut connections = shared.tally.connections();
        connections.opened += 1;
        connections.open += 1;
        if dialled {
            connections.tcp.record(setup.tcp_connect);
            if let Some(tls) = &setup.tls {
                connections.tls.record(tls.handshake);
            }
        }
        connections.upgrade.record(setup.upgrade);
        connections.user_clock |= setup.clock != wspp::wire_clock::Clock::Kernel;
    }
    if let Some(encoding) = shared.echo {
        pinger.echo_as(encoding);
    }
    pinger
}

/// Probes on an open connection until the run ends, the connection does, or (with
/// `--churn`) its turn to close comes; then closes it. Whether it is to be opened
/// again: only after a close of its turn.
async fn hold(shared: &Shared, index: usize, mut pinger: Box<Pinger>) -> bool {
    let closing = shared.churn.map(|churn| churn.first(index, Instant::now()));
    let ended = probe(shared, index, &mut pinger, closing).await;
    let lost = pinger.expire(Duration::ZERO).len() as u64;
    shared.tally.live().counts.lost += lost;
    let churned = matches!(ended, Ended::Asked)
        && !shared.finish.is_cancelled()
        && !shared.stop.is_cancelled();
    let key = match ended {
        Ended::Asked => {
            let frame = shared.stop.close_frame("");
            let code = u16::from(frame.code);
            // Boxed, as opening is: as a state of this task, closing's futures
            // doubled the task's size (6.6 to 3 KB). It borrows the Pinger, so the
            // box holds those futures alone, not a second copy of the connection.
            if let Err(err) = Box::pin(pinger.close_with(frame)).await {
                tracing::debug!(index, error = %err, "close handshake did not complete");
            }
            close_key(false, Some(code))
        }
        Ended::ByServer(code) => {
            // Sends tungstenite's reply to the server's Close.
            let _ = Box::pin(pinger.close()).await;
            close_key(true, code)
        }
        Ended::Dropped => close_key(true, None),
    };
    let mut connections = shared.tally.connections();
    connections.open -= 1;
    if !matches!(ended, Ended::Asked) {
        connections.dropped += 1;
    }
    connections.churned += u64::from(churned);
    *connections.closes.entry(key.clone()).or_default() += 1;
    if !matches!(ended, Ended::Asked) {
        error_seen(shared, &mut connections, key);
    }
    churned
}

/// Counts an attempt that failed for `reason`.
fn failed(shared: &Shared, reason: String, retry_after: Option<String>) {
    let mut connections = shared.tally.connections();
    connections.count_failure(reason.clone(), retry_after);
    error_seen(shared, &mut connections, reason);
}

/// With `--stop-on-error`, ends the run at the first connection that failed or
/// dropped (`why`, as the summary names it): no more probes or connections, and
/// those open close once their probes are answered, as at the end of the duration.
fn error_seen(shared: &Shared, connections: &mut Connections, why: String) {
    if shared.stop_on_error && connections.stopped_on.is_none() {
        connections.stopped_on = Some(why);
        shared.finish.cancel();
    }
}

/// A `Retry-After` in seconds (RFC 9110's delay-seconds); `None` for the date form,
/// which a load generator's clock has no business comparing with a server's.
fn retry_after_secs(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// When the probes of a run's connections are due: probe `k` of connection `i` of
/// `connections` at `origin + interval * (k + i / connections)`, so that together
/// they go out at a steady rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// When the run started.
    pub origin: Instant,
    /// Time between two probes of one connection.
    pub interval: Duration,
    /// Connections planned.
    pub connections: usize,
}

impl Schedule {
    /// When connection `index`'s first probe at or after `now` is due (a connection
    /// opened late joins its schedule where it stands).
    pub fn first(&self, index: usize, now: Instant) -> Instant {
        let phase = self
            .interval
            .mul_f64(index as f64 / self.connections.max(1) as f64);
        let first = self.origin + phase;
        if first >= now || self.interval.is_zero() {
            return first.max(now);
        }
        let behind = now.duration_since(first).as_secs_f64() / self.interval.as_secs_f64();
        first + self.interval.mul_f64(behind.ceil())
    }
}

/// Sends connection `index`'s probes on schedule and takes their answers, until the
/// run ends or the connection does, or `closing` (its `--churn` turn) comes: from then on, as at
/// the run's end, no more probes, and it ends once those waiting are answered or lost.
async fn probe(
    shared: &Shared,
    index: usize,
    pinger: &mut Pinger,
    closing: Option<Instant>,
) -> Ended {
    let clock = pinger.clock();
    let mut slot = shared.schedule.first(index, Instant::now());
    let mut turn = 0usize;
    // The probes that left late and are not answered yet, with how late: rare, and
    // few at once.
    let mut late: VecDeque<(Probe, u64, Duration)> = VecDeque::new();
    let timer = tokio::time::sleep(Duration::MAX);
    tokio::pin!(timer);
    // Made once, not on every turn of the loop: each of these, when first polled,
    // joins its token's waiters (behind the lock every connection's waiters share),
    // and leaves them when dropped; made per turn, that was paid at every turn,
    // several a probe.
    let stopping = pin!(shared.stop.cancelled());
    let mut stopped = Cancelled::new(shared.stop.token(), stopping);
    let finishing = pin!(shared.finish.cancelled());
    let mut finished = Cancelled::new(&shared.finish, finishing);
    let reads = WokenReads::new();
    loop {
        let now = Instant::now();
        let draining = shared.finish.is_cancelled() || closing.is_some_and(|at| at <= now);
        if shared.stop.is_cancelled() || (draining && pinger.waiting() == 0) {
            return Ended::Asked;
        }
        if !draining && slot <= now {
            let kind = shared.kinds[turn % shared.kinds.len()];
            turn += 1;
            let seq = match pinger.send(kind).await {
                Ok(seq) => seq,
                Err(err) => {
                    tracing::debug!(index, error = %err, "connection lost while sending");
                    return Ended::Dropped;
                }
            };
            let lateness = now.duration_since(slot);
            let counts = &mut shared.tally.live().counts;
            counts.sent += 1;
            if lateness > LATE_SLACK {
                counts.late_sends += 1;
                counts.late_sum += lateness;
                counts.late_max = counts.late_max.max(lateness);
                late.push_back((kind, seq, lateness));
            }
            // The schedule is kept: a probe is never skipped to catch up.
            slot += shared.schedule.interval;
            continue;
        }
        let sending = [(!draining).then_some(slot), closing.filter(|_| !draining)]
            .into_iter()
            .flatten()
            .min();
        let expiring = pinger.deadline(shared.timeout);
        let wake = sending
            .into_iter()
            .chain(expiring)
            .min()
            .map(tokio::time::Instant::from_std);
        if let Some(at) = wake
            && at != timer.deadline()
        {
            timer.as_mut().reset(at);
        }
        // When the timer is set for a send, it is polled before the socket: woken for
        // the send, the task then goes straight to it instead of first reading the
        // socket in vain (a read a probe, half the reads that find nothing). When it is
        // set for a probe's timeout, the socket comes first, so that an answer already
        // there is taken before its probe is given up on.
        let sends_first = sending.is_some_and(|at| expiring.is_none_or(|e| at <= e));
        let turn = if sends_first {
            tokio::select! {
                biased;
                () = &mut stopped => Turn::Stopped,
                // Not polled again once finished: `draining` holds from then on.
                () = &mut finished, if !draining => Turn::Finished,
                () = &mut timer => Turn::Timer,
                answer = next_answer(&reads, pinger) => Turn::Answer(answer),
            }
        } else {
            tokio::select! {
                biased;
                () = &mut stopped => Turn::Stopped,
                () = &mut finished, if !draining => Turn::Finished,
                answer = next_answer(&reads, pinger) => Turn::Answer(answer),
                () = &mut timer, if wake.is_some() => Turn::Timer,
            }
        };
        match turn {
            Turn::Stopped => return Ended::Asked,
            Turn::Finished => {}
            Turn::Answer(Ok((kind, PongOutcome::Reply { seq, rtt, skipped }, _))) => {
                let mut added = Duration::ZERO;
                late.retain(|&(k, s, by)| {
                    let answered = k == kind && s <= seq;
                    if answered && s == seq {
                        added = by;
                    }
                    !answered
                });
                let on = rtt.clock(clock);
                let mut live = shared.tally.live();
                live.counts.lost += skipped;
                live.counts.unstamped += u64::from(on != clock);
                live.answered(rtt.on(on), rtt.user, added);
            }
            Turn::Answer(Ok(_)) => {}
            Turn::Answer(Err(Error::Closed { code, .. })) => return Ended::ByServer(code),
            Turn::Answer(Err(err)) => {
                tracing::debug!(index, error = %err, "connection lost");
                return Ended::Dropped;
            }
            // A send is due: the top of the loop sends it. A timeout due as well is
            // seen to on the next turn, after the socket.
            Turn::Timer if sends_first => {}
            Turn::Timer => {
                let expired = pinger.expire(shared.timeout).len() as u64;
                shared.tally.live().counts.lost += expired;
            }
        }
    }
}

/// The connection's next answer, its reads polled only once they are woken.
fn next_answer<'a>(
    reads: &'a WokenReads,
    pinger: &'a mut Pinger,
) -> impl Future<Output = Result<(Probe, PongOutcome, usize), Error>> + 'a {
    poll_fn(move |cx| reads.poll(cx, |cx| pinger.poll_next_answer(cx)))
}

/// What woke a connection's probe loop.
enum Turn {
    /// Ctrl-C, SIGTERM or the hard deadline.
    Stopped,
    /// The end of the run's duration.
    Finished,
    /// A message read, or the connection's end.
    Answer(Result<(Probe, PongOutcome, usize), Error>),
    /// The timer: a send or the churn's close due, or a probe's timeout.
    Timer,
}

/// Resolves once `token` is cancelled, like [`CancellationToken::cancelled`], for a
/// loop that polls it at every turn. Tokio's future takes the lock of its token's
/// waiters at each poll to check the waker it holds, several times a probe; this
/// one polls it only when the task's waker is not the one it registered (the first
/// time), and otherwise reads the token's flag: the waker registered is woken by the
/// cancellation all the same.
struct Cancelled<'a, 'w> {
    token: &'a CancellationToken,
    /// `token.cancelled()`, pinned where the caller keeps it (in the connection's
    /// task, not in an allocation of its own).
    waiting: Pin<&'w mut WaitForCancellationFuture<'a>>,
    /// The waker `waiting` holds, once polled.
    registered: Option<Waker>,
}

impl<'a, 'w> Cancelled<'a, 'w> {
    fn new(
        token: &'a CancellationToken,
        waiting: Pin<&'w mut WaitForCancellationFuture<'a>>,
    ) -> Self {
        Cancelled {
            token,
            waiting,
            registered: None,
        }
    }
}

impl Future for Cancelled<'_, '_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.token.is_cancelled() {
            return Poll::Ready(());
        }
        if self
            .registered
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        let polled = self.waiting.as_mut().poll(cx);
        if polled.is_pending() {
            self.registered = Some(cx.waker().clone());
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::super::woken_reads::tests::Wakes;
    use super::*;

    #[test]
    fn a_cancellation_wakes_the_waker_that_polled_last() {
        let token = CancellationToken::new();
        let waiting = pin!(token.cancelled());
        let mut cancelled = Cancelled::new(&token, waiting);
        let (first, second) = (Arc::new(Wakes::default()), Arc::new(Wakes::default()));
        let (first_waker, second_waker) = (Waker::from(first.clone()), Waker::from(second.clone()));
        for waker in [&first_waker, &first_waker, &second_waker, &second_waker] {
            let polled = Pin::new(&mut cancelled).poll(&mut Context::from_waker(waker));
            assert!(polled.is_pending());
        }
        token.cancel();
        assert_eq!(second.0.load(Ordering::Relaxed), 1);
        let polled = Pin::new(&mut cancelled).poll(&mut Context::from_waker(&second_waker));
        assert!(polled.is_ready());
    }

    #[test]
    fn the_connections_probes_are_spread_over_one_interval() {
        let origin = Instant::now();
        let schedule = Schedule {
            origin,
            interval: Duration::from_millis(100),
            connections: 4,
        };
        let firsts: Vec<Duration> = (0..4).map(|i| schedule.first(i, origin) - origin).collect();
        let ms = Duration::from_millis;
        assert_eq!(firsts, [ms(0), ms(25), ms(50), ms(75)]);
        // Opened 130 ms in, connection 1 joins at 125 ms + 100 ms, its next turn.
        let late = schedule.first(1, origin + ms(130)) - origin;
        assert!(
            late.abs_diff(ms(225)) < Duration::from_micros(1),
            "{late:?}"
        );
        // Not yet due: the first turn stands.
        assert_eq!(schedule.first(3, origin + ms(10)) - origin, ms(75));
    }
}
