//! TODO

pub mod pinger;
pub mod report;

pub use self::pinger::Pinger;
pub use self::report::{PingEvent, PingReport, ProbeStats, Setup};
