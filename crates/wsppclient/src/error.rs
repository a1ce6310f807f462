//! The client library's error type, and the one-line form the binary prints.
//!
//! Callers branch on the cause: `ping` exits 2 on any of these, the menu shows them
//! and carries on, and a test checks that a refused upgrade names its status. So the
//! error is an enum, not a boxed trait object. Messages are lowercase without a
//! trailing period and each variant keeps its cause as `source`, so [`one_line`] can
//! print the whole chain on one line.
//!
//! One file of about 600 lines, tests included, kept whole: it is one idea, the
//! variants with their messages and the one-line form of a chain, and a new
//! variant is written against all of it at once (its message, its place in
//! [`one_line`], its test).

use std::error::Error as StdError;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use tokio_tungstenite::tungstenite;

/// Why a request or a ping failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL cannot be used.
    #[error("bad url {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `-H` argument is not `Name: value`, or not a valid header.
    #[error("bad header {header:?}: {reason}")]
    BadHeader {
        /// The argument as given.
        header: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The TCP connection could not be opened.
    #[error("cannot connect to {addr}")]
    Connect {
        /// The address as given.
        addr: String,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// `listen` or `load --metrics-addr` could not take the address it was given.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address as given.
        addr: String,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The TCP connection was not opened in time.
    #[error("cannot connect to {addr}: no answer within {}", humantime::format_duration(*.after))]
    ConnectTimeout {
        /// The address as given.
        addr: String,
        /// How long we waited.
        after: Duration,
    },
    /// The TLS handshake failed: the certificate was not trusted, did not name the
    /// server, or the server broke the protocol.
    #[error("tls handshake with {addr} failed")]
    Tls {
        /// The server, `HOST:PORT`.
        addr: String,
        /// What went wrong; rustls' error, for a certificate that was refused.
        #[source]
        source: io::Error,
    },
    /// The server's certificate was refused: the cause in words, and what to do.
    #[error("tls handshake with {addr} failed: the server's certificate {cause}: {advice}")]
    Certificate {
        /// The server, `HOST:PORT`.
        addr: String,
        /// What is wrong with the certificate.
        cause: String,
        /// What the user can do about it.
        advice: String,
    },
    /// The TLS handshake was answered with something that is not TLS.
    #[error(
        "tls handshake with {addr} failed: the server does not speak TLS there (a ws:// port?)"
    )]
    NotTls {
        /// The server, `HOST:PORT`.
        addr: String,
        /// What rustls made of the answer.
        #[source]
        source: io::Error,
    },
    /// The TLS handshake did not finish in time.
    #[error("tls handshake with {addr} timed out after {}", humantime::format_duration(*.after))]
    TlsTimeout {
        /// The server, `HOST:PORT`.
        addr: String,
        /// How long we waited.
        after: Duration,
    },
    /// TLS could not be set up before connecting.
    #[error("tls: {0}")]
    TlsSetup(String),
    /// The `--ca` file cannot be used.
    #[error("cannot use --ca {}: {reason}", .path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The key log (`SSLKEYLOGFILE`) cannot be opened.
    #[error("cannot open the tls key log {} (SSLKEYLOGFILE)", .path.display())]
    KeyLog {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// A proxy URL (`--proxy`, or a `*_PROXY` variable) cannot be used.
    #[error("bad proxy url {url:?} (from {from}): {reason}")]
    BadProxy {
        /// The URL as given.
        url: String,
        /// `--proxy`, or the variable's name.
        from: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The TCP connection to the proxy could not be opened.
    #[error("cannot connect to the proxy {proxy} (from {from})")]
    ProxyUnreachable {
        /// The proxy, `HOST:PORT`.
        proxy: String,
        /// `--proxy`, or the variable's name.
        from: String,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The proxy answered, but would not open the tunnel.
    #[error("the proxy {proxy} refused to open a tunnel to {target}: {answer}{hint}")]
    ProxyRefused {
        /// The proxy, `HOST:PORT`.
        proxy: String,
        /// Where the tunnel was to lead, `HOST:PORT`.
        target: String,
        /// Its answer: an HTTP status (`407 Proxy Authentication Required`), or the
        /// SOCKS5 reply in words.
        answer: String,
        /// What to do about it, if there is something to say.
        hint: &'static str,
        /// The HTTP `CONNECT` head sent (credentials hidden) and the proxy's answer, as
        /// lines, for a transcript to show; both empty for SOCKS5.
        exchange: Box<(Vec<String>, Vec<String>)>,
    },
    /// The proxy's handshake did not complete.
    #[error("the proxy {proxy} did not open a tunnel to {target}: {reason}")]
    ProxyFailed {
        /// The proxy, `HOST:PORT`.
        proxy: String,
        /// Where the tunnel was to lead, `HOST:PORT`.
        target: String,
        /// What happened instead.
        reason: String,
    },
    /// The server's choice of subprotocol (`Sec-WebSocket-Protocol`) does not fit
    /// what was offered.
    #[error("{url}: {problem}")]
    Subprotocol {
        /// The URL upgraded.
        url: String,
        /// What is wrong with the choice.
        problem: String,
    },
    /// The server's 101 accepted an extension this client does not implement, or with
    /// parameters RFC 7692 does not allow; the connection was closed with 1010.
    #[error("{url}: {problem}; closed with 1010")]
    Extension {
        /// The URL upgraded.
        url: String,
        /// What is wrong with the extensions.
        problem: String,
    },
    /// The server answered the upgrade request with something other than 101.
    #[error("{url} refused the upgrade: {status} {reason}")]
    UpgradeRefused {
        /// The URL whose upgrade was refused.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The status text, and the first line of the body if there was one.
        reason: String,
        /// Its `Retry-After` header, as sent (a 503 from a server at capacity says
        /// when to come back).
        retry_after: Option<String>,
    },
    /// The server speaks HTTP/2 but did not enable the extended CONNECT (RFC 8441)
    /// that opens a WebSocket over it.
    #[error(
        "{url}: the server does not accept WebSockets over HTTP/2: it did not send SETTINGS_ENABLE_CONNECT_PROTOCOL"
    )]
    NoWebSocketOverHttp2 {
        /// The URL asked for.
        url: String,
    },
    /// The HTTP/2 connection or its extended CONNECT failed.
    #[error("{url}: {reason}")]
    Http2 {
        /// The URL asked for.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server closed the connection instead of answering the upgrade request.
    #[error("{url}: the server closed the connection {}", unanswered(*.received))]
    UpgradeUnanswered {
        /// The URL of the upgrade.
        url: String,
        /// How many bytes of an answer had arrived (0 when none, or when not counted).
        received: u64,
    },
    /// The server answered the upgrade request with something that is not HTTP.
    #[error("{url}: the server does not speak HTTP: {}", not_http(url, .answer))]
    NotHttp {
        /// The URL of the upgrade.
        url: String,
        /// The first bytes it answered, when they were kept.
        answer: Option<Vec<u8>>,
    },
    /// The connection ended without the close handshake: what RFC 6455 (7.1.5) calls
    /// close code 1006, which no frame ever carries.
    #[error(
        "{url}: the connection ended without a close frame (1006 Abnormal Closure): the server {} after {received} bytes had arrived",
        if *.reset { "reset it" } else { "closed it" }
    )]
    AbnormalClosure {
        /// The URL of the session.
        url: String,
        /// A TCP reset rather than an end of the stream.
        reset: bool,
        /// How many bytes had arrived from the server on the connection.
        received: u64,
    },
    /// Something did not happen in time.
    #[error("{what} timed out after {}", humantime::format_duration(*.after))]
    Timeout {
        /// What we were waiting for.
        what: &'static str,
        /// How long we waited.
        after: Duration,
    },
    /// The server ended the WebSocket session while we still needed it.
    #[error("the server closed the connection{}", describe_close(*.code, .reason))]
    Closed {
        /// The close code it sent, if it sent a Close frame with one.
        code: Option<u16>,
        /// The reason it gave.
        reason: String,
    },
    /// The connection broke in the middle of a session: the server (or the network)
    /// went away without a Close frame, e.g. a server killed mid-session.
    #[error("lost the connection to {url}")]
    ConnectionLost {
        /// The URL of the session.
        url: String,
        /// How it broke: a reset, or an end of the stream with no Close frame.
        #[source]
        source: io::Error,
    },
    /// The user stopped the run before it could start.
    #[error("interrupted")]
    Interrupted,
    /// The server's answer cannot be understood.
    #[error("unexpected answer from the server: {0}")]
    Unexpected(String),
    /// Reading or writing failed.
    #[error("i/o error")]
    Io(#[from] io::Error),
    /// The WebSocket layer failed.
    #[error("websocket error")]
    WebSocket(#[source] tungstenite::Error),
    /// An HTTP request could not be built from the configured parts.
    #[error("cannot build the request")]
    Request(#[from] hyper::http::Error),
    /// The HTTP layer failed.
    #[error("http error")]
    Http(#[from] hyper::Error),
    /// `/clients.json` was not what the schema says.
    #[error("invalid clients.json")]
    Json(#[from] serde_json::Error),
    /// The terminal UI had to stop (the terminal went away, or a task of it panicked).
    #[error("terminal ui: {0}")]
    Terminal(String),
}

impl From<tungstenite::Error> for Error {
    /// Unwraps I/O errors so that callers (and [`is_broken_pipe`]) see them as such.
    fn from(err: tungstenite::Error) -> Self {
        match err {
            tungstenite::Error::Io(io) => Error::Io(io),
            other => Error::WebSocket(other),
        }
    }
}

impl Error {
    /// `err`, read on a live session with `url`: a reset, a broken pipe or an end of
    /// the stream without a Close become [`Error::ConnectionLost`], which says in one
    /// line what happened to which session; anything else converts as usual.
    pub fn lost(url: &str, err: tungstenite::Error) -> Error {
        use tungstenite::error::ProtocolError;
        let source = match err {
            tungstenite::Error::Io(io)
                if matches!(
                    io.kind(),
                    io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::BrokenPipe
                        | io::ErrorKind::UnexpectedEof
                ) =>
            {
                io
            }
            tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)
            | tungstenite::Error::ConnectionClosed
            | tungstenite::Error::AlreadyClosed => hung_up(),
            other => return other.into(),
        };
        Error::ConnectionLost {
            url: url.to_owned(),
            source,
        }
    }

    /// `err`, from the upgrade handshake with `url`: a server that hung up before its
    /// answer was whole, or answered in something other than HTTP, is said in words;
    /// `received` bytes of an answer had arrived and began with `first` (both empty
    /// when not counted). A refusal ([`tungstenite::Error::Http`]) is left to the
    /// caller, which knows what of it to show.
    pub fn handshake(url: &str, err: tungstenite::Error, received: u64, first: &[u8]) -> Error {
        use tungstenite::error::ProtocolError;
        match err {
            tungstenite::Error::Protocol(ProtocolError::HandshakeIncomplete) => {
                Error::UpgradeUnanswered {
                    url: url.to_owned(),
                    received,
                }
            }
            tungstenite::Error::Protocol(ProtocolError::HttparseError(_)) => Error::NotHttp {
                url: url.to_owned(),
                answer: (!first.is_empty()).then(|| first.to_vec()),
            },
            tungstenite::Error::Io(io)
                if received == 0
                    && matches!(
                        io.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof
                    ) =>
            {
                Error::UpgradeUnanswered {
                    url: url.to_owned(),
                    received,
                }
            }
            other => other.into(),
        }
    }

    /// The stream of a live session with `url` ended with no Close frame.
    pub fn ended(url: &str) -> Error {
        Error::ConnectionLost {
            url: url.to_owned(),
            source: hung_up(),
        }
    }

    /// Whether the session broke, as opposed to being refused or misconfigured: what a
    /// reconnecting client may retry. Bad URLs, headers and TLS trust are not retried:
    /// they fail the same way every time.
    pub fn is_transient(&self) -> bool {
        // A proxy that asks for credentials or forbids the destination says the same
        // every time; a 502 or 503 may pass once the server is back.
        if let Error::ProxyRefused { answer, .. } = self {
            return !(answer.starts_with("407") || answer.starts_with("403"));
        }
        !matches!(
            self,
            Error::BadUrl { .. }
                | Error::BadHeader { .. }
                | Error::Tls { .. }
                | Error::Certificate { .. }
                | Error::NotTls { .. }
                | Error::BadProxy { .. }
                | Error::Subprotocol { .. }
                | Error::Extension { .. }
                | Error::TlsSetup(_)
                | Error::CaFile { .. }
                | Error::KeyLog { .. }
                | Error::Interrupted
                | Error::Request(_)
                | Error::NotHttp { .. }
                | Error::NoWebSocketOverHttp2 { .. }
        )
    }
}

fn unanswered(received: u64) -> String {
    if received == 0 {
        "before answering the upgrade".to_owned()
    } else {
        format!("in the middle of its answer to the upgrade ({received} bytes)")
    }
}

/// What a server that does not speak HTTP answered: a TLS record (the bytes of a TLS
/// port, as `ws://` reaches it instead of `wss://`), some other beginning, or, where
/// nobody kept the answer, the likeliest cause for a `ws://` URL, as the reverse
/// mistake gets "a ws:// port?".
fn not_http(url: &str, answer: &Option<Vec<u8>>) -> String {
    match answer {
        Some(bytes) if is_tls_record(bytes) => "it answered in TLS: a wss:// port?".into(),
        Some(bytes) if !bytes.is_empty() => format!(
            "its answer is not an HTTP response (it began {:?})",
            String::from_utf8_lossy(bytes).trim_end()
        ),
        _ if url.starts_with("ws://") => {
            "its answer is not an HTTP response (a wss:// port?)".into()
        }
        _ => "its answer is not an HTTP response".into(),
    }
}

/// Whether `bytes` begin as a TLS record does: a content type (change cipher spec,
/// alert, handshake, application data), then a 3.x version.
fn is_tls_record(bytes: &[u8]) -> bool {
    matches!(bytes, [0x14..=0x17, 0x03, 0x00..=0x04, ..])
}

fn hung_up() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the server hung up without a close frame",
    )
}

fn describe_close(code: Option<u16>, reason: &str) -> String {
    let Some(code) = code else {
        return String::new();
    };
    let name =
        crate::watch::wire::close_code_name(code).map_or(String::new(), |n| format!(" ({n})"));
    let reason = if reason.is_empty() {
        String::new()
    } else {
        format!(" {reason:?}")
    };
    format!(" with {code}{name}{reason}")
}

/// The error and its causes on one line, joined by `: `.
///
/// A cause whose text its wrapper already printed (tungstenite's `IO error: {0}`
/// also returns the I/O error as its source) is skipped, so nothing shows twice.
pub fn one_line(err: &(dyn StdError + 'static)) -> String {
    let mut line = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        next = cause.source();
    }
    line
}

/// Whether the chain holds a broken pipe: stdout closed by `| head`, which is not a failure.
///
/// A broken pipe under [`Error::ConnectionLost`] is the server's socket, not stdout:
/// that is a failure, and the search stops there.
pub fn is_broken_pipe(err: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(cause) = next {
        if let Some(Error::ConnectionLost { .. }) = cause.downcast_ref::<Error>() {
            return false;
        }
        if let Some(io) = cause.downcast_ref::<io::Error>()
            && io.kind() == io::ErrorKind::BrokenPipe
        {
            return true;
        }
        next = cause.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_is_one_line_without_repeats() {
        let err = Error::Connect {
            addr: "127.0.0.1:9".into(),
            source: io::Error::new(io::ErrorKind::ConnectionRefused, "Connection refused"),
        };
        assert_eq!(
            one_line(&err),
            "cannot connect to 127.0.0.1:9: Connection refused"
        );

        let nested = Error::WebSocket(tungstenite::Error::Io(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "Connection reset",
        )));
        let line = one_line(&nested);
        assert_eq!(line, "websocket error: IO error: Connection reset");
    }

    #[test]
    fn messages_are_lowercase_without_a_period() {
        let errors = [
            Error::TlsTimeout {
                addr: "127.0.0.1:8443".into(),
                after: Duration::from_secs(5),
            },
            Error::UpgradeRefused {
                url: "ws://h/p".into(),
                status: 404,
                reason: "Not Found".into(),
                retry_after: None,
            },
            Error::Timeout {
                what: "the upgrade",
                after: Duration::from_millis(1500),
            },
            Error::Closed {
                code: Some(1001),
                reason: "bye".into(),
            },
        ];
        for err in &errors {
            let text = err.to_string();
            assert!(!text.ends_with('.'), "{text}");
            assert!(!text.starts_with(char::is_uppercase), "{text}");
        }
        assert_eq!(
            errors[0].to_string(),
            "tls handshake with 127.0.0.1:8443 timed out after 5s"
        );
        assert_eq!(
            errors[1].to_string(),
            "ws://h/p refused the upgrade: 404 Not Found"
        );
        assert_eq!(
            errors[2].to_string(),
            "the upgrade timed out after 1s 500ms"
        );
        assert_eq!(
            errors[3].to_string(),
            "the server closed the connection with 1001 (Going Away) \"bye\""
        );
    }

    #[test]
    fn a_refused_certificate_reads_as_one_line() {
        let rustls_error =
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let err = Error::Tls {
            addr: "127.0.0.1:8443".into(),
            source: io::Error::new(io::ErrorKind::InvalidData, rustls_error),
        };
        assert_eq!(
            one_line(&err),
            "tls handshake with 127.0.0.1:8443 failed: invalid peer certificate: UnknownIssuer"
        );
    }

    #[test]
    fn a_broken_handshake_is_said_in_words() {
        use tungstenite::error::ProtocolError;
        let closed = Error::handshake(
            "ws://h/p",
            tungstenite::Error::Protocol(ProtocolError::HandshakeIncomplete),
            0,
            b"",
        );
        assert_eq!(
            one_line(&closed),
            "ws://h/p: the server closed the connection before answering the upgrade"
        );
        let cut = Error::handshake(
            "ws://h/p",
            tungstenite::Error::Protocol(ProtocolError::HandshakeIncomplete),
            12,
            b"HTTP/1.1 101",
        );
        assert!(one_line(&cut).ends_with("in the middle of its answer to the upgrade (12 bytes)"));
        let ssh = Error::NotHttp {
            url: "ws://h/p".into(),
            answer: Some(b"SSH-2.0-x\r\n".to_vec()),
        };
        let alert = Error::NotHttp {
            url: "ws://h/p".into(),
            answer: Some(vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]),
        };
        assert_eq!(
            one_line(&alert),
            "ws://h/p: the server does not speak HTTP: it answered in TLS: a wss:// port?"
        );
        assert_eq!(
            one_line(&ssh),
            "ws://h/p: the server does not speak HTTP: its answer is not an HTTP response (it began \"SSH-2.0-x\")"
        );
        let abnormal = Error::AbnormalClosure {
            url: "ws://h/p".into(),
            reset: true,
            received: 245,
        };
        assert_eq!(
            one_line(&abnormal),
            "ws://h/p: the connection ended without a close frame (1006 Abnormal Closure): the server reset it after 245 bytes had arrived"
        );
    }

    #[test]
    fn broken_pipes_are_found_anywhere_in_the_chain() {
        let err = Error::Io(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(&err));
        let other = Error::Io(io::Error::from(io::ErrorKind::ConnectionReset));
        assert!(!is_broken_pipe(&other));
    }

    #[test]
    fn a_broken_pipe_to_the_server_is_a_lost_connection_not_a_closed_stdout() {
        let err = Error::lost(
            "ws://h/p",
            tungstenite::Error::Io(io::Error::from(io::ErrorKind::BrokenPipe)),
        );
        assert!(matches!(err, Error::ConnectionLost { .. }), "{err:?}");
        assert!(!is_broken_pipe(&err));
    }

    #[test]
    fn a_vanished_server_reads_as_one_clear_line() {
        use tungstenite::error::ProtocolError;
        let reset = Error::lost(
            "ws://h/p",
            tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake),
        );
        assert_eq!(
            one_line(&reset),
            "lost the connection to ws://h/p: the server hung up without a close frame"
        );
        assert_eq!(one_line(&Error::ended("ws://h/p")), one_line(&reset));
        // Other protocol errors keep their own message.
        let other = Error::lost(
            "ws://h/p",
            tungstenite::Error::Protocol(ProtocolError::NonZeroReservedBits),
        );
        assert!(matches!(other, Error::WebSocket(_)), "{other:?}");
    }
}
