//! What `wsppclient ping` prints: ping(8)-style lines, one JSON object, or one JSON
//! object per probe.
//!
//! Pure functions from events and reports to text, so the layout is unit-tested and
//! the terminal UI can reuse the same wording. The JSON objects are the contract for
//! scripts (and the benchmark): their keys carry their unit, and RTT fields are `null`
//! when no pong came back; the `tls_*` fields are `null` over plain `ws://`, the
//! `proxy*` fields without a proxy, and `subprotocol` when the server chose none.

mod json;
mod live;
mod text;

pub use self::json::{ProbeLine, json, probe_lines, round_ns};
pub use self::live::{Live, PingFormat};
pub use self::text::{
    clock_line, event_line, header, ms, phases_line, rtt_lines, setup_lines, stamp, start_lines,
    summary, tls_line, wireshark_filter,
};

#[cfg(test)]
mod tests;
