//! Durations as the client reads them from the command line (`1`, `0.2` and `200ms`,
//! as ping(8) and humans write them) and as it writes them where room is short (the
//! clients table, the terminal UI's run line).
//!
//! One short form for the whole client, so that an age in the clients table and a
//! run's elapsed time in the terminal UI read alike.

use std::time::Duration;

/// Seconds as ping(8) takes them (`1`, `0.2`, `0`), or a duration with a unit (`200ms`).
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("{s:?} is not a number of seconds from 0 up"));
    }
    humantime::parse_duration(s).map_err(|_| {
        format!(
            "{s:?} is not a duration: give seconds (1, 0.2) or a number with a unit (500ms, 2s, 1m)"
        )
    })
}

/// [`parse_seconds`], but zero is refused (a timeout of zero would lose every ping).
pub fn parse_positive_seconds(s: &str) -> Result<Duration, String> {
    let d = parse_seconds(s)?;
    if d.is_zero() {
        return Err("must be more than 0".into());
    }
    Ok(d)
}

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
    fn seconds_parse_like_ping() {
        assert_eq!(parse_seconds("0"), Ok(Duration::ZERO));
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_seconds("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_seconds("150ms"), Ok(Duration::from_millis(150)));
        assert!(parse_seconds("-1").is_err());
        let err = parse_seconds("banana").expect_err("not a duration");
        assert!(err.contains("500ms") && err.contains("0.2"), "{err}");
        assert!(parse_positive_seconds("0").is_err());
    }

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
