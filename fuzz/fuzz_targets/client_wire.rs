//! The client's wire follower (`inspect`'s transcript): any server's bytes, an HTTP
//! head and then frames, in pieces of any size, compressed frames inflated.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wsppclient::watch::wire::{Direction, WireParser};

fuzz_target!(|data: &[u8]| {
    let Some((&piece, bytes)) = data.split_first() else {
        return;
    };
    let mut parser = WireParser::new(Direction::Incoming);
    for chunk in bytes.chunks(usize::from(piece).max(1)) {
        let _ = parser.feed(chunk);
    }
    let _ = parser.finish();
});
