//! The UTF-8 guard (`wspp::utf8_guard`): any peer's bytes, as the server sees a
//! client's masked frames or the client a server's plain ones (after its 101 or with
//! none), cut at arbitrary points. Where the cuts fall must not change the verdict.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tokio_tungstenite::tungstenite::protocol::Role;
use wspp::utf8_guard::{InvalidUtf8, Utf8Guard};

/// The head a client's guard steps over before the frames.
const SWITCHED: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";

fuzz_target!(|data: &[u8]| {
    let Some((&choice, bytes)) = data.split_first() else {
        return;
    };
    let max_frame = if choice & 4 == 0 { u64::MAX } else { 200 };
    let fresh = || match choice & 3 {
        0 => Utf8Guard::new(Role::Server, max_frame),
        1 => Utf8Guard::new(Role::Client, max_frame),
        _ => Utf8Guard::after_response(max_frame),
    };
    let stream = if choice & 3 == 3 {
        [SWITCHED, bytes].concat()
    } else {
        bytes.to_vec()
    };
    let whole = fresh().feed(&stream);
    // Cut points from the bytes themselves: piece lengths of 1 to 8 + (choice >> 3).
    let mut pieces = fresh();
    let mut verdict: Result<(), InvalidUtf8> = Ok(());
    let mut rest = &stream[..];
    let mut i = 0;
    while !rest.is_empty() {
        let len = (1 + usize::from(stream[i % stream.len()]) % (8 + usize::from(choice >> 3)))
            .min(rest.len());
        let (piece, after) = rest.split_at(len);
        verdict = pieces.feed(piece);
        if verdict.is_err() {
            break;
        }
        rest = after;
        i += 1;
    }
    assert_eq!(
        whole, verdict,
        "the verdict depends on where the bytes were cut"
    );
    if verdict.is_err() {
        assert_eq!(pieces.feed(b"more"), Err(InvalidUtf8), "a verdict is final");
    }
});
