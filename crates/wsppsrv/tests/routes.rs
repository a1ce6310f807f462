use wsppsrv::Config;

use crate::support::TestServer;

#[tokio::test]
async fn the_page_is_html_and_lists_no_one_at_first() {
    let server = TestServer::start(Config::default()).await;
    let page = server.get("/").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(page.body.contains("no WebSocket client is connected"));
    assert!(
        page.body
            .contains("<span id=\"clients-now\" class=\"value\">0</span>")
    );
}

#[tokio::test]
async fn clients_json_follows_the_schema() {
    let server = TestServer::start(Config::default()).await;
    let response = server.get("/clients.json").await;
    assert_eq!(response.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_str(&response.body).expect("json");
    assert_eq!(json["clients"], serde_json::json!([]));
    assert_eq!(json["server"]["clients_now"], 0);
    assert_eq!(json["server"]["ping_interval_ms"], 1000);
    assert_eq!(json["server"]["ping_timeout_ms"], 5000);
}

#[tokio::test]
async fn the_query_is_not_part_of_the_route_but_the_path_is_literal() {
    let server = TestServer::start(Config::default()).await;
    assert_eq!(server.get("/clients.json?fresh=1").await.status, 200);
    assert_eq!(server.get("/?x=1").await.status, 200);
    assert_eq!(server.get("/clients.json/").await.status, 404);
    assert_eq!(server.get("/pingpong/").await.status, 404);
    assert_eq!(server.get("//").await.status, 404);
}

#[tokio::test]
async fn the_favicon_and_unknown_paths_are_404() {
    let server = TestServer::start(Config::default()).await;
    assert_eq!(server.get("/favicon.ico").await.status, 404);
    assert_eq!(server.get("/nope").await.status, 404);
}

#[tokio::test]
async fn a_wrong_method_gets_405_with_allow() {
    let server = TestServer::start(Config::default()).await;
    let post = |path: &str| {
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    };
    let page = server.request(&post("/")).await;
    assert_eq!(page.status, 405);
    assert_eq!(page.header("allow"), Some("GET, HEAD"));
    let upgrade = server.request(&post("/pingpong")).await;
    assert_eq!(upgrade.status, 405);
    assert_eq!(upgrade.header("allow"), Some("GET"));
    let head = server
        .request("HEAD /clients.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(head.status, 200);
    assert_eq!(head.body, "");
}

#[tokio::test]
async fn a_plain_get_of_an_upgrade_route_is_400_with_a_reason() {
    let server = TestServer::start(Config::default()).await;
    for path in ["/pingpong", "/openandclosewebsocket"] {
        let response = server.get(path).await;
        assert_eq!(response.status, 400, "{path}");
        assert!(
            response.body.contains("send Upgrade: websocket"),
            "{}",
            response.body
        );
    }
}

#[tokio::test]
async fn every_route_refuses_a_missing_repeated_or_invalid_host() {
    let server = TestServer::start(Config::default()).await;
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let cases = [
        ("", "no Host header"),
        (
            "Host: 127.0.0.1:1\r\nHost: evil.example\r\n",
            "2 Host headers, where one is allowed",
        ),
        ("Host: a b\r\n", "Host a b is not HOST[:PORT]"),
    ];
    for path in [
        "/",
        "/clients.json",
        "/metrics",
        "/nope",
        "/pingpong",
        "/openandclosewebsocket",
    ] {
        for (host, reason) in cases {
            let response = server
                .request(&format!(
                    "GET {path} HTTP/1.1\r\n{host}{upgrade}Connection: close\r\n\r\n"
                ))
                .await;
            assert_eq!(response.status, 400, "{path} {host:?}: {}", response.head);
            assert_eq!(response.body, format!("{reason}\n"), "{path} {host:?}");
        }
    }
    assert!(server.clients().await.clients.is_empty());
}
