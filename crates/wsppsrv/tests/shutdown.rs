use std::time::Duration;

use wsppsrv::Config;

use crate::support::raw::{self, PING};
use crate::support::{TestServer, within};

#[tokio::test]
async fn shutdown_says_going_away_to_every_session_and_returns() {
    let server = TestServer::start(Config {
        ping_interval: Duration::from_secs(3600),
        ..Config::default()
    })
    .await;
    let mut a = raw::upgrade(&server, "/pingpong", "").await;
    let mut b = raw::upgrade(&server, "/pingpong", "").await;
    raw::read_until(&mut a, PING).await;
    raw::read_until(&mut b, PING).await;
    let idle_http = server.connect().await;

    let (result, close_a, close_b) = tokio::join!(
        server.shutdown(),
        raw::read_to_close(&mut a),
        raw::read_to_close(&mut b),
    );
    result.expect("run returns Ok");
    for close in [close_a, close_b] {
        assert_eq!(close.expect("a close frame").close_code(), Some(1001));
    }
    drop(idle_http);
}

#[tokio::test]
async fn after_shutdown_nothing_is_accepted() {
    let server = TestServer::start(Config::default()).await;
    let addr = server.addr;
    within(server.shutdown()).await.expect("run returns Ok");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
