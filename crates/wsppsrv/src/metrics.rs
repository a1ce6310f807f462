//! The server's figures for Prometheus: what `GET /metrics` serves.
//!
//! # Why `prometheus-client`
//!
//! It is the Prometheus project's own Rust client: it writes the exposition format
//! (we never format a sample by hand), and a [`Metrics`] is a value, not a global, so
//! every server in a process (the tests start dozens) has figures of its own. The other
//! candidate, `metrics` with `metrics-exporter-prometheus`, installs one recorder per
//! process and keeps a histogram's raw samples until the next scrape, so a scrape there
//! costs in proportion to the pongs since the last one (10,000 clients for 15 s are
//! 150,000 samples). `prometheus-client` has no process figures (RSS, descriptors,
//! CPU); the usual source of `process_open_fds` reads `/proc/self/fd`, a walk as long
//! as the client list, which is exactly what a scrape here must not do. A node or
//! process exporter gives them from outside the server.
//!
//! # Cost
//!
//! Every figure a session moves is an atomic counter reached through a handle taken
//! once, when the client registers: a ping, a pong and its RTT are a few relaxed
//! atomic adds and no lock, no lookup by label. The RTT histogram ([`RttHistogram`]) is
//! our own for that reason: `prometheus-client`'s own histogram takes a lock per
//! observation. A scrape encodes a fixed number of series (two routes, a few statuses
//! and close codes) and never looks at the clients, so it costs the same with one
//! client or 100,000.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{self as prom, Unit};
use wspp::clients::HttpVersion;
use wspp::routes;

/// The `Content-Type` of what [`Metrics::encode`] writes: the Prometheus text format.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds of the RTT histogram's buckets, in seconds: 10 µs (a loopback RTT is a
/// few tens) to 10 s (a WAN client about to be dropped), six steps a decade, so that
/// `histogram_quantile` resolves a loopback median to within a third of itself.
/// Written out, not computed, so the `le` labels read as the decimals they are.
pub const RTT_BUCKETS: [f64; 37] = [
    10e-6, 15e-6, 20e-6, 30e-6, 50e-6, 70e-6, //
    100e-6, 150e-6, 200e-6, 300e-6, 500e-6, 700e-6, //
    1e-3, 1.5e-3, 2e-3, 3e-3, 5e-3, 7e-3, //
    10e-3, 15e-3, 20e-3, 30e-3, 50e-3, 70e-3, //
    100e-3, 150e-3, 200e-3, 300e-3, 500e-3, 700e-3, //
    1.0, 1.5, 2.0, 3.0, 5.0, 7.0, //
    10.0,
];

/// The routes a WebSocket session runs on, in the order of [`Metrics::route`]'s table.
const SESSION_ROUTES: [&str; 2] = [routes::PINGPONG, routes::OPEN_AND_CLOSE];

/// The HTTP versions a WebSocket runs over, in the order of [`RouteMetrics`]' gauges.
const HTTP_VERSIONS: [HttpVersion; 2] = [HttpVersion::Http11, HttpVersion::Http2];

/// Everything the server counts; clones share the same figures.
#[derive(Debug, Clone)]
pub struct Metrics {
    shared: Arc<MetricsState>,
}

/// What the clones of one [`Metrics`] share.
#[derive(Debug)]
struct MetricsState {
    /// The metric families `/metrics` encodes.
    families: prom::Registry,
    routes: [Arc<RouteMetrics>; 2],
    upgrades: Family<UpgradeLabels, Counter>,
    closes: Family<CloseLabels, Counter>,
    refused: Counter,
    tls_failures: Family<TlsFailureLabels, Counter>,
}

/// One route's figures, held by each of its sessions.
#[derive(Debug, Default)]
pub struct RouteMetrics {
    /// The route these figures are of.
    route: &'static str,
    /// Clients connected now, by [`HTTP_VERSIONS`].
    connected: [Gauge; 2],
    rtt: RttHistogram,
    pings_sent: Counter,
    pongs_received: Counter,
    pongs_late: Counter,
    dropped_silent: Counter,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ConnectedLabels {
    route: &'static str,
    http_version: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct UpgradeLabels {
    route: &'static str,
    /// `1.1` (answered 101 when accepted) or `2` (an extended CONNECT, answered 200).
    http_version: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TlsFailureLabels {
    /// One of a fixed few, named where the handshake runs.
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CloseLabels {
    /// The close code; `3xxx` and `4xxx` for the codes applications choose, so a peer
    /// cannot make a series per code it invents.
    code: &'static str,
    /// `server` or `peer`: who sent the first Close, or who went away without one.
    by: &'static str,
}

/// Who ended a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedBy {
    /// The server sent the first Close.
    Server,
    /// The peer sent the first Close, or vanished without one.
    Peer,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut families = prom::Registry::with_prefix("wspp");
        let by_route = |families: &mut prom::Registry, name: &str, help: &str| {
            let family = Family::<RouteLabels, Counter>::default();
            families.register(name, help, family.clone());
            family
        };
        let connected = Family::<ConnectedLabels, Gauge>::default();
        families.register(
            "clients_connected",
            "WebSocket clients connected now",
            connected.clone(),
        );
        let rtt = Family::<RouteLabels, RttHistogram>::default();
        families.register_with_unit(
            "rtt",
            "Round-trip time from each ping the server sends to its pong",
            Unit::Seconds,
            rtt.clone(),
        );
        let pings = by_route(&mut families, "pings_sent", "Pings sent to clients");
        let pongs = by_route(
            &mut families,
            "pongs_received",
            "Pongs that answered a ping in time (each one an RTT)",
        );
        let late = by_route(
            &mut families,
            "pongs_late",
            "Pongs to a ping already answered or given up on",
        );
        let dropped = by_route(
            &mut families,
            "clients_dropped_silent",
            "Clients dropped because no pong came within the ping timeout",
        );
        let upgrades = Family::<UpgradeLabels, Counter>::default();
        families.register(
            "upgrades",
            "WebSocket upgrade requests by route, HTTP version and answer: 101 (HTTP/1.1) or 200 (HTTP/2), or the refusal's status",
            upgrades.clone(),
        );
        let closes = Family::<CloseLabels, Counter>::default();
        families.register(
            "closes",
            "WebSocket sessions ended, by close code (1006: lost without a Close) and by whom",
            closes.clone(),
        );
        let refused = Counter::default();
        families.register(
            "connections_refused",
            "Connections answered 503 at once: every connection slot, the HTTP reserve included, was taken",
            refused.clone(),
        );
        let tls_failures = Family::<TlsFailureLabels, Counter>::default();
        families.register(
            "tls_handshake_failures",
            "TLS handshakes that failed, by reason (not_tls, timeout, closed, the client's alert, ...)",
            tls_failures.clone(),
        );
        let routes = SESSION_ROUTES.map(|route| {
            // Listed from the start, so that a rate over the first upgrades starts at 0.
            for version in HTTP_VERSIONS {
                drop(upgrades.get_or_create(&UpgradeLabels {
                    route,
                    http_version: version.as_str(),
                    status: accepted_status(version),
                }));
            }
            let labels = RouteLabels { route };
            Arc::new(RouteMetrics {
                route,
                connected: HTTP_VERSIONS.map(|version| {
                    connected.get_or_create_owned(&ConnectedLabels {
                        route,
                        http_version: version.as_str(),
                    })
                }),
                rtt: rtt.get_or_create_owned(&labels),
                pings_sent: pings.get_or_create_owned(&labels),
                pongs_received: pongs.get_or_create_owned(&labels),
                pongs_late: late.get_or_create_owned(&labels),
                dropped_silent: dropped.get_or_create_owned(&labels),
            })
        });
        Metrics {
            shared: Arc::new(MetricsState {
                families,
                routes,
                upgrades,
                closes,
                refused,
                tls_failures,
            }),
        }
    }
}

impl Metrics {
    /// The figures of the sessions on `route`.
    pub fn route(&self, route: &str) -> Arc<RouteMetrics> {
        let at = SESSION_ROUTES.iter().position(|r| *r == route).unwrap_or(0);
        Arc::clone(&self.shared.routes[at])
    }

    /// Counts an answer to an upgrade request on `route` over `version`.
    pub fn upgrade(&self, route: &'static str, version: HttpVersion, status: u16) {
        self.shared
            .upgrades
            .get_or_create(&UpgradeLabels {
                route,
                http_version: version.as_str(),
                status,
            })
            .inc();
    }

    /// Counts a session's end: its close code (1006 when it ended without one) and who
    /// closed first.
    pub fn closed(&self, code: u16, by: ClosedBy) {
        let by = match by {
            ClosedBy::Server => "server",
            ClosedBy::Peer => "peer",
        };
        self.shared
            .closes
            .get_or_create(&CloseLabels {
                code: code_label(code),
                by,
            })
            .inc();
    }

    /// Counts a connection refused before its request was read.
    pub fn connection_refused(&self) {
        self.shared.refused.inc();
    }

    /// Counts a TLS handshake that failed for `reason`.
    pub fn tls_handshake_failed(&self, reason: &'static str) {
        self.shared
            .tls_failures
            .get_or_create(&TlsFailureLabels { reason })
            .inc();
    }

    /// Writes every figure in the Prometheus text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(8 * 1024);
        // Writing to a String cannot fail, and every metric here encodes.
        let _ =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.shared.families);
        text
    }
}

impl RouteMetrics {
    /// The route these figures are of.
    pub fn route(&self) -> &'static str {
        self.route
    }

    /// A client of this route connected over `version`.
    pub fn connected(&self, version: HttpVersion) {
        self.connected[version_at(version)].inc();
    }

    /// A client of this route over `version` left.
    pub fn disconnected(&self, version: HttpVersion) {
        self.connected[version_at(version)].dec();
    }

    /// A ping went out.
    pub fn ping_sent(&self) {
        self.pings_sent.inc();
    }

    /// A pong answered a ping after `rtt`.
    pub fn pong_received(&self, rtt: Duration) {
        self.pongs_received.inc();
        self.rtt.observe(rtt);
    }

    /// A pong came for a ping already answered or given up on.
    pub fn pong_late(&self) {
        self.pongs_late.inc();
    }

    /// A client was dropped for not answering in time.
    pub fn dropped_silent(&self) {
        self.dropped_silent.inc();
    }
}

/// The status a WebSocket accepted over `version` is answered with.
fn accepted_status(version: HttpVersion) -> u16 {
    match version {
        HttpVersion::Http11 => 101,
        HttpVersion::Http2 => 200,
    }
}

/// Where `version` is in [`HTTP_VERSIONS`].
fn version_at(version: HttpVersion) -> usize {
    match version {
        HttpVersion::Http11 => 0,
        HttpVersion::Http2 => 1,
    }
}

/// The label of a close code: the code itself for the codes RFC 6455 defines and
/// registers (below 3000), its thousand for the ones libraries and applications pick.
fn code_label(code: u16) -> &'static str {
    const KNOWN: [(u16, &str); 13] = [
        (1000, "1000"),
        (1001, "1001"),
        (1002, "1002"),
        (1003, "1003"),
        (1005, "1005"),
        (1006, "1006"),
        (1007, "1007"),
        (1008, "1008"),
        (1009, "1009"),
        (1010, "1010"),
        (1011, "1011"),
        (1012, "1012"),
        (1013, "1013"),
    ];
    match KNOWN.iter().find(|(known, _)| *known == code) {
        Some((_, label)) => label,
        None => match code {
            3000..=3999 => "3xxx",
            4000..=4999 => "4xxx",
            _ => "other",
        },
    }
}

/// A histogram of RTTs over [`RTT_BUCKETS`], made of atomics alone.
///
/// Durations are kept in whole nanoseconds: bucket counts and the count are plain
/// integers, and so is the sum, which adds up exactly where an `f64` sum would drift.
/// Clones share the same counts.
#[derive(Debug, Clone)]
pub struct RttHistogram {
    inner: Arc<HistogramInner>,
}

#[derive(Debug)]
struct HistogramInner {
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; RTT_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

/// [`RTT_BUCKETS`] in nanoseconds, for the comparison made on every observation.
const BOUNDS_NANOS: [u64; RTT_BUCKETS.len()] = {
    let mut nanos = [0u64; RTT_BUCKETS.len()];
    let mut i = 0;
    while i < nanos.len() {
        // Rounded: 15e-6 * 1e9 is 14999.999... in binary floating point.
        nanos[i] = (RTT_BUCKETS[i] * 1e9 + 0.5) as u64;
        i += 1;
    }
    nanos
};

impl Default for RttHistogram {
    fn default() -> Self {
        RttHistogram {
            inner: Arc::new(HistogramInner {
                buckets: std::array::from_fn(|_| AtomicU64::new(0)),
                count: AtomicU64::new(0),
                sum_nanos: AtomicU64::new(0),
            }),
        }
    }
}

impl RttHistogram {
    /// Records one RTT.
    pub fn observe(&self, rtt: Duration) {
        self.observe_many(rtt, 1);
    }

    /// Records `count` RTTs of `rtt` at once (a histogram of them moved here).
    pub fn observe_many(&self, rtt: Duration, count: u64) {
        let nanos = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX);
        // The first bucket whose bound is at least `nanos` (`le` is inclusive).
        let at = BOUNDS_NANOS.partition_point(|&bound| bound < nanos);
        let inner = &self.inner;
        inner.buckets[at].fetch_add(count, Ordering::Relaxed);
        inner.count.fetch_add(count, Ordering::Relaxed);
        inner
            .sum_nanos
            .fetch_add(nanos.saturating_mul(count), Ordering::Relaxed);
    }

    /// How many RTTs were recorded.
    pub fn count(&self) -> u64 {
        self.inner.count.load(Ordering::Relaxed)
    }
}

impl TypedMetric for RttHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for RttHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let inner = &self.inner;
        // Each figure is read once; a pong recorded meanwhile may be in some of them and
        // not others, as with any histogram read without stopping its writers.
        let buckets: Vec<(f64, u64)> = RTT_BUCKETS
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(&inner.buckets)
            .map(|(bound, n)| (bound, n.load(Ordering::Relaxed)))
            .collect();
        let count = inner.count.load(Ordering::Relaxed);
        let sum = inner.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample written exactly as `series` (name and labels).
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn bounds_are_increasing_and_exact() {
        assert!(BOUNDS_NANOS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(BOUNDS_NANOS[0], 10_000);
        assert_eq!(BOUNDS_NANOS[1], 15_000);
        assert_eq!(BOUNDS_NANOS[36], 10_000_000_000);
    }

    #[test]
    fn rtts_land_in_their_buckets_and_the_sum_is_exact() {
        let metrics = Metrics::default();
        let route = metrics.route(routes::PINGPONG);
        for us in [5, 10, 11, 40, 40, 20_000_000] {
            route.pong_received(Duration::from_micros(us));
        }
        let text = metrics.encode();
        let bucket = |le: &str| {
            sample(
                &text,
                &format!("wspp_rtt_seconds_bucket{{route=\"/pingpong\",le=\"{le}\"}}"),
            )
        };
        // `le` is inclusive: 10 µs is in the first bucket, 11 µs in the second.
        assert_eq!(bucket("1e-05"), Some(2.0), "{text}");
        assert_eq!(bucket("1.5e-05"), Some(3.0));
        assert_eq!(bucket("5e-05"), Some(5.0));
        assert_eq!(bucket("10"), Some(5.0));
        assert_eq!(bucket("+Inf"), Some(6.0));
        let count = "wspp_rtt_seconds_count{route=\"/pingpong\"}";
        assert_eq!(sample(&text, count), Some(6.0));
        let sum = sample(&text, "wspp_rtt_seconds_sum{route=\"/pingpong\"}");
        assert_eq!(sum, Some(20.000106));
        assert_eq!(
            sample(&text, "wspp_pongs_received_total{route=\"/pingpong\"}"),
            Some(6.0)
        );
        // The other route has its own, untouched.
        let other = "wspp_rtt_seconds_count{route=\"/openandclosewebsocket\"}";
        assert_eq!(sample(&text, other), Some(0.0));
    }

    #[test]
    fn every_figure_is_labelled_and_counted() {
        let metrics = Metrics::default();
        let route = metrics.route(routes::OPEN_AND_CLOSE);
        route.connected(HttpVersion::Http11);
        route.connected(HttpVersion::Http2);
        route.ping_sent();
        route.ping_sent();
        route.pong_late();
        route.dropped_silent();
        metrics.upgrade(routes::PINGPONG, HttpVersion::Http11, 426);
        metrics.upgrade(routes::PINGPONG, HttpVersion::Http11, 426);
        metrics.upgrade(routes::PINGPONG, HttpVersion::Http2, 400);
        metrics.closed(1000, ClosedBy::Peer);
        metrics.closed(4321, ClosedBy::Peer);
        metrics.closed(1001, ClosedBy::Server);
        metrics.connection_refused();
        let text = metrics.encode();
        let r = "{route=\"/openandclosewebsocket\"}";
        let h1 = "{route=\"/openandclosewebsocket\",http_version=\"1.1\"}";
        let h2 = "{route=\"/openandclosewebsocket\",http_version=\"2\"}";
        for (series, value) in [
            (format!("wspp_clients_connected{h1}"), 1.0),
            (format!("wspp_clients_connected{h2}"), 1.0),
            (format!("wspp_pings_sent_total{r}"), 2.0),
            (format!("wspp_pongs_late_total{r}"), 1.0),
            (format!("wspp_clients_dropped_silent_total{r}"), 1.0),
            (
                "wspp_upgrades_total{route=\"/pingpong\",http_version=\"1.1\",status=\"426\"}"
                    .into(),
                2.0,
            ),
            (
                "wspp_upgrades_total{route=\"/pingpong\",http_version=\"2\",status=\"400\"}".into(),
                1.0,
            ),
            (
                "wspp_upgrades_total{route=\"/pingpong\",http_version=\"2\",status=\"200\"}".into(),
                0.0,
            ),
            ("wspp_closes_total{code=\"1000\",by=\"peer\"}".into(), 1.0),
            ("wspp_closes_total{code=\"4xxx\",by=\"peer\"}".into(), 1.0),
            ("wspp_closes_total{code=\"1001\",by=\"server\"}".into(), 1.0),
            ("wspp_connections_refused_total".into(), 1.0),
        ] {
            assert_eq!(sample(&text, &series), Some(value), "{series} in\n{text}");
        }
        route.disconnected(HttpVersion::Http2);
        let text = metrics.encode();
        assert_eq!(
            sample(&text, &format!("wspp_clients_connected{h2}")),
            Some(0.0)
        );
        assert_eq!(
            sample(&text, &format!("wspp_clients_connected{h1}")),
            Some(1.0)
        );
    }

    #[test]
    fn the_text_declares_each_family_once() {
        let text = Metrics::default().encode();
        for family in [
            "wspp_rtt_seconds histogram",
            "wspp_clients_connected gauge",
            "wspp_pings_sent_total counter",
            "wspp_upgrades_total counter",
        ] {
            assert_eq!(
                text.matches(&format!("# TYPE {family}\n")).count(),
                1,
                "{family} in\n{text}"
            );
        }
    }
}
