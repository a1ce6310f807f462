use std::time::Duration;

use tokio::io::AsyncReadExt;
use wsppsrv::Config;

use crate::support::raw::{self, PING};
use crate::support::{TestServer, within};

#[tokio::test]
async fn shutdown_says_going_away_to_every_session_and_returns() {
    // A grace and a header timeout far beyond the test's patience: only the server
    // closing the idle connection itself lets the shutdown finish in time.
    let server = TestServer::start(Config {
        ping_interval: Duration::from_secs(3600),
        header_read_timeout: Duration::from_secs(3600),
        shutdown_grace: Duration::from_secs(3600),
        ..Config::default()
    })
    .await;
    let mut a = raw::upgrade(&server, "/pingpong", "").await;
    let mut b = raw::upgrade(&server, "/pingpong", "").await;
    raw::read_until(&mut a, PING).await;
    raw::read_until(&mut b, PING).await;
    // One answered request first, so the server holds the connection, idle between two
    // requests, when the shutdown starts.
    let mut idle_http = server.connect().await;
    let answer = raw::keep_alive_get(&mut idle_http, "/clients.json").await;
    assert_eq!(answer.status, 200, "{}", answer.head);

    let ((), close_a, close_b, idle_end) = tokio::join!(
        server.shutdown(),
        raw::read_to_close(&mut a),
        raw::read_to_close(&mut b),
        within(async {
            let mut rest = Vec::new();
            idle_http.read_to_end(&mut rest).await.map(|_| rest)
        }),
    );
    for close in [close_a, close_b] {
        assert_eq!(close.expect("a close frame").close_code(), Some(1001));
    }
    // The server closed it (EOF), with nothing more said.
    assert_eq!(idle_end.expect("a clean close").len(), 0);
}

#[tokio::test]
async fn after_shutdown_nothing_is_accepted() {
    let server = TestServer::start(Config::default()).await;
    let addr = server.addr;
    server.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
