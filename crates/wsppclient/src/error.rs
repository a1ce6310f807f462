//! The client library's error type, and the one-line form the binary prints.
//!
//! Callers branch on the cause: `ping` exits 2 on any of these, the menu shows them
//! and carries on, and a test checks that a refused upgrade names its status. So the
//! error is an enum, not a boxed trait object. Messages are lowercase without a
//! trailing period and each variant keeps its cause as `source`, so [`report`] can
//! print the whole chain on one line.

use std::error::Error as StdError;
use std::io;
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
    /// The URL needs something this client cannot do yet.
    #[error("{scheme}:// is not supported yet")]
    UnsupportedScheme {
        /// The scheme, e.g. `wss`.
        scheme: String,
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
    /// The TCP connection was not opened in time.
    #[error("cannot connect to {addr}: no answer within {}", humantime::format_duration(*.after))]
    ConnectTimeout {
        /// The address as given.
        addr: String,
        /// How long we waited.
        after: Duration,
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

fn describe_close(code: Option<u16>, reason: &str) -> String {
    let Some(code) = code else {
        return String::new();
    };
    let name = crate::wire::close_code_name(code).map_or(String::new(), |n| format!(" ({n})"));
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
pub fn report(err: &(dyn StdError + 'static)) -> String {
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
pub fn is_broken_pipe(err: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(cause) = next {
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
            report(&err),
            "cannot connect to 127.0.0.1:9: Connection refused"
        );

        let nested = Error::WebSocket(tungstenite::Error::Io(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "Connection reset",
        )));
        let line = report(&nested);
        assert_eq!(line, "websocket error: IO error: Connection reset");
    }

    #[test]
    fn messages_are_lowercase_without_a_period() {
        let errors = [
            Error::UnsupportedScheme {
                scheme: "wss".into(),
            },
            Error::UpgradeRefused {
                url: "ws://h/p".into(),
                status: 404,
                reason: "Not Found".into(),
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
        assert_eq!(errors[0].to_string(), "wss:// is not supported yet");
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
    fn broken_pipes_are_found_anywhere_in_the_chain() {
        let err = Error::Io(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(&err));
        let other = Error::Io(io::Error::from(io::ErrorKind::ConnectionReset));
        assert!(!is_broken_pipe(&other));
    }
}
