//! Proxies for the tests, on `127.0.0.1:0`: an HTTP `CONNECT` proxy that can ask for
//! Basic credentials or refuse, and a SOCKS5 proxy (RFC 1928, with RFC 1929's
//! user/password). Each counts the tunnels it opened and keeps what it was asked, so
//! a test proves that the traffic really went through it.
//!
//! Written by hand on purpose: they check the client's side of the protocols, so they
//! must not share its code.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::raw::read_head;

/// How the HTTP proxy answers a `CONNECT`.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Opens every tunnel.
    Open,
    /// Asks for these Basic credentials (`user`, `password`) with 407 until given.
    Credentials(&'static str, &'static str),
    /// Answers every `CONNECT` with this status (e.g. `403 Forbidden`).
    Refuse(&'static str),
}

/// What a proxy saw, shared with its connection tasks.
#[derive(Debug, Default)]
struct Seen {
    /// Tunnels opened to the destination.
    tunnels: usize,
    /// Each request: the `CONNECT` head, or the SOCKS5 destination.
    requests: Vec<String>,
}

/// A proxy running in the test's runtime; dropping it stops accepting.
pub struct Proxy {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// An HTTP `CONNECT` proxy answering as `answer` says.
    pub async fn http(answer: Answer) -> Proxy {
        Proxy::start(move |stream, seen| http_connection(stream, seen, answer.clone())).await
    }

    /// A SOCKS5 proxy; with `login`, it accepts only that user name and password.
    pub async fn socks5(login: Option<(&'static str, &'static str)>) -> Proxy {
        Proxy::start(move |stream, seen| socks5_connection(stream, seen, login)).await
    }

    async fn start<F, Fut>(serve: F) -> Proxy
    where
        F: Fn(TcpStream, Arc<Mutex<Seen>>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("bound address");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&shared)));
            }
        });
        Proxy { addr, seen, task }
    }

    /// `SCHEME://127.0.0.1:PORT`.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    /// Tunnels opened so far.
    pub fn tunnels(&self) -> usize {
        self.seen.lock().expect("not poisoned").tunnels
    }

    /// What it was asked so far: `CONNECT` heads, or SOCKS5 destinations.
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().expect("not poisoned").requests.clone()
    }
}

async fn http_connection(mut client: TcpStream, seen: Arc<Mutex<Seen>>, answer: Answer) {
    let head = read_head(&mut client).await;
    seen.lock()
        .expect("not poisoned")
        .requests
        .push(head.clone());
    let Some(target) = head
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("CONNECT "))
        .and_then(|rest| rest.split(' ').next())
        .map(str::to_owned)
    else {
        let _ = client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    };
    let refusal = match answer {
        Answer::Open => None,
        Answer::Refuse(status) => Some(status.to_owned()),
        Answer::Credentials(user, password) => {
            let expected = format!("Basic {}", base64(format!("{user}:{password}").as_bytes()));
            let given = head.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("proxy-authorization")
                    .then(|| value.trim().to_owned())
            });
            (given.as_deref() != Some(expected.as_str()))
                .then(|| "407 Proxy Authentication Required".to_owned())
        }
    };
    if let Some(status) = refusal {
        let answer = format!(
            "HTTP/1.1 {status}\r\nProxy-Authenticate: Basic realm=\"test\"\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let _ = client.write_all(answer.as_bytes()).await;
        return;
    }
    let Ok(mut server) = TcpStream::connect(&target).await else {
        let _ = client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    seen.lock().expect("not poisoned").tunnels += 1;
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

async fn socks5_connection(
    mut client: TcpStream,
    seen: Arc<Mutex<Seen>>,
    login: Option<(&'static str, &'static str)>,
) {
    let Some(target) = socks5_handshake(&mut client, login).await else {
        return;
    };
    seen.lock()
        .expect("not poisoned")
        .requests
        .push(target.clone());
    let Ok(mut server) = TcpStream::connect(&target).await else {
        // Reply 5: connection refused.
        let _ = client.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await;
        return;
    };
    if client
        .write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])
        .await
        .is_err()
    {
        return;
    }
    seen.lock().expect("not poisoned").tunnels += 1;
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

/// The SOCKS5 greeting, the login if asked for, and the request; the destination as
/// `HOST:PORT`, or `None` once the client has been refused.
async fn socks5_handshake(
    client: &mut TcpStream,
    login: Option<(&'static str, &'static str)>,
) -> Option<String> {
    let mut greeting = [0u8; 2];
    client.read_exact(&mut greeting).await.ok()?;
    assert_eq!(greeting[0], 5, "socks version");
    let mut methods = vec![0u8; usize::from(greeting[1])];
    client.read_exact(&mut methods).await.ok()?;
    let method = if login.is_some() { 2 } else { 0 };
    if !methods.contains(&method) {
        let _ = client.write_all(&[5, 0xFF]).await;
        return None;
    }
    client.write_all(&[5, method]).await.ok()?;
    if let Some((user, password)) = login {
        let mut version_len = [0u8; 2];
        client.read_exact(&mut version_len).await.ok()?;
        let mut given_user = vec![0u8; usize::from(version_len[1])];
        client.read_exact(&mut given_user).await.ok()?;
        let given_password_len = client.read_u8().await.ok()?;
        let mut given_password = vec![0u8; usize::from(given_password_len)];
        client.read_exact(&mut given_password).await.ok()?;
        let ok = given_user == user.as_bytes() && given_password == password.as_bytes();
        client.write_all(&[1, u8::from(!ok)]).await.ok()?;
        if !ok {
            return None;
        }
    }
    let mut request = [0u8; 4];
    client.read_exact(&mut request).await.ok()?;
    assert_eq!(request[..3], [5, 1, 0], "a CONNECT request");
    let host = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip).await.ok()?;
            std::net::Ipv4Addr::from(ip).to_string()
        }
        3 => {
            let len = client.read_u8().await.ok()?;
            let mut name = vec![0u8; usize::from(len)];
            client.read_exact(&mut name).await.ok()?;
            String::from_utf8(name).ok()?
        }
        4 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip).await.ok()?;
            format!("[{}]", std::net::Ipv6Addr::from(ip))
        }
        _ => return None,
    };
    let port = client.read_u16().await.ok()?;
    Some(format!("{host}:{port}"))
}

/// Standard base64 with padding, for the expected `Proxy-Authorization`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_the_rfc_4648_vectors() {
    for (plain, encoded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(plain.as_bytes()), encoded);
    }
}
