//! Hostile clients, written by hand on raw sockets: broken HTTP, broken frames, abusive
//! behaviour, and attempts to get at other people's data or the logs.
//!
//! Every test keeps a well-behaved client (a [`Bystander`]) connected while the hostile
//! ones do their worst, checks that it is still served afterwards, and ends with
//! [`TestServer::wait_until_clean`]: no client left listed, no socket left open.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsppsrv::Config;

use crate::support::child::ChildServer;
use crate::support::raw::{self, BINARY, CLOSE, PING, PONG, TEXT};
use crate::support::{Bystander, PATIENCE, Response, TestServer, within};

const CONTINUATION: u8 = 0x0;

/// No server pings (they would only get in the way of reading exact answers), a short
/// header timeout, and a small message limit.
fn config() -> Config {
    Config {
        first_ping_delay: Duration::from_secs(3600),
        header_read_timeout: Duration::from_millis(500),
        max_message_size: 4096,
        ..Config::default()
    }
}

/// Writes `bytes` on a fresh connection and reads until the server hangs up (bounded).
async fn until_hangup(server: &TestServer, bytes: &[u8]) -> Response {
    let mut stream = server.connect().await;
    stream.write_all(bytes).await.expect("send");
    let mut answer = Vec::new();
    // A reset instead of a FIN still means the server hung up.
    let _ = within(stream.read_to_end(&mut answer)).await;
    Response::parse(&answer)
}

/// An upgrade request to `/pingpong` from header lines, `\r\n`-terminated each.
fn upgrade_with(lines: &[&str]) -> String {
    let mut request = String::from("GET /pingpong HTTP/1.1\r\nHost: localhost\r\n");
    for line in lines {
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request
}

const UPGRADE: &str = "Upgrade: websocket";
const CONNECTION: &str = "Connection: Upgrade";
const VERSION: &str = "Sec-WebSocket-Version: 13";
const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";

// ---------------------------------------------------------------------------------
// HTTP

#[tokio::test]
async fn garbage_instead_of_a_request_gets_400() {
    let server = TestServer::start(config()).await;
    let mut bystander = Bystander::join(&server).await;
    let garbage: [&[u8]; 5] = [
        b"HELLO\r\n\r\n",
        // The start of a TLS ClientHello: someone tried https:// on a plain port.
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        b"GET /\x1b[31m HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /pingpong HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        b"GET /pingpong HTTP/9.9\r\nHost: x\r\n\r\n",
    ];
    for bytes in garbage {
        let answer = until_hangup(&server, bytes).await;
        assert_eq!(answer.status, 400, "{:?}: {}", bytes, answer.head);
    }
    bystander.still_served().await;
    bystander.leave().await;
    server.wait_until_clean().await;
}

#[tokio::test]
async fn headers_that_never_finish_are_dropped_after_the_header_timeout() {
    let server = TestServer::start(config()).await;
    let mut bystander = Bystander::join(&server).await;
    let timeout = config().header_read_timeout;

    // Slowloris: a byte now and then, never the blank line. Trickling must not extend
    // the deadline, which runs for the whole head.
    let started = Instant::now();
    let mut slow = server.connect().await;
    slow.write_all(b"GET /pingpong HTTP/1.1\r\n")
        .await
        .expect("send");
    let mut answer = Vec::new();
    within(async {
        loop {
            if slow.write_all(b"X-a: b\r\n").await.is_err() {
                break;
            }
            let mut buf = [0u8; 512];
            match tokio::time::timeout(Duration::from_millis(50), slow.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => break,
                Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
    })
    .await;
    let took = started.elapsed();
    assert!(
        took >= timeout,
        "dropped after {took:?}, before the timeout"
    );
    let head = String::from_utf8_lossy(&answer);
    assert!(
        head.is_empty() || head.starts_with("HTTP/1.1 408"),
        "a silent hang-up or 408, got {head:?}"
    );

    // A connection that never sends a byte is dropped the same way.
    let mut idle = server.connect().await;
    let mut rest = Vec::new();
    let _ = within(idle.read_to_end(&mut rest)).await;

    bystander.still_served().await;
    bystander.leave().await;
    server.wait_until_clean().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_does_not_keep_its_slot() {
    let server = TestServer::start(config()).await;
    let mut stream = server.connect().await;
    let answer = raw::keep_alive_get(&mut stream, "/clients.json").await;
    assert_eq!(answer.status, 200, "{}", answer.head);
    // Then say nothing more: the next head is late from the moment the last answer
    // went out, so the server hangs up instead of holding a slot forever.
    let mut rest = Vec::new();
    let _ = within(stream.read_to_end(&mut rest)).await;
    server.wait_until_clean().await;
}

#[tokio::test]
async fn oversized_headers_get_431() {
    let server = TestServer::start(config()).await;
    let mut bystander = Bystander::join(&server).await;
    let big = format!("X-Big: {}", "a".repeat(config().max_header_bytes + 1024));
    let answer = until_hangup(&server, upgrade_with(&[&big]).as_bytes()).await;
    assert_eq!(answer.status, 431, "{}", answer.head);

    let many: Vec<String> = (0..200).map(|i| format!("X-Many-{i}: y")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let answer = until_hangup(&server, upgrade_with(&many).as_bytes()).await;
    assert_eq!(answer.status, 431, "{}", answer.head);

    bystander.still_served().await;
    bystander.leave().await;
    server.wait_until_clean().await;
}

#[tokio::test]
async fn broken_upgrades_get_the_rfc_status_and_a_reason() {
    let server = TestServer::start(config()).await;
    let mut bystander = Bystander::join(&server).await;
    let bad = |reason: &'static str| (400, reason);
    let cases: Vec<(String, (u16, &str))> = vec![
        (
            upgrade_with(&[CONNECTION, VERSION, KEY]),
            bad("send Upgrade: websocket"),
        ),
        (
            upgrade_with(&["Upgrade: h2c", CONNECTION, VERSION, KEY]),
            bad("send Upgrade: websocket"),
        ),
        (
            upgrade_with(&[UPGRADE, VERSION, KEY]),
            bad("missing Connection: Upgrade"),
        ),
        (
            upgrade_with(&[UPGRADE, "Connection: keep-alive", VERSION, KEY]),
            bad("missing Connection: Upgrade"),
        ),
        (
            upgrade_with(&[UPGRADE, CONNECTION, VERSION]),
            bad("missing Sec-WebSocket-Key"),
        ),
        (
            upgrade_with(&[UPGRADE, CONNECTION, VERSION, "Sec-WebSocket-Key: not-a-key"]),
            bad("not 16 bytes in base64"),
        ),
        (
            upgrade_with(&[UPGRADE, CONNECTION, VERSION, KEY, KEY]),
            bad("more than one Sec-WebSocket-Key"),
        ),
        (
            upgrade_with(&[UPGRADE, CONNECTION, KEY]),
            bad("missing Sec-WebSocket-Version"),
        ),
        (
            upgrade_with(&[UPGRADE, CONNECTION, "Sec-WebSocket-Version: 8", KEY]),
            (426, "only 13 is spoken"),
        ),
        (
            upgrade_with(&[UPGRADE, CONNECTION, VERSION, KEY]).replace("HTTP/1.1", "HTTP/1.0"),
            bad("needs HTTP/1.1"),
        ),
        (
            upgrade_with(&[UPGRADE, CONNECTION, VERSION, KEY, "Content-Length: 5"]) + "hello",
            bad("carries no body"),
        ),
        (
            upgrade_with(&[
                UPGRADE,
                CONNECTION,
                VERSION,
                KEY,
                "Transfer-Encoding: chunked",
            ]) + "5\r\nhello\r\n0\r\n\r\n",
            bad("carries no body"),
        ),
    ];
    for (request, (status, reason)) in cases {
        let answer = server.request(&request).await;
        assert_eq!(answer.status, status, "{request}");
        assert!(answer.body.contains(reason), "{request}: {}", answer.body);
        if status == 426 {
            assert_eq!(answer.header("sec-websocket-version"), Some("13"));
        }
    }
    bystander.still_served().await;
    bystander.leave().await;
    server.wait_until_clean().await;
}

// ---------------------------------------------------------------------------------
// Frames

/// A masked frame with the RSV bits set as given (the encoder leaves them clear).
fn with_rsv(rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = raw::encode(true, opcode, payload, true);
    frame[0] |= rsv << 4;
    frame
}

/// A masked Close frame with exactly this payload.
fn close(payload: &[u8]) -> Vec<u8> {
    raw::encode(true, CLOSE, payload, true)
}

/// The header of a masked binary frame that claims `len` bytes, and no payload.
fn claims(len: u64) -> Vec<u8> {
    let mut header = vec![0x80 | BINARY, 0x80 | 127];
    header.extend_from_slice(&len.to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    header
}

#[tokio::test]
async fn frames_that_break_the_protocol_get_their_close_code_and_no_echo() {
    let server = TestServer::start(config()).await;
    let limit = config().max_message_size;
    let mut bystander = Bystander::join(&server).await;
    let frag = |fin, opcode, payload: &[u8]| raw::encode(fin, opcode, payload, true);
    let code = |c: u16| c.to_be_bytes().to_vec();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked", raw::encode(true, TEXT, b"hi", false), 1002),
        ("rsv1", with_rsv(0b100, TEXT, b"hi"), 1002),
        ("rsv2", with_rsv(0b010, BINARY, b"hi"), 1002),
        ("rsv3", with_rsv(0b001, PING, b"hi"), 1002),
        ("opcode 3", frag(true, 0x3, b""), 1002),
        ("opcode 7", frag(true, 0x7, b"x"), 1002),
        ("opcode 0xB", frag(true, 0xB, b""), 1002),
        ("opcode 0xF", frag(true, 0xF, b"x"), 1002),
        ("ping of 126 bytes", frag(true, PING, &[0x55; 126]), 1002),
        ("fragmented ping", frag(false, PING, b"a"), 1002),
        (
            "continuation first",
            frag(true, CONTINUATION, b"orphan"),
            1002,
        ),
        (
            "new message inside a fragmented one",
            [frag(false, TEXT, b"a"), frag(true, TEXT, b"b")].concat(),
            1002,
        ),
        ("invalid utf-8", frag(true, TEXT, &[b'o', b'k', 0xff]), 1007),
        (
            "invalid utf-8 in a later fragment",
            [
                frag(false, TEXT, "κόσμε".as_bytes()),
                frag(true, CONTINUATION, &[0xed, 0xa0, 0x80]),
            ]
            .concat(),
            1007,
        ),
        (
            // Refused at once: the server does not wait for the 1,000 bytes announced.
            "invalid utf-8 opening a frame that never ends",
            raw::encode(true, TEXT, &[0xff; 1000], true)[..2 + 2 + 4 + 4].to_vec(),
            1007,
        ),
        (
            "one byte over the limit",
            frag(true, BINARY, &vec![7; limit + 1]),
            1009,
        ),
        (
            "over the limit in fragments",
            [
                frag(false, BINARY, &vec![7; limit / 2 + 1]),
                frag(true, CONTINUATION, &vec![7; limit / 2 + 1]),
            ]
            .concat(),
            1009,
        ),
        ("a header claiming 2^62 bytes", claims(1 << 62), 1009),
        ("a header claiming 2^64-1 bytes", claims(u64::MAX), 1009),
        ("close with one byte", close(&[0x03]), 1002),
        ("close code 0", close(&code(0)), 1002),
        ("close code 999", close(&code(999)), 1002),
        ("close code 1004", close(&code(1004)), 1002),
        ("close code 1005", close(&code(1005)), 1002),
        ("close code 1006", close(&code(1006)), 1002),
        ("close code 1015", close(&code(1015)), 1002),
        ("close code 1016", close(&code(1016)), 1002),
        ("close code 2999", close(&code(2999)), 1002),
        (
            "close reason not utf-8",
            close(&[&code(1000)[..], &[0xff, 0xfe]].concat()),
            1007,
        ),
    ];
    for (name, bytes, want) in cases {
        let mut ws = raw::upgrade(&server, "/pingpong", "").await;
        // The peer may hang up before it has read everything: that is its right.
        let _ = ws.write_all(&bytes).await;
        let frames = raw::read_to_end(&mut ws).await;
        let codes: Vec<Option<u16>> = frames.iter().map(raw::Frame::close_code).collect();
        assert!(
            frames
                .iter()
                .all(|f| f.opcode != TEXT && f.opcode != BINARY),
            "{name}: nothing of a broken message is echoed"
        );
        assert_eq!(codes, [Some(want)], "{name}");
    }
    bystander.still_served().await;
    bystander.leave().await;
    server.wait_until_clean().await;
}

#[tokio::test]
async fn a_message_at_the_limit_is_echoed_whole() {
    let server = TestServer::start(config()).await;
    let limit = config().max_message_size;
    let mut ws = raw::upgrade(&server, "/pingpong", "").await;
    let blob: Vec<u8> = (0..limit).map(|i| i as u8).collect();
    raw::send(&mut ws, BINARY, &blob).await;
    assert_eq!(raw::read_until(&mut ws, BINARY).await.payload, blob);
    raw::send(&mut ws, CLOSE, &1000u16.to_be_bytes()).await;
    raw::read_to_close(&mut ws).await;
    server.wait_until_clean().await;
}

// ---------------------------------------------------------------------------------
// Behaviour

#[tokio::test]
async fn a_ping_flood_is_answered_without_unbounded_buffering() {
    // The ping timeout also bounds one write to a peer: a flooder that does not read
    // for a few seconds under a loaded host must not be dropped before it reads.
    let server = TestServer::start(Config {
        ping_timeout: Duration::from_secs(3600),
        ..config()
    })
    .await;
    let mut bystander = Bystander::join(&server).await;
    let mut flood = server.connect_small_window().await;
    let head = raw::send_upgrade(&mut flood, "/pingpong", "").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");

    // tungstenite queues pongs up to its write-buffer limit and then keeps only the
    // newest one (RFC 6455 5.5.3 allows answering only the latest ping). So what can
    // reach the reader is what the kernel holds once the server has read every ping,
    // measured rather than guessed from the host's settings (pongs queued to send or
    // received unread, and any ping not yet handled, which may yet be answered), plus
    // that limit. Pings are sent in rounds of 100,000 (twelve megabytes of pongs, if the
    // server kept them all; nothing is read meanwhile) until they are at least twice
    // what that allows, so that a server that kept every pong cannot pass, whatever the
    // host's buffer sizes.
    const ROUND: u32 = 100_000;
    const PONG_FRAME: u64 = 2 + 125;
    const PING_FRAME: u64 = 2 + 4 + 125;
    let write_buffer_limit = config().websocket_config().max_write_buffer_size as u64;
    let local = flood.local_addr().expect("local address");
    let mut pings: u32 = 0;
    let mut held = None;
    for _ in 0..8 {
        let mut burst = Vec::with_capacity(128 * 1000);
        for seq in pings..pings + ROUND {
            let mut payload = [b'p'; 125];
            payload[..4].copy_from_slice(&seq.to_be_bytes());
            burst.extend_from_slice(&raw::encode(true, PING, &payload, true));
            if burst.len() >= 128 * 1000 || seq + 1 == pings + ROUND {
                within(flood.write_all(&burst)).await.expect("flood");
                burst.clear();
            }
        }
        pings += ROUND;
        // The bystander is served while the flooder's pongs are stuck.
        bystander.still_served().await;
        let queues = || {
            let server_side = raw::tcp_queues(server.addr, local).expect("the server's socket");
            let client_side = raw::tcp_queues(local, server.addr).expect("the client's socket");
            (server_side, client_side)
        };
        // Until the server has read every ping (bounded: if it stopped reading, the
        // pings still queued are counted as pongs to come).
        let _ = tokio::time::timeout(PATIENCE, async {
            loop {
                let (server_side, client_side) = queues();
                if server_side.receive + client_side.send == 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        let (server_side, client_side) = queues();
        let kernel_pongs =
            (server_side.send + client_side.receive + write_buffer_limit) / PONG_FRAME;
        let kernel_pings = (client_side.send + server_side.receive) / PING_FRAME;
        // A quarter more and a few frames for what the count leaves out (the two sockets
        // are read one after the other while the kernel moves bytes between them).
        let bound = (kernel_pongs + kernel_pings) * 5 / 4 + 64;
        held = Some((bound, server_side, client_side));
        if bound * 2 <= u64::from(pings) {
            break;
        }
    }
    let (bound, server_side, client_side) = held.expect("one round at least");
    assert!(
        bound * 2 <= u64::from(pings),
        "the kernel holds {server_side:?} and {client_side:?}: more than half of {pings} \
         pings' pongs, too much for this test to see the server's own buffering"
    );

    // Now read, until the answer to the newest ping, then the echo of a message.
    let mut pongs = 0u64;
    let mut last = None;
    let mut echoed = false;
    let mut asked = false;
    while !(echoed && last == Some(pings - 1)) {
        // The message goes once the newest ping is answered, or once nothing more comes
        // (the server holds its last pongs until something wakes it: this message).
        // Sent earlier, to a server whose write buffer is still full of pongs, its echo
        // would not fit, and the session would end (as it should for a client that never
        // reads). Peeking consumes nothing, so giving up on it loses no byte.
        if !asked {
            let mut byte = [0u8; 1];
            let quiet = Duration::from_millis(200);
            let idle = tokio::time::timeout(quiet, flood.peek(&mut byte))
                .await
                .is_err();
            if idle || last == Some(pings - 1) {
                raw::send(&mut flood, TEXT, b"end of flood").await;
                asked = true;
            }
        }
        let frame = raw::read(&mut flood).await.expect("connection open");
        match frame.opcode {
            PONG => {
                pongs += 1;
                last = Some(u32::from_be_bytes(
                    frame.payload[..4].try_into().expect("4 bytes"),
                ));
            }
            TEXT => echoed = true,
            other => panic!("unexpected opcode {other}"),
        }
    }
    assert!(
        pongs <= bound,
        "{pongs} pongs for {pings} pings (bound {bound}; the kernel held {server_side:?} \
         and {client_side:?}): the server buffered them"
    );
    raw::send(&mut flood, CLOSE, &1000u16.to_be_bytes()).await;
    raw::read_to_close(&mut flood).await;
    bystander.leave().await;
    server.wait_until_clean().await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_not_the_server() {
    let patience = Duration::from_millis(500);
    let server = TestServer::start(Config {
        ping_timeout: patience,
        ..config()
    })
    .await;
    let mut bystander = Bystander::join(&server).await;
    let mut deaf = server.connect_small_window().await;
    let head = raw::send_upgrade(&mut deaf, "/pingpong", "User-Agent: deaf\r\n").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    server
        .wait_for_clients(|r| {
            r.clients
                .iter()
                .any(|c| c.user_agent.as_deref() == Some("deaf"))
        })
        .await;

    // Echo requests, never reading the echoes: the server's writes stall, and after
    // `ping_timeout` on one write it gives up on this peer. Writing stops being
    // possible too once the server stops reading; the loop is bounded either way.
    let message = raw::encode(true, BINARY, &[0x42; 4000], true);
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        for _ in 0..10_000 {
            match tokio::time::timeout(PATIENCE, deaf.write_all(&message)).await {
                Ok(Ok(())) => {}
                _ => break,
            }
        }
        deaf
    });
    server
        .wait_for_clients(|r| {
            r.clients
                .iter()
                .all(|c| c.user_agent.as_deref() != Some("deaf"))
        })
        .await;
    let took = started.elapsed();
    assert!(
        took < patience + Duration::from_secs(3),
        "dropped after {took:?}"
    );
    bystander.still_served().await;
    writer.abort();
    let _ = writer.await;
    bystander.leave().await;
    server.wait_until_clean().await;
}

#[tokio::test]
async fn thousands_of_abandoned_handshakes_leave_nothing_behind() {
    let server = TestServer::start(config()).await;
    let mut bystander = Bystander::join(&server).await;
    let partial = b"GET /pingpong HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConn";
    let whole = upgrade_with(&[UPGRADE, CONNECTION, VERSION, KEY]);
    // 2,000 in batches of 250 so that the test's own descriptors stay bounded too.
    for batch in 0..8 {
        let streams = join_all((0..250).map(|i| {
            let whole = whole.clone();
            let server = &server;
            async move {
                let mut stream = server.connect().await;
                match i % 3 {
                    // Half a request head, then gone.
                    0 => stream.write_all(partial).await.expect("send"),
                    // A whole upgrade request, gone before the 101 is read.
                    1 => stream.write_all(whole.as_bytes()).await.expect("send"),
                    // Connected, nothing sent.
                    _ => {}
                }
                stream
            }
        }))
        .await;
        for (i, stream) in streams.into_iter().enumerate() {
            if (i + batch) % 2 == 0 {
                // A reset rather than a FIN, like a killed process with unread data.
                #[allow(deprecated)]
                stream.set_linger(Some(Duration::ZERO)).expect("linger");
            }
            drop(stream);
        }
        bystander.still_served().await;
    }
    bystander.leave().await;
    server.wait_until_clean().await;
}

#[tokio::test]
async fn connections_over_the_limit_get_503_until_a_slot_frees() {
    // No HTTP reserve: sessions fill every slot, so every new connection is refused
    // before its request is read (the reserve is tested in metrics.rs).
    let server = TestServer::start(Config {
        max_connections: 2,
        http_reserve: 0,
        ..config()
    })
    .await;
    let mut bystander = Bystander::join(&server).await;
    let mut hog = raw::upgrade(&server, "/pingpong", "").await;
    for _ in 0..20 {
        let refused = until_hangup(&server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!(refused.status, 503, "{}", refused.head);
        assert_eq!(refused.header("retry-after"), Some("1"));
        assert_eq!(refused.body, "too many connections; try later\n");
    }
    // An upgrade over the limit is refused the same way, before any handshake.
    let mut over = server.connect().await;
    let head = raw::send_upgrade(&mut over, "/pingpong", "").await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    drop(over);
    bystander.still_served().await;

    raw::send(&mut hog, CLOSE, &1000u16.to_be_bytes()).await;
    raw::read_to_close(&mut hog).await;
    // The slot frees once the session task ends; poll until it has.
    within(async {
        loop {
            let mut stream = server.connect().await;
            let head = raw::send_upgrade(&mut stream, "/pingpong", "").await;
            if head.starts_with("HTTP/1.1 101") {
                raw::send(&mut stream, CLOSE, &1000u16.to_be_bytes()).await;
                raw::read_to_close(&mut stream).await;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    bystander.leave().await;
    server.wait_until_clean().await;
}

// ---------------------------------------------------------------------------------
// Security

#[tokio::test]
async fn a_foreign_origin_is_forbidden_when_origins_are_listed() {
    let server = TestServer::start(Config {
        allowed_origins: vec!["http://localhost:8080".into()],
        ..config()
    })
    .await;
    let bystander = Bystander::join(&server).await;
    for origin in [
        "http://evil.example",
        "null",
        "http://localhost:8080.evil.example",
        "http://localhost",
    ] {
        let mut stream = server.connect().await;
        let head =
            raw::send_upgrade(&mut stream, "/pingpong", &format!("Origin: {origin}\r\n")).await;
        assert!(head.starts_with("HTTP/1.1 403"), "{origin}: {head}");
    }
    // Listed (in any case), or no Origin at all (not a browser, so no hijacking).
    for extra in [
        "Origin: http://localhost:8080\r\n",
        "Origin: HTTP://LOCALHOST:8080\r\n",
        "",
    ] {
        let mut ws = raw::upgrade(&server, "/pingpong", extra).await;
        raw::send(&mut ws, CLOSE, &1000u16.to_be_bytes()).await;
        raw::read_to_close(&mut ws).await;
    }
    bystander.leave().await;
    server.wait_until_clean().await;
}

/// A `MakeWriter` that keeps what the log subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn peer_text_cannot_forge_log_lines() {
    // The test runtime has one thread, so the server's tasks log through this
    // thread-local subscriber, not the process-wide one.
    let captured = Captured::default();
    let _logs = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(captured.clone())
            .finish(),
    );
    let server = TestServer::start(Config {
        allowed_origins: vec!["http://ok.example".into()],
        ..config()
    })
    .await;
    // Header values cannot carry CR or LF (hyper refuses them), but they can carry
    // U+0085 and U+2028, which some log viewers break lines on.
    let mut ws = raw::upgrade(
        &server,
        "/pingpong",
        "User-Agent: agent\u{85}FORGED-UA\u{2028}FORGED-UA\r\nOrigin: http://ok.example\r\n",
    )
    .await;
    let mut reason = 1000u16.to_be_bytes().to_vec();
    reason.extend_from_slice(b"bye\n2026-01-01T00:00:00Z  INFO FORGED-CLOSE\r");
    raw::send(&mut ws, CLOSE, &reason).await;
    raw::read_to_close(&mut ws).await;
    let mut refused = server.connect().await;
    let head = raw::send_upgrade(
        &mut refused,
        "/pingpong",
        "Origin: http://x\u{2028}FORGED-ORIGIN\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    // hyper passes non-ASCII bytes in a path through (a 404 here), and the path is logged.
    let answer = server
        .request("GET /x\u{2028}FORGED-PATH HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(answer.status, 404);
    server.wait_until_clean().await;
    drop(server);

    let logs =
        String::from_utf8(captured.0.lock().expect("log buffer").clone()).expect("utf-8 logs");
    for forged in ["FORGED-UA", "FORGED-CLOSE", "FORGED-ORIGIN", "FORGED-PATH"] {
        assert!(logs.contains(forged), "{forged} is logged at all:\n{logs}");
    }
    for line in logs.lines() {
        assert!(
            line.starts_with(|c: char| c.is_ascii_digit()),
            "every line is a log record of ours: {line:?}"
        );
    }
    assert!(
        !logs.contains(['\u{85}', '\u{2028}', '\r']),
        "no line breaks of any kind but the record ends:\n{logs}"
    );
}

const CONNECTED: &str = "wspp_clients_connected{route=\"/pingpong\",http_version=\"1.1\"}";

/// Opens `count` `/pingpong` sessions on `server`, each upgrading with `extra` header
/// lines, and waits until the server counts `count` sessions in all.
async fn open_sessions(
    server: &ChildServer,
    count: usize,
    extra: &str,
) -> Vec<tokio::net::TcpStream> {
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = server.connect().await;
        let head = raw::send_upgrade(&mut stream, "/pingpong", extra).await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        streams.push(stream);
    }
    server.wait_for_metric(CONNECTED, count as f64).await;
    streams
}

/// What one idle `/pingpong` session costs a fresh server in resident memory, in bytes,
/// when each upgrades with `user_agent` (and as long an `Origin`, up to what fits).
async fn idle_session_cost(user_agent: &str, origin: &str) -> f64 {
    let extra = format!("User-Agent: {user_agent}\r\nOrigin: {origin}\r\n");
    idle_cost_after(&extra, None).await
}

/// What one idle `/pingpong` session costs a fresh server in resident memory, in bytes,
/// when each upgrades with `extra` header lines and, given `message` (a whole frame),
/// first sends it and reads its echo.
async fn idle_cost_after(extra: &str, message: Option<&[u8]>) -> f64 {
    const SESSIONS: usize = 500;
    let server = ChildServer::start(&["--first-ping-delay", "1h"]).await;
    let server = &server;
    let open = |count| async move {
        let mut sessions = open_sessions(server, count, extra).await;
        if let Some(message) = message {
            for stream in &mut sessions {
                stream.write_all(message).await.expect("send");
                raw::read_until(stream, TEXT).await;
            }
        }
        sessions
    };
    // A first round made and ended, so that what the runtime allocates once (buffers,
    // the metrics' series) is not counted as the sessions' cost.
    drop(open(50).await);
    server.wait_for_metric(CONNECTED, 0.0).await;
    let before = server.rss_kib();
    let sessions = open(SESSIONS).await;
    let after = server.rss_kib();
    drop(sessions);
    after.saturating_sub(before) as f64 * 1024.0 / SESSIONS as f64
}

#[tokio::test]
async fn a_15_kb_header_costs_an_idle_session_no_more_memory() {
    let ordinary = idle_session_cost(
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        "http://localhost:8080",
    )
    .await;
    // Within the server's 16 KiB limit on a request head.
    let hostile = idle_session_cost(&"u".repeat(12_000), &"o".repeat(3_000)).await;
    assert!(
        hostile <= ordinary + 1024.0,
        "an idle session costs {hostile:.0} bytes with 15 KB headers, {ordinary:.0} with \
         ordinary ones"
    );
}

#[tokio::test]
async fn a_compressed_session_idle_after_a_message_costs_no_more_memory() {
    let text = "a message worth compressing, ".repeat(40);
    let compressed = wspp::deflate::codec::compress_message(text.as_bytes(), 15);
    let deflated = wspp::frame::encode(true, 0x41, Some([1, 2, 3, 4]), &compressed);
    let plain = wspp::frame::encode(true, 0x1, Some([1, 2, 3, 4]), text.as_bytes());
    let offer = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
    let without = idle_cost_after("", Some(&plain)).await;
    let with = idle_cost_after(offer, Some(&deflated)).await;
    // The compressor and decompressor go back to the process's spares at each
    // message's end (made in the warm-up round, so in the baseline); what stays is the
    // layer's own state and the extensions the page lists. The allowance is for
    // resident-set sampling noise; a decompressor kept per session would cost tens of
    // KiB each.
    assert!(
        with <= without + 2048.0,
        "an idle session costs {with:.0} bytes with permessage-deflate, {without:.0} without"
    );
}

#[tokio::test]
async fn fifty_requests_for_every_client_at_once_cost_a_bounded_page_each() {
    let started = Instant::now();
    // Two and a half times the most clients one answer lists, each with a User-Agent of
    // 15 KB.
    const SESSIONS: usize = 2500;
    // Fifty in all: half for the JSON, half for the page.
    const REQUESTS: usize = 25;
    let server = ChildServer::start(&["--first-ping-delay", "1h"]).await;
    let extra = format!("User-Agent: {}\r\n", "u".repeat(15_000));
    let _sessions = open_sessions(&server, SESSIONS, &extra).await;
    let ask = |path: &'static str| {
        let server = &server;
        async move {
            let answer = server.get(path).await;
            assert_eq!(answer.status, 200, "{}", answer.head);
            answer.body.len()
        }
    };
    // One round first, so that what a first answer allocates once is not counted.
    let one = ask("/clients.json?limit=1000000").await;
    let page = ask("/?limit=1000000").await;
    let before = server.rss_kib();
    let jsons = (0..REQUESTS).map(|_| ask("/clients.json?limit=1000000"));
    let pages = (0..REQUESTS).map(|_| ask("/?limit=1000000"));
    let (jsons, pages) = tokio::join!(join_all(jsons), join_all(pages));
    let after = server.rss_kib();
    // The same clients every time (the uptime's digits may differ).
    let same = |n: usize, size: usize| n.abs_diff(size) < 64;
    assert!(jsons.iter().all(|&n| same(n, one)) && pages.iter().all(|&n| same(n, page)));
    // A page of 1,000 clients, with their User-Agents cut to 256 bytes, is well under a
    // megabyte; before the pages, each of these answers listed all 2,500 with their whole
    // User-Agents (38 MB).
    assert!(one < 1 << 20, "one answer is {one} bytes");
    let grown = after.saturating_sub(before);
    eprintln!(
        "{SESSIONS} sessions: RSS {before} -> {after} KiB, answers {one} and {page} bytes, {:?}",
        started.elapsed()
    );
    assert!(
        grown < 8 * 1024,
        "{} concurrent requests grew the server by {grown} KiB (answers of {one} and {page} bytes)",
        2 * REQUESTS
    );
}

#[tokio::test]
async fn a_connect_flood_costs_a_bounded_number_of_descriptors() {
    // The refusals under way at once (wsppsrv's `MAX_REFUSALS`), each holding a
    // descriptor for up to a second; past them a connection is closed at once.
    const MAX_REFUSALS: usize = 64;
    const CONNECTS: usize = 1500;
    let server = ChildServer::start(&["--max-connections", "10", "--http-reserve", "2"]).await;
    let idle = server.descriptors();
    let mut held = Vec::with_capacity(CONNECTS);
    let mut most = 0;
    for i in 0..CONNECTS {
        // Held open without a word: each refused one would keep its refusal waiting for
        // the client's end for the whole second.
        match tokio::net::TcpStream::connect(server.addr).await {
            Ok(stream) => held.push(stream),
            Err(error) => panic!("connect {i}: {error}"),
        }
        if i % 50 == 0 {
            most = most.max(server.descriptors());
        }
    }
    most = most.max(server.descriptors());
    let bound = idle + 12 + MAX_REFUSALS + 16;
    assert!(
        most <= bound,
        "{most} descriptors under a flood of {CONNECTS} connects (idle {idle}, bound {bound})"
    );
    eprintln!("{CONNECTS} connects: descriptors idle {idle}, at most {most} (bound {bound})");
    // And the server still answers once the flood is gone.
    drop(held);
    let mut answered = false;
    for _ in 0..100 {
        if server.get("/clients.json").await.status == 200 {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered, "the server answers again after the flood");
}

#[tokio::test]
async fn out_of_descriptors_the_server_backs_off_serves_its_sessions_and_recovers() {
    let server = ChildServer::start_with_fd_limit(64, &["--first-ping-delay", "1h"]).await;
    let mut session = open_sessions(&server, 1, "").await.remove(0);
    // Far more connections than the server has descriptors left: the ones it cannot
    // accept wait in its backlog, and its accepts fail with EMFILE meanwhile.
    let mut held = Vec::new();
    for _ in 0..120 {
        held.push(server.connect().await);
    }
    let failing = |log: &[String]| log.iter().filter(|l| l.contains("accept failed")).count();
    server
        .wait_for_log(|line| line.contains("accept failed"))
        .await;
    let start = Instant::now();
    let first = failing(&server.log());
    // Steady pressure: every 100 ms a connection the server holds goes away, so one
    // accept succeeds and the next fails again. The session it has is served all along.
    for n in 0..20 {
        drop(held.remove(0));
        let text = format!("still here {n}");
        raw::send(&mut session, TEXT, text.as_bytes()).await;
        let echo = raw::read_until(&mut session, TEXT).await;
        assert_eq!(echo.payload, text.as_bytes());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Logged at most once a second (and once more for the edges), not once per failure.
    let lines = failing(&server.log()) - first;
    let seconds = start.elapsed().as_secs_f64();
    eprintln!("out of descriptors: {lines} accept failures logged in {seconds:.1} s");
    assert!(
        (lines as f64) <= seconds + 2.0,
        "{lines} accept failures logged in {seconds:.1} s"
    );
    // Descriptors come back: the server accepts and answers again.
    drop(held);
    let answered = within(async {
        loop {
            let mut stream = server.connect().await;
            let request = "GET /clients.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
            if stream.write_all(request.as_bytes()).await.is_ok() {
                let mut answer = Vec::new();
                let _ = stream.read_to_end(&mut answer).await;
                if answer.starts_with(b"HTTP/1.1 200") {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let () = answered;
}
