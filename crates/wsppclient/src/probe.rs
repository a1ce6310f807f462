//! The probes: what measures a round trip on one connected WebSocket.
//!
//! A [`Pinger`] ([`pinger`]) holds one connection and its trackers: it sends Pings
//! (or messages for the server to echo), matches each answer to its probe, and times
//! it on the kernel's clock and the user's. The sessions that schedule probes (ping's
//! interval and count, and the commands built on them) sit above, in
//! `crate::commands`; what a session tells its caller is plain data in [`report`],
//! so that printing and drawing depend on what happened, not on how it ran.

pub mod kinds;
pub mod pinger;
pub mod report;

pub use self::kinds::{Probe, Probes};
pub use self::pinger::{Http2Connection, Pinger};
pub use self::report::{PingEvent, PingReport, ProbeStats, Setup};
