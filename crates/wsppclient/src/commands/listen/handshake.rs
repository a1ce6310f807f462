//! What `listen` answers a request with: a pure function of the request and the
//! options, so each answer is unit-tested.
//!
//! The checks are the ones the server makes, not a copy of them: the single valid
//! `Host` RFC 9112 §3.2 asks of every HTTP/1.1 request ([`wspp::host::check`]), then
//! the WebSocket handshake's own ([`wsppsrv::upgrade::check`], with its 400 and 426
//! and their reasons). Only then come the answers the user chose: a refusal
//! (`--refuse`), 503 beyond `--max-clients`, or 101 with the first subprotocol the
//! client offered that we speak, and with `--deflate` the answer to its
//! permessage-deflate offer that wsppsrv gives ([`negotiation::respond`]). Every
//! refusal closes the connection, so that what follows it on the wire is not read as
//! another request.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use wspp::deflate::{Agreement, negotiation};

use super::options::ListenOptions;

/// The body of every answer.
pub(super) type Body = Full<Bytes>;

/// What a request is answered with, and the line the transcript says about it.
#[derive(Debug)]
pub(super) struct Decision {
    /// The response to send.
    pub response: Response<Body>,
    /// Whether it is the 101 that upgrades the connection.
    pub upgrades: bool,
    /// The subprotocol chosen, when it upgrades with one.
    pub subprotocol: Option<String>,
    /// permessage-deflate, when it upgrades with it.
    pub deflate: Option<Agreement>,
    /// Why we answer as we do.
    pub note: String,
}

/// Decides the answer to `req`; `full` says that `--max-clients` sessions are open.
pub(super) fn decide<B>(req: &Request<B>, options: &ListenOptions, full: bool) -> Decision {
    let headers = req.headers();
    if let Err(problem) = wspp::host::check(headers) {
        let reason = format!("{problem}: an HTTP/1.1 request carries exactly one valid Host");
        return refusal(StatusCode::BAD_REQUEST, &reason, format!("400: {problem}"));
    }
    let accept_key = match wsppsrv::upgrade::check(req, &wsppsrv::Config::default()) {
        Ok(key) => key,
        Err(rejection) => {
            let mut response = rejection.into_response();
            closing(&mut response);
            return Decision {
                note: format!("{}: {}", rejection.status.as_u16(), rejection.reason),
                response,
                upgrades: false,
                subprotocol: None,
                deflate: None,
            };
        }
    };
    if let Some(status) = options.refuse {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
        let reason = "refused by wsppclient listen --refuse";
        return refusal(
            status,
            reason,
            format!("refusing with {} (--refuse)", status.as_u16()),
        );
    }
    if full {
        let limit = options.max_clients.unwrap_or_default();
        let reason = format!("--max-clients {limit} reached; try later");
        return refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            &reason,
            format!("503: {reason}"),
        );
    }
    let offered = offered_subprotocols(headers);
    let chosen = offered
        .iter()
        .find(|name| options.subprotocols.contains(name))
        .cloned();
    let mut response = wsppsrv::upgrade::switching_protocols(&accept_key);
    if let Some(name) = &chosen
        && let Ok(value) = HeaderValue::from_str(name)
    {
        response
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_PROTOCOL, value);
    }
    let note = match (&chosen, offered.is_empty()) {
        (Some(name), _) => format!(
            "101 with subprotocol {name} (offered: {})",
            offered.join(", ")
        ),
        (None, true) => "101".to_owned(),
        (None, false) => format!(
            "101 without a subprotocol: none of those offered ({}) is ours{}",
            offered.join(", "),
            ours(options)
        ),
    };
    let extensions = headers
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect::<Vec<_>>();
    let taken = options
        .deflate
        .then(|| negotiation::respond(extensions.iter().map(String::as_str)))
        .flatten();
    let note = match (&taken, extensions.is_empty()) {
        (_, true) => note,
        (Some((answer, _)), false) => format!(
            "{note}; extensions offered ({}), answered {answer}",
            extensions.join(", ")
        ),
        (None, false) if options.deflate => format!(
            "{note}; extensions offered ({}) declined: no permessage-deflate offer we can take",
            extensions.join(", ")
        ),
        (None, false) => format!(
            "{note}; extensions offered ({}) declined: none is spoken here without --deflate",
            extensions.join(", ")
        ),
    };
    if let Some((answer, _)) = &taken
        && let Ok(value) = HeaderValue::from_str(answer)
    {
        response
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_EXTENSIONS, value);
    }
    Decision {
        response,
        upgrades: true,
        subprotocol: chosen,
        deflate: taken.map(|(_, agreed)| agreed),
        note,
    }
}

/// ` (--subprotocol: a, b)`, or ` (no --subprotocol given)`.
fn ours(options: &ListenOptions) -> String {
    if options.subprotocols.is_empty() {
        " (no --subprotocol given)".to_owned()
    } else {
        format!(" (--subprotocol: {})", options.subprotocols.join(", "))
    }
}

/// Every subprotocol the client offered, in its order, across repeated headers.
fn offered_subprotocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A refusal with `status`, `reason` as its body, and `note` for the transcript.
fn refusal(status: StatusCode, reason: &str, note: String) -> Decision {
    let mut response = Response::new(Body::from(format!("{reason}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    closing(&mut response);
    Decision {
        response,
        upgrades: false,
        subprotocol: None,
        deflate: None,
        note,
    }
}

fn closing(response: &mut Response<Body>) {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upgrade() -> hyper::http::request::Builder {
        Request::get("/anything?x=1")
            .header("Host", "127.0.0.1:9001")
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
    }

    fn decide_on(req: hyper::http::request::Builder, options: &ListenOptions) -> Decision {
        decide(&req.body(()).expect("a request"), options, false)
    }

    #[test]
    fn any_path_upgrades_with_the_rfc_accept_key() {
        let decision = decide_on(upgrade(), &ListenOptions::default());
        assert!(decision.upgrades);
        assert_eq!(decision.response.status(), 101);
        assert_eq!(
            decision.response.headers()["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn a_missing_or_doubled_host_is_400() {
        let mut req = upgrade().body(()).expect("a request");
        req.headers_mut().remove("host");
        let decision = decide(&req, &ListenOptions::default(), false);
        assert_eq!(decision.response.status(), 400);
        assert!(!decision.upgrades);
        assert_eq!(decision.response.headers()["connection"], "close");
        assert_eq!(decision.note, "400: no Host header");
        let doubled = decide_on(upgrade().header("Host", "x"), &ListenOptions::default());
        assert_eq!(doubled.response.status(), 400);
    }

    #[test]
    fn the_servers_upgrade_checks_answer_a_broken_upgrade() {
        let decision = decide_on(
            upgrade().header("Sec-WebSocket-Version", "8"),
            &ListenOptions::default(),
        );
        assert_eq!(decision.response.status(), 400, "{}", decision.note);
        let mut req = upgrade().body(()).expect("a request");
        req.headers_mut()
            .insert("sec-websocket-version", HeaderValue::from_static("8"));
        let decision = decide(&req, &ListenOptions::default(), false);
        assert_eq!(decision.response.status(), 426);
    }

    #[test]
    fn the_first_offered_subprotocol_we_speak_is_chosen() {
        let options = ListenOptions {
            subprotocols: vec!["b".into(), "chat".into()],
            ..ListenOptions::default()
        };
        let decision = decide_on(
            upgrade()
                .header("Sec-WebSocket-Protocol", "a, chat")
                .header("Sec-WebSocket-Protocol", "b"),
            &options,
        );
        assert_eq!(decision.subprotocol.as_deref(), Some("chat"));
        assert_eq!(
            decision.response.headers()["sec-websocket-protocol"],
            "chat"
        );
        let none = decide_on(upgrade().header("Sec-WebSocket-Protocol", "x"), &options);
        assert_eq!(none.subprotocol, None);
        assert!(
            none.response
                .headers()
                .get("sec-websocket-protocol")
                .is_none()
        );
        assert!(
            none.note.contains("none of those offered (x)"),
            "{}",
            none.note
        );
    }

    #[test]
    fn permessage_deflate_is_answered_only_with_deflate() {
        let chromium = || {
            upgrade().header(
                "Sec-WebSocket-Extensions",
                "permessage-deflate; client_max_window_bits",
            )
        };
        let declined = decide_on(chromium(), &ListenOptions::default());
        assert_eq!(declined.deflate, None);
        assert!(
            declined
                .response
                .headers()
                .get("sec-websocket-extensions")
                .is_none()
        );
        assert!(
            declined
                .note
                .contains("declined: none is spoken here without --deflate"),
            "{}",
            declined.note
        );
        let options = ListenOptions {
            deflate: true,
            ..ListenOptions::default()
        };
        let taken = decide_on(chromium(), &options);
        assert_eq!(
            taken.response.headers()["sec-websocket-extensions"],
            "permessage-deflate; client_no_context_takeover"
        );
        assert_eq!(taken.deflate.map(|a| a.deflate_window_bits), Some(15));
        assert!(
            taken
                .note
                .ends_with("answered permessage-deflate; client_no_context_takeover"),
            "{}",
            taken.note
        );
        let other = decide_on(
            upgrade().header("Sec-WebSocket-Extensions", "x-webkit-deflate-frame"),
            &options,
        );
        assert_eq!(other.deflate, None);
        assert!(
            other.note.contains("no permessage-deflate offer"),
            "{}",
            other.note
        );
    }

    #[test]
    fn refusals_and_the_client_limit_are_answered_after_the_checks() {
        let options = ListenOptions {
            refuse: Some(403),
            max_clients: Some(1),
            ..ListenOptions::default()
        };
        let refused = decide_on(upgrade(), &options);
        assert_eq!(refused.response.status(), 403);
        assert_eq!(refused.note, "refusing with 403 (--refuse)");
        let options = ListenOptions {
            max_clients: Some(1),
            ..ListenOptions::default()
        };
        let full = decide(&upgrade().body(()).expect("a request"), &options, true);
        assert_eq!(full.response.status(), 503);
        let mut no_host = upgrade().body(()).expect("a request");
        no_host.headers_mut().remove("host");
        assert_eq!(decide(&no_host, &options, true).response.status(), 400);
    }
}
