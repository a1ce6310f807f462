//! Samples into figures: histograms of nanoseconds, their percentiles, medians over
//! rounds, and how a figure is written.
//!
//! The bottom of the benchmark: every measuring module records into these histograms,
//! and the results, tables and doc above read the figures out of them.

use std::time::Duration;

use hdrhistogram::Histogram;

/// A histogram of nanoseconds, from 1 ns to one minute, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("constant bounds are valid")
}

/// Records one duration in ns (saturating at the histogram's top).
pub fn record(histogram: &mut Histogram<u64>, d: Duration) {
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1);
    histogram.saturating_record(ns);
}

/// The percentiles of one run, in microseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
}

impl Summary {
    /// The percentiles of a histogram of nanoseconds.
    pub fn of(h: &Histogram<u64>) -> Summary {
        let us = |ns: u64| ns as f64 / 1000.0;
        Summary {
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        }
    }

    /// The five figures, in table order.
    pub fn values(&self) -> [f64; 5] {
        [self.p50, self.p90, self.p99, self.p999, self.max]
    }

    /// Each figure divided by `floor`.
    pub fn ratios(&self, floor: f64) -> [f64; 5] {
        self.values().map(|v| v / floor)
    }

    /// The five figures in µs, space-separated: what a child process measuring for the
    /// suite (or a script) prints.
    pub fn line(&self) -> String {
        self.values().map(|v| v.to_string()).join(" ")
    }
}

/// The median of each of five figures over rounds.
pub fn median5(rounds: &[[f64; 5]]) -> [f64; 5] {
    std::array::from_fn(|i| {
        let mut column: Vec<f64> = rounds.iter().map(|r| r[i]).collect();
        median(&mut column)
    })
}

/// The median (the upper one of an even count) of non-empty `values`.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The median of `values` over rounds, with its range when there are several:
/// `1.19× (1.12-1.30)`. The range says how far one round can be trusted here.
pub fn spread(values: impl Iterator<Item = f64>) -> String {
    let mut all: Vec<f64> = values.collect();
    let median = median(&mut all);
    let (low, high) = (all[0], all[all.len() - 1]);
    if all.len() > 1 {
        format!("{median:.2}× ({low:.2}-{high:.2})")
    } else {
        format!("{median:.2}×")
    }
}

/// `12345` as `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in milliseconds, to a tenth: `12.3 ms`.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(19_000), "19,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn medians_are_per_column() {
        let rounds = [
            [1.0, 5.0, 0.0, 0.0, 0.0],
            [3.0, 4.0, 0.0, 0.0, 0.0],
            [2.0, 6.0, 0.0, 0.0, 0.0],
        ];
        assert_eq!(median5(&rounds)[..2], [2.0, 5.0]);
    }
}
