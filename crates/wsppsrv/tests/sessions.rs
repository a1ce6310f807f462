use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wsppsrv::Config;

use crate::support::raw::{self, BINARY, CLOSE, PING, PONG, TEXT};
use crate::support::{TestServer, within};

/// A server that pings `/pingpong` only once in a test's life unless told otherwise.
fn quiet() -> Config {
    Config {
        ping_interval: Duration::from_secs(3600),
        ..Config::default()
    }
}

#[tokio::test]
async fn open_and_close_pings_three_times_then_closes_normally() {
    open_and_close_as_specified(Config::default()).await;
}

/// Busy polling changes when the server notices a frame, not what it says: the same
/// session, frame for frame, and the RTTs still recorded.
#[tokio::test]
async fn busy_polling_keeps_the_sessions_as_they_are() {
    let config = Config {
        busy_poll: Duration::from_millis(1),
        ..quiet()
    };
    open_and_close_as_specified(config.clone()).await;

    let server = TestServer::start(config).await;
    let mut ws = raw::upgrade(&server, "/pingpong", "").await;
    let ping = raw::read(&mut ws).await.expect("the first ping");
    assert_eq!(ping.opcode, PING);
    raw::send(&mut ws, PONG, &ping.payload).await;
    raw::send(&mut ws, TEXT, b"after the pong").await;
    assert_eq!(
        raw::read_until(&mut ws, TEXT).await.payload,
        b"after the pong"
    );
    server
        .wait_for_clients(|r| r.clients.iter().any(|c| c.rtt_last_us.is_some()))
        .await;
}

async fn open_and_close_as_specified(config: Config) {
    let server = TestServer::start(config).await;
    let mut ws = raw::upgrade(&server, "/openandclosewebsocket", "").await;
    let mut seqs = Vec::new();
    for _ in 0..3 {
        let ping = raw::read(&mut ws).await.expect("a ping");
        assert_eq!(ping.opcode, PING);
        assert!(
            ping.fin && !ping.masked,
            "server frames are unmasked: {ping:?}"
        );
        let id = wspp::payload::PingId::decode(&ping.payload).expect("a wspp payload");
        seqs.push(id.seq);
        raw::send(&mut ws, PONG, &ping.payload).await;
    }
    assert_eq!(seqs, [0, 1, 2]);
    let close = raw::read_to_close(&mut ws).await.expect("a close frame");
    assert_eq!(close.close_code(), Some(1000));
    assert_eq!(&close.payload[2..], b"done");
}

#[tokio::test]
async fn pingpong_echoes_text_and_binary() {
    let server = TestServer::start(quiet()).await;
    let mut ws = raw::upgrade(&server, "/pingpong", "").await;
    raw::send(&mut ws, TEXT, "héllo".as_bytes()).await;
    assert_eq!(
        raw::read_until(&mut ws, TEXT).await.payload,
        "héllo".as_bytes()
    );
    let blob: Vec<u8> = (0..=255).collect();
    raw::send(&mut ws, BINARY, &blob).await;
    assert_eq!(raw::read_until(&mut ws, BINARY).await.payload, blob);
}

#[tokio::test]
async fn a_client_is_listed_while_connected_and_gone_after_close() {
    let server = TestServer::start(quiet()).await;
    let mut request = format!("ws://{}/pingpong", server.addr)
        .into_client_request()
        .expect("valid url");
    request
        .headers_mut()
        .insert("user-agent", "<b>tester</b>".parse().expect("header value"));
    let stream = server.connect().await;
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("handshake");
    // The server registers before its first ping, so the first ping means "listed".
    let first = within(ws.next()).await.expect("open").expect("a message");
    assert!(matches!(first, Message::Ping(_)), "{first:?}");
    // Reading again sends tungstenite's pong; the echo proves the pong went out first.
    ws.send(Message::text("sync")).await.expect("send");
    assert_eq!(
        within(ws.next()).await.expect("open").expect("echo"),
        Message::text("sync")
    );

    let report = server
        .wait_for_clients(|r| r.clients.iter().any(|c| c.pongs_received == 1))
        .await;
    let me = &report.clients[0];
    assert_eq!(report.clients.len(), 1);
    assert_eq!(me.route, "/pingpong");
    assert_eq!(me.user_agent.as_deref(), Some("<b>tester</b>"));
    assert_eq!(me.pings_sent, 1);
    assert!(me.rtt_last_us.is_some() && me.rtt_min_us == me.rtt_max_us);
    // The kernel's clock, or the user's for a Pong the kernel did not stamp; named.
    assert!(me.rtt_clock.is_some());
    assert_eq!(
        me.peer,
        ws.get_ref().local_addr().expect("addr").to_string()
    );

    let page = server.get("/").await;
    assert!(
        page.body.contains("&lt;b&gt;tester&lt;/b&gt;"),
        "user agent escaped"
    );

    ws.close(None).await.expect("close");
    while let Some(Ok(_)) = within(ws.next()).await {}
    server.wait_for_clients(|r| r.clients.is_empty()).await;
    assert_eq!(server.clients().await.server.clients_total, 1);
}

#[tokio::test]
async fn a_reset_connection_leaves_the_registry_at_once() {
    let patience = Duration::from_secs(2);
    let server = TestServer::start(Config {
        ping_timeout: patience,
        ..quiet()
    })
    .await;
    let mut ws = raw::upgrade(&server, "/pingpong", "").await;
    raw::read_until(&mut ws, PING).await;
    server.wait_for_clients(|r| r.clients.len() == 1).await;
    // The leak check counts what it should: the listener and this session (once the
    // connections of the `/clients.json` polls above are closed on the server's side).
    server.wait_for_sockets(2).await;
    // Linger zero does not block on drop: it makes the close a reset, which is the point.
    #[allow(deprecated)]
    ws.set_linger(Some(Duration::ZERO)).expect("linger");
    let reset = std::time::Instant::now();
    drop(ws); // RST, no close handshake
    server.wait_for_clients(|r| r.clients.is_empty()).await;
    // A reset is seen by the next read, long before the ping timeout would catch it.
    assert!(
        reset.elapsed() < patience,
        "removed after {:?}",
        reset.elapsed()
    );
    server.wait_until_clean().await;
}

#[tokio::test]
async fn a_silent_peer_is_dropped_after_the_ping_timeout() {
    let server = TestServer::start(Config {
        ping_interval: Duration::from_millis(50),
        ping_timeout: Duration::from_millis(300),
        ..Config::default()
    })
    .await;
    let mut ws = raw::upgrade(&server, "/pingpong", "").await;
    // Read without answering: the server must give up on us.
    let mut pings = 0;
    let close = loop {
        let frame = raw::read(&mut ws).await.expect("frames until the close");
        match frame.opcode {
            PING => pings += 1,
            CLOSE => break frame,
            other => panic!("unexpected opcode {other}"),
        }
    };
    assert!(pings >= 2, "pinged every interval, got {pings}");
    assert_eq!(close.close_code(), Some(1001));
    assert_eq!(&close.payload[2..], b"ping timeout");
    assert_eq!(raw::read(&mut ws).await, None, "then the server hangs up");
    server.wait_until_clean().await;
}

#[tokio::test]
async fn a_peer_that_answers_is_kept_when_the_ping_timeout_is_shorter_than_the_interval() {
    // One timer serves both the next ping and the pong deadline: once a pong meets
    // the deadline, the timer must wait for the next ping, not fire for the deadline.
    let server = TestServer::start(Config {
        ping_interval: Duration::from_millis(500),
        ping_timeout: Duration::from_millis(400),
        ..Config::default()
    })
    .await;
    let mut ws = raw::upgrade(&server, "/pingpong", "").await;
    for _ in 0..3 {
        let ping = raw::read(&mut ws).await.expect("a ping");
        assert_eq!(ping.opcode, PING, "pinged, not dropped: {ping:?}");
        raw::send(&mut ws, PONG, &ping.payload).await;
    }
    let report = server
        .wait_for_clients(|r| r.clients.iter().any(|c| c.pongs_received == 3))
        .await;
    assert_eq!(report.clients.len(), 1);
}

#[tokio::test]
async fn only_the_echo_of_our_ping_counts_as_a_pong() {
    let server = TestServer::start(quiet()).await;
    let mut ws = raw::upgrade(&server, "/pingpong", "").await;
    let ping = raw::read_until(&mut ws, PING).await;
    raw::send(&mut ws, PONG, b"unsolicited heartbeat").await;
    let mut forged = ping.payload.clone();
    forged[15] ^= 1; // right seq, wrong send time
    raw::send(&mut ws, PONG, &forged).await;
    raw::send(&mut ws, PONG, &ping.payload).await;
    raw::send(&mut ws, PONG, &ping.payload).await; // a duplicate: late
    // The echo is answered after every pong above has been processed.
    raw::send(&mut ws, TEXT, b"sync").await;
    raw::read_until(&mut ws, TEXT).await;
    let report = server.clients().await;
    assert_eq!(report.clients[0].pings_sent, 1);
    assert_eq!(report.clients[0].pongs_received, 1);
}

/// Reads one frame as it is on the wire: its header (RSV bits kept) and payload.
async fn read_wire_frame(stream: &mut tokio::net::TcpStream) -> (wspp::frame::Header, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    let mut reader = wspp::frame::HeaderReader::new();
    let header = loop {
        let mut byte = [0u8; 1];
        within(stream.read_exact(&mut byte))
            .await
            .expect("a header byte");
        if let (_, Some(header)) = reader.feed(&byte) {
            break header;
        }
    };
    let mut payload = vec![0u8; header.len as usize];
    within(stream.read_exact(&mut payload))
        .await
        .expect("the payload");
    (header, payload)
}

const OFFER: &str = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

#[tokio::test]
async fn a_client_offering_deflate_gets_compressed_echoes() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start(quiet()).await;
    let mut stream = server.connect().await;
    let head = raw::send_upgrade(&mut stream, "/pingpong", OFFER).await;
    let agreed = "permessage-deflate; client_no_context_takeover";
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("sec-websocket-extensions: {agreed}")),
        "{head}"
    );
    let text = "echo me, echo me, echo me compressed";
    for _ in 0..2 {
        let compressed = wspp::deflate::codec::compress_message(text.as_bytes(), 15);
        let frame = wspp::frame::encode(true, 0x41, Some([1, 2, 3, 4]), &compressed);
        stream.write_all(&frame).await.expect("send");
        let (header, payload) = loop {
            let (header, payload) = read_wire_frame(&mut stream).await;
            if header.opcode == TEXT {
                break (header, payload);
            }
        };
        assert_eq!((header.rsv, header.mask), (0b100, None), "{header:?}");
        assert!(payload.len() < text.len(), "compressed: {payload:02x?}");
        let echoed = wspp::deflate::codec::inflate_message(&payload).expect("deflate");
        assert_eq!(echoed, text.as_bytes());
    }
    let report = server
        .wait_for_clients(|r| r.clients.iter().any(|c| !c.extensions.is_empty()))
        .await;
    assert_eq!(report.clients[0].extensions, agreed);
}

#[tokio::test]
async fn with_deflate_off_the_offer_is_declined() {
    let server = TestServer::start(Config {
        deflate: false,
        ..quiet()
    })
    .await;
    let mut stream = server.connect().await;
    let head = raw::send_upgrade(&mut stream, "/pingpong", OFFER).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions"),
        "{head}"
    );
    raw::send(&mut stream, TEXT, b"plain").await;
    assert_eq!(raw::read_until(&mut stream, TEXT).await.payload, b"plain");
    let report = server.wait_for_clients(|r| r.clients.len() == 1).await;
    assert_eq!(report.clients[0].extensions, "");
}

#[tokio::test]
async fn malformed_compressed_data_is_closed_with_1007() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start(quiet()).await;
    let mut stream = server.connect().await;
    raw::send_upgrade(&mut stream, "/pingpong", OFFER).await;
    let frame = wspp::frame::encode(true, 0x41, Some([1, 2, 3, 4]), &[0xff, 0xff, 0xff]);
    stream.write_all(&frame).await.expect("send");
    let close = raw::read_to_close(&mut stream)
        .await
        .expect("a close frame");
    assert_eq!(close.close_code(), Some(1007));
}
