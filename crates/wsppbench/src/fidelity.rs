//! `wsppbench fidelity-plot`: the RTTs wspp printed against the wire's, as percentile
//! curves, from the samples `scripts/fidelity.sh` writes.
//!
//! Each sample is one Ping: the time between its frame and its Pong's in the capture,
//! and what wsppclient printed or wsppsrv logged for it, on the kernel's clock or the
//! user's. A printed curve that lies on the wire's is a program that reports the
//! network; the gap between the user curve and the wire's is the program's own wake-up.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;

use crate::figures;
use crate::plot;

/// The curves, in the plot's order of styles: the wire's first (black and grey), then
/// the kernel clock's (dotted over them), then the user clock's (in colour).
const SERIES: [(&str, &str, &str); 6] = [
    ("client", "wire", "client: wire (Ping to Pong frames)"),
    ("server", "wire", "server: wire"),
    ("client", "kernel", "client printed, kernel clock"),
    ("server", "kernel", "server logged, kernel clock"),
    ("client", "user", "client printed, user clock (-U)"),
    ("server", "user", "server logged, user clock"),
];

/// Reads `tsv` (`end clock seq wire_us printed_us`, with a header line) and writes the
/// SVG to `out`.
pub fn plot(tsv: &Path, out: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(tsv).with_context(|| format!("cannot read {}", tsv.display()))?;
    let mut histograms: Vec<Histogram<u64>> = SERIES.iter().map(|_| figures::histogram()).collect();
    for (n, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [end, clock, _seq, wire, printed] = fields[..] else {
            bail!("{}:{}: not 5 tab-separated fields", tsv.display(), n + 1);
        };
        let us = |s: &str| -> Result<Duration> {
            let v: f64 = s
                .parse()
                .with_context(|| format!("{}:{}: {s:?} is no number", tsv.display(), n + 1))?;
            Ok(Duration::from_secs_f64(v.max(0.0) / 1e6))
        };
        for (i, &(e, c, _)) in SERIES.iter().enumerate() {
            if e != end {
                continue;
            }
            // The wire's curve once per Ping: from the kernel clock's rows, which
            // both ends have (the client's -U run is another run of its own).
            if c == "wire" && clock == "kernel" {
                figures::record(&mut histograms[i], us(wire)?);
            } else if c == clock {
                figures::record(&mut histograms[i], us(printed)?);
            }
        }
    }
    let series: Vec<(&str, &Histogram<u64>)> = SERIES
        .iter()
        .zip(&histograms)
        .map(|(&(_, _, name), h)| (name, h))
        .collect();
    let svg = plot::svg_of("RTT printed and on the wire (loopback)", "RTT", &series);
    std::fs::write(out, svg).with_context(|| format!("cannot write {}", out.display()))
}
