//! The permessage-deflate handshake (RFC 7692, section 7): what an offer in
//! `Sec-WebSocket-Extensions` asks for, what a server answers, and whether a server's
//! answer is one a client may accept.
//!
//! Whatever the peer allows, this side never carries its compression context from
//! one message to the next: a sender may always start afresh without telling anyone,
//! and freeing the compressor between messages is what keeps an idle connection as
//! small as one without compression. The receiving side depends on the peer, so a
//! server always answers `client_no_context_takeover` (RFC 7692, 7.1.1.2 lets it), and
//! the client offers `server_no_context_takeover`: each then frees its decompressor
//! between messages too. A peer that keeps its context anyway is still understood:
//! the decompressor is then kept (see [`Agreement::keep_inflate_context`]).

use std::fmt;

/// The extension's registered name.
pub const NAME: &str = "permessage-deflate";

/// What wsppclient offers: no context kept in either direction (so that neither end
/// keeps a compressor or decompressor between messages) and the server may cap the
/// client's window.
pub const CLIENT_OFFER: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits";

/// The smallest window RFC 7692 allows (`2^8` bytes) and the largest (`2^15`).
const WINDOW_BITS: std::ops::RangeInclusive<u8> = 8..=15;

/// One permessage-deflate offer or response, its parameters as they were written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Params {
    /// `server_no_context_takeover`.
    pub server_no_context_takeover: bool,
    /// `client_no_context_takeover`.
    pub client_no_context_takeover: bool,
    /// `server_max_window_bits=N`.
    pub server_max_window_bits: Option<u8>,
    /// `client_max_window_bits` with its value, if it had one (an offer may leave the
    /// value out: "the server may choose").
    pub client_max_window_bits: Option<Option<u8>>,
}

/// What both ends agreed, as this end applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreement {
    /// The largest window this end may compress with (8 to 15).
    pub deflate_window_bits: u8,
    /// Whether the peer carries its context from message to message, so that this
    /// end must keep its decompressor between messages.
    pub keep_inflate_context: bool,
}

/// Why an offer or a response cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NegotiationError {
    /// An extension this end does not implement, by name.
    Unsupported(String),
    /// permessage-deflate, but with parameters RFC 7692 does not allow here.
    BadParams(String),
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NegotiationError::Unsupported(name) => {
                write!(
                    f,
                    "the server accepted extension {name:?}, which this client does not implement"
                )
            }
            NegotiationError::BadParams(why) => {
                write!(f, "bad permessage-deflate parameters: {why}")
            }
        }
    }
}

impl std::error::Error for NegotiationError {}

/// One extension of a `Sec-WebSocket-Extensions` list: its name and its raw
/// parameters, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Extension<'a> {
    name: &'a str,
    params: Vec<(&'a str, Option<&'a str>)>,
}

/// Splits header values into extensions (`name; key; key=value, name2`). Quotes around
/// a value are dropped (RFC 7692, 7.1: a quoted value is the same value).
fn extensions<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Extension<'a>> {
    values
        .into_iter()
        .flat_map(|value| value.split(','))
        .filter(|item| !item.trim().is_empty())
        .map(|item| {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let params = parts
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((key, value)) => (key.trim(), Some(value.trim().trim_matches('"'))),
                    None => (p, None),
                })
                .collect();
            Extension { name, params }
        })
        .collect()
}

/// Reads permessage-deflate's parameters; each may appear once.
fn params(ext: &Extension<'_>) -> Result<Params, NegotiationError> {
    let bad = |why: String| Err(NegotiationError::BadParams(why));
    let mut found = Params::default();
    let mut seen: Vec<&str> = Vec::new();
    for &(key, value) in &ext.params {
        if seen.contains(&key) {
            return bad(format!("{key} given twice"));
        }
        seen.push(key);
        let bits = |value: Option<&str>| -> Result<u8, NegotiationError> {
            value
                .filter(|v| v.len() <= 2 && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u8>().ok())
                .filter(|b| WINDOW_BITS.contains(b))
                .ok_or_else(|| {
                    NegotiationError::BadParams(format!("{key} must be 8 to 15, not {value:?}"))
                })
        };
        match key {
            "server_no_context_takeover" | "client_no_context_takeover" if value.is_some() => {
                return bad(format!("{key} takes no value"));
            }
            "server_no_context_takeover" => found.server_no_context_takeover = true,
            "client_no_context_takeover" => found.client_no_context_takeover = true,
            "server_max_window_bits" => found.server_max_window_bits = Some(bits(value)?),
            "client_max_window_bits" => {
                found.client_max_window_bits = Some(value.map(|_| bits(value)).transpose()?)
            }
            other => return bad(format!("unknown parameter {other:?}")),
        }
    }
    Ok(found)
}

/// The permessage-deflate offers among `values` (every `Sec-WebSocket-Extensions`
/// header of a request), in the client's order of preference; a malformed offer is
/// left out, as a server declines it.
pub fn offers<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Params> {
    extensions(values)
        .iter()
        .filter(|ext| ext.name.eq_ignore_ascii_case(NAME))
        .filter_map(|ext| params(ext).ok())
        .collect()
}

/// Server side: the first offer this server takes, the response header's value and
/// what it agreed to; `None` when there is no permessage-deflate offer to take.
pub fn respond<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<(String, Agreement)> {
    let offer = *offers(values).first()?;
    let mut response = String::from(NAME);
    if offer.server_no_context_takeover {
        response.push_str("; server_no_context_takeover");
    }
    // Always: the client then starts each message afresh, and the server need not keep
    // a decompressor (32 KiB of window and more) on an idle connection.
    response.push_str("; client_no_context_takeover");
    let deflate_window_bits = match offer.server_max_window_bits {
        Some(bits) => {
            response.push_str(&format!("; server_max_window_bits={bits}"));
            bits
        }
        None => *WINDOW_BITS.end(),
    };
    Some((
        response,
        Agreement {
            deflate_window_bits,
            keep_inflate_context: false,
        },
    ))
}

/// Client side: checks the server's `Sec-WebSocket-Extensions` against what was
/// offered (`offered`, the request's header values). `Ok(None)`: no extension in use.
pub fn accept<'a>(
    offered: impl IntoIterator<Item = &'a str>,
    response: impl IntoIterator<Item = &'a str>,
) -> Result<Option<Agreement>, NegotiationError> {
    let offers = offers(offered);
    let accepted = extensions(response);
    let Some(first) = accepted.first() else {
        return Ok(None);
    };
    if let Some(other) = accepted.iter().find(|e| !e.name.eq_ignore_ascii_case(NAME)) {
        return Err(NegotiationError::Unsupported(other.name.to_string()));
    }
    if offers.is_empty() {
        return Err(NegotiationError::Unsupported(first.name.to_string()));
    }
    if accepted.len() > 1 {
        return Err(NegotiationError::BadParams(
            "permessage-deflate accepted twice".into(),
        ));
    }
    let answer = params(first)?;
    // The answer must fit one of the offers (RFC 7692, 7.1.2).
    let fits = |offer: &Params| {
        let server_bits_ok = match (offer.server_max_window_bits, answer.server_max_window_bits) {
            (Some(asked), Some(given)) => given <= asked,
            (Some(_), None) => false,
            (None, _) => true,
        };
        let client_bits_ok =
            answer.client_max_window_bits.is_none() || offer.client_max_window_bits.is_some();
        let no_context_ok = !offer.server_no_context_takeover || answer.server_no_context_takeover;
        server_bits_ok && client_bits_ok && no_context_ok
    };
    if !offers.iter().any(fits) {
        return Err(NegotiationError::BadParams(format!(
            "the answer {:?} fits no offer",
            response_text(first)
        )));
    }
    let deflate_window_bits = match answer.client_max_window_bits {
        Some(Some(bits)) => bits,
        Some(None) => {
            return Err(NegotiationError::BadParams(
                "client_max_window_bits needs a value in a response".into(),
            ));
        }
        None => *WINDOW_BITS.end(),
    };
    Ok(Some(Agreement {
        deflate_window_bits,
        keep_inflate_context: !answer.server_no_context_takeover,
    }))
}

/// An extension written back as it was read, for an error line.
fn response_text(ext: &Extension<'_>) -> String {
    let mut text = ext.name.to_string();
    for (key, value) in &ext.params {
        text.push_str("; ");
        text.push_str(key);
        if let Some(value) = value {
            text.push('=');
            text.push_str(value);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_are_read_in_order_and_bad_ones_left_out() {
        let found = offers([
            "permessage-deflate; client_max_window_bits, x-webkit-deflate-frame",
            "permessage-deflate; server_max_window_bits=\"10\"; server_no_context_takeover",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; mystery",
        ]);
        assert_eq!(
            found,
            [
                Params {
                    client_max_window_bits: Some(None),
                    ..Params::default()
                },
                Params {
                    server_no_context_takeover: true,
                    server_max_window_bits: Some(10),
                    ..Params::default()
                },
            ]
        );
    }

    #[test]
    fn the_server_answers_the_first_offer_and_frees_its_decompressor() {
        let (response, agreed) =
            respond(["permessage-deflate; client_max_window_bits"]).expect("taken");
        assert_eq!(response, "permessage-deflate; client_no_context_takeover");
        assert_eq!(
            agreed,
            Agreement {
                deflate_window_bits: 15,
                keep_inflate_context: false
            }
        );
        let (response, agreed) = respond([
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=9, permessage-deflate",
        ])
        .expect("taken");
        assert_eq!(
            response,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9"
        );
        assert_eq!(agreed.deflate_window_bits, 9);
        assert_eq!(respond(["x-webkit-deflate-frame"]), None);
        assert_eq!(
            respond(["permessage-deflate; server_max_window_bits=7"]),
            None
        );
    }

    #[test]
    fn every_parameter_combination_the_server_answers_is_accepted_by_the_client() {
        for mask in 0..16u8 {
            let mut offer = String::from(NAME);
            if mask & 1 != 0 {
                offer.push_str("; server_no_context_takeover");
            }
            if mask & 2 != 0 {
                offer.push_str("; client_no_context_takeover");
            }
            if mask & 4 != 0 {
                offer.push_str("; server_max_window_bits=10");
            }
            if mask & 8 != 0 {
                offer.push_str("; client_max_window_bits");
            }
            let (response, server) = respond([offer.as_str()]).expect("taken");
            let client = accept([offer.as_str()], [response.as_str()])
                .expect("valid")
                .expect("agreed");
            assert_eq!(client.keep_inflate_context, mask & 1 == 0, "{offer}");
            assert!(!server.keep_inflate_context);
            assert_eq!(client.deflate_window_bits, 15);
            assert_eq!(
                server.deflate_window_bits,
                if mask & 4 != 0 { 10 } else { 15 }
            );
        }
    }

    #[test]
    fn the_client_refuses_what_it_did_not_offer() {
        assert_eq!(accept([CLIENT_OFFER], []), Ok(None));
        assert_eq!(
            accept([], ["permessage-deflate"]),
            Err(NegotiationError::Unsupported("permessage-deflate".into()))
        );
        assert_eq!(
            accept([CLIENT_OFFER], ["x-webkit-deflate-frame"]),
            Err(NegotiationError::Unsupported(
                "x-webkit-deflate-frame".into()
            ))
        );
        let bad = |response: &str| {
            matches!(
                accept([CLIENT_OFFER], [response]),
                Err(NegotiationError::BadParams(_))
            )
        };
        assert!(bad("permessage-deflate; client_max_window_bits"));
        assert!(bad("permessage-deflate; client_max_window_bits=16"));
        assert!(bad("permessage-deflate; mystery=1"));
        assert!(bad("permessage-deflate, permessage-deflate"));
        // The offer asked for server_no_context_takeover: an answer must grant it.
        assert!(bad("permessage-deflate"));
        assert!(!bad("permessage-deflate; server_no_context_takeover"));
        assert!(matches!(
            accept(
                ["permessage-deflate"],
                ["permessage-deflate; client_max_window_bits=9"]
            ),
            Err(NegotiationError::BadParams(_))
        ));
        assert!(matches!(
            accept(
                ["permessage-deflate; server_max_window_bits=10"],
                ["permessage-deflate; server_max_window_bits=11"]
            ),
            Err(NegotiationError::BadParams(_))
        ));
        assert_eq!(
            accept(
                [CLIENT_OFFER],
                ["permessage-deflate; server_no_context_takeover; client_max_window_bits=8"]
            ),
            Ok(Some(Agreement {
                deflate_window_bits: 8,
                keep_inflate_context: false
            }))
        );
    }
}
