//! The server wsppclient starts in its own process when the user named none and none
//! listens: the real binary with the default address moved to a fresh port
//! (`WSPP_DEFAULT_SERVER=127.0.0.1:0`, so no test touches 8080 or races another for a
//! port), and an address the user names, which is never served in-process.

use std::ffi::OsStr;
use std::process::Output;

use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use wsppclient::front::local_server::LocalServer;

use crate::support::{
    Running, Server, assert_open_close_wire, fast_server_config, last_json_line, refused_addr,
    run_binary_with_env, within,
};

/// The binary with its default address on a fresh port, plus `env`.
async fn run_with_default(args: &[&str], default: &str, env: &[(&str, &OsStr)]) -> Output {
    let mut all = vec![("WSPP_DEFAULT_SERVER", OsStr::new(default))];
    all.extend_from_slice(env);
    run_binary_with_env(args, &all).await
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn without_a_server_the_client_starts_one_and_the_request_succeeds() {
    let output = run_with_default(&["open-close"], "127.0.0.1:0", &[]).await;
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(
        err.contains("no server on 127.0.0.1:0: started one on 127.0.0.1:")
            && err.contains("in this process; it stops when wsppclient exits"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    // wsppsrv's defaults: three pings, then Close 1000.
    assert_open_close_wire(&String::from_utf8_lossy(&output.stdout), 3);
}

#[tokio::test]
async fn ping_without_a_url_pings_the_server_it_started() {
    let output = run_with_default(
        &["ping", "-c", "2", "-i", "0", "--json"],
        "127.0.0.1:0",
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(last_json_line(&output)["received"], 2);
}

#[tokio::test]
async fn a_server_already_listening_is_used_not_replaced() {
    let server = Server::start(fast_server_config()).await;
    let addr = server.addr.to_string();
    let output = run_with_default(&["open-close"], &addr, &[]).await;
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(!err.contains("started one"), "{err}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&format!("connected to {addr}")), "{stdout}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_named_server_that_refuses_stays_an_error() {
    let held = refused_addr();
    let refused = held.to_string();
    let url = format!("ws://{refused}/pingpong");
    for (args, env) in [
        (vec!["--server", refused.as_str(), "page"], vec![]),
        (
            vec!["page"],
            vec![("WSPP_SERVER", OsStr::new(refused.as_str()))],
        ),
        (vec!["ping", url.as_str(), "-c", "1"], vec![]),
    ] {
        let output = run_with_default(&args, "127.0.0.1:0", &env).await;
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("cannot connect to"), "{args:?}: {err}");
        assert!(!err.contains("started one"), "{args:?}: {err}");
    }
}

#[tokio::test]
async fn no_local_server_leaves_the_default_address_refused() {
    let held = refused_addr();
    let refused = held.to_string();
    for (args, env) in [
        (vec!["--no-local-server", "page"], vec![]),
        (
            vec!["page"],
            vec![("WSPP_NO_LOCAL_SERVER", OsStr::new("1"))],
        ),
    ] {
        let output = run_with_default(&args, &refused, &env).await;
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!("cannot connect to {refused}")),
            "{err}"
        );
    }
}

#[tokio::test]
async fn stopping_sends_going_away_to_its_clients() {
    let local = LocalServer::start("127.0.0.1:0".parse().expect("an address"))
        .expect("a fresh port is free");
    let addr = local.addr();
    // The same address is taken now: a second one is not started.
    assert!(LocalServer::start(addr).is_none());

    let stream = within(TcpStream::connect(addr)).await.expect("connect");
    let url = format!("ws://{addr}/pingpong");
    let (mut ws, _) = within(tokio_tungstenite::client_async(url, stream))
        .await
        .expect("upgrade");
    let stopped = tokio::spawn(local.stop());
    let close = within(async {
        while let Some(message) = ws.next().await {
            if let Message::Close(frame) = message.expect("a message") {
                return frame;
            }
        }
        None
    })
    .await
    .expect("a Close frame with a code");
    assert_eq!(close.code, CloseCode::Away);
    // Answering the Close (tungstenite does, on the next read) lets the server finish.
    while let Some(Ok(_)) = within(ws.next()).await {}
    within(stopped).await.expect("stop ran");
}

#[tokio::test]
async fn sigterm_stops_the_server_which_says_going_away_to_the_session() {
    let mut running = Running::start_with_env(
        &["hold", "--interval", "20ms"],
        &[("WSPP_DEFAULT_SERVER", OsStr::new("127.0.0.1:0"))],
    );
    // The first echo: the session is up against the server of its own process.
    let mut seen = running.until(|line| line.contains("echo seq=0")).await;
    running.signal("TERM").await;
    let (rest, status, _) = running.finish().await;
    seen.extend(rest);
    let seen = seen.join("\n");
    assert_eq!(status.code(), Some(143), "{seen}");
    assert!(
        seen.contains("← Close fin=1 mask=0 len=22 1001 (Going Away)")
            && seen.contains("→ Close fin=1 mask=1 len=22 1001 (Going Away)"),
        "{seen}"
    );
}
