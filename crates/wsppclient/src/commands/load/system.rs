//! What the operating system allows a load generator and what it costs: the file
//! descriptor limit, raised as far as it goes, and the process's CPU time.
//!
//! Each connection is a descriptor (two when the server runs in this process: its
//! accepted socket too), and the soft limit is often 1,024 while the hard one allows
//! far more. The CPU time is how the generator knows it was the bottleneck: a
//! generator that used a whole core measured itself, not the server.

use std::time::Duration;

/// Descriptors kept free beyond the connections: the runtime, stdio, the log file,
/// the in-process server's listener, a name lookup's socket.
const FD_RESERVE: u64 = 64;

/// What the descriptor limit allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdRoom {
    /// The limit now in force (the hard one, when raising worked).
    pub limit: u64,
    /// Connections that fit under it, beside what is already open.
    pub connections: u64,
}

/// Raises the soft descriptor limit to the hard one, and says how many connections of
/// `fds_per_connection` descriptors then fit. `None` where the limit cannot be read.
pub fn raise_fd_limit(fds_per_connection: u64) -> Option<FdRoom> {
    let limit = raise()?;
    let open = open_fds();
    let free = limit.saturating_sub(open).saturating_sub(FD_RESERVE);
    Some(FdRoom {
        limit,
        connections: free / fds_per_connection.max(1),
    })
}

#[cfg(unix)]
fn raise() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft >= hard {
        return Some(soft);
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => Some(hard),
        Err(error) => {
            tracing::debug!(%error, soft, hard, "cannot raise the descriptor limit");
            Some(soft)
        }
    }
}

#[cfg(not(unix))]
fn raise() -> Option<u64> {
    None
}

/// Descriptors open now; on Linux counted in `/proc/self/fd`, elsewhere the three of
/// stdio.
fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(3, |dir| dir.count() as u64)
}

/// CPU time this process has used so far, user and system; `None` where it cannot be
/// read.
pub fn cpu_time() -> Option<Duration> {
    #[cfg(unix)]
    {
        use nix::sys::resource::{UsageWho, getrusage};
        use nix::sys::time::TimeValLike;
        let usage = getrusage(UsageWho::RUSAGE_SELF).ok()?;
        let micros = usage.user_time().num_microseconds() + usage.system_time().num_microseconds();
        Some(Duration::from_micros(u64::try_from(micros).unwrap_or(0)))
    }
    #[cfg(not(unix))]
    None
}

/// `cpu` as a percentage of one core over `wall`.
pub fn cpu_pct(cpu: Duration, wall: Duration) -> f64 {
    if wall.is_zero() {
        0.0
    } else {
        cpu.as_secs_f64() * 100.0 / wall.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_leaves_room_for_what_is_open() {
        let room = raise_fd_limit(2).expect("a unix limit");
        assert!(room.limit > FD_RESERVE);
        assert!(room.connections * 2 + FD_RESERVE <= room.limit);
        assert!(cpu_time().is_some());
    }

    #[test]
    fn cpu_is_a_share_of_one_core() {
        let pct = cpu_pct(Duration::from_millis(450), Duration::from_millis(500));
        assert!((pct - 90.0).abs() < 1e-9);
        assert_eq!(cpu_pct(Duration::from_secs(1), Duration::ZERO), 0.0);
    }
}
