//! A WebSocket peer written from RFC 6455 alone: raw bytes on a byte stream (a
//! `TcpStream`, or a TLS stream over one), no WebSocket library, so that a program
//! under test is checked against the RFC and not against the library it uses itself.
//!
//! Which end a test plays decides what it sends: a client masks every frame and a
//! server none (RFC 6455, 5.1), and each opens its half of the handshake. So the
//! sending half is in [`client`] (for the server's tests) and [`server`] (for the
//! client's tests), over one way of laying out frames ([`encode`], which is
//! [`crate::frame::encode`] with a fixed mask) and one way of reading them ([`read`],
//! which takes a frame masked or not and says which it was).
//!
//! Every read is bounded by [`within`]: a peer that waits for what never comes fails
//! the test.

use tokio::io::{AsyncRead, AsyncReadExt};

use super::within;

/// Text frame opcode.
pub const TEXT: u8 = 0x1;
/// Binary frame opcode.
pub const BINARY: u8 = 0x2;
/// Close frame opcode.
pub const CLOSE: u8 = 0x8;
/// Ping frame opcode.
pub const PING: u8 = 0x9;
/// Pong frame opcode.
pub const PONG: u8 = 0xA;

/// The masking key of every masked frame [`encode`] lays out; any key will do, and a
/// fixed one keeps the bytes of a test the same from run to run.
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A frame as it was read, its payload unmasked.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    /// The FIN bit.
    pub fin: bool,
    /// The opcode's four bits.
    pub opcode: u8,
    /// Whether the sender masked it (a client must, a server must not).
    pub masked: bool,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
}

impl Frame {
    /// The status code of a Close frame that carries one.
    pub fn close_code(&self) -> Option<u16> {
        if self.opcode != CLOSE {
            return None;
        }
        self.payload
            .first_chunk::<2>()
            .map(|code| u16::from_be_bytes(*code))
    }
}

/// Reads an HTTP head byte by byte, up to and including the blank line (or to the end
/// of the stream), so that no byte after it (a frame, a body) is consumed.
pub async fn read_head(stream: &mut (impl AsyncRead + Unpin)) -> String {
    let mut head = Vec::new();
    within(async {
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read_u8().await {
                Ok(byte) => head.push(byte),
                Err(_) => break,
            }
        }
    })
    .await;
    String::from_utf8_lossy(&head).into_owned()
}

/// One frame's bytes, masked (as a client sends) or not (as a server sends); the
/// reserved bits are clear unless the caller sets them in the result.
pub fn encode(fin: bool, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    crate::frame::encode(fin, opcode, masked.then_some(MASK), payload)
}

/// Reads one frame, masked or not; `None` at the end of the stream, on an error, or
/// for a length this machine cannot hold.
pub async fn read(stream: &mut (impl AsyncRead + Unpin)) -> Option<Frame> {
    within(async {
        let mut head = [0u8; 2];
        stream.read_exact(&mut head).await.ok()?;
        let masked = head[1] & 0x80 != 0;
        let len = match head[1] & 0x7f {
            126 => u64::from(stream.read_u16().await.ok()?),
            127 => stream.read_u64().await.ok()?,
            n => u64::from(n),
        };
        let mut key = [0u8; 4];
        if masked {
            stream.read_exact(&mut key).await.ok()?;
        }
        let mut payload = vec![0u8; usize::try_from(len).ok()?];
        stream.read_exact(&mut payload).await.ok()?;
        if masked {
            payload
                .iter_mut()
                .enumerate()
                .for_each(|(i, b)| *b ^= key[i % 4]);
        }
        Some(Frame {
            fin: head[0] & 0x80 != 0,
            opcode: head[0] & 0x0f,
            masked,
            payload,
        })
    })
    .await
}

/// The client's half: the upgrade request, and masked frames. With the shared items
/// of [`peer`](super) it re-exports, all that a test playing the client needs.
pub mod client {
    use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

    pub use super::{BINARY, CLOSE, Frame, PING, PONG, TEXT, encode, read, read_head};

    /// The example key of RFC 6455, 1.3, which every upgrade sends.
    pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    /// The `Sec-WebSocket-Accept` a server must answer [`KEY`] with.
    pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    /// Sends an upgrade request for `path`, with `extra` header lines (each ending in
    /// CRLF), and returns the response head.
    pub async fn send_upgrade(
        stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
        path: &str,
        extra: &str,
    ) -> String {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: {KEY}\r\n{extra}\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send upgrade");
        read_head(stream).await
    }

    /// Sends one masked, final frame; the server must still be reading.
    pub async fn send(stream: &mut (impl AsyncWrite + Unpin), opcode: u8, payload: &[u8]) {
        stream
            .write_all(&encode(true, opcode, payload, true))
            .await
            .expect("send frame");
    }

    /// Reads frames until one with `opcode` arrives, answering Pings on the way.
    pub async fn read_until(
        stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
        opcode: u8,
    ) -> Frame {
        loop {
            let frame = read(stream).await.expect("connection open");
            if frame.opcode == opcode {
                return frame;
            }
            if frame.opcode == PING {
                send(stream, PONG, &frame.payload).await;
            }
        }
    }

    /// Reads to the end of the stream, answering Pings; returns the Close frame seen, if
    /// any.
    pub async fn read_to_close(
        stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
    ) -> Option<Frame> {
        read_to_end(stream)
            .await
            .into_iter()
            .find(|frame| frame.opcode == CLOSE)
    }

    /// Reads to the end of the stream, answering Pings and the first Close; returns
    /// every frame read.
    pub async fn read_to_end(stream: &mut (impl AsyncRead + AsyncWrite + Unpin)) -> Vec<Frame> {
        let mut frames: Vec<Frame> = Vec::new();
        let mut closed = false;
        while let Some(frame) = read(stream).await {
            // The server may have hung up before an answer arrives; that is its right.
            match frame.opcode {
                PING => {
                    let _ = stream
                        .write_all(&encode(true, PONG, &frame.payload, true))
                        .await;
                }
                CLOSE if !closed => {
                    closed = true;
                    // Completes the handshake, echoing the code as RFC 6455, 5.5.1 suggests.
                    let code = &frame.payload[..frame.payload.len().min(2)];
                    let _ = stream.write_all(&encode(true, CLOSE, code, true)).await;
                }
                _ => {}
            }
            frames.push(frame);
        }
        frames
    }
}

/// The server's half: accepting (or refusing) the upgrade, and unmasked frames. With
/// the shared items of [`peer`](super) it re-exports, all that a test playing the
/// server needs.
pub mod server {
    use std::net::SocketAddr;

    use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::JoinHandle;
    use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

    pub use super::{BINARY, CLOSE, Frame, PING, PONG, TEXT, encode, read, read_head};

    /// Serves one connection with `peer`, on a fresh port of `127.0.0.1`; the task
    /// ends with what `peer` returns.
    pub async fn serve_one<F, Fut, T>(peer: F) -> (SocketAddr, JoinHandle<T>)
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("bound address");
        let task = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept the client");
            peer(stream).await
        });
        (addr, task)
    }

    /// Reads an upgrade request and accepts it with 101, as RFC 6455, 4.2.2 says.
    pub async fn accept_upgrade(stream: &mut (impl AsyncRead + AsyncWrite + Unpin)) {
        accept_upgrade_with(stream, "").await;
    }

    /// [`accept_upgrade`], the 101 carrying `extra` header lines (each ending in CRLF).
    pub async fn accept_upgrade_with(
        stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
        extra: &str,
    ) {
        let head = read_head(stream).await;
        let key = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.trim()
                    .eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_owned())
            })
            .expect("the client sent a key");
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{extra}\r\n",
            derive_accept_key(key.as_bytes())
        );
        stream.write_all(answer.as_bytes()).await.expect("send 101");
    }

    /// Answers any request with a bare status line (e.g. `404 Not Found`).
    pub async fn refuse(stream: &mut (impl AsyncRead + AsyncWrite + Unpin), status: &str) {
        read_head(stream).await;
        let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let _ = stream.write_all(answer.as_bytes()).await;
    }

    /// Sends one unmasked, final frame. A client under test may have gone: what it saw
    /// is the test's to check, so a failed write is not an error here.
    pub async fn send(stream: &mut (impl AsyncWrite + Unpin), opcode: u8, payload: &[u8]) {
        let _ = stream
            .write_all(&encode(true, opcode, payload, false))
            .await;
    }

    /// Reads one client frame, checks that it is masked, and returns its opcode and
    /// unmasked payload; `None` at the end of the stream.
    pub async fn read_frame(stream: &mut (impl AsyncRead + Unpin)) -> Option<(u8, Vec<u8>)> {
        let frame = read(stream).await?;
        assert!(frame.masked, "client frames must be masked: {frame:?}");
        Some((frame.opcode, frame.payload))
    }

    /// Echoes a Close and shuts the stream, as a server should; true if `opcode` was a
    /// Close.
    pub async fn answer_close(
        stream: &mut (impl AsyncWrite + Unpin),
        opcode: u8,
        payload: &[u8],
    ) -> bool {
        if opcode != CLOSE {
            return false;
        }
        send(stream, CLOSE, payload).await;
        let _ = stream.shutdown().await;
        true
    }

    /// A WebSocket server for one client that answers Pings, echoes Text and Binary
    /// messages, and ends with the code of the client's Close frame (`None` if the
    /// connection ended without one).
    pub async fn recording_echo() -> (SocketAddr, JoinHandle<Option<u16>>) {
        serve_one(|mut stream| async move {
            accept_upgrade(&mut stream).await;
            while let Some((opcode, payload)) = read_frame(&mut stream).await {
                match opcode {
                    PING => send(&mut stream, PONG, &payload).await,
                    TEXT | BINARY => send(&mut stream, opcode, &payload).await,
                    CLOSE => {
                        let code = payload
                            .first_chunk::<2>()
                            .map(|code| u16::from_be_bytes(*code));
                        answer_close(&mut stream, opcode, &payload).await;
                        return code;
                    }
                    _ => {}
                }
            }
            None
        })
        .await
    }
}
