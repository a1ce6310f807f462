//! Durations as the client writes them where room is short (the clients table, the
//! terminal UI's run line); it reads them from the command line with
//! [`wspp::duration`], as the server does.
//!
//! One short form for the whole client, so that an age in the clients table and a
//! run's elapsed time in the terminal UI read alike.

use std::time::Duration;

/// `850ms`, `4.2s`, `12s`, `3m05s`, `2h05m`: a duration at a glance, in the fewest
/// characters that still tell seconds from minutes. Tenths of a second only under a
/// minute, and only when not zero; from an hour on, minutes are the finest unit.
pub fn short(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0 => format!("{}ms", d.as_millis()),
        1..60 => match d.subsec_millis() / 100 {
            0 => format!("{secs}s"),
            tenths => format!("{secs}.{tenths}s"),
        },
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_durations_read_at_a_glance() {
        assert_eq!(short(Duration::ZERO), "0ms");
        assert_eq!(short(Duration::from_millis(850)), "850ms");
        assert_eq!(short(Duration::from_secs(1)), "1s");
        assert_eq!(short(Duration::from_millis(4200)), "4.2s");
        assert_eq!(short(Duration::from_millis(59_990)), "59.9s");
        assert_eq!(short(Duration::from_secs(185)), "3m05s");
        assert_eq!(short(Duration::from_secs(200)), "3m20s");
        assert_eq!(short(Duration::from_secs(7500)), "2h05m");
    }
}
