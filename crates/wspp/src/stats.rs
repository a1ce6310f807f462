//! Latency statistics.
//!
//! Two accumulators, for two budgets:
//!
//! * [`Running`]: count, last, min, max and mean in a few words of memory. The server
//!   keeps one per connected client, so it must stay small.
//! * [`Latency`]: [`Running`] plus the standard deviation (`mdev`, as ping(8) prints it)
//!   and an HDR histogram for percentiles. The client keeps one per ping session.
//!
//! Samples are kept in nanoseconds: loopback round trips are tens of microseconds, so
//! microsecond resolution would already cost a few percent.

use std::time::Duration;

use hdrhistogram::Histogram;

/// The longest RTT the histogram resolves; longer samples are recorded as this.
pub const HISTOGRAM_MAX: Duration = Duration::from_secs(3600);
/// Significant decimal digits the histogram keeps (0.1% resolution).
const HISTOGRAM_SIGFIGS: u8 = 3;

/// Count, last, min, max and sum of RTT samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Running {
    count: u64,
    last: Duration,
    min: Duration,
    max: Duration,
    /// Nanoseconds; u128 so that no realistic run can overflow it.
    sum_ns: u128,
}

impl Running {
    /// Adds one sample.
    pub fn record(&mut self, rtt: Duration) {
        if self.count == 0 || rtt < self.min {
            self.min = rtt;
        }
        self.max = self.max.max(rtt);
        self.last = rtt;
        self.count += 1;
        self.sum_ns += rtt.as_nanos();
    }

    /// How many samples.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The latest sample.
    pub fn last(&self) -> Option<Duration> {
        (self.count > 0).then_some(self.last)
    }

    /// The smallest sample.
    pub fn min(&self) -> Option<Duration> {
        (self.count > 0).then_some(self.min)
    }

    /// The largest sample.
    pub fn max(&self) -> Option<Duration> {
        (self.count > 0).then_some(self.max)
    }

    /// The arithmetic mean.
    pub fn mean(&self) -> Option<Duration> {
        (self.count > 0).then(|| nanos(self.sum_ns / u128::from(self.count)))
    }
}

/// [`Running`] plus the standard deviation and percentiles.
#[derive(Debug, Clone)]
pub struct Latency {
    running: Running,
    /// Sum of squared nanoseconds, for `mdev`.
    sum_sq_ns: u128,
    histogram: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency::up_to(HISTOGRAM_MAX)
    }
}

/// Every figure of a [`Latency`] at one moment; `None` fields mean no sample yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Samples recorded.
    pub count: u64,
    /// Smallest sample.
    pub min: Option<Duration>,
    /// Mean.
    pub avg: Option<Duration>,
    /// Largest sample.
    pub max: Option<Duration>,
    /// Standard deviation, as ping(8)'s `mdev`.
    pub mdev: Option<Duration>,
    /// Median.
    pub p50: Option<Duration>,
    /// 90th percentile.
    pub p90: Option<Duration>,
    /// 99th percentile.
    pub p99: Option<Duration>,
    /// 99.9th percentile.
    pub p999: Option<Duration>,
}

impl Latency {
    /// An empty accumulator whose histogram reaches only as far as `highest` needs
    /// (at most [`HISTOGRAM_MAX`]). For samples up to `highest` every figure is the
    /// one `Latency::default()` gives, the buckets being the same, but there are
    /// fewer of them to allocate, clear and walk: below a millisecond, a twentieth.
    /// A load generator makes three a second, sized to that second's longest sample.
    pub fn up_to(highest: Duration) -> Self {
        let max_ns = u64::try_from(highest.min(HISTOGRAM_MAX).as_nanos()).unwrap_or(u64::MAX);
        // A histogram's range must span at least twice its lowest value.
        let histogram = Histogram::new_with_bounds(1, max_ns.max(2), HISTOGRAM_SIGFIGS)
            .expect("histogram bounds from 1 ns to at least 2 ns are valid");
        Latency {
            running: Running::default(),
            sum_sq_ns: 0,
            histogram,
        }
    }

    /// Adds one sample.
    pub fn record(&mut self, rtt: Duration) {
        self.running.record(rtt);
        let ns = rtt.as_nanos();
        self.sum_sq_ns = self.sum_sq_ns.saturating_add(ns * ns);
        let ns = u64::try_from(ns).unwrap_or(u64::MAX).max(1);
        self.histogram.saturating_record(ns);
    }

    /// Count, last, min, max and mean.
    pub fn running(&self) -> &Running {
        &self.running
    }

    /// The standard deviation of the samples (population form, as ping(8)).
    pub fn mdev(&self) -> Option<Duration> {
        let n = self.running.count;
        if n == 0 {
            return None;
        }
        let mean = self.running.sum_ns as f64 / n as f64;
        let mean_sq = self.sum_sq_ns as f64 / n as f64;
        Some(Duration::from_secs_f64(
            (mean_sq - mean * mean).max(0.0).sqrt() / 1e9,
        ))
    }

    /// The sample at quantile `q` (0.0..=1.0), to the histogram's resolution.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        (self.running.count > 0)
            .then(|| Duration::from_nanos(self.histogram.value_at_quantile(q.clamp(0.0, 1.0))))
    }

    /// `(value, fraction of samples at or below it)` pairs along the HDR percentile curve,
    /// `ticks_per_half` steps for each halving of the distance to 100%.
    pub fn percentile_curve(&self, ticks_per_half: u32) -> Vec<(Duration, f64)> {
        self.histogram
            .iter_quantiles(ticks_per_half)
            .map(|v| {
                (
                    Duration::from_nanos(v.value_iterated_to()),
                    v.quantile_iterated_to(),
                )
            })
            .collect()
    }

    /// How many samples fall in each of `bins` equal-width bins spanning `[low, high]`.
    ///
    /// Samples below `low` count in the first bin and samples above `high` in the last,
    /// so a caller can span the bulk of the distribution (say min to p99) without a few
    /// outliers squashing it into one bin. Values are taken at the histogram's
    /// resolution. Empty when `bins` is zero.
    pub fn histogram(&self, low: Duration, high: Duration, bins: usize) -> Vec<u64> {
        let mut counts = vec![0u64; bins];
        let Some(last) = bins.checked_sub(1) else {
            return counts;
        };
        let low_ns = low.as_nanos() as f64;
        let span_ns = high.saturating_sub(low).as_nanos() as f64;
        for bucket in self.histogram.iter_recorded() {
            let value = self.histogram.median_equivalent(bucket.value_iterated_to()) as f64;
            let bin = if span_ns > 0.0 {
                // `as` saturates: a value below `low` lands in bin 0.
                (((value - low_ns) / span_ns) * bins as f64) as usize
            } else {
                0
            };
            counts[bin.min(last)] += bucket.count_at_value();
        }
        counts
    }

    /// Adds every sample of `other`, as if each had been recorded here: a load
    /// generator adds each second's accumulator to the run's. The last sample
    /// becomes `other`'s.
    pub fn add(&mut self, other: &Latency) {
        let (mine, theirs) = (&mut self.running, &other.running);
        if theirs.count == 0 {
            return;
        }
        if mine.count == 0 || theirs.min < mine.min {
            mine.min = theirs.min;
        }
        mine.max = mine.max.max(theirs.max);
        mine.last = theirs.last;
        mine.count += theirs.count;
        mine.sum_ns += theirs.sum_ns;
        self.sum_sq_ns = self.sum_sq_ns.saturating_add(other.sum_sq_ns);
        // Both histograms have the same bounds (`Default`), so adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }

    /// Every distinct value the histogram holds, at its resolution, with how many
    /// samples it stands for, smallest first: what an export to another histogram
    /// (of another unit) needs.
    pub fn recorded(&self) -> impl Iterator<Item = (Duration, u64)> + '_ {
        self.histogram.iter_recorded().map(|v| {
            (
                Duration::from_nanos(self.histogram.median_equivalent(v.value_iterated_to())),
                v.count_at_value(),
            )
        })
    }

    /// Every figure at once.
    pub fn summary(&self) -> Summary {
        Summary {
            count: self.running.count,
            min: self.running.min(),
            avg: self.running.mean(),
            max: self.running.max(),
            mdev: self.mdev(),
            p50: self.quantile(0.50),
            p90: self.quantile(0.90),
            p99: self.quantile(0.99),
            p999: self.quantile(0.999),
        }
    }
}

/// `Duration::from_nanos` for a u128 that cannot exceed u64 in practice.
fn nanos(ns: u128) -> Duration {
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

/// Milliseconds as a float, the unit ping(8) prints.
pub fn as_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn running_is_empty_until_the_first_sample() {
        let mut r = Running::default();
        assert_eq!(
            (r.min(), r.max(), r.mean(), r.last()),
            (None, None, None, None)
        );
        r.record(us(30));
        r.record(us(10));
        r.record(us(20));
        assert_eq!(r.count(), 3);
        assert_eq!(r.min(), Some(us(10)));
        assert_eq!(r.max(), Some(us(30)));
        assert_eq!(r.mean(), Some(us(20)));
        assert_eq!(r.last(), Some(us(20)));
    }

    #[test]
    fn adding_accumulators_is_recording_their_samples_in_one() {
        let (mut a, mut b, mut both) = (Latency::default(), Latency::default(), Latency::default());
        for v in [30, 10] {
            a.record(us(v));
            both.record(us(v));
        }
        for v in [5, 50, 20] {
            b.record(us(v));
            both.record(us(v));
        }
        a.add(&b);
        a.add(&Latency::default());
        assert_eq!(a.summary(), both.summary());
        assert_eq!(a.running().last(), Some(us(20)));
        let recorded: Vec<_> = a.recorded().collect();
        assert_eq!(recorded.iter().map(|(_, n)| n).sum::<u64>(), 5);
        assert!(recorded.windows(2).all(|w| w[0].0 < w[1].0));
        // Nanosecond samples come back to the histogram's 0.1%.
        let first = recorded[0].0.as_nanos() as f64;
        assert!((first - 5_000.0).abs() <= 5.0, "{first}");
    }

    #[test]
    fn mdev_is_the_population_standard_deviation() {
        let mut l = Latency::default();
        for v in [2, 4, 4, 4, 5, 5, 7, 9] {
            l.record(Duration::from_millis(v));
        }
        // The classic example: mean 5, standard deviation exactly 2.
        let mdev = l.mdev().expect("samples were recorded");
        assert!((as_ms(mdev) - 2.0).abs() < 1e-9, "{mdev:?}");
        assert_eq!(Latency::default().mdev(), None);
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut l = Latency::default();
        for v in 1..=1000 {
            l.record(us(v));
        }
        let s = l.summary();
        let within = |d: Option<Duration>, want: u64| {
            let got = d.expect("samples were recorded").as_nanos() as f64;
            let want = us(want).as_nanos() as f64;
            (got - want).abs() / want < 0.002
        };
        assert!(within(s.p50, 500), "{s:?}");
        assert!(within(s.p90, 900), "{s:?}");
        assert!(within(s.p99, 990), "{s:?}");
        assert!(within(s.p999, 999), "{s:?}");
        assert_eq!(s.min, Some(us(1)));
        assert_eq!(s.max, Some(us(1000)));
        assert_eq!(s.count, 1000);
    }

    #[test]
    fn huge_samples_saturate_instead_of_failing() {
        let mut l = Latency::default();
        l.record(Duration::from_secs(10 * 3600));
        l.record(Duration::ZERO);
        assert_eq!(l.running().count(), 2);
        assert!(l.quantile(1.0).expect("recorded") >= HISTOGRAM_MAX);
    }

    #[test]
    fn a_histogram_sized_to_its_samples_gives_the_same_figures() {
        let samples: Vec<Duration> = (1..=500u64)
            .map(|i| Duration::from_nanos(i * i * 7919 % 3_000_000 + 1))
            .collect();
        let longest = samples.iter().copied().max().expect("samples");
        let (mut full, mut sized) = (Latency::default(), Latency::up_to(longest));
        for &rtt in &samples {
            full.record(rtt);
            sized.record(rtt);
        }
        assert_eq!(sized.summary(), full.summary());
        assert!(sized.recorded().eq(full.recorded()));
        // Past the longest a histogram keeps, both saturate alike.
        let (mut full, mut sized) = (Latency::default(), Latency::up_to(HISTOGRAM_MAX * 2));
        full.record(HISTOGRAM_MAX * 3);
        sized.record(HISTOGRAM_MAX * 3);
        assert_eq!(sized.summary(), full.summary());
    }

    #[test]
    fn histogram_bins_split_the_range_evenly_and_clamp_outliers() {
        let mut l = Latency::default();
        for v in [10, 11, 19, 20, 29, 30, 39, 40] {
            l.record(us(v));
        }
        l.record(us(1));
        l.record(us(5000));
        // [10, 50) in four bins of 10 µs; 1 µs joins the first, 5 ms the last.
        let bins = l.histogram(us(10), us(50), 4);
        assert_eq!(bins, vec![3 + 1, 2, 2, 1 + 1]);
        assert_eq!(bins.iter().sum::<u64>(), l.running().count());
        assert!(l.histogram(us(10), us(50), 0).is_empty());
        // A zero-width range puts everything in the first bin.
        assert_eq!(l.histogram(us(7), us(7), 3), vec![10, 0, 0]);
        assert_eq!(Latency::default().histogram(us(1), us(2), 2), vec![0, 0]);
    }

    #[test]
    fn the_percentile_curve_ends_at_one() {
        let mut l = Latency::default();
        for v in 1..=100 {
            l.record(us(v));
        }
        let curve = l.percentile_curve(2);
        assert!(curve.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(curve.last().map(|p| p.1), Some(1.0));
    }
}
