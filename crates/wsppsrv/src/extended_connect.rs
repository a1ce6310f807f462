//! A WebSocket opened over HTTP/2 (RFC 8441): the extended CONNECT's checks and answers.
//!
//! Over HTTP/2 a WebSocket is not an upgrade of the connection but one stream of it,
//! asked for with `:method CONNECT`, `:protocol websocket` and the route as `:path`,
//! and accepted with a plain 200: no `Sec-WebSocket-Key`, no accept hash (the stream
//! cannot be mistaken for anything else), no 101. What stays from RFC 6455 is the
//! version (`sec-websocket-version: 13`), the `Origin` check, and the frames.
//!
//! [`check`] is pure, like [`crate::upgrade::check`], so each refusal is unit-tested. Every
//! refusal is 400: HTTP/2 has no `Upgrade`, so a wrong version cannot be 426 as it is
//! over HTTP/1.1; the answer names the version spoken all the same.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::ext::Protocol;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use wspp::clients::HttpVersion;

use crate::config::Config;
use crate::reply::{self, Body};
use crate::session::RouteBehaviour;
use crate::state::{Admission, ServerState};
use crate::upgrade::{self, Rejection};

/// The one `:protocol` this server speaks.
const WEBSOCKET: &str = "websocket";

const WRONG_VERSION: &str = "unsupported sec-websocket-version: only 13 is spoken";

/// Checks an extended CONNECT (the method is the caller's to check).
pub fn check<B>(req: &Request<B>, config: &Config) -> Result<(), Rejection> {
    match req.extensions().get::<Protocol>() {
        None => return Err(bad("an extended CONNECT needs :protocol websocket")),
        Some(protocol) if protocol.as_str() != WEBSOCKET => {
            return Err(bad("this route speaks websocket: send :protocol websocket"));
        }
        Some(_) => {}
    }
    let headers = req.headers();
    let mut versions = headers.get_all(header::SEC_WEBSOCKET_VERSION).iter();
    match (versions.next(), versions.next()) {
        (None, _) => return Err(bad("missing sec-websocket-version")),
        (Some(_), Some(_)) => return Err(bad("more than one sec-websocket-version")),
        (Some(v), None) if v.as_bytes() != wspp::routes::WEBSOCKET_VERSION.as_bytes() => {
            return Err(bad(WRONG_VERSION));
        }
        (Some(_), None) => {}
    }
    upgrade::check_origin(headers, config)
}

/// Answers an extended CONNECT: 200 and a spawned session on the stream, or the
/// refusal: the checks' status, or 503 when `--max-connections` sessions are running.
pub(crate) fn accept(
    mut req: Request<Incoming>,
    behaviour: RouteBehaviour,
    shared: &Arc<ServerState>,
    conn: &Arc<Admission>,
) -> Response<Body> {
    if let Err(rejection) = check(&req, &shared.config) {
        upgrade::log_refusal(&req, rejection);
        return refusal(rejection);
    }
    upgrade::start_session(&mut req, behaviour, HttpVersion::Http2, None, shared, conn)
        .unwrap_or_else(accepted)
}

/// The answer to a refused extended CONNECT; a wrong version is told the one spoken.
fn refusal(rejection: Rejection) -> Response<Body> {
    let mut response = rejection.into_response();
    if rejection.reason == WRONG_VERSION {
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static(wspp::routes::WEBSOCKET_VERSION),
        );
    }
    response
}

/// The answer to an accepted one: 200, and the stream stays open for the frames. No
/// body and no length, which hyper refuses on a CONNECT's 2xx.
fn accepted() -> Response<Body> {
    Response::new(Body::default())
}

/// The answer to a CONNECT without `:protocol` (a proxy's tunnel request, RFC 9113
/// 8.5): it has no path, so no route; this server tunnels nothing.
pub(crate) fn without_protocol() -> Response<Body> {
    reply::text(
        StatusCode::BAD_REQUEST,
        "this server tunnels nothing: a CONNECT here is an extended CONNECT with :protocol websocket (RFC 8441)",
    )
}

fn bad(reason: &'static str) -> Rejection {
    Rejection {
        status: StatusCode::BAD_REQUEST,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::Method;

    fn connect(protocol: Option<&'static str>) -> hyper::http::request::Builder {
        let mut req = Request::builder()
            .method(Method::CONNECT)
            .version(hyper::Version::HTTP_2)
            .uri("https://localhost/pingpong")
            .header("sec-websocket-version", "13");
        if let Some(protocol) = protocol {
            req = req.extension(Protocol::from_static(protocol));
        }
        req
    }

    fn checked(req: hyper::http::request::Builder, config: &Config) -> Result<(), Rejection> {
        check(&req.body(()).expect("valid request"), config)
    }

    #[test]
    fn a_websocket_connect_is_accepted_without_a_key() {
        assert_eq!(
            checked(connect(Some("websocket")), &Config::default()),
            Ok(())
        );
        assert_eq!(accepted().status(), StatusCode::OK);
    }

    #[test]
    fn each_refusal_is_400_and_named() {
        let config = Config::default();
        let reason = |req| checked(req, &config).map_err(|r| (r.status.as_u16(), r.reason));
        assert_eq!(
            reason(connect(None)),
            Err((400, "an extended CONNECT needs :protocol websocket"))
        );
        assert_eq!(
            reason(connect(Some("connect-udp"))),
            Err((400, "this route speaks websocket: send :protocol websocket"))
        );
        let mut req = connect(Some("websocket")).body(()).expect("valid request");
        req.headers_mut().remove("sec-websocket-version");
        assert_eq!(
            check(&req, &config).map_err(|r| r.reason),
            Err("missing sec-websocket-version")
        );
        assert_eq!(
            reason(connect(Some("websocket")).header("sec-websocket-version", "13")),
            Err((400, "more than one sec-websocket-version"))
        );
    }

    #[test]
    fn a_wrong_version_is_told_13() {
        let mut req = connect(Some("websocket")).body(()).expect("valid request");
        req.headers_mut()
            .insert("sec-websocket-version", HeaderValue::from_static("8"));
        let rejection = check(&req, &Config::default()).expect_err("version 8");
        let response = refusal(rejection);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()["sec-websocket-version"], "13");
    }

    #[test]
    fn a_foreign_origin_is_forbidden_when_a_list_is_set() {
        let config = Config {
            allowed_origins: vec!["https://localhost:8443".into()],
            ..Config::default()
        };
        let req = connect(Some("websocket")).header("origin", "https://evil.example");
        assert_eq!(
            checked(req, &config).map_err(|r| r.status),
            Err(StatusCode::FORBIDDEN)
        );
        let req = connect(Some("websocket")).header("origin", "https://localhost:8443");
        assert_eq!(checked(req, &config), Ok(()));
    }
}
