use wsppsrv::Config;

use crate::support::{TestServer, raw};

fn trusting(cidrs: &[&str]) -> Config {
    Config {
        trusted_proxies: cidrs.iter().map(|c| c.parse().expect("a CIDR")).collect(),
        ..Config::default()
    }
}

/// The client the page and `/clients.json` show, and the proxy it came through.
async fn listed_as(server: &TestServer, forwarded: &str) -> (String, Option<String>, String) {
    let ws = raw::upgrade(server, "/pingpong", forwarded).await;
    let report = server.wait_for_clients(|r| r.clients.len() == 1).await;
    let page = server.get("/").await.body;
    drop(ws);
    server.wait_for_clients(|r| r.clients.is_empty()).await;
    let client = &report.clients[0];
    (client.peer.clone(), client.via.clone(), page)
}

#[tokio::test]
async fn a_trusted_proxy_names_the_right_most_untrusted_client() {
    let server = TestServer::start(trusting(&["127.0.0.1/32", "10.0.0.0/8"])).await;
    let (peer, via, page) = listed_as(
        &server,
        "X-Forwarded-For: 203.0.113.9, 198.51.100.2, 10.1.2.3\r\n",
    )
    .await;
    assert_eq!(peer, "198.51.100.2");
    let via = via.expect("the proxy's address in via");
    assert!(via.starts_with("127.0.0.1:"), "{via}");
    assert!(page.contains("198.51.100.2"), "{page}");
    assert!(page.contains(&via), "{page}");

    let (peer, _, _) = listed_as(
        &server,
        "Forwarded: for=192.0.2.60;proto=http, for=\"[2001:db8:cafe::17]:4711\"\r\n",
    )
    .await;
    assert_eq!(peer, "[2001:db8:cafe::17]:4711");
    let (peer, _, _) = listed_as(
        &server,
        "Forwarded: For=\"192.0.2.43:47011\"\r\nForwarded: for=10.9.9.9\r\n",
    )
    .await;
    assert_eq!(peer, "192.0.2.43:47011");
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let server = TestServer::start(trusting(&["10.0.0.0/8"])).await;
    let (peer, via, _) = listed_as(
        &server,
        "X-Forwarded-For: 203.0.113.9\r\nForwarded: for=203.0.113.9\r\n",
    )
    .await;
    assert!(
        peer.starts_with("127.0.0.1:"),
        "a forged address taken: {peer}"
    );
    assert_eq!(via, None);
    let server = TestServer::start(Config::default()).await;
    let (peer, via, _) = listed_as(&server, "X-Forwarded-For: 203.0.113.9\r\n").await;
    assert!(peer.starts_with("127.0.0.1:"), "{peer}");
    assert_eq!(via, None);
}
