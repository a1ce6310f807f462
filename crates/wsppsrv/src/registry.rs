//! The set of connected WebSocket clients.
//!
//! A client is listed from the moment its upgrade completes until its session ends, by
//! whatever path: a close handshake, a reset, a ping timeout, a protocol error, a panic.
//! That guarantee comes from [`ClientGuard`]: registering returns it, the session owns
//! it, and dropping it removes the entry. No exit path has to remember to clean up.
//!
//! Sessions update their own counters through a per-client lock; the registry's lock is
//! taken only to add, remove and snapshot, so pinging 10,000 clients does not contend
//! on one mutex.
//!
//! The same calls move the server-wide figures of [`crate::metrics`] (clients
//! connected, pings, pongs, the RTT histogram), so `/metrics` and the page count the
//! same events at the same place, whichever clock measured the RTT.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Bound::{Excluded, Unbounded};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wspp::clients::{ClientInfo, ClientsReport, HttpVersion, ServerSummary};
use wspp::stats::Running;
use wspp::wire_clock::Clock;

use crate::config::Config;
use crate::cursor::{Cursor, Neighbours};
use crate::forwarded::ClientAddr;
use crate::metrics::{Metrics, RouteMetrics};

/// A cheap handle on the registry; clones share one set of clients.
#[derive(Debug, Clone)]
pub struct Registry {
    shared: Arc<RegistryState>,
}

/// What the clones of one [`Registry`] share.
#[derive(Debug)]
struct RegistryState {
    started: Instant,
    /// Clients keyed by id, so a snapshot lists them oldest first. A std mutex, not
    /// tokio's: it is never held across an `.await`, only for a map operation or a copy,
    /// and a std mutex is cheaper for that.
    clients: Mutex<BTreeMap<u64, Arc<Entry>>>,
    /// Clients ever registered.
    total: AtomicU64,
    metrics: Metrics,
    /// The server's ping schedule, stated in every report beside the clients.
    ping_interval: Duration,
    ping_timeout: Duration,
}

/// What the server knows about one client.
#[derive(Debug)]
struct Entry {
    id: u64,
    peer: ClientAddr,
    via: Option<SocketAddr>,
    user_agent: Option<Box<str>>,
    origin: Option<Box<str>>,
    // The route is the figures': one field fewer in every entry.
    http_version: HttpVersion,
    extensions: Option<Box<str>>,
    connected_at: SystemTime,
    /// Only this client's session writes here, and a snapshot reads; never contended
    /// by other sessions.
    counters: Mutex<Counters>,
    /// The figures of this client's route, moved with its own.
    figures: Arc<RouteMetrics>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    pings_sent: u64,
    pongs_received: u64,
    rtt: Running,
    /// The clock of the latest RTT.
    clock: Option<Clock>,
}

/// Who is registering: everything the page shows that does not change.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// The connection's id, as in its log span.
    pub id: u64,
    /// The client's address: the TCP peer's, or the one a trusted proxy named.
    pub peer: ClientAddr,
    /// The trusted proxy the client came through, if it came through one.
    pub via: Option<SocketAddr>,
    /// The `User-Agent` header, if any, as [`crate::untrusted::kept`] keeps it.
    pub user_agent: Option<Box<str>>,
    /// The `Origin` header, if any, as [`crate::untrusted::kept`] keeps it.
    pub origin: Option<Box<str>>,
    /// The route upgraded on.
    pub route: &'static str,
    /// The extensions the upgrade agreed (the 101's `Sec-WebSocket-Extensions`).
    pub extensions: Option<Box<str>>,
}

/// A registered client; dropping it removes the client from the registry.
#[derive(Debug)]
pub struct ClientGuard {
    registry: Registry,
    entry: Arc<Entry>,
}

impl ClientGuard {
    /// Counts a ping sent to this client.
    pub fn ping_sent(&self) {
        lock(&self.entry.counters).pings_sent += 1;
        self.entry.figures.ping_sent();
    }

    /// Counts a pong that answered one of our pings, `rtt` after the ping on `clock`
    /// (the kernel's where it stamps). The one place an RTT is recorded, for the page
    /// and for `/metrics` alike, so both show the same clock.
    pub fn pong_received(&self, rtt: Duration, clock: Clock) {
        {
            let mut counters = lock(&self.entry.counters);
            counters.pongs_received += 1;
            counters.rtt.record(rtt);
            counters.clock = Some(clock);
        }
        self.entry.figures.pong_received(rtt);
    }

    /// Counts a pong to a ping already answered or given up on.
    pub fn pong_late(&self) {
        self.entry.figures.pong_late();
    }

    /// Counts this client as dropped for not answering in time.
    pub fn dropped_silent(&self) {
        self.entry.figures.dropped_silent();
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        lock(&self.registry.shared.clients).remove(&self.entry.id);
        self.entry.figures.disconnected(self.entry.http_version);
    }
}

impl Default for Registry {
    /// With the default settings' ping schedule.
    fn default() -> Self {
        let config = Config::default();
        Registry::new(
            Metrics::default(),
            config.ping_interval,
            config.ping_timeout,
        )
    }
}

impl Registry {
    /// An empty registry whose clients move `metrics`, and whose reports state that
    /// the server pings every `ping_interval` and gives up after `ping_timeout`.
    pub fn new(metrics: Metrics, ping_interval: Duration, ping_timeout: Duration) -> Self {
        Registry {
            shared: Arc::new(RegistryState {
                started: Instant::now(),
                clients: Mutex::new(BTreeMap::new()),
                total: AtomicU64::new(0),
                metrics,
                ping_interval,
                ping_timeout,
            }),
        }
    }

    /// Lists a client whose WebSocket runs over `http_version` until the returned guard
    /// is dropped.
    pub fn register(&self, arrival: Arrival, http_version: HttpVersion) -> ClientGuard {
        let entry = Arc::new(Entry {
            id: arrival.id,
            peer: arrival.peer,
            via: arrival.via,
            user_agent: arrival.user_agent,
            origin: arrival.origin,
            http_version,
            extensions: arrival.extensions,
            connected_at: SystemTime::now(),
            counters: Mutex::new(Counters::default()),
            figures: self.shared.metrics.route(arrival.route),
        });
        lock(&self.shared.clients).insert(entry.id, Arc::clone(&entry));
        entry.figures.connected(entry.http_version);
        self.shared.total.fetch_add(1, Ordering::Relaxed);
        ClientGuard {
            registry: self.clone(),
            entry,
        }
    }

    /// How many clients are connected now.
    pub fn len(&self) -> usize {
        lock(&self.shared.clients).len()
    }

    /// Whether no client is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The clients `cursor` picks, as `/clients.json` shows them, `next` set when more
    /// follow; its `clients_now` still counts every client.
    pub fn report(&self, cursor: Cursor) -> ClientsReport {
        self.page(cursor).0
    }

    /// [`Registry::report`], and the cursors of the pages around it, for the page's
    /// links.
    ///
    /// The registry lock is held for a range of the map by id and a few steps back from
    /// its ends, then only to clone the entry handles; each client's counters are read
    /// after, one at a time. So a page costs `cursor.limit` steps at any depth, with 100
    /// clients or 100,000, and copies only its own clients.
    pub fn page(&self, cursor: Cursor) -> (ClientsReport, Neighbours) {
        let limit = cursor.limit.clamp(1, Cursor::MAX_LIMIT);
        let (clients_now, entries, neighbours) = {
            let clients = lock(&self.shared.clients);
            let mut after = clients.range((Excluded(cursor.after), Unbounded));
            let entries: Vec<Arc<Entry>> = after
                .by_ref()
                .take(limit)
                .map(|(_, e)| Arc::clone(e))
                .collect();
            let more = after.next().is_some();
            // The page before ends at `after`: its own cursor is the id `limit` clients
            // further back, or the start.
            let mut before = clients.range(..=cursor.after).rev();
            let previous = before
                .next()
                .is_some()
                .then(|| before.nth(limit.saturating_sub(1)).map_or(0, |(&id, _)| id));
            let neighbours = Neighbours {
                previous,
                next: more.then(|| entries.last().map(|e| e.id)).flatten(),
                last: more.then(|| clients.keys().rev().nth(limit).copied().unwrap_or(0)),
            };
            (clients.len(), entries, neighbours)
        };
        let clients: Vec<ClientInfo> = entries.iter().map(|e| e.info()).collect();
        let report = ClientsReport {
            server: ServerSummary {
                version: env!("CARGO_PKG_VERSION").to_string(),
                uptime_secs: self.shared.started.elapsed().as_secs(),
                clients_now: clients_now as u64,
                clients_total: self.shared.total.load(Ordering::Relaxed),
                ping_interval_ms: millis(self.shared.ping_interval),
                ping_timeout_ms: millis(self.shared.ping_timeout),
            },
            clients,
            next: neighbours.next,
        };
        (report, neighbours)
    }
}

impl Entry {
    fn info(&self) -> ClientInfo {
        let counters = *lock(&self.counters);
        let us = |d: Option<Duration>| d.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        ClientInfo {
            id: self.id,
            peer: self.peer.to_string(),
            via: self.via.map(|via| via.to_string()),
            user_agent: self.user_agent.as_deref().map(str::to_owned),
            origin: self.origin.as_deref().map(str::to_owned),
            route: self.figures.route().to_owned(),
            extensions: self.extensions.as_deref().unwrap_or_default().to_owned(),
            connected_at_unix_ms: self
                .connected_at
                .duration_since(UNIX_EPOCH)
                .map(millis)
                .unwrap_or(0),
            pings_sent: counters.pings_sent,
            pongs_received: counters.pongs_received,
            rtt_last_us: us(counters.rtt.last()),
            rtt_min_us: us(counters.rtt.min()),
            rtt_avg_us: us(counters.rtt.mean()),
            rtt_max_us: us(counters.rtt.max()),
            rtt_clock: counters.clock,
            http_version: Some(self.http_version),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Locks, recovering from poisoning: every critical section here is a single map
/// operation or counter update that leaves the data consistent even if a panic
/// interrupted the thread that held the lock, so refusing to serve would help no one.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(id: u64) -> Arrival {
        Arrival {
            id,
            peer: SocketAddr::from(([127, 0, 0, 1], 40_000 + id as u16)).into(),
            via: None,
            user_agent: Some(format!("agent {id}").into()),
            origin: None,
            route: wspp::routes::PINGPONG,
            extensions: None,
        }
    }

    #[test]
    fn a_guard_lists_its_client_until_dropped() {
        let registry = Registry::default();
        let a = registry.register(arrival(1), HttpVersion::Http11);
        let b = registry.register(arrival(2), HttpVersion::Http11);
        assert_eq!(registry.len(), 2);
        drop(a);
        let report = registry.report(Cursor::first(Cursor::MAX_LIMIT));
        assert_eq!(report.clients.len(), 1);
        assert_eq!(report.clients[0].id, 2);
        assert_eq!(report.server.clients_total, 2);
        drop(b);
        assert!(registry.is_empty());
    }

    #[test]
    fn counters_reach_the_report() {
        let registry = Registry::default();
        let guard = registry.register(arrival(7), HttpVersion::Http11);
        guard.ping_sent();
        guard.ping_sent();
        guard.pong_received(Duration::from_micros(40), Clock::Kernel);
        guard.pong_received(Duration::from_micros(20), Clock::Kernel);
        let report = registry.report(Cursor::first(Cursor::MAX_LIMIT));
        let info = &report.clients[0];
        assert_eq!((info.pings_sent, info.pongs_received), (2, 2));
        assert_eq!(info.rtt_last_us, Some(20));
        assert_eq!(info.rtt_min_us, Some(20));
        assert_eq!(info.rtt_avg_us, Some(30));
        assert_eq!(info.rtt_max_us, Some(40));
        assert_eq!(info.rtt_clock, Some(Clock::Kernel));
        assert_eq!(info.user_agent.as_deref(), Some("agent 7"));
    }

    #[test]
    fn the_same_calls_move_the_metrics() {
        let metrics = Metrics::default();
        let config = Config::default();
        let registry = Registry::new(metrics.clone(), config.ping_interval, config.ping_timeout);
        let guard = registry.register(arrival(3), HttpVersion::Http11);
        guard.ping_sent();
        guard.pong_received(Duration::from_micros(40), Clock::Kernel);
        let text = metrics.encode();
        let r = "{route=\"/pingpong\"}";
        let connected = "wspp_clients_connected{route=\"/pingpong\",http_version=\"1.1\"}";
        for series in [
            format!("{connected} 1"),
            format!("wspp_pings_sent_total{r} 1"),
            format!("wspp_pongs_received_total{r} 1"),
            format!("wspp_rtt_seconds_count{r} 1"),
            format!("wspp_rtt_seconds_sum{r} 0.00004"),
        ] {
            assert!(text.lines().any(|l| l == series), "{series} in\n{text}");
        }
        drop(guard);
        let gone = format!("{connected} 0");
        assert!(metrics.encode().lines().any(|l| l == gone));
    }

    #[test]
    fn a_page_copies_only_its_clients_but_counts_all() {
        let registry = Registry::default();
        let _guards: Vec<_> = (1..=5)
            .map(|id| registry.register(arrival(id), HttpVersion::Http11))
            .collect();
        let ids = |r: &ClientsReport| r.clients.iter().map(|c| c.id).collect::<Vec<_>>();
        let page = |after, limit| registry.page(Cursor { after, limit });
        let (middle, around) = page(1, 2);
        assert_eq!(ids(&middle), [2, 3]);
        assert_eq!(middle.server.clients_now, 5);
        assert_eq!(middle.next, Some(3));
        let expected = Neighbours {
            previous: Some(0),
            next: Some(3),
            last: Some(3),
        };
        assert_eq!(around, expected);
        let (tail, around) = page(3, 2);
        assert_eq!(ids(&tail), [4, 5]);
        assert_eq!(
            (tail.next, around.last, around.previous),
            (None, None, Some(1))
        );
        let (first, around) = page(0, 2);
        assert_eq!((ids(&first), around.previous), (vec![1, 2], None));
        // Past the end: nothing, and the way back is the last page.
        let (past, around) = page(9, 2);
        assert!(past.clients.is_empty());
        assert_eq!((past.next, around.previous), (None, Some(3)));
        assert!(
            registry
                .page(Cursor {
                    after: u64::MAX,
                    limit: 2
                })
                .0
                .clients
                .is_empty()
        );
    }

    #[test]
    fn a_cursor_stays_right_while_clients_come_and_go() {
        let registry = Registry::default();
        let mut guards: Vec<_> = (1..=4)
            .map(|id| registry.register(arrival(id), HttpVersion::Http11))
            .collect();
        let first = registry.report(Cursor { after: 0, limit: 2 });
        assert_eq!(first.next, Some(2));
        // The first two leave and a newer one arrives: the next page is still 3, 4, 5.
        guards.drain(..2);
        guards.push(registry.register(arrival(5), HttpVersion::Http11));
        let next = registry.report(Cursor { after: 2, limit: 3 });
        let ids: Vec<u64> = next.clients.iter().map(|c| c.id).collect();
        assert_eq!((ids, next.next), (vec![3, 4, 5], None));
    }

    #[test]
    fn clients_are_listed_oldest_first() {
        let registry = Registry::default();
        let _guards: Vec<_> = [5, 3, 9]
            .map(|id| registry.register(arrival(id), HttpVersion::Http11))
            .into();
        let report = registry.report(Cursor::first(Cursor::MAX_LIMIT));
        let ids: Vec<u64> = report.clients.iter().map(|c| c.id).collect();
        assert_eq!(ids, [3, 5, 9]);
    }
}
