//! permessage-deflate's handshake parameters from any text: an offer, a server's
//! answer to it, and a client's check of any answer. Whatever the server answers must
//! be an answer its own client takes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wspp::deflate::negotiation;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (offer, answer) = text.split_once('\n').unwrap_or((&text, ""));
    let _ = negotiation::offers([offer]);
    if let Some((response, _)) = negotiation::respond([offer]) {
        assert!(
            matches!(
                negotiation::accept([offer], [response.as_str()]),
                Ok(Some(_))
            ),
            "the server's answer {response:?} to {offer:?} is refused by the client"
        );
    }
    let _ = negotiation::accept([offer], [answer]);
});
