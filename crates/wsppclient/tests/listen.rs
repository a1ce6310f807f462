//! `listen`: real WebSocket clients (tokio-tungstenite's, and raw bytes) against the
//! listener in-process, its output read as a user reads it; the binary for the
//! first line, Ctrl-C and `--json`.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use wsppclient::commands::listen::{ListenOptions, Listener};

use crate::support::{Running, within};

/// What `listen` printed so far, and a way to wait for more.
#[derive(Clone)]
struct Printed {
    text: Arc<Mutex<String>>,
    changed: watch::Sender<()>,
}

impl Write for Printed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.text
            .lock()
            .expect("not poisoned")
            .push_str(&String::from_utf8_lossy(buf));
        self.changed.send_replace(());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `listen` running in-process on a free port.
struct Listening {
    addr: SocketAddr,
    printed: Printed,
    /// Where the test types lines, as on standard input.
    typing: DuplexStream,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Listening {
    async fn start(options: ListenOptions) -> Listening {
        let options = ListenOptions {
            addr: "127.0.0.1:0".into(),
            ..options
        };
        let listener = Listener::bind(options).await.expect("bind loopback");
        let addr = listener.local_addr().expect("bound");
        let (changed, _) = watch::channel(());
        let printed = Printed {
            text: Arc::default(),
            changed,
        };
        let (typing, input) = tokio::io::duplex(1024);
        let (stop, stopped) = oneshot::channel::<()>();
        let mut out = printed.clone();
        let task = tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            listener
                .serve(BufReader::new(input), &mut out, stopped)
                .await
                .expect("listen serves");
        });
        Listening {
            addr,
            printed,
            typing,
            stop: Some(stop),
            task,
        }
    }

    fn text(&self) -> String {
        self.printed.text.lock().expect("not poisoned").clone()
    }

    /// Waits until the output satisfies `wanted`, and returns it.
    async fn until(&self, wanted: impl Fn(&str) -> bool) -> String {
        let mut changed = self.printed.changed.subscribe();
        within(async {
            loop {
                let text = self.text();
                if wanted(&text) {
                    return text;
                }
                changed.changed().await.expect("listen is running");
            }
        })
        .await
    }

    async fn type_line(&mut self, line: &str) {
        self.typing
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("typed");
    }

    /// Stops it (as Ctrl-C does) and returns everything it printed.
    async fn stop(mut self) -> String {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        within(self.task).await.expect("listen ends");
        self.printed.text.lock().expect("not poisoned").clone()
    }
}

type Client = WebSocketStream<TcpStream>;

/// A tokio-tungstenite client on `path`, offering `subprotocol`; its local address.
async fn client(addr: SocketAddr, path: &str, subprotocol: Option<&str>) -> (Client, SocketAddr) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let local = stream.local_addr().expect("bound");
    let mut request = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("a request");
    if let Some(name) = subprotocol {
        request.headers_mut().insert(
            "sec-websocket-protocol",
            name.parse().expect("a header value"),
        );
    }
    let (ws, response) = within(tokio_tungstenite::client_async(request, stream))
        .await
        .expect("upgraded");
    let chosen = response
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().expect("text").to_owned());
    assert_eq!(chosen.as_deref(), subprotocol, "the client sees our choice");
    (ws, local)
}

/// Reads until the connection ends (answering a Close, as tungstenite does).
async fn read_to_end<S>(mut ws: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    within(async { while ws.next().await.is_some() {} }).await;
}

/// The answer to an upgrade on `path` that `listen` refused.
async fn refused(
    addr: SocketAddr,
    path: &str,
) -> tokio_tungstenite::tungstenite::http::Response<Option<Vec<u8>>> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("ws://{addr}{path}");
    match within(tokio_tungstenite::client_async(request, stream)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => *response,
        other => panic!("not refused: {other:?}"),
    }
}

/// The lines of connection `n`.
fn lines_of(text: &str, n: u64) -> Vec<&str> {
    let label = format!("[{n}] ");
    text.lines().filter(|l| l.starts_with(&label)).collect()
}

fn has(lines: &[&str], wanted: &[&str]) -> bool {
    lines.iter().any(|l| wanted.iter().all(|w| l.contains(w)))
}

#[tokio::test]
async fn a_client_is_shown_frame_by_frame_with_its_mask_keys() {
    let mut listening = Listening::start(ListenOptions {
        subprotocols: vec!["chat".into()],
        ping_interval: Some(Duration::from_millis(50)),
        ..ListenOptions::default()
    })
    .await;
    let (mut ws, local) = client(listening.addr, "/any/path?x=1", Some("chat")).await;
    ws.send(Message::text("hello")).await.expect("send text");
    ws.send(Message::binary(vec![0u8, 1, 0xfe]))
        .await
        .expect("send binary");
    listening.type_line("typed on stdin").await;
    let (mut pinged, mut typed) = (false, false);
    within(async {
        while !(pinged && typed) {
            match ws.next().await.expect("open").expect("a message") {
                Message::Ping(_) => pinged = true,
                Message::Text(text) => {
                    assert_eq!(text.as_str(), "typed on stdin");
                    typed = true;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await;
    // tungstenite queues its Pong until the next write; a Close would take its place.
    within(ws.flush()).await.expect("the pong sent");
    ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    }))
    .await
    .expect("close");
    while within(ws.next()).await.is_some() {}
    let text = listening.until(|t| t.contains("by the client")).await;
    let lines = lines_of(&text, 1);
    assert_eq!(
        lines.len(),
        text.lines().count(),
        "every line is labelled:\n{text}"
    );
    assert!(
        has(&lines, &["accepted a connection from", &local.to_string()]),
        "{text}"
    );
    assert!(has(&lines, &["← GET /any/path?x=1 HTTP/1.1"]), "{text}");
    assert!(has(&lines, &["Sec-WebSocket-Protocol: chat"]), "{text}");
    assert!(
        has(&lines, &["answering 101 with subprotocol chat"]),
        "{text}"
    );
    assert!(
        has(&lines, &["→ HTTP/1.1 101 Switching Protocols"]),
        "{text}"
    );
    assert!(has(&lines, &["sec-websocket-protocol: chat"]), "{text}");
    assert!(
        has(&lines, &["← Text fin=1 mask=1 key=", "len=5 \"hello\""]),
        "{text}"
    );
    assert!(
        has(&lines, &["← Binary fin=1 mask=1 key=", "len=3"]),
        "{text}"
    );
    assert!(has(&lines, &["→ Ping fin=1 mask=0 len=16 seq="]), "{text}");
    assert!(has(&lines, &["← Pong fin=1 mask=1 key=", "seq="]), "{text}");
    assert!(has(&lines, &["pong seq=", "rtt="]), "{text}");
    assert!(
        has(&lines, &["→ Text fin=1 mask=0 len=14 \"typed on stdin\""]),
        "{text}"
    );
    assert!(
        has(
            &lines,
            &["← Close fin=1 mask=1 key=", "1000 (Normal Closure) \"bye\""]
        ),
        "{text}"
    );
    assert!(
        has(&lines, &["the client closed: 1000 (Normal Closure)"]),
        "{text}"
    );
    assert!(has(&lines, &["→ Close fin=1 mask=0"]), "{text}");
    let filter = format!("wireshark filter: tcp.port == {}", local.port());
    assert!(has(&lines, &[&filter]), "{text}");
    // The key is the client's: eight hex digits, a fresh one per frame.
    let keys: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split("key=").nth(1))
        .map(|rest| &rest[..8])
        .collect();
    assert!(
        keys.iter()
            .all(|k| k.bytes().all(|b| b.is_ascii_hexdigit())),
        "{keys:?}"
    );
    let summary = lines.last().expect("a summary");
    assert!(
        summary.contains(&format!("[1] {local}: upgraded; 2 messages in, 1 out;"))
            && summary.contains("answered")
            && summary.contains("closed 1000 (Normal Closure) \"bye\" by the client"),
        "{summary}"
    );
    listening.stop().await;
}

#[tokio::test]
async fn refuse_answers_the_upgrade_with_its_status_and_a_body() {
    let listening = Listening::start(ListenOptions {
        refuse: Some(403),
        ..ListenOptions::default()
    })
    .await;
    let response = refused(listening.addr, "/").await;
    assert_eq!(response.status(), 403);
    let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned();
    assert_eq!(body, "refused by wsppclient listen --refuse\n");
    let text = listening.until(|t| t.contains("not upgraded")).await;
    assert!(
        text.contains("[1]     ") && text.contains("→ HTTP/1.1 403 Forbidden"),
        "{text}"
    );
    assert!(text.contains("refusing with 403 (--refuse)"), "{text}");
    assert!(text.contains(": answered 403, not upgraded;"), "{text}");
    listening.stop().await;
}

#[tokio::test]
async fn close_after_closes_with_the_code_asked_for() {
    let listening = Listening::start(ListenOptions {
        close_after: Some(1),
        close_code: 4000,
        ..ListenOptions::default()
    })
    .await;
    let (mut ws, _) = client(listening.addr, "/", None).await;
    ws.send(Message::text("one")).await.expect("send");
    let close = match within(ws.next()).await.expect("open").expect("a message") {
        Message::Close(frame) => frame.expect("a code"),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(u16::from(close.code), 4000);
    assert_eq!(close.reason.as_str(), "after 1 messages (--close-after)");
    while within(ws.next()).await.is_some() {}
    let text = listening.until(|t| t.contains("by us")).await;
    assert!(text.contains("closing with 4000"), "{text}");
    assert!(text.contains("→ Close fin=1 mask=0 len="), "{text}");
    assert!(text.contains("the client answered: 4000"), "{text}");
    assert!(
        text.contains("closed 4000 \"after 1 messages (--close-after)\" by us"),
        "{text}"
    );
    listening.stop().await;
}

#[tokio::test]
async fn two_clients_keep_separate_labelled_transcripts_and_to_picks_one() {
    let mut listening = Listening::start(ListenOptions {
        to: Some(2),
        echo: true,
        ..ListenOptions::default()
    })
    .await;
    let (mut one, one_addr) = client(listening.addr, "/one", None).await;
    let (mut two, two_addr) = client(listening.addr, "/two", None).await;
    one.send(Message::text("from one")).await.expect("send");
    two.send(Message::text("from two")).await.expect("send");
    for (ws, text) in [(&mut one, "from one"), (&mut two, "from two")] {
        let echo = within(ws.next()).await.expect("open").expect("the echo");
        assert_eq!(echo, Message::text(text));
    }
    listening.type_line("only for two").await;
    let typed = within(two.next())
        .await
        .expect("open")
        .expect("the typed line");
    assert_eq!(typed, Message::text("only for two"));
    let text = listening.until(|t| t.contains("\"only for two\"")).await;
    let (first, second) = (lines_of(&text, 1), lines_of(&text, 2));
    assert!(
        has(&first, &[&one_addr.to_string()]) && has(&first, &["GET /one"]),
        "{text}"
    );
    assert!(
        has(&second, &[&two_addr.to_string()]) && has(&second, &["GET /two"]),
        "{text}"
    );
    assert!(
        has(&first, &["\"from one\""]) && !has(&first, &["two"]),
        "{text}"
    );
    assert!(
        has(&second, &["\"from two\""]) && !has(&second, &["one"]),
        "{text}"
    );
    assert!(
        has(&second, &["→ Text fin=1 mask=0 len=12 \"only for two\""]),
        "{text}"
    );
    // Stopping closes both with 1001, and sums each up.
    let (text, (), ()) = tokio::join!(listening.stop(), read_to_end(one), read_to_end(two));
    for (n, addr) in [(1, one_addr), (2, two_addr)] {
        let lines = lines_of(&text, n);
        assert!(has(&lines, &["closing with 1001 (Going Away)"]), "{text}");
        let summary = lines.last().expect("a summary");
        assert!(
            summary.starts_with(&format!("[{n}] {addr}: upgraded;"))
                && summary.contains("closed 1001 (Going Away) \"going away\" by us"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_line_typed_with_no_connection_open_is_said_not_sent() {
    let mut listening = Listening::start(ListenOptions::default()).await;
    listening.type_line("anyone?").await;
    let text = listening.until(|t| t.contains("not sent")).await;
    assert_eq!(
        text,
        "listen: no connection is open; \"anyone?\" not sent\n"
    );
    listening.stop().await;
}

#[tokio::test]
async fn an_upgrade_without_host_gets_400() {
    let listening = Listening::start(ListenOptions::default()).await;
    let mut stream = TcpStream::connect(listening.addr).await.expect("connect");
    stream
        .write_all(
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .expect("write");
    let mut answer = String::new();
    within(stream.read_to_string(&mut answer))
        .await
        .expect("read");
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(
        answer.ends_with("no Host header: an HTTP/1.1 request carries exactly one valid Host\n"),
        "{answer}"
    );
    let text = listening.until(|t| t.contains("not upgraded")).await;
    assert!(text.contains("answering 400: no Host header"), "{text}");
    listening.stop().await;
}

#[tokio::test]
async fn the_binary_says_where_it_listens_and_ctrl_c_closes_with_1001() {
    let mut running = Running::start(&["listen", "0", "--json", "--echo"]);
    let stderr = running.child.stderr.take().expect("piped stderr");
    let mut stderr = BufReader::new(stderr).lines();
    let first = within(stderr.next_line())
        .await
        .expect("stderr readable")
        .expect("a first line");
    let addr = first
        .strip_prefix("listening on ws://")
        .and_then(|rest| rest.strip_suffix("/ (any path)"))
        .unwrap_or_else(|| panic!("{first}"));
    let addr: SocketAddr = addr.parse().expect("an address");
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    let (mut ws, _) = client(addr, "/json", None).await;
    ws.send(Message::text("echo me")).await.expect("send");
    let echo = within(ws.next()).await.expect("open").expect("the echo");
    assert_eq!(echo, Message::text("echo me"));
    let seen = running
        .until(|l| l.contains("\"direction\":\"out\"") && l.contains("echo me"))
        .await;
    let events: Vec<serde_json::Value> = seen
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds[0], "connect", "{kinds:?}");
    assert!(
        kinds.contains(&"request") && kinds.contains(&"response"),
        "{kinds:?}"
    );
    let incoming = events
        .iter()
        .find(|e| e["event"] == "frame" && e["direction"] == "in")
        .expect("the client's frame");
    assert_eq!(incoming["opcode"], "Text");
    assert_eq!(incoming["masked"], true);
    assert_eq!(incoming["payload"], "echo me");
    assert_eq!(incoming["key"].as_str().map(str::len), Some(8));
    running.signal("INT").await;
    let close = within(ws.next()).await.expect("open").expect("the close");
    let Message::Close(Some(frame)) = close else {
        panic!("{close:?}");
    };
    assert_eq!(frame.code, CloseCode::Away);
    let (rest, status, _) = running.finish().await;
    assert_eq!(status.code(), Some(0));
    let last: serde_json::Value =
        serde_json::from_str(rest.last().expect("a summary")).expect("json");
    assert_eq!(last["event"], "close");
    assert_eq!(last["code"], 1001);
    assert_eq!(last["by"], "us");
    assert_eq!(last["messages_in"], 1);
}

#[tokio::test]
async fn wss_with_a_self_signed_certificate_and_a_key_log() {
    let cert = crate::support::temp_file("-listen-cert.pem", "");
    let keys = crate::support::temp_file("-listen-keys.log", "");
    let listening = Listening::start(ListenOptions {
        tls: Some(wsppsrv::tls::CertSource::SelfSigned {
            write_cert_to: cert.clone(),
        }),
        key_log: Some(keys.clone()),
        echo: true,
        ..ListenOptions::default()
    })
    .await;
    let options = wsppclient::net::tls::TlsOptions {
        ca: Some(cert),
        ..Default::default()
    };
    let config = wsppclient::net::tls::client_config(&options, wsppclient::net::tls::ALPN_HTTP_1_1)
        .expect("trust the certificate listen wrote");
    let tcp = TcpStream::connect(listening.addr).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("a name");
    let tls = within(tokio_rustls::TlsConnector::from(config).connect(name, tcp))
        .await
        .expect("tls handshake");
    let url = format!("wss://localhost:{}/secure", listening.addr.port());
    let (mut ws, _) = within(tokio_tungstenite::client_async(url, tls))
        .await
        .expect("upgraded");
    ws.send(Message::text("over tls")).await.expect("send");
    let echo = within(ws.next()).await.expect("open").expect("the echo");
    assert_eq!(echo, Message::text("over tls"));
    let text = listening
        .until(|t| t.contains("→ Text fin=1 mask=0 len=8 \"over tls\""))
        .await;
    assert!(text.contains("tls handshake done: TLSv1_3"), "{text}");
    assert!(text.contains("SNI localhost"), "{text}");
    assert!(text.contains("← GET /secure HTTP/1.1"), "{text}");
    assert!(text.contains("← Text fin=1 mask=1 key="), "{text}");
    let logged = std::fs::read_to_string(&keys).expect("the key log");
    assert!(
        logged.contains("CLIENT_HANDSHAKE_TRAFFIC_SECRET"),
        "{logged}"
    );
    let (_, ()) = tokio::join!(listening.stop(), read_to_end(ws));
}

#[tokio::test]
async fn max_clients_answers_503_beyond_the_limit() {
    let listening = Listening::start(ListenOptions {
        max_clients: Some(1),
        ..ListenOptions::default()
    })
    .await;
    let (first, _) = client(listening.addr, "/first", None).await;
    let response = refused(listening.addr, "/second").await;
    assert_eq!(response.status(), 503);
    let text = listening.until(|t| t.contains("[2] 127.0.0.1:")).await;
    assert!(
        text.contains("[2]") && text.contains("answering 503: --max-clients 1 reached"),
        "{text}"
    );
    let (_, ()) = tokio::join!(listening.stop(), read_to_end(first));
}

/// Chromium's offer, word for word.
const BROWSER_OFFER: &str = "permessage-deflate; client_max_window_bits";

#[tokio::test]
async fn deflate_takes_a_browsers_offer_and_shows_each_compressed_frame_inflated() {
    use wspp::test_util::peer::client as peer;
    let listening = Listening::start(ListenOptions {
        deflate: true,
        echo: true,
        ..ListenOptions::default()
    })
    .await;
    let mut tcp = TcpStream::connect(listening.addr).await.expect("connect");
    // The first compressed message rides with the request, as a client that does not
    // wait for the 101 sends it: hyper reads it with the head, and the layer must
    // still see it first.
    let message = "hello hello hello";
    let compressed = wspp::deflate::codec::compress_message(message.as_bytes(), 15);
    let rsv1_text = 0x40 | peer::TEXT;
    let mut bytes = format!(
        "GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: {}\r\nOrigin: http://127.0.0.1\r\n\
         Sec-WebSocket-Extensions: {BROWSER_OFFER}\r\n\r\n",
        peer::KEY
    )
    .into_bytes();
    bytes.extend(peer::encode(true, rsv1_text, &compressed, true));
    tcp.write_all(&bytes).await.expect("send");
    let head = peer::read_head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains(
            "sec-websocket-extensions: permessage-deflate; client_no_context_takeover\r\n"
        ),
        "{head}"
    );
    let echo = peer::read(&mut tcp).await.expect("the echo");
    assert_eq!((echo.opcode, echo.masked), (peer::TEXT, false));
    assert_ne!(echo.payload, message.as_bytes(), "the echo is compressed");
    peer::send(&mut tcp, peer::CLOSE, &1000u16.to_be_bytes()).await;
    assert_eq!(
        peer::read_to_close(&mut tcp)
            .await
            .and_then(|f| f.close_code()),
        Some(1000)
    );
    let text = listening.until(|t| t.contains("by the client")).await;
    let lines = lines_of(&text, 1);
    assert!(
        has(&lines, &["Sec-WebSocket-Extensions: ", BROWSER_OFFER]),
        "{text}"
    );
    assert!(
        has(
            &lines,
            &[
                "answering 101; extensions offered (permessage-deflate; client_max_window_bits), \
                 answered permessage-deflate; client_no_context_takeover"
            ]
        ),
        "{text}"
    );
    assert!(
        has(&lines, &["101 Switching Protocols, permessage-deflate)"]),
        "{text}"
    );
    let wire_len = format!("len={} rsv=100 compressed", compressed.len());
    let inflated = format!("inflated 17 bytes \"{message}\"");
    for arrow in ["← Text fin=1 mask=1 key=37fa213d ", "→ Text fin=1 mask=0 "] {
        let at = lines
            .iter()
            .position(|l| l.contains(arrow) && l.contains(&wire_len))
            .unwrap_or_else(|| panic!("no {arrow}{wire_len}:\n{text}"));
        assert!(lines[at + 1].contains(&inflated), "{text}");
    }
    listening.stop().await;
}

#[tokio::test]
async fn our_client_offering_deflate_is_declined_without_deflate_and_answered_with_it() {
    use wsppclient::net::settings::Headers;
    use wsppclient::net::url::WsUrl;
    for deflate in [false, true] {
        let listening = Listening::start(ListenOptions {
            deflate,
            echo: true,
            ..ListenOptions::default()
        })
        .await;
        let tcp = TcpStream::connect(listening.addr).await.expect("connect");
        let url = WsUrl::parse(&format!("ws://{}/", listening.addr)).expect("a url");
        let headers = Headers {
            deflate: true,
            ..Headers::default()
        };
        let (mut ws, response) =
            wsppclient::net::upgrade::upgrade(tcp, &headers, Duration::from_secs(5), &url)
                .await
                .expect("upgraded");
        assert_eq!(
            response.headers().contains_key("sec-websocket-extensions"),
            deflate
        );
        ws.send(Message::text("hello")).await.expect("send");
        let echo = within(ws.next()).await.expect("open").expect("the echo");
        assert_eq!(echo, Message::text("hello"), "deflate: {deflate}");
        ws.close(None).await.expect("close");
        while within(ws.next()).await.is_some() {}
        let text = listening.until(|t| t.contains("by the client")).await;
        let (rsv, said) = if deflate {
            ("rsv=100 compressed", "answered permessage-deflate")
        } else {
            (
                "len=5 \"hello\"",
                "declined: none is spoken here without --deflate",
            )
        };
        assert!(text.contains(said), "{text}");
        assert!(
            has(&lines_of(&text, 1), &["← Text fin=1 mask=1", rsv]),
            "{text}"
        );
        listening.stop().await;
    }
}
