//! The server's log line for each round trip: its target, message and field names.
//!
//! `wsppsrv` writes one such line per pong; the benchmark reads the server's own view
//! of the RTT back out of its log text. Both name the fields through these constants,
//! so that a renamed field fails to compile on one side or the other instead of
//! silently leaving the benchmark with no samples.

/// The line's target: the module that writes it, which a log filter such as
/// `RUST_LOG=wsppsrv::session=info` names to keep the line.
pub const TARGET: &str = "wsppsrv::session";
/// The line's message.
pub const MESSAGE: &str = "rtt";
/// The sequence number of the ping the pong answered; `0` is the first.
pub const SEQ: &str = "seq";
/// The RTT on [`CLOCK`], in microseconds to the nanosecond (`17.345`).
pub const RTT_US: &str = "rtt_us";
/// The clock that timed [`RTT_US`]: `kernel` or `user` (see [`crate::wire_clock`]).
pub const CLOCK: &str = "clock";
/// The same round trip from user space to user space, in microseconds.
pub const USER_RTT_US: &str = "user_rtt_us";
