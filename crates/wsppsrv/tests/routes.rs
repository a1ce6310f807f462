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
async fn broken_upgrades_are_refused_with_the_rfc_status() {
    let server = TestServer::start(Config::default()).await;
    let upgrade = |version: &str, key: &str| {
        format!(
            "GET /pingpong HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             {version}{key}\r\n"
        )
    };
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let wrong_version = server
        .request(&upgrade("Sec-WebSocket-Version: 8\r\n", key))
        .await;
    assert_eq!(wrong_version.status, 426);
    assert_eq!(wrong_version.header("sec-websocket-version"), Some("13"));

    let no_key = server
        .request(&upgrade("Sec-WebSocket-Version: 13\r\n", ""))
        .await;
    assert_eq!(no_key.status, 400);
    assert!(no_key.body.contains("missing Sec-WebSocket-Key"));

    let bad_key = server
        .request(&upgrade(
            "Sec-WebSocket-Version: 13\r\n",
            "Sec-WebSocket-Key: not-a-key\r\n",
        ))
        .await;
    assert_eq!(bad_key.status, 400);
}

#[tokio::test]
async fn a_foreign_origin_is_forbidden_when_origins_are_listed() {
    let server = TestServer::start(Config {
        allowed_origins: vec!["http://localhost:8080".into()],
        ..Config::default()
    })
    .await;
    let mut stream = server.connect().await;
    let head = crate::support::raw::send_upgrade(
        &mut stream,
        "/pingpong",
        "Origin: http://evil.example\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    crate::support::raw::upgrade(&server, "/pingpong", "Origin: http://localhost:8080\r\n").await;
}
