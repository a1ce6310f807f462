//! The clock stamps are read on, how a connection keeps them, and how the kernel
//! numbers the bytes it stamps: below both the stamped socket and the system calls
//! that fill it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A moment on CLOCK_REALTIME, in nanoseconds since the Unix epoch: the clock of the
/// kernel's receive stamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WireTime(u64);

impl WireTime {
    /// Now, on CLOCK_REALTIME.
    pub fn now() -> WireTime {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        WireTime::from_nanos(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
    }

    /// The moment `ns` nanoseconds after the epoch.
    pub fn from_nanos(ns: u64) -> WireTime {
        WireTime(ns)
    }

    /// Nanoseconds since the epoch.
    pub fn as_nanos(self) -> u64 {
        self.0
    }

    /// The time from `earlier` to `self`; `None` if `earlier` is later (the wall clock
    /// was stepped back between the two).
    pub fn since(self, earlier: WireTime) -> Option<Duration> {
        self.0.checked_sub(earlier.0).map(Duration::from_nanos)
    }
}

/// Stamps are kept as nanoseconds with 0 for "none yet": an `Option` would double the
/// bytes every connection holds for them.
pub(super) const NONE: u64 = 0;

pub(super) fn stamp(ns: u64) -> Option<WireTime> {
    (ns != NONE).then_some(WireTime(ns))
}

/// How the kernel numbers the bytes it stamps on their way out (`OPT_ID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Numbering {
    /// Not yet: the first stamped write asks for it.
    Unset,
    /// From the first byte not yet acknowledged when it was asked for: set before
    /// the first write, that is byte 0.
    FromUnacked,
    /// From the next byte written when it was asked for (`OPT_ID_TCP`).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    FromNext,
}
