//! The run's RTTs as an HdrHistogram interval log, and logs read back and merged.
//!
//! The format is HdrHistogram's own (what its Java `HistogramLogProcessor` and
//! Python's `hdrhistogram` read): a `BaseTime` header, then one line per second with
//! the interval's start (seconds after `BaseTime`), its length, its largest value and
//! the histogram, V2-serialized, deflated and base64-encoded. Values are microseconds,
//! the unit such logs usually carry, converted from the nanosecond histograms the run
//! keeps. Logs from several generators, each with its own `BaseTime`, merge by adding
//! their histograms: one fleet-wide distribution, not an average of percentiles.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use wspp::stats::Latency;

use crate::error::Error;

mod v2;

/// The largest RTT a log holds, in microseconds (an hour, as `wspp::stats`).
const MAX_US: u64 = 3_600_000_000;

/// A microsecond histogram as the logs hold them.
fn histogram_us() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("constant histogram bounds are valid")
}

/// An error about the log at `path`, naming it.
fn about(path: &Path, err: impl std::fmt::Display) -> Error {
    Error::Io(io::Error::other(format!("{}: {err}", path.display())))
}

/// An interval log being written, one interval at a time.
pub struct HdrLog {
    path: PathBuf,
    file: BufWriter<File>,
    serializer: V2DeflateSerializer,
}

impl HdrLog {
    /// Creates the log at `path` (replacing any file there), with `base` (the run's
    /// start) as its `StartTime` and `BaseTime`.
    pub fn create(path: &Path, base: SystemTime) -> Result<HdrLog, Error> {
        let file = File::create(path).map_err(|e| about(path, e))?;
        let mut log = HdrLog {
            path: path.to_owned(),
            file: BufWriter::new(file),
            serializer: V2DeflateSerializer::new(),
        };
        IntervalLogWriterBuilder::new()
            .add_comment(concat!(
                "wsppclient/",
                env!("CARGO_PKG_VERSION"),
                " load: WebSocket round trips in microseconds"
            ))
            .with_start_time(base)
            .with_base_time(base)
            .begin_log_with(&mut log.file, &mut log.serializer)
            .map_err(|e| about(path, e))?;
        Ok(log)
    }

    /// Appends the interval that started `start` after the base time and lasted
    /// `length`, holding `rtts`; flushed, so the log can be followed while it grows.
    pub fn write(
        &mut self,
        rtts: &Latency,
        start: Duration,
        length: Duration,
    ) -> Result<(), Error> {
        let mut us = histogram_us();
        for (rtt, count) in rtts.recorded() {
            let micros = u64::try_from((rtt.as_nanos() + 500) / 1000).unwrap_or(MAX_US);
            us.saturating_record_n(micros.max(1), count);
        }
        // A builder without headers writes nothing of its own: each interval goes
        // through a fresh one because the writer borrows the file it writes.
        let mut writer = IntervalLogWriterBuilder::new()
            .begin_log_with(&mut self.file, &mut self.serializer)
            .map_err(|e| about(&self.path, e))?;
        writer
            .write_histogram(&us, start, length, None)
            .map_err(|e| about(&self.path, e))?;
        self.file.flush().map_err(|e| about(&self.path, e))
    }
}

impl std::fmt::Debug for HdrLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HdrLog")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Interval logs read back and added up.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The logs read.
    pub files: usize,
    /// The intervals they held.
    pub intervals: u64,
    /// Every RTT of every interval, in microseconds.
    pub histogram: Histogram<u64>,
    /// From the earliest interval's start to the latest one's end, on the wall clock.
    pub span: Duration,
    /// The earliest interval's start, after the epoch; none before the first interval.
    first: Option<Duration>,
    /// The latest interval's end, after the epoch.
    last: Duration,
}

impl Default for Merged {
    fn default() -> Self {
        Merged {
            files: 0,
            intervals: 0,
            histogram: histogram_us(),
            span: Duration::ZERO,
            first: None,
            last: Duration::ZERO,
        }
    }
}

impl Merged {
    /// Adds the intervals of one log, given as its bytes: what `merge` reads from
    /// another generator's file, so nothing in it is trusted. On an error, what the
    /// log held before the bad line may have been added.
    pub fn add_log(&mut self, log: &[u8]) -> Result<(), String> {
        self.files += 1;
        let mut base = Duration::ZERO;
        for entry in IntervalLogIterator::new(log) {
            let entry = entry.map_err(|e| format!("not an HdrHistogram interval log ({e:?})"))?;
            let interval = match entry {
                LogEntry::BaseTime(at) => {
                    base = at;
                    continue;
                }
                LogEntry::StartTime(_) => continue,
                LogEntry::Interval(interval) => interval,
            };
            let encoded = base64::engine::general_purpose::STANDARD
                .decode(interval.encoded_histogram())
                .map_err(|e| format!("an interval is not base64: {e}"))?;
            let plain =
                v2::checked(&encoded).map_err(|e| format!("an interval cannot be read: {e}"))?;
            let histogram: Histogram<u64> = Deserializer::new()
                .deserialize(&mut plain.as_slice())
                .map_err(|e| format!("an interval cannot be read: {e:?}"))?;
            self.histogram
                .add(&histogram)
                .map_err(|e| format!("an interval does not fit: {e:?}"))?;
            self.intervals += 1;
            // The times are a peer's digits: any u64 of seconds parses, and a sum past
            // what a Duration holds would panic.
            let (start, end) = base
                .checked_add(interval.start_timestamp())
                .and_then(|start| Some((start, start.checked_add(interval.duration())?)))
                .ok_or("an interval's time is out of range")?;
            self.first = Some(self.first.map_or(start, |f| f.min(start)));
            self.last = self.last.max(end);
        }
        self.span = self
            .first
            .map_or(Duration::ZERO, |f| self.last.saturating_sub(f));
        Ok(())
    }
}

/// Reads the interval logs at `paths` and adds their histograms.
pub fn merge(paths: &[PathBuf]) -> Result<Merged, Error> {
    let mut merged = Merged::default();
    for path in paths {
        let bytes = std::fs::read(path).map_err(|e| about(path, e))?;
        merged.add_log(&bytes).map_err(|e| about(path, e))?;
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_reads_back_with_its_counts_in_microseconds() {
        let dir = std::env::temp_dir().join(format!("wspp-hlog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("one.hlog");
        let mut log = HdrLog::create(&path, SystemTime::now()).expect("created");
        let mut second = Latency::default();
        for us in [40, 50, 60] {
            second.record(Duration::from_micros(us));
        }
        log.write(&second, Duration::ZERO, Duration::from_secs(1))
            .expect("written");
        second.record(Duration::from_millis(3));
        log.write(&second, Duration::from_secs(1), Duration::from_secs(1))
            .expect("written");
        drop(log);
        let merged = merge(&[path.clone(), path.clone()]).expect("merged");
        assert_eq!((merged.files, merged.intervals), (2, 4));
        assert_eq!(merged.histogram.len(), 14);
        assert_eq!(merged.histogram.min(), 40);
        // 3 ms to the histograms' 0.1%.
        let max = merged.histogram.max();
        assert!(max.abs_diff(3000) <= 3, "{max}");
        assert_eq!(merged.span, Duration::from_secs(2));
        std::fs::write(&path, "not a log\n").expect("written");
        assert!(merge(&[path]).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn times_past_the_clock_are_refused_not_added() {
        let interval = "0.000,1.000,0.000,HISTFAAAAB94nJNpmSzMwMDAyAABzFAazL82eQmD/QeoCABVgwSI\n";
        for log in [
            format!(
                "#[BaseTime: 18446744073709551615.000 (seconds since epoch)]\n1.000,{}",
                &interval[6..]
            ),
            format!("18446744073709551615.000,{}", &interval[6..]),
        ] {
            let mut merged = Merged::default();
            let refused = merged.add_log(log.as_bytes()).expect_err("out of range");
            assert!(refused.contains("out of range"), "{refused}");
        }
    }

    #[test]
    fn what_fuzzing_found_is_refused_not_a_panic_or_a_huge_allocation() {
        // The hlog_merge fuzz target's finds, kept as its seeds: an interval whose
        // counts decode to a run of i64::MIN zeros, which hdrhistogram's reader negates
        // (a panic with overflow checks), and two whose header asks for gigabytes of
        // counts, which it allocated before reading them.
        for (log, why) in [
            (
                &include_bytes!("../../../../../fuzz/corpus/hlog_merge/seed-crash-zero-run")[..],
                "out of range",
            ),
            (
                include_bytes!("../../../../../fuzz/corpus/hlog_merge/seed-oom-counts-length"),
                "asks for",
            ),
            (
                include_bytes!("../../../../../fuzz/corpus/hlog_merge/seed-oom-counts-length-2"),
                "asks for",
            ),
        ] {
            let refused = Merged::default().add_log(log).expect_err("malformed");
            assert!(refused.contains(why), "{refused}");
        }
    }
}
