//! Durations as both programs read them from the command line: plain seconds as
//! ping(8) takes them (`1`, `0.2`) or a number with a unit as people write them
//! (`500ms`, `2s`, `1m`), each refused with one line that says what to write instead.
//!
//! Every duration accepted is at most [`MAX`], one year: longer than any period,
//! timeout or run anyone means, and short enough that adding it to a clock reading
//! (`Instant + Duration`, a tokio deadline) cannot overflow, which would panic. A
//! period or a timeout is also at least [`TICK`], because tokio's timers fire on
//! millisecond ticks: a shorter one would be accepted and then not kept.

use std::time::Duration;

/// The longest duration accepted.
pub const MAX: Duration = Duration::from_secs(365 * 86_400);

/// The shortest period or timeout a tokio timer keeps.
pub const TICK: Duration = Duration::from_millis(1);

/// Any duration from 0 to [`MAX`], to the nanosecond: for what is spent rather than
/// waited for (a busy poll's budget).
pub fn parse(s: &str) -> Result<Duration, String> {
    let d = match s.parse::<f64>() {
        Ok(secs) if !secs.is_finite() => return Err(not_a_duration(s)),
        Ok(secs) if secs < 0.0 => return Err(negative(s)),
        // Beyond u64 seconds is beyond the cap too.
        Ok(secs) => Duration::try_from_secs_f64(secs).map_err(|_| too_long(s))?,
        Err(_) => humantime::parse_duration(s).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => too_long(s),
            _ if s.trim_start().starts_with('-') => negative(s),
            _ => not_a_duration(s),
        })?,
    };
    if d > MAX {
        return Err(too_long(s));
    }
    Ok(d)
}

/// A delay: 0 (at once), or from [`TICK`] to [`MAX`].
pub fn parse_delay(s: &str) -> Result<Duration, String> {
    let d = parse(s)?;
    if !d.is_zero() && d < TICK {
        return Err(format!(
            "{s:?} is too short: give 0 (at once) or at least 1ms, the timers' resolution"
        ));
    }
    Ok(d)
}

/// A period or a timeout: from [`TICK`] to [`MAX`]. Zero is refused, since a timeout
/// of zero loses everything and a period of zero is no period.
pub fn parse_positive(s: &str) -> Result<Duration, String> {
    let d = parse(s)?;
    if d < TICK {
        return Err(format!(
            "{s:?} is too short: give at least 1ms, the timers' resolution"
        ));
    }
    Ok(d)
}

fn not_a_duration(s: &str) -> String {
    format!("{s:?} is not a duration: write it like 500ms, 2s or 1m, or in seconds like 0.2")
}

fn negative(s: &str) -> String {
    format!("{s:?} is negative: a duration is 0 or more")
}

fn too_long(s: &str) -> String {
    format!("{s:?} is too long: give at most 365d (one year)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_units_both_parse() {
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("150ms"), Ok(Duration::from_millis(150)));
        assert_eq!(parse("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("0.00001"), Ok(Duration::from_micros(10)));
        assert_eq!(parse("365d"), Ok(MAX));
    }

    #[test]
    fn each_refusal_says_what_is_wrong() {
        for (input, words) in [
            ("banana", "500ms, 2s or 1m"),
            ("", "500ms, 2s or 1m"),
            ("NaN", "500ms, 2s or 1m"),
            ("inf", "500ms, 2s or 1m"),
            ("-inf", "500ms, 2s or 1m"),
            ("-1", "negative"),
            ("-0.5", "negative"),
            ("-5s", "negative"),
            ("1e19", "at most 365d"),
            ("1e30", "at most 365d"),
            ("366d", "at most 365d"),
            ("10000000000000000000s", "at most 365d"),
            ("99999999999999999999999s", "at most 365d"),
        ] {
            let err = parse(input).expect_err(input);
            assert!(err.contains(words), "{input}: {err}");
            assert!(!err.contains('\n'), "{input}: {err}");
        }
    }

    #[test]
    fn timers_get_at_least_their_tick() {
        assert_eq!(parse_positive("1ms"), Ok(TICK));
        assert_eq!(parse_positive("0.001"), Ok(TICK));
        for short in ["0", "0s", "0.00001", "999us"] {
            let err = parse_positive(short).expect_err(short);
            assert!(err.contains("at least 1ms"), "{short}: {err}");
        }
        assert_eq!(parse_delay("0"), Ok(Duration::ZERO));
        assert_eq!(parse_delay("2ms"), Ok(Duration::from_millis(2)));
        let err = parse_delay("10us").expect_err("under a tick");
        assert!(err.contains("give 0 (at once) or at least 1ms"), "{err}");
        assert!(parse_delay("1e19").is_err());
    }
}
