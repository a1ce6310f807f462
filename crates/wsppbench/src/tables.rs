//! The run's figures as tables: built once as rows of strings, rendered twice, as
//! aligned text for the terminal and as Markdown for the doc.

use std::fmt::Write as _;

use crate::figures::{median, ms, thousands};
use crate::probed::ProbedResult;
use crate::results::{Results, Versus};

/// Every table of `results`, the targets last.
pub fn of(results: &Results) -> Vec<Table> {
    let mut tables = Vec::new();
    if let Some(rtt) = &results.rtt {
        let mut t = Table::new(
            format!(
                "RTT, µs: median of {} round{} of {} sequential round trips each (after {} warm-up); × = ratio to the std floor's p50 in the same round",
                rtt.rounds,
                if rtt.rounds == 1 { "" } else { "s" },
                thousands(rtt.pings),
                thousands(rtt.warmup)
            ),
            &["", "p50", "p90", "p99", "p99.9", "max"],
        );
        for series in &rtt.series {
            let values = series.median_values();
            let ratios = series.median_ratios();
            let mut row = vec![series.name.to_owned()];
            row.extend(
                values
                    .iter()
                    .zip(ratios)
                    .map(|(v, r)| format!("{v:.1} ({r:.2}×)")),
            );
            t.rows.push(row);
        }
        tables.push(t);
        if !rtt.versus.is_empty() {
            tables.push(versus_table(&rtt.versus));
        }
    }
    if !results.memory.is_empty() {
        let mut t = Table::new(
            "Idle memory per /pingpong connection (server RSS)".into(),
            &[
                "connections",
                "compression",
                "RSS before",
                "RSS with clients",
                "per connection",
                "opened in",
            ],
        );
        for row in &results.memory {
            t.rows.push(vec![
                thousands(row.clients as u64),
                row.compression.label().to_owned(),
                format!("{:.1} MiB", row.rss_before_kib as f64 / 1024.0),
                format!("{:.1} MiB", row.rss_after_kib as f64 / 1024.0),
                format!("{:.2} KiB", row.per_connection_kib()),
                format!("{:.1} s", row.open_time.as_secs_f64()),
            ]);
        }
        tables.push(t);
    }
    if let Some(load) = &results.load {
        let mut t = Table::new(
            format!(
                "Held under ping load: {} clients, each pinged every second",
                thousands(load.clients as u64)
            ),
            &["figure", "value"],
        );
        let rows = [
            (
                "server CPU",
                format!(
                    "{:.1}% of one core (over {:.0} s; hypervisor steal meanwhile: {} ms)",
                    load.cpu_pct,
                    load.window.as_secs_f64(),
                    load.steal.as_millis()
                ),
            ),
            (
                "recorded RTT p50 / p99 (latest per client; median of 3 snapshots)",
                format!(
                    "{} µs / {} µs (p99 from {} to {} µs)",
                    load.rtt_p50_us,
                    load.rtt_p99_us,
                    load.rtt_p99_range_us.0,
                    load.rtt_p99_range_us.1
                ),
            ),
            (
                "pings unanswered at the snapshot",
                format!(
                    "{} of {}",
                    thousands(load.unanswered),
                    thousands(load.pings_sent)
                ),
            ),
            (
                "GET /clients.json, every page (median of the 3 snapshots)",
                format!(
                    "{} ({} KiB in {} pages)",
                    ms(load.json),
                    load.json_bytes / 1024,
                    load.json_pages
                ),
            ),
            (
                "GET / (its first page; median of 3)",
                format!("{} ({} KiB)", ms(load.page), load.page_bytes / 1024),
            ),
            (
                "GET /metrics with no client / with all (median of 3 each)",
                format!(
                    "{:.2} ms / {:.2} ms ({} KiB)",
                    load.scrape.0.as_secs_f64() * 1e3,
                    load.scrape.1.as_secs_f64() * 1e3,
                    load.scrape_bytes / 1024
                ),
            ),
        ];
        for (k, v) in rows {
            t.rows.push(vec![k.to_owned(), v]);
        }
        tables.push(t);
        tables.push(probed_table(&load.probed));
    }
    if !results.openclose.is_empty() {
        let mut t = Table::new(
            "Open-and-close: connect, upgrade /openandclosewebsocket, answer 3 pings, close handshake".into(),
            &[
                "clients at once",
                "cycles",
                "cycles/s",
                "cycle p50",
                "cycle p99",
                "server CPU per cycle",
                "failed",
            ],
        );
        for row in &results.openclose {
            t.rows.push(vec![
                row.concurrency.to_string(),
                thousands(row.cycles),
                thousands(row.rate() as u64),
                format!("{:.0} µs", row.cycle.p50),
                format!("{:.0} µs", row.cycle.p99),
                format!("{:.0} µs", row.server_us_per_cycle()),
                row.failures.to_string(),
            ]);
        }
        tables.push(t);
    }
    let targets = results.targets();
    if !targets.is_empty() {
        let mut t = Table::new("Targets".into(), &["target", "bound", "measured", "met"]);
        for target in targets {
            t.rows.push(vec![
                target.what,
                target.bound,
                target.measured,
                if target.met { "yes" } else { "**no**" }.into(),
            ]);
        }
        tables.push(t);
    }
    tables
}

/// The server under `wsppclient load`.
fn probed_table(p: &ProbedResult) -> Table {
    let mut t = Table::new(
        format!(
            "The server under wsppclient load: {} connections from {} generator{}, each probing once a second; the server's own pings off",
            thousands(p.connections as u64),
            p.generators,
            if p.generators == 1 { "" } else { "s" }
        ),
        &["figure", "value"],
    );
    let rows = [
        (
            "server CPU",
            format!(
                "{:.1}% of one core (over {:.0} s; hypervisor steal meanwhile: {} ms)",
                p.cpu_pct,
                p.window.as_secs_f64(),
                p.steal.as_millis()
            ),
        ),
        (
            "server CPU per probe",
            format!(
                "{:.1} µs ({} probes a second in the window)",
                p.cpu_per_probe_us(),
                thousands(p.probe_rate.round() as u64)
            ),
        ),
        (
            "probes sent / received / lost (the whole run)",
            format!(
                "{} / {} / {}",
                thousands(p.sent),
                thousands(p.received),
                thousands(p.lost)
            ),
        ),
        (
            "fleet RTT p50 / p99 (the generators' interval logs merged)",
            format!(
                "{} µs / {} µs ({} round trips, {} clock)",
                p.rtt_p50_us,
                p.rtt_p99_us,
                thousands(p.merged),
                p.clock
            ),
        ),
        (
            "late sends (the generators' own lateness)",
            format!(
                "{} (by up to {:.3} ms)",
                thousands(p.late_sends),
                p.late_max_ms
            ),
        ),
    ];
    for (k, v) in rows {
        t.rows.push(vec![k.to_owned(), v]);
    }
    t
}

/// `wsppclient ping -i 0` against the reference client, round by round, then the median.
fn versus_table(versus: &[Versus]) -> Table {
    let mut t = Table::new(
        "wsppclient ping -i 0 against a minimal tokio-tungstenite client, µs: the same server, back to back in each round (alternating which goes first); × = wsppclient / reference in that round".into(),
        &[
            "round",
            "reference p50",
            "wsppclient p50",
            "p50 ×",
            "reference p99.9",
            "wsppclient p99.9",
            "p99.9 ×",
        ],
    );
    for (i, v) in versus.iter().enumerate() {
        let (p50, p999) = v.ratios();
        t.rows.push(vec![
            (i + 1).to_string(),
            format!("{:.1}", v.reference.p50),
            format!("{:.1}", v.wsppclient.p50),
            format!("{p50:.2}×"),
            format!("{:.1}", v.reference.p999),
            format!("{:.1}", v.wsppclient.p999),
            format!("{p999:.2}×"),
        ]);
    }
    if versus.len() > 1 {
        let column = |f: &dyn Fn(&Versus) -> f64| {
            let mut values: Vec<f64> = versus.iter().map(f).collect();
            median(&mut values)
        };
        t.rows.push(vec![
            "median".into(),
            format!("{:.1}", column(&|v| v.reference.p50)),
            format!("{:.1}", column(&|v| v.wsppclient.p50)),
            format!("{:.2}×", column(&|v| v.ratios().0)),
            format!("{:.1}", column(&|v| v.reference.p999)),
            format!("{:.1}", column(&|v| v.wsppclient.p999)),
            format!("{:.2}×", column(&|v| v.ratios().1)),
        ]);
    }
    t
}

/// A titled table of strings.
#[derive(Debug)]
pub struct Table {
    /// Its caption.
    pub title: String,
    /// Column headers.
    pub headers: Vec<String>,
    /// Cells.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    fn new(title: String, headers: &[&str]) -> Table {
        Table {
            title,
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Aligned text: the first column left, the others right.
    pub fn text(&self) -> String {
        let cells = |row: &[String]| -> Vec<String> {
            row.iter().map(|c| c.replace("**", "")).collect::<Vec<_>>()
        };
        let all: Vec<Vec<String>> = std::iter::once(cells(&self.headers))
            .chain(self.rows.iter().map(|r| cells(r)))
            .collect();
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|i| {
                all.iter()
                    .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = format!("{}\n", self.title);
        for row in &all {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                if i == 0 {
                    let _ = write!(line, "  {cell}{}", " ".repeat(pad));
                } else {
                    let _ = write!(line, "  {}{cell}", " ".repeat(pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// A Markdown table under a bold caption.
    pub fn markdown(&self) -> String {
        let mut out = format!("**{}**\n\n", self.title);
        let _ = writeln!(out, "| {} |", self.headers.join(" | "));
        let aligns: Vec<&str> = (0..self.headers.len())
            .map(|i| if i == 0 { "---" } else { "---:" })
            .collect();
        let _ = writeln!(out, "| {} |", aligns.join(" | "));
        for row in &self.rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::tests::three_rounds;

    #[test]
    fn the_reference_is_compared_round_by_round() {
        let table = versus_table(&three_rounds());
        assert_eq!(table.rows.len(), 4);
        assert_eq!(
            table.rows[3],
            ["median", "50.0", "45.0", "1.00×", "200.0", "150.0", "1.00×"]
        );
    }
}
