//! `/metrics` against the events that move it: each counter is read before and after
//! the one thing that should move it, over real sockets, and the page's figures are
//! compared with `/metrics`' for the same clients.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use wsppsrv::Config;

use crate::support::raw::{self, CLOSE, PING, PONG};
use crate::support::{Metrics, Response, TestServer, within};

/// A server that pings `/pingpong` once at the start of a session and not again.
fn quiet() -> Config {
    Config {
        ping_interval: Duration::from_secs(3600),
        ..Config::default()
    }
}

const PINGPONG: &str = "{route=\"/pingpong\"}";
const OPEN_CLOSE: &str = "{route=\"/openandclosewebsocket\"}";
/// The clients-connected gauges, per route and HTTP version.
const PINGPONG_H1: &str = "{route=\"/pingpong\",http_version=\"1.1\"}";
const OPEN_CLOSE_H1: &str = "{route=\"/openandclosewebsocket\",http_version=\"1.1\"}";

fn upgrades(route: &str, status: u16) -> String {
    format!("wspp_upgrades_total{{route=\"{route}\",http_version=\"1.1\",status=\"{status}\"}}")
}

fn closes(code: &str, by: &str) -> String {
    format!("wspp_closes_total{{code=\"{code}\",by=\"{by}\"}}")
}

#[tokio::test]
async fn a_fresh_server_lists_its_families_at_zero() {
    let server = TestServer::start(quiet()).await;
    let metrics = server.metrics().await;
    for route in [PINGPONG_H1, OPEN_CLOSE_H1] {
        assert_eq!(
            metrics.value(&format!("wspp_clients_connected{route}")),
            0.0
        );
        let over_h2 = route.replace("\"1.1\"", "\"2\"");
        assert_eq!(
            metrics.value(&format!("wspp_clients_connected{over_h2}")),
            0.0
        );
    }
    for route in [PINGPONG, OPEN_CLOSE] {
        for name in [
            "wspp_rtt_seconds_count",
            "wspp_pings_sent_total",
            "wspp_pongs_received_total",
            "wspp_pongs_late_total",
            "wspp_clients_dropped_silent_total",
        ] {
            assert_eq!(metrics.value(&format!("{name}{route}")), 0.0, "{name}");
        }
    }
    assert_eq!(metrics.value(&upgrades("/pingpong", 101)), 0.0);
    let connects = "wspp_upgrades_total{route=\"/pingpong\",http_version=\"2\",status=\"200\"}";
    assert_eq!(metrics.value(connects), 0.0);
    assert_eq!(metrics.value("wspp_connections_refused_total"), 0.0);
    // HEAD has the headers and no body.
    let head = server
        .request("HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(head.status, 200);
    let post = server
        .request(
            "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
    assert_eq!(post.status, 405);
}

#[tokio::test]
async fn an_open_and_close_session_moves_its_figures() {
    let server = TestServer::start(Config::default()).await;
    let mut ws = raw::upgrade(&server, "/openandclosewebsocket", "").await;
    let close = raw::read_to_close(&mut ws).await.expect("a close");
    assert_eq!(close.close_code(), Some(1000));
    let metrics = server
        .wait_for_metric(&format!("wspp_clients_connected{OPEN_CLOSE_H1}"), 0.0)
        .await;
    assert_eq!(metrics.value(&upgrades("/openandclosewebsocket", 101)), 1.0);
    assert_eq!(
        metrics.value(&format!("wspp_pings_sent_total{OPEN_CLOSE}")),
        3.0
    );
    assert_eq!(
        metrics.value(&format!("wspp_pongs_received_total{OPEN_CLOSE}")),
        3.0
    );
    assert_eq!(
        metrics.value(&format!("wspp_rtt_seconds_count{OPEN_CLOSE}")),
        3.0
    );
    let slowest =
        metrics.value("wspp_rtt_seconds_bucket{route=\"/openandclosewebsocket\",le=\"+Inf\"}");
    assert_eq!(slowest, 3.0);
    assert_eq!(metrics.value(&closes("1000", "server")), 1.0);
    // Nothing moved on the other route.
    assert_eq!(
        metrics.value(&format!("wspp_pings_sent_total{PINGPONG}")),
        0.0
    );
}

/// The page and `/metrics` count the same events: for the same clients, the pings,
/// pongs and RTTs of `/clients.json` add up to `/metrics`' totals.
#[tokio::test]
async fn the_page_and_metrics_agree_for_the_same_clients() {
    let server = TestServer::start(quiet()).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut ws = raw::upgrade(&server, "/pingpong", "").await;
        let ping = raw::read(&mut ws).await.expect("the first ping");
        assert_eq!(ping.opcode, PING);
        raw::send(&mut ws, PONG, &ping.payload).await;
        clients.push(ws);
    }
    let report = server
        .wait_for_clients(|r| {
            r.clients.len() == 3 && r.clients.iter().all(|c| c.pongs_received == 1)
        })
        .await;
    let metrics = server.metrics().await;
    let total =
        |f: fn(&wspp::clients::ClientInfo) -> u64| report.clients.iter().map(f).sum::<u64>() as f64;
    assert_eq!(
        metrics.value(&format!("wspp_clients_connected{PINGPONG_H1}")),
        3.0
    );
    assert_eq!(
        metrics.value(&format!("wspp_pings_sent_total{PINGPONG}")),
        total(|c| c.pings_sent)
    );
    assert_eq!(
        metrics.value(&format!("wspp_pongs_received_total{PINGPONG}")),
        total(|c| c.pongs_received)
    );
    assert_eq!(
        metrics.value(&format!("wspp_rtt_seconds_count{PINGPONG}")),
        total(|c| c.pongs_received)
    );
    // One RTT each, so each client's last RTT is its whole share of the sum; the page
    // shows whole microseconds, /metrics nanoseconds.
    let page_sum_us = total(|c| c.rtt_last_us.expect("an rtt"));
    let metrics_sum_us = metrics.value(&format!("wspp_rtt_seconds_sum{PINGPONG}")) * 1e6;
    assert!(
        (metrics_sum_us - page_sum_us).abs() <= 3.0,
        "page {page_sum_us} µs, /metrics {metrics_sum_us} µs"
    );
    for mut ws in clients {
        raw::send(&mut ws, CLOSE, &1000u16.to_be_bytes()).await;
        raw::read_to_close(&mut ws).await;
    }
    let metrics = server
        .wait_for_metric(&format!("wspp_clients_connected{PINGPONG_H1}"), 0.0)
        .await;
    assert_eq!(metrics.value(&closes("1000", "peer")), 3.0);
    assert_eq!(metrics.value(&upgrades("/pingpong", 101)), 3.0);
}

#[tokio::test]
async fn each_refused_upgrade_moves_its_status() {
    let server = TestServer::start(Config {
        allowed_origins: vec!["http://localhost".into()],
        ..quiet()
    })
    .await;
    let refusals: [(&str, u16); 4] = [
        (
            "GET /pingpong HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            426,
        ),
        (
            "GET /pingpong HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n",
            400,
        ),
        (
            "GET /pingpong HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Origin: http://evil.example\r\n\r\n",
            403,
        ),
        (
            "POST /pingpong HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            405,
        ),
    ];
    for (request, status) in refusals {
        // A status is listed from its first occurrence on.
        let before = server.metrics().await.get(&upgrades("/pingpong", status));
        let before = before.unwrap_or(0.0);
        let response = server.request(request).await;
        assert_eq!(response.status, status, "{}", response.head);
        let after = server.metrics().await;
        assert_eq!(
            after.value(&upgrades("/pingpong", status)),
            before + 1.0,
            "{status}"
        );
        assert_eq!(after.value(&upgrades("/pingpong", 101)), 0.0);
    }
    // The same on the other route, which has series of its own.
    let response = server
        .request(
            "GET /openandclosewebsocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Version: 8\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await;
    assert_eq!(response.status, 426);
    let metrics = server.metrics().await;
    assert_eq!(metrics.value(&upgrades("/openandclosewebsocket", 426)), 1.0);
    assert_eq!(metrics.value(&upgrades("/pingpong", 426)), 1.0);
}

#[tokio::test]
async fn a_silent_client_dropped_moves_its_counter() {
    let server = TestServer::start(Config {
        ping_timeout: Duration::from_millis(200),
        ..quiet()
    })
    .await;
    let mut ws = raw::upgrade(&server, "/pingpong", "").await;
    // Read, never answer: the server gives up on the ping and closes with 1001.
    let close = within(async {
        loop {
            let frame = raw::read(&mut ws).await.expect("frames until the close");
            if frame.opcode == CLOSE {
                return frame;
            }
        }
    })
    .await;
    assert_eq!(close.close_code(), Some(1001));
    let metrics = server
        .wait_for_metric(&format!("wspp_clients_connected{PINGPONG_H1}"), 0.0)
        .await;
    assert_eq!(
        metrics.value(&format!("wspp_clients_dropped_silent_total{PINGPONG}")),
        1.0
    );
    assert_eq!(metrics.value(&closes("1001", "server")), 1.0);
    assert_eq!(
        metrics.value(&format!("wspp_pings_sent_total{PINGPONG}")),
        1.0
    );
    assert_eq!(
        metrics.value(&format!("wspp_pongs_received_total{PINGPONG}")),
        0.0
    );
}

#[tokio::test]
async fn a_pong_after_a_later_one_is_counted_late() {
    let server = TestServer::start(Config {
        ping_interval: Duration::from_millis(20),
        ..Config::default()
    })
    .await;
    let mut ws = raw::upgrade(&server, "/pingpong", "").await;
    let first = raw::read(&mut ws).await.expect("a ping");
    let second = raw::read(&mut ws).await.expect("another ping");
    assert_eq!((first.opcode, second.opcode), (PING, PING));
    // The second answered first gives up on the first, whose answer is then late.
    raw::send(&mut ws, PONG, &second.payload).await;
    raw::send(&mut ws, PONG, &first.payload).await;
    let metrics = server
        .wait_for_metric(&format!("wspp_pongs_late_total{PINGPONG}"), 1.0)
        .await;
    assert!(metrics.value(&format!("wspp_pongs_received_total{PINGPONG}")) >= 1.0);
    raw::send(&mut ws, CLOSE, &1000u16.to_be_bytes()).await;
    raw::read_to_close(&mut ws).await;
}

#[tokio::test]
async fn close_codes_are_counted_by_code_and_by_whom() {
    let server = TestServer::start(quiet()).await;
    for code in [4001u16, 4002, 3000, 1001] {
        let mut ws = raw::upgrade(&server, "/pingpong", "").await;
        raw::send(&mut ws, CLOSE, &code.to_be_bytes()).await;
        raw::read_to_close(&mut ws).await;
    }
    // A client that vanishes without a Close.
    drop(raw::upgrade(&server, "/pingpong", "").await);
    // A frame that breaks the protocol: the server closes with 1002.
    let mut ws = raw::upgrade(&server, "/pingpong", "").await;
    ws.write_all(&raw::encode(true, 0x3, b"", true))
        .await
        .expect("send a reserved opcode");
    raw::read_to_close(&mut ws).await;
    let metrics = server
        .wait_for_metric(&format!("wspp_clients_connected{PINGPONG_H1}"), 0.0)
        .await;
    // Application codes share a series per thousand: a peer cannot mint series.
    assert_eq!(metrics.value(&closes("4xxx", "peer")), 2.0);
    assert_eq!(metrics.value(&closes("3xxx", "peer")), 1.0);
    assert_eq!(metrics.value(&closes("1001", "peer")), 1.0);
    assert_eq!(metrics.value(&closes("1006", "peer")), 1.0);
    assert_eq!(metrics.value(&closes("1002", "server")), 1.0);
}

/// With `--max-connections` WebSocket sessions running, the page, `/clients.json` and
/// `/metrics` are still served from the HTTP reserve, while one more upgrade is told
/// 503 and counted.
#[tokio::test]
async fn at_the_session_limit_the_operator_can_still_look() {
    let server = TestServer::start(Config {
        max_connections: 2,
        ..quiet()
    })
    .await;
    let mut sessions = Vec::new();
    for _ in 0..2 {
        sessions.push(raw::upgrade(&server, "/pingpong", "").await);
    }
    server
        .wait_for_metric(&format!("wspp_clients_connected{PINGPONG_H1}"), 2.0)
        .await;
    for path in ["/", "/clients.json", "/metrics"] {
        let response = server.get(path).await;
        assert_eq!(response.status, 200, "{path}: {}", response.head);
    }
    assert_eq!(server.clients().await.clients.len(), 2);
    let mut over = server.connect().await;
    let head = raw::send_upgrade(&mut over, "/pingpong", "").await;
    let refused = Response::parse(head.as_bytes());
    assert_eq!(refused.status, 503, "{head}");
    assert_eq!(refused.header("retry-after"), Some("1"));
    let metrics = server.metrics().await;
    assert_eq!(metrics.value(&upgrades("/pingpong", 503)), 1.0);
    assert_eq!(metrics.value(&upgrades("/pingpong", 101)), 2.0);
    assert_eq!(metrics.value("wspp_connections_refused_total"), 0.0);
    // The refusal costs the sessions nothing.
    assert_eq!(
        metrics.value(&format!("wspp_clients_connected{PINGPONG_H1}")),
        2.0
    );
    for mut ws in sessions {
        raw::send(&mut ws, CLOSE, &1000u16.to_be_bytes()).await;
        raw::read_to_close(&mut ws).await;
    }
    server.wait_until_clean().await;
}

/// The reserve is a bound too: past sessions and reserve, a connection gets 503 before
/// its request is read, and `wspp_connections_refused_total` counts it.
#[tokio::test]
async fn past_the_reserve_connections_are_refused_and_counted() {
    let server = TestServer::start(Config {
        max_connections: 1,
        http_reserve: 1,
        ..quiet()
    })
    .await;
    let mut session = raw::upgrade(&server, "/pingpong", "").await;
    // An idle keep-alive connection holds the one reserve slot.
    let mut idle = server.connect().await;
    idle.write_all(b"GET /clients.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("send");
    let head = raw::read_head(&mut idle).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let refused = server.get("/metrics").await;
    assert_eq!(refused.status, 503, "{}", refused.head);
    drop(idle);
    // The slot frees once the server sees the idle connection go; poll until it has.
    let metrics = within(async {
        loop {
            let response = server.get("/metrics").await;
            if response.status == 200 {
                return Metrics(response.body);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(metrics.value("wspp_connections_refused_total") >= 1.0);
    raw::send(&mut session, CLOSE, &1000u16.to_be_bytes()).await;
    raw::read_to_close(&mut session).await;
    server.wait_until_clean().await;
}

#[tokio::test]
async fn metrics_addr_serves_metrics_alone_and_the_main_port_none() {
    let (server, metrics_addr) = TestServer::start_with_metrics_listener(quiet()).await;
    let mut ws = raw::upgrade(&server, "/pingpong", "").await;
    let ping = raw::read(&mut ws).await.expect("a ping");
    raw::send(&mut ws, PONG, &ping.payload).await;
    server
        .wait_for_clients(|r| r.clients.iter().any(|c| c.pongs_received == 1))
        .await;
    assert_eq!(server.get("/metrics").await.status, 404);
    let get = |path: &str| {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        async move {
            let mut stream = TcpStream::connect(metrics_addr)
                .await
                .expect("connect to the metrics listener");
            stream.write_all(request.as_bytes()).await.expect("send");
            let mut bytes = Vec::new();
            within(tokio::io::AsyncReadExt::read_to_end(
                &mut stream,
                &mut bytes,
            ))
            .await
            .expect("read the answer");
            Response::parse(&bytes)
        }
    };
    let response = get("/metrics").await;
    assert_eq!(response.status, 200, "{}", response.head);
    let metrics = Metrics(response.body);
    assert_eq!(
        metrics.value(&format!("wspp_clients_connected{PINGPONG_H1}")),
        1.0
    );
    assert_eq!(
        metrics.value(&format!("wspp_rtt_seconds_count{PINGPONG}")),
        1.0
    );
    for path in ["/", "/clients.json", "/pingpong"] {
        assert_eq!(get(path).await.status, 404, "{path}");
    }
    raw::send(&mut ws, CLOSE, &1000u16.to_be_bytes()).await;
    raw::read_to_close(&mut ws).await;
}
