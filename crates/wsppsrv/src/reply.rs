//! Small response builders, so every handler answers in one line.
//!
//! Every response body is complete when it is built, hence [`Full`]; the service's error
//! type is `Infallible`, so a failure is always one of these responses, never an `Err`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

/// The body of every response this server sends.
pub type Body = Full<Bytes>;

/// A response with a body and its content type.
pub fn with_body(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A plain-text answer: the status and a one-line reason.
pub fn text(status: StatusCode, reason: &str) -> Response<Body> {
    with_body(status, "text/plain; charset=utf-8", format!("{reason}\n"))
}

/// 404 for any path the server does not serve.
pub fn not_found() -> Response<Body> {
    text(StatusCode::NOT_FOUND, "not found")
}

/// 405 with the `Allow` header RFC 9110 requires.
pub fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}
