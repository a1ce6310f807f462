//! The whole route table, in one function, without a router.
//!
//! wspp is about looking at the protocol, so the routes are plain string matches on the
//! request path, the way the original matched on the URL string: one screen shows
//! every route the server has.
//!
//! The match is on the *path* of the raw request URI, exactly as sent: no decoding, no
//! trailing-slash folding (`/pingpong/` is 404). The query string is not part of the
//! match, so `/clients.json?fresh=1` is `/clients.json`; that keeps cache-busting and
//! browser-added queries working without making the route table any less literal. The
//! page and `/clients.json` are the handlers that read it: `?after=&limit=` picks the
//! clients they list ([`Cursor`]).
//!
//! Every request is first asked for its one valid `Host` ([`wspp::host::check`]): RFC
//! 9112 §3.2 wants 400 for none, several or a malformed one, and a route that answered
//! anyway would let a forged second `Host` through a proxy that checks only the first.
//!
//! `/metrics` is served here unless `--metrics-addr` gives it a listener of its own,
//! which answers it alone ([`metrics_only`]).
//!
//! The same table serves HTTP/1.1 and HTTP/2. A WebSocket route takes a GET upgrade
//! over the one and an extended CONNECT over the other ([`crate::extended_connect`]),
//! and answers the other method 405; a CONNECT without `:protocol` has no path, and is
//! refused before the table.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Version};
use tracing::{Span, debug, field, info};
use wspp::clients::HttpVersion;
use wspp::routes;

use crate::cursor::Cursor;
use crate::extended_connect;
use crate::forwarded::Peer;
use crate::page;
use crate::reply::{self, Body};
use crate::session::RouteBehaviour;
use crate::state::{Admission, ServerState};
use crate::untrusted::Untrusted;
use crate::upgrade;

/// Answers one request. Never fails: every problem is a status code.
pub(crate) fn dispatch(
    req: Request<Incoming>,
    shared: &Arc<ServerState>,
    conn: &Arc<Admission>,
) -> Response<Body> {
    let (method, uri) = (req.method().clone(), req.uri().clone());
    if conn.proxy {
        let peer = Peer::of(conn.peer, req.headers(), &shared.config.trusted_proxies);
        conn.client_logged.call_once(|| {
            Span::current().record("peer", field::display(peer.client));
        });
    }
    let response = match host(&req) {
        Err(problem) => bad_host(&problem),
        Ok(()) => route(req, shared, conn),
    };
    let status = response.status().as_u16();
    if uri.path() == routes::FAVICON {
        // Browsers ask for it on every visit; at info it would drown the log.
        debug!(%method, %uri, status, "favicon blocked");
    } else if uri.path() == routes::METRICS {
        // Prometheus asks every few seconds, for as long as the server runs.
        debug!(%method, %uri, status, "request");
    } else {
        // hyper lets non-ASCII bytes through in the path (U+2028 among them): the
        // client's text, escaped like any other.
        info!(%method, uri = %Untrusted(&uri.to_string()), status, "request");
    }
    response
}

/// The route table proper, for a request whose `Host` passed.
fn route(
    req: Request<Incoming>,
    shared: &Arc<ServerState>,
    conn: &Arc<Admission>,
) -> Response<Body> {
    let (method, uri) = (req.method().clone(), req.uri().clone());
    match uri.path() {
        "" if method == Method::CONNECT && req.version() == Version::HTTP_2 => {
            extended_connect::without_protocol()
        }
        routes::PAGE => read_only(&method, || html_page(shared, uri.query())),
        routes::PAGE_SCRIPT => read_only(&method, page_script),
        routes::CLIENTS_JSON => read_only(&method, || clients_json(shared, uri.query())),
        routes::METRICS if shared.metrics_on_main => read_only(&method, || metrics(shared)),
        routes::OPEN_AND_CLOSE => upgrade(req, RouteBehaviour::OpenAndClose, shared, conn),
        routes::PINGPONG => upgrade(req, RouteBehaviour::PingPong, shared, conn),
        routes::FAVICON => reply::not_found(),
        _ => reply::not_found(),
    }
}

/// The `Host` check of HTTP/1.1 (RFC 9112 §3.2). HTTP/2 names the host in its
/// `:authority` pseudo-header instead, which hyper has already parsed into the URI.
fn host(req: &Request<Incoming>) -> Result<(), wspp::host::HostProblem> {
    if req.version() == Version::HTTP_11 {
        wspp::host::check(req.headers())
    } else {
        Ok(())
    }
}

/// 400 for a request whose `Host` is missing, repeated or malformed, saying which.
fn bad_host(problem: &wspp::host::HostProblem) -> Response<Body> {
    reply::text(StatusCode::BAD_REQUEST, &problem.to_string())
}

/// What the `--metrics-addr` listener answers: `/metrics`, and 404 for anything else.
pub(crate) fn metrics_only(req: Request<Incoming>, shared: &ServerState) -> Response<Body> {
    let response = match (host(&req), req.uri().path()) {
        (Err(problem), _) => bad_host(&problem),
        (Ok(()), routes::METRICS) => read_only(req.method(), || metrics(shared)),
        (Ok(()), _) => reply::not_found(),
    };
    debug!(method = %req.method(), uri = %Untrusted(&req.uri().to_string()), status = response.status().as_u16(), "request");
    response
}

/// A WebSocket upgrade on the route of `behaviour`, its answer counted (101 or the refusal).
fn upgrade(
    req: Request<Incoming>,
    behaviour: RouteBehaviour,
    shared: &Arc<ServerState>,
    conn: &Arc<Admission>,
) -> Response<Body> {
    let (version, response) = if req.version() == Version::HTTP_2 {
        let accept = |req| extended_connect::accept(req, behaviour, shared, conn);
        (HttpVersion::Http2, only("CONNECT", req, accept))
    } else {
        let accept = |req| upgrade::accept(req, behaviour, shared, conn);
        (HttpVersion::Http11, only("GET", req, accept))
    };
    shared
        .metrics
        .upgrade(behaviour.route(), version, response.status().as_u16());
    response
}

/// The figures, encoded by `prometheus-client` (see [`crate::metrics`]). The cost is
/// the same with any number of clients: nothing here looks at them.
fn metrics(shared: &ServerState) -> Response<Body> {
    fresh(reply::with_body(
        StatusCode::OK,
        crate::metrics::CONTENT_TYPE,
        shared.metrics.encode(),
    ))
}

/// Pages may be read with GET or HEAD (hyper drops the body for HEAD).
fn read_only(method: &Method, answer: impl FnOnce() -> Response<Body>) -> Response<Body> {
    if method == Method::GET || method == Method::HEAD {
        answer()
    } else {
        reply::method_not_allowed("GET, HEAD")
    }
}

/// A WebSocket request has one method: a GET upgrade over HTTP/1.1 (RFC 6455, 4.1),
/// a CONNECT over HTTP/2 (RFC 8441, 4).
fn only(
    method: &'static str,
    req: Request<Incoming>,
    answer: impl FnOnce(Request<Incoming>) -> Response<Body>,
) -> Response<Body> {
    if req.method() == method {
        answer(req)
    } else {
        reply::method_not_allowed(method)
    }
}

/// The page shows the clients its cursor picks (`?after=&limit=`); only those are
/// copied out of the registry.
fn html_page(shared: &ServerState, query: Option<&str>) -> Response<Body> {
    let cursor = match Cursor::from_query(query, page::DEFAULT_LIMIT) {
        Ok(cursor) => cursor,
        Err(bad) => return reply::text(StatusCode::BAD_REQUEST, bad.reason),
    };
    let (report, around) = shared.registry.page(cursor);
    let mut response = fresh(reply::with_body(
        StatusCode::OK,
        "text/html; charset=utf-8",
        page::render(&report, cursor, around),
    ));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(page::CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Compiled into the server, so it changes only with the binary; `no-cache` still makes
/// a browser ask again, so an upgraded server is never paired with an old script.
fn page_script() -> Response<Body> {
    let mut response = reply::with_body(
        StatusCode::OK,
        "text/javascript; charset=utf-8",
        page::SCRIPT,
    );
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// One page of clients (`?after=&limit=`), `next` naming the page after it: an
/// answer's size has a ceiling however many clients are connected.
fn clients_json(shared: &ServerState, query: Option<&str>) -> Response<Body> {
    let cursor = match Cursor::from_query(query, Cursor::JSON_LIMIT) {
        Ok(cursor) => cursor,
        Err(bad) => return reply::text(StatusCode::BAD_REQUEST, bad.reason),
    };
    match serde_json::to_vec(&shared.registry.report(cursor)) {
        Ok(json) => fresh(reply::with_body(StatusCode::OK, "application/json", json)),
        Err(error) => {
            tracing::error!(%error, "cannot serialise the clients report");
            reply::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot serialise the report",
            )
        }
    }
}

/// Both lists change from one moment to the next: a refresh must never see a cached copy.
fn fresh(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
