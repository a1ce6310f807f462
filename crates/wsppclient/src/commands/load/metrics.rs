//! `load --metrics-addr`: the generator's figures for Prometheus, so that one
//! Prometheus can sum a fleet of generators started by the user's own orchestration.
//!
//! The figures are those of the server's `/metrics` (`wsppsrv`'s
//! [`metrics`](wsppsrv::metrics)), with the same RTT histogram and buckets, so a
//! dashboard reads a generator's RTTs and a server's alike: `wsppclient_rtt_seconds`
//! by `clock` (`kernel` for the probes the kernel stamped, `user` for every probe on
//! the user's clock), connections open, probes sent, received and lost, and
//! connection failures by reason (the summary's names).
//!
//! The connections do not write here: once a second the report adds the second's
//! [`Window`] (summed off the connections' thread already) and sets the connection
//! counts, so a probe costs nothing more with the endpoint on, and a scrape sees whole
//! seconds. A scrape therefore lags the run by up to a second; Prometheus scrapes
//! every few seconds at most.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use wsppsrv::metrics::{CONTENT_TYPE, RttHistogram};

use super::tally::{Connections, Window};
use crate::error::Error;

/// Scrapes served at once: a Prometheus or two and an operator's curl.
const CONNECTIONS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ClockLabels {
    /// `kernel` or `user`.
    clock: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    /// One of [`failure_reason`](super::tally::failure_reason)'s names.
    reason: String,
}

/// A run's figures as `/metrics` serves them.
#[derive(Debug)]
pub struct LoadMetrics {
    registry: Registry,
    kernel_rtt: RttHistogram,
    user_rtt: RttHistogram,
    open: Gauge,
    opened: Counter,
    sent: Counter,
    received: Counter,
    lost: Counter,
    late: Counter,
    failures: Family<ReasonLabels, Counter>,
}

impl Default for LoadMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("wsppclient");
        let rtt = Family::<ClockLabels, RttHistogram>::default();
        registry.register_with_unit(
            "rtt",
            "Round-trip time of each probe answered, on the kernel's clock where it stamped the probe and on the user's",
            Unit::Seconds,
            rtt.clone(),
        );
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let open = Gauge::default();
        registry.register("connections_open", "Connections open now", open.clone());
        let opened = counter(
            &mut registry,
            "connections_opened",
            "Connections upgraded to WebSocket",
        );
        let failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "connection_failures",
            "Connection attempts that failed, by reason (refused, timeout, tls, status_503, ...)",
            failures.clone(),
        );
        let sent = counter(&mut registry, "probes_sent", "Probes sent");
        let received = counter(&mut registry, "probes_received", "Probes answered");
        let lost = counter(
            &mut registry,
            "probes_lost",
            "Probes unanswered within the timeout, overtaken, or cut off by the run's end",
        );
        let late = counter(
            &mut registry,
            "probes_late",
            "Probes that left later than scheduled: the generator fell behind",
        );
        LoadMetrics {
            kernel_rtt: rtt.get_or_create_owned(&ClockLabels { clock: "kernel" }),
            user_rtt: rtt.get_or_create_owned(&ClockLabels { clock: "user" }),
            registry,
            open,
            opened,
            sent,
            received,
            lost,
            late,
            failures,
        }
    }
}

impl LoadMetrics {
    /// Adds one second's probes; `kernel` says whether `window.rtt` is on the
    /// kernel's clock.
    pub fn add(&self, window: &Window, kernel: bool) {
        if kernel {
            for (rtt, count) in window.rtt.recorded() {
                self.kernel_rtt.observe_many(rtt, count);
            }
        }
        for (rtt, count) in window.user.recorded() {
            self.user_rtt.observe_many(rtt, count);
        }
        self.sent.inc_by(window.counts.sent);
        self.received.inc_by(window.counts.received);
        self.lost.inc_by(window.counts.lost);
        self.late.inc_by(window.counts.late_sends);
    }

    /// Brings the connection figures to `connections`' (called by one task only, so
    /// a counter moved by the difference stays exact).
    pub fn set_connections(&self, connections: &Connections) {
        self.open
            .set(i64::try_from(connections.open).unwrap_or(i64::MAX));
        self.opened
            .inc_by(connections.opened.saturating_sub(self.opened.get()));
        for (reason, &count) in &connections.failures {
            let counter = self.failures.get_or_create(&ReasonLabels {
                reason: reason.clone(),
            });
            counter.inc_by(count.saturating_sub(counter.get()));
        }
    }

    /// Every figure in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(8 * 1024);
        // Writing to a String cannot fail, and every metric here encodes.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// Takes `addr` for `/metrics`.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Listen {
            addr: addr.to_string(),
            source,
        })
}

/// Serves `metrics` on `listener` until dropped (its connections with it).
pub async fn serve(listener: TcpListener, metrics: Arc<LoadMetrics>) {
    let mut scrapes = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                while scrapes.try_join_next().is_some() {}
                if scrapes.len() >= CONNECTIONS {
                    // Closed unanswered: a scraper retries at its next interval.
                    continue;
                }
                let metrics = Arc::clone(&metrics);
                let answer = hyper::service::service_fn(move |req| {
                    std::future::ready(Ok::<_, Infallible>(answer(&req, &metrics)))
                });
                scrapes.spawn(async move {
                    let served = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), answer)
                        .await;
                    if let Err(err) = served {
                        tracing::debug!(error = %err, "metrics connection ended early");
                    }
                });
            }
            Some(_) = scrapes.join_next(), if !scrapes.is_empty() => {}
        }
    }
}

/// `GET /metrics` (or `HEAD`), and 404 or 405 for anything else.
fn answer<B>(req: &Request<B>, metrics: &LoadMetrics) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, wspp::routes::METRICS) => {
            (StatusCode::OK, CONTENT_TYPE, metrics.encode())
        }
        (_, wspp::routes::METRICS) => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "GET or HEAD\n".to_owned(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "only /metrics here\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_second_adds_to_the_histogram_and_counters() {
        let metrics = LoadMetrics::default();
        let mut window = Window::default();
        for us in [20, 40, 40] {
            window.rtt.record(Duration::from_micros(us));
            window.user.record(Duration::from_micros(us + 10));
        }
        window.counts.sent = 4;
        window.counts.received = 3;
        window.counts.lost = 1;
        metrics.add(&window, true);
        metrics.add(&window, false);
        let mut connections = Connections {
            open: 7,
            opened: 9,
            ..Connections::default()
        };
        connections.failures.insert("status_503".into(), 2);
        metrics.set_connections(&connections);
        connections.failures.insert("status_503".into(), 5);
        metrics.set_connections(&connections);
        let text = metrics.encode();
        for line in [
            "wsppclient_rtt_seconds_count{clock=\"kernel\"} 3",
            "wsppclient_rtt_seconds_count{clock=\"user\"} 6",
            "wsppclient_rtt_seconds_bucket{clock=\"kernel\",le=\"3e-05\"} 1",
            "wsppclient_probes_sent_total 8",
            "wsppclient_probes_lost_total 2",
            "wsppclient_connections_open 7",
            "wsppclient_connections_opened_total 9",
            "wsppclient_connection_failures_total{reason=\"status_503\"} 5",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
