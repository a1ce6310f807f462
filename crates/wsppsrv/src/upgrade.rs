//! The WebSocket opening handshake, server side (RFC 6455, 4.2).
//!
//! [`check`] is a pure function of the request so each refusal is unit-tested and
//! says *which* requirement failed, in one line, with the status the RFC calls for:
//! 400 for a malformed request, 426 with `Sec-WebSocket-Version: 13` for a version we
//! do not speak, 403 for an origin not on the allow-list.
//!
//! On success the server answers 101 and spawns the session. It must spawn: the
//! upgraded connection exists only after hyper has written the 101, which happens
//! after this handler returns. A WebSocket over HTTP/2 starts its session the same way
//! (`start_session`) after checks of its own ([`crate::extended_connect`]).

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::upgrade::Upgraded;
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tracing::{Instrument, info, info_span};
use wspp::clients::HttpVersion;
use wspp::deflate::{Agreement, negotiation};

use crate::config::Config;
use crate::forwarded::Peer;
use crate::registry::Arrival;
use crate::reply::{self, Body};
use crate::session::{self, RouteBehaviour};
use crate::state::{Admission, ServerState};
use crate::transport::Upgrade;
use crate::untrusted::{Untrusted, kept};

/// Why an upgrade was refused: the status to answer with and a one-line reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    /// 400, 403 or 426.
    pub status: StatusCode,
    /// What was wrong, for the response body and the log.
    pub reason: &'static str,
}

impl Rejection {
    const fn bad(reason: &'static str) -> Self {
        Rejection {
            status: StatusCode::BAD_REQUEST,
            reason,
        }
    }

    /// The response that tells the client.
    pub fn into_response(self) -> Response<Body> {
        let mut response = reply::text(self.status, self.reason);
        if self.status == StatusCode::UPGRADE_REQUIRED {
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static(wspp::routes::WEBSOCKET_VERSION),
            );
        }
        response
    }
}

/// Checks an upgrade request; on success returns the `Sec-WebSocket-Accept` value.
pub fn check<B>(req: &Request<B>, config: &Config) -> Result<String, Rejection> {
    let headers = req.headers();
    if req.version() < Version::HTTP_11 {
        return Err(Rejection::bad("a websocket upgrade needs HTTP/1.1"));
    }
    if !has_token(headers, header::UPGRADE, "websocket") {
        return Err(Rejection::bad(
            "this route upgrades to websocket: send Upgrade: websocket",
        ));
    }
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return Err(Rejection::bad("missing Connection: Upgrade"));
    }
    // One key, one version: a repeated header is two values, and neither can be trusted
    // to be the one the client meant (RFC 6455, 4.2.1 and 11.3).
    if headers
        .get_all(header::SEC_WEBSOCKET_VERSION)
        .iter()
        .nth(1)
        .is_some()
    {
        return Err(Rejection::bad("more than one Sec-WebSocket-Version"));
    }
    if headers
        .get_all(header::SEC_WEBSOCKET_KEY)
        .iter()
        .nth(1)
        .is_some()
    {
        return Err(Rejection::bad("more than one Sec-WebSocket-Key"));
    }
    match headers.get(header::SEC_WEBSOCKET_VERSION) {
        None => return Err(Rejection::bad("missing Sec-WebSocket-Version")),
        Some(v) if v.as_bytes() != wspp::routes::WEBSOCKET_VERSION.as_bytes() => {
            return Err(Rejection {
                status: StatusCode::UPGRADE_REQUIRED,
                reason: "unsupported Sec-WebSocket-Version: only 13 is spoken",
            });
        }
        Some(_) => {}
    }
    let key = match headers.get(header::SEC_WEBSOCKET_KEY) {
        None => return Err(Rejection::bad("missing Sec-WebSocket-Key")),
        Some(key) if !is_valid_key(key.as_bytes()) => {
            return Err(Rejection::bad(
                "Sec-WebSocket-Key is not 16 bytes in base64",
            ));
        }
        Some(key) => key,
    };
    if has_body(headers) {
        return Err(Rejection::bad("an upgrade request carries no body"));
    }
    check_origin(headers, config)?;
    Ok(derive_accept_key(key.as_bytes()))
}

/// The `Origin` check of every WebSocket request, whatever its HTTP version: 403 for
/// an origin not on the allow-list.
pub(crate) fn check_origin(headers: &HeaderMap, config: &Config) -> Result<(), Rejection> {
    let origin = headers.get(header::ORIGIN).map(HeaderValue::as_bytes);
    if config.origin_allowed(origin) {
        Ok(())
    } else {
        Err(Rejection {
            status: StatusCode::FORBIDDEN,
            reason: "origin not allowed",
        })
    }
}

/// Answers an upgrade request: 101 and a spawned session, or the refusal: the checks'
/// status, or 503 when `--max-connections` sessions are running.
pub(crate) fn accept(
    mut req: Request<Incoming>,
    behaviour: RouteBehaviour,
    shared: &Arc<ServerState>,
    conn: &Arc<Admission>,
) -> Response<Body> {
    let accept_key = match check(&req, &shared.config) {
        Ok(key) => key,
        Err(rejection) => {
            log_refusal(&req, rejection);
            return rejection.into_response();
        }
    };
    // permessage-deflate, when offered and not turned off: the response for the 101,
    // and what the session's layer keeps to.
    let deflate = shared
        .config
        .deflate
        .then(|| {
            let offers = req.headers().get_all(header::SEC_WEBSOCKET_EXTENSIONS);
            negotiation::respond(offers.iter().filter_map(|v| v.to_str().ok()))
        })
        .flatten();
    let http = HttpVersion::Http11;
    if let Some(busy) = start_session(&mut req, behaviour, http, deflate.as_ref(), shared, conn) {
        return busy;
    }
    let mut response = switching_protocols(&accept_key);
    if let Some((extensions, _)) = deflate {
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_EXTENSIONS,
            HeaderValue::from_str(&extensions).expect("the response is made of header tokens"),
        );
    }
    response
}

/// The 101 that completes a handshake [`check`] passed, with its accept key.
pub fn switching_protocols(accept_key: &str) -> Response<Body> {
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(accept_key).expect("base64 is a valid header value"),
    );
    response
}

/// Logs why a WebSocket request was refused, with its `Origin`.
pub(crate) fn log_refusal<B>(req: &Request<B>, rejection: Rejection) {
    let origin = req.headers().get(header::ORIGIN).map(|v| v.as_bytes());
    let origin = origin.map(String::from_utf8_lossy);
    info!(
        status = rejection.status.as_u16(),
        reason = rejection.reason,
        origin = origin
            .as_deref()
            .map(Untrusted)
            .map(tracing::field::display),
        "upgrade refused"
    );
}

/// Spawns the session of an accepted WebSocket request, to start once hyper hands
/// over its stream; what it returns is the 503 to answer instead, when
/// `--max-connections` sessions are running.
///
/// Over HTTP/1.1 the client is its connection, and keeps the connection's id; over
/// HTTP/2 one connection may carry many WebSockets, so each gets an id of its own,
/// in a span under its connection's. `deflate` is the permessage-deflate agreed, with
/// the response that says so.
pub(crate) fn start_session(
    req: &mut Request<Incoming>,
    behaviour: RouteBehaviour,
    http_version: HttpVersion,
    deflate: Option<&(String, Agreement)>,
    shared: &Arc<ServerState>,
    conn: &Arc<Admission>,
) -> Option<Response<Body>> {
    // Checked after the request, so a client that could not have upgraded anyway hears
    // why, and counted against the sessions only, so that plain HTTP stays served.
    let Ok(slot) = Arc::clone(&shared.sessions).try_acquire_owned() else {
        info!(
            limit = shared.config.max_connections,
            "websocket session limit reached; answering 503"
        );
        let mut response = reply::text(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many websocket sessions; try later",
        );
        let h = response.headers_mut();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        if http_version == HttpVersion::Http11 {
            h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        return Some(response);
    };
    // Cut here, before the session starts: a 15 KiB header costs a session no more
    // than a short one, for its whole life.
    let text = |name| {
        req.headers()
            .get(name)
            .map(|v| kept(&String::from_utf8_lossy(v.as_bytes())))
    };
    let id = match http_version {
        HttpVersion::Http11 => conn.id,
        HttpVersion::Http2 => shared.next_id(),
    };
    let from = Peer::of(conn.peer, req.headers(), &shared.config.trusted_proxies);
    let arrival = Arrival {
        id,
        peer: from.client,
        via: from.via,
        user_agent: text(header::USER_AGENT),
        origin: text(header::ORIGIN),
        route: behaviour.route(),
        extensions: deflate
            .as_ref()
            .map(|(response, _)| response.as_str().into()),
    };
    let on_upgrade = hyper::upgrade::on(req);
    let agreed = deflate.map(|(_, agreed)| *agreed);
    let (shared_, conn) = (Arc::clone(shared), Arc::clone(conn));
    match http_version {
        HttpVersion::Http11 => shared.tasks.spawn(
            session::start::<Upgrade>(on_upgrade, behaviour, agreed, arrival, shared_, conn, slot)
                .in_current_span(),
        ),
        HttpVersion::Http2 => shared.tasks.spawn(
            session::start::<TokioIo<Upgraded>>(
                on_upgrade, behaviour, agreed, arrival, shared_, conn, slot,
            )
            .instrument(info_span!("stream", client_id = id)),
        ),
    };
    None
}

/// Whether a comma-separated header (in any of its instances) lists `token`.
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// 16 bytes in base64 are 22 alphabet characters and `==` (RFC 6455, 4.1).
fn is_valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn request() -> hyper::http::request::Builder {
        Request::get("/pingpong")
            .header("Host", "localhost")
            .header("Upgrade", "websocket")
            .header("Connection", "keep-alive, Upgrade")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", KEY)
    }

    fn check_req(req: hyper::http::request::Builder) -> Result<String, Rejection> {
        check(&req.body(()).expect("valid request"), &Config::default())
    }

    #[test]
    fn the_rfc_example_is_accepted() {
        // RFC 6455, 1.3: this key must give this accept value.
        assert_eq!(
            check_req(request()),
            Ok("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_string())
        );
    }

    #[test]
    fn each_missing_piece_is_named() {
        let cases = [
            (
                "Upgrade",
                "this route upgrades to websocket: send Upgrade: websocket",
            ),
            ("Connection", "missing Connection: Upgrade"),
            ("Sec-WebSocket-Version", "missing Sec-WebSocket-Version"),
            ("Sec-WebSocket-Key", "missing Sec-WebSocket-Key"),
        ];
        for (header, reason) in cases {
            let mut req = request().body(()).expect("valid request");
            req.headers_mut().remove(header);
            let rejection = check(&req, &Config::default()).expect_err(header);
            assert_eq!(rejection, Rejection::bad(reason), "{header}");
        }
    }

    #[test]
    fn a_wrong_version_asks_for_13() {
        let mut req = request().body(()).expect("valid request");
        req.headers_mut()
            .insert("Sec-WebSocket-Version", HeaderValue::from_static("8"));
        let rejection = check(&req, &Config::default()).expect_err("version 8");
        assert_eq!(rejection.status, StatusCode::UPGRADE_REQUIRED);
        let response = rejection.into_response();
        assert_eq!(response.headers()["sec-websocket-version"], "13");
    }

    #[test]
    fn a_malformed_key_is_refused() {
        for bad in [
            "short",
            "dGhlIHNhbXBsZSBub25jZQ=!",
            "dGhlIHNhbXBsZSBub25jZQ",
        ] {
            let mut req = request().body(()).expect("valid request");
            req.headers_mut()
                .insert("Sec-WebSocket-Key", HeaderValue::from_static(bad));
            assert_eq!(
                check(&req, &Config::default()).map(drop),
                Err(Rejection::bad(
                    "Sec-WebSocket-Key is not 16 bytes in base64"
                )),
                "{bad}"
            );
        }
    }

    #[test]
    fn http_1_0_and_bodies_are_refused() {
        assert_eq!(
            check_req(request().version(Version::HTTP_10)).map(drop),
            Err(Rejection::bad("a websocket upgrade needs HTTP/1.1"))
        );
        assert_eq!(
            check_req(request().header("Content-Length", "5")).map(drop),
            Err(Rejection::bad("an upgrade request carries no body"))
        );
        assert!(check_req(request().header("Content-Length", "0")).is_ok());
    }

    #[test]
    fn a_repeated_key_or_version_is_refused() {
        assert_eq!(
            check_req(request().header("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==")).map(drop),
            Err(Rejection::bad("more than one Sec-WebSocket-Key"))
        );
        assert_eq!(
            check_req(request().header("Sec-WebSocket-Version", "13")).map(drop),
            Err(Rejection::bad("more than one Sec-WebSocket-Version"))
        );
    }

    #[test]
    fn tokens_match_without_case_in_lists() {
        let mut req = request().body(()).expect("valid request");
        let headers = req.headers_mut();
        headers.insert("Upgrade", HeaderValue::from_static("WebSocket"));
        headers.insert("Connection", HeaderValue::from_static("keep-alive,UPGRADE"));
        assert!(check(&req, &Config::default()).is_ok());
    }

    #[test]
    fn a_foreign_origin_is_forbidden_when_a_list_is_set() {
        let config = Config {
            allowed_origins: vec!["http://localhost:8080".into()],
            ..Config::default()
        };
        let req = request()
            .header("Origin", "http://evil.example")
            .body(())
            .expect("valid request");
        assert_eq!(
            check(&req, &config).map(drop).map_err(|r| r.status),
            Err(StatusCode::FORBIDDEN)
        );
    }
}
