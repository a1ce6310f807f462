use std::time::Duration;

use tokio::net::TcpStream;
use wsppsrv::Config;

use crate::support::TestServer;
use crate::support::raw::{self, PING};

/// One ping at the start of each session and no timeout within a test's life, so idle
/// raw clients stay listed without answering anything.
fn patient() -> Config {
    Config {
        ping_interval: Duration::from_secs(3600),
        ping_timeout: Duration::from_secs(3600),
        ..Config::default()
    }
}

/// Opens `n` sessions with the User-Agents `agent-1` .. `agent-n`, oldest first, and
/// waits until the server lists them all.
async fn agents(server: &TestServer, n: usize) -> Vec<TcpStream> {
    let mut sockets = Vec::new();
    for i in 1..=n {
        let mut ws = raw::upgrade(server, "/pingpong", &format!("User-Agent: agent-{i}\r\n")).await;
        // The first ping comes after registration: once seen, the client is listed.
        raw::read_until(&mut ws, PING).await;
        sockets.push(ws);
    }
    server.wait_for_clients(|r| r.clients.len() == n).await;
    sockets
}

/// The User-Agents in the page's rows, in order.
fn listed(body: &str) -> Vec<&str> {
    body.split("<td class=\"ua\">")
        .skip(1)
        .filter_map(|cell| cell.split_once("</td>").map(|(ua, _)| ua))
        .collect()
}

#[tokio::test]
async fn the_cursor_picks_the_clients_and_the_page_says_which() {
    let server = TestServer::start(patient()).await;
    let _sockets = agents(&server, 5).await;
    let ids: Vec<u64> = server
        .clients()
        .await
        .clients
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids.len(), 5);

    let all = server.get("/").await;
    assert_eq!(
        listed(&all.body),
        ["agent-1", "agent-2", "agent-3", "agent-4", "agent-5"]
    );
    assert!(all.body.contains("Showing all 5 clients."));

    let middle = server.get(&format!("/?after={}&limit=2", ids[0])).await;
    assert_eq!(middle.status, 200);
    assert_eq!(listed(&middle.body), ["agent-2", "agent-3"]);
    let range = format!("ids {}\u{2013}{}, oldest first", ids[1], ids[2]);
    assert!(
        middle
            .body
            .contains(&format!("Showing 2 of 5 clients ({range})."))
    );
    let next = format!("rel=\"next\" href=\"/?after={}&amp;limit=2\"", ids[2]);
    assert!(middle.body.contains(&next), "a next link");
    let json_link = format!("<a href=\"/clients.json?after={}&amp;limit=2\">", ids[0]);
    assert!(middle.body.contains(&json_link), "the same clients as JSON");
    assert!(
        middle
            .body
            .contains("<span id=\"clients-now\" class=\"value\">5</span>"),
        "the summary counts every client, not the page"
    );

    let tail = server.get(&format!("/?limit=2&after={}", ids[3])).await;
    assert_eq!(listed(&tail.body), ["agent-5"]);
    assert!(!tail.body.contains("rel=\"next\""));

    let past = server.get("/?after=999999").await;
    assert_eq!(listed(&past.body), Vec::<&str>::new());
    assert!(past.body.contains("no client after id 999999"));

    // The JSON pages the same way, `next` naming the page after.
    let json = server
        .get(&format!("/clients.json?after={}&limit=2", ids[0]))
        .await;
    let report: wspp::clients::ClientsReport = serde_json::from_str(&json.body).expect("json");
    let got: Vec<u64> = report.clients.iter().map(|c| c.id).collect();
    assert_eq!((got.as_slice(), report.next), (&ids[1..3], Some(ids[2])));
    let json = server.get(&format!("/clients.json?after={}", ids[2])).await;
    let report: wspp::clients::ClientsReport = serde_json::from_str(&json.body).expect("json");
    assert_eq!((report.clients.len(), report.next), (2, None));
}

#[tokio::test]
async fn an_unreadable_cursor_is_400_with_a_reason() {
    let server = TestServer::start(Config::default()).await;
    let bad = server.get("/?limit=ten").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body, "limit must be a whole number\n");
    assert_eq!(server.get("/?after=-1").await.status, 400);
    assert_eq!(server.get("/clients.json?after=x").await.status, 400);
    assert_eq!(server.get("/?after=&limit=").await.status, 200);
    assert_eq!(
        server.get("/?limit=0").await.status,
        200,
        "clamped, not refused"
    );
}

#[tokio::test]
async fn the_page_forbids_inline_script_and_names_its_script() {
    let server = TestServer::start(Config::default()).await;
    let page = server.get("/").await;
    let csp = page.header("content-security-policy").expect("a CSP");
    let directive = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.split(' ').next() == Some(name))
    };
    assert_eq!(directive("script-src"), Some("script-src 'self'"), "{csp}");
    assert_eq!(
        directive("connect-src"),
        Some("connect-src 'self'"),
        "{csp}"
    );
    assert_eq!(
        directive("default-src"),
        Some("default-src 'none'"),
        "{csp}"
    );
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert!(
        page.body
            .contains("<script src=\"/page.js\" defer></script>")
    );
    assert!(page.body.contains("data-socket-path=\"/pingpong\""));
}

#[tokio::test]
async fn the_page_script_is_served_and_read_only() {
    let server = TestServer::start(Config::default()).await;
    let script = server.get("/page.js").await;
    assert_eq!(script.status, 200);
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(script.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(script.header("cache-control"), Some("no-cache"));
    assert!(script.body.contains("new WebSocket("));
    assert_eq!(script.body, wsppsrv::page::SCRIPT);
    assert_eq!(server.get("/page.js?v=1").await.status, 200);
    let post = server
        .request(
            "POST /page.js HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

/// The page's words as a text browser that adds no space between elements reads them:
/// tags dropped, entities of spaces decoded, runs of white space folded.
fn text_of(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn the_page_shows_origins_and_keeps_words_apart_without_styles() {
    let server = TestServer::start(patient()).await;
    let mut sockets = agents(&server, 1).await;
    let mut ws = raw::upgrade(
        &server,
        "/pingpong",
        "User-Agent: browser\r\nOrigin: http://app.example:8080\r\n",
    )
    .await;
    raw::read_until(&mut ws, PING).await;
    sockets.push(ws);
    server.wait_for_clients(|r| r.clients.len() == 2).await;
    let page = server.get("/").await.body;
    assert!(page.contains("<th>Origin</th>"), "{page}");
    assert!(page.contains("<td>http://app.example:8080</td>"), "{page}");
    let text = text_of(&page);
    for words in [
        "2 connected now",
        "served since start",
        " up for",
        "between pings, timeout",
    ] {
        assert!(text.contains(words), "{words:?} in {text}");
    }
    assert!(!text.contains("2connected"), "{text}");
}
