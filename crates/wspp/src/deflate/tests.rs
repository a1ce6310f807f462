//! The layer between two tungstenite ends, and under one end fed frames laid out by
//! hand.

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::*;
use crate::frame::{decode, encode};

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn agreement(deflate_window_bits: u8, keep_inflate_context: bool) -> Agreement {
    Agreement {
        deflate_window_bits,
        keep_inflate_context,
    }
}

async fn socket(
    io: DuplexStream,
    role: Role,
    agreed: Agreement,
) -> WebSocketStream<Deflated<DuplexStream>> {
    let config = WebSocketConfig::default().max_message_size(Some(1 << 20));
    WebSocketStream::from_raw_socket(layer(io, agreed), role, Some(config)).await
}

/// A server-role tungstenite over the layer, and the raw far end a client writes to.
async fn server_under_test() -> (WebSocketStream<Deflated<DuplexStream>>, DuplexStream) {
    let (near, far) = duplex(1 << 16);
    (socket(near, Role::Server, agreement(15, false)).await, far)
}

#[tokio::test]
async fn messages_round_trip_with_every_agreement() {
    let long = "compressible text, ".repeat(3000);
    let messages = [
        Message::text("Hello"),
        Message::text(""),
        Message::binary(vec![0u8; 70_000]),
        Message::text(long.clone()),
        Message::binary((0..=255u8).collect::<Vec<_>>()),
    ];
    for bits in [8, 9, 12, 15] {
        for keep in [false, true] {
            let (a, b) = duplex(1 << 12);
            let (mut client, mut server) = tokio::join!(
                socket(a, Role::Client, agreement(bits, keep)),
                socket(b, Role::Server, agreement(bits, keep)),
            );
            for message in &messages {
                let (sent, got) = tokio::join!(client.send(message.clone()), server.next());
                sent.expect("client sends");
                assert_eq!(&got.expect("open").expect("read"), message, "window {bits}");
                let (sent, got) = tokio::join!(server.send(message.clone()), client.next());
                sent.expect("server sends");
                assert_eq!(&got.expect("open").expect("read"), message, "window {bits}");
            }
            // Only a peer that carries its context over keeps a decompressor alive.
            assert_eq!(
                client.get_ref().layer().is_idle(),
                !keep,
                "client, keep {keep}"
            );
            assert_eq!(
                server.get_ref().layer().is_idle(),
                !keep,
                "server, keep {keep}"
            );
        }
    }
}

#[tokio::test]
async fn the_rfc_hello_is_read_and_written() {
    let (mut server, mut far) = server_under_test().await;
    // RFC 7692, 7.2.3.1, masked as a client must.
    let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    far.write_all(&encode(true, 0x41, Some(MASK), &hello))
        .await
        .expect("write");
    let got = server.next().await.expect("open").expect("read");
    assert_eq!(got, Message::text("Hello"));
    server.send(Message::text("Hello")).await.expect("send");
    let mut wire = [0u8; 9];
    far.read_exact(&mut wire).await.expect("read");
    assert_eq!(wire, [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
}

#[tokio::test]
async fn fragments_with_control_frames_between_them_are_followed() {
    let (mut server, mut far) = server_under_test().await;
    let text = "fragmented and compressed, ".repeat(50);
    let compressed = codec::compress_message(text.as_bytes(), 15);
    let (one, rest) = compressed.split_at(3);
    let (two, three) = rest.split_at(rest.len() / 2);
    let stream = [
        encode(false, 0x41, Some(MASK), one),
        encode(true, 0x9, Some(MASK), b"between"),
        encode(false, 0x0, Some(MASK), two),
        encode(true, 0xA, Some(MASK), b"unasked"),
        encode(true, 0x0, Some(MASK), three),
        encode(true, 0x2, Some(MASK), b"plain binary"),
    ]
    .concat();
    // One byte at a time: every header and payload arrives in pieces.
    let writer = tokio::spawn(async move {
        for b in stream {
            far.write_all(&[b]).await.expect("write");
        }
        far
    });
    let mut got = Vec::new();
    while got.len() < 4 {
        got.push(server.next().await.expect("open").expect("read"));
    }
    assert_eq!(
        got,
        [
            Message::Ping("between".into()),
            Message::Pong("unasked".into()),
            Message::text(text),
            Message::binary(&b"plain binary"[..]),
        ]
    );
    drop(writer.await.expect("writer"));
}

#[tokio::test]
async fn malformed_compressed_data_fails_the_read() {
    let (mut server, mut far) = server_under_test().await;
    far.write_all(&encode(true, 0x41, Some(MASK), &[0xff, 0xff, 0xff]))
        .await
        .expect("write");
    match server.next().await.expect("an answer") {
        Err(WsError::Io(e)) => assert!(InvalidDeflate::is(&e), "{e}"),
        other => panic!("expected invalid deflate, got {other:?}"),
    }
    // The Close still goes out, plain.
    let _ = server.close(None).await;
    let mut wire = [0u8; 2];
    far.read_exact(&mut wire).await.expect("read");
    assert_eq!(wire, [0x88, 0x00]);
}

#[tokio::test]
async fn what_tungstenite_refuses_reaches_it_as_it_came() {
    for bad in [
        // RSV1 on a continuation frame.
        [
            encode(false, 0x41, Some(MASK), &[0xf2, 0x48]),
            encode(true, 0x40, Some(MASK), &[0xcd]),
        ]
        .concat(),
        // RSV1 on a control frame.
        encode(true, 0x49, Some(MASK), b"ping"),
        // RSV2 on a data frame.
        encode(true, 0x21, Some(MASK), b"x"),
    ] {
        let (mut server, mut far) = server_under_test().await;
        far.write_all(&bad).await.expect("write");
        match server.next().await.expect("an answer") {
            Err(WsError::Protocol(_)) => {}
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_message_that_inflates_past_the_limit_is_refused_as_too_big() {
    let (mut server, mut far) = server_under_test().await;
    // 2 MiB of zeros compress to a few dozen KiB; the limit is 1 MiB.
    let compressed = codec::compress_message(&vec![0u8; 2 << 20], 15);
    assert!(compressed.len() < 64 * 1024);
    far.write_all(&encode(true, 0x42, Some(MASK), &compressed))
        .await
        .expect("write");
    match server.next().await.expect("an answer") {
        Err(WsError::Capacity(_)) => {}
        other => panic!("expected a capacity error, got {other:?}"),
    }
}

#[tokio::test]
async fn written_frames_carry_rsv1_on_the_first_fragment_only() {
    let (a, mut far) = duplex(1 << 16);
    let mut client = socket(a, Role::Client, agreement(15, false)).await;
    client.send(Message::text("Hello")).await.expect("send");
    let mut wire = vec![0u8; 64];
    let n = far.read(&mut wire).await.expect("read");
    let (header, size) = decode(&wire[..n]).expect("a header");
    assert_eq!((header.fin, header.rsv, header.opcode), (true, 0b100, 0x1));
    let key = header.mask.expect("a client masks");
    let mut payload = wire[size..n].to_vec();
    apply_mask(&mut payload, key, 0);
    assert_eq!(payload, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
}

/// What a client-side layer hands up of a response head followed, in the same read,
/// by one compressed "Hello", and what it found the extensions to mean.
async fn client_reads(
    offered: &str,
    response: &str,
) -> (Vec<u8>, Option<Result<Option<Agreement>, NegotiationError>>) {
    let (near, mut far) = duplex(1 << 16);
    let mut layered = Layered::new(near, Deflate::client(vec![offered.to_owned()]));
    let head = format!("HTTP/1.1 101 Switching Protocols\r\n{response}\r\n");
    let hello = encode(
        true,
        0x41,
        None,
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
    );
    far.write_all(&[head.as_bytes(), &hello].concat())
        .await
        .expect("write");
    drop(far);
    let mut got = Vec::new();
    layered.read_to_end(&mut got).await.expect("read");
    (got, layered.layer().outcome().cloned())
}

#[tokio::test]
async fn a_client_layer_reads_the_head_then_follows_the_frames_after_it() {
    let response = "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n";
    let (got, outcome) = client_reads(negotiation::CLIENT_OFFER, response).await;
    let head_len = got.len() - 7;
    assert_eq!(&got[head_len..], &encode(true, 0x1, None, b"Hello")[..]);
    assert_eq!(outcome, Some(Ok(Some(agreement(15, false)))));

    // An extension nobody offered: the layer stands aside, and says why.
    let (got, outcome) = client_reads("x-mine", "Sec-WebSocket-Extensions: x-other\r\n").await;
    assert_eq!(got[got.len() - 9..got.len() - 7], [0xc1, 0x07]);
    assert_eq!(
        outcome,
        Some(Err(NegotiationError::Unsupported("x-other".into())))
    );
    let (_, outcome) = client_reads(negotiation::CLIENT_OFFER, "").await;
    assert_eq!(outcome, Some(Ok(None)));
}

#[tokio::test]
async fn after_a_101_the_head_comes_alone_and_the_frames_on_the_next_read() {
    let (near, mut far) = duplex(1 << 16);
    let mut layered = Layered::new(
        near,
        Deflate::client(vec![negotiation::CLIENT_OFFER.into()]),
    );
    let head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
    let ping = encode(true, 0x9, None, b"first");
    far.write_all(&[head.as_bytes(), &ping].concat())
        .await
        .expect("write");
    // Whatever the handshake reads past the head, tungstenite keeps as the
    // WebSocket's buffer: the head must come alone, the Ping after it as it came.
    let mut buf = [0u8; 4096];
    let n = layered.read(&mut buf).await.expect("read the head");
    assert_eq!(&buf[..n], head.as_bytes());
    let n = layered.read(&mut buf).await.expect("read the ping");
    assert_eq!(&buf[..n], &ping[..]);
    assert_eq!(layered.layer().outcome().cloned(), Some(Ok(None)));
}

#[test]
fn a_session_without_the_extension_pays_one_pointer() {
    assert_eq!(
        std::mem::size_of::<Option<Deflate>>(),
        std::mem::size_of::<usize>()
    );
}
