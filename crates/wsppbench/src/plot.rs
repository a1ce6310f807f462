//! The RTT distribution as HDR percentile curves, written as SVG by hand.
//!
//! An HDR percentile plot puts the percentile on a log scale of `1 / (1 - q)`, so the
//! median, the 99th and the 99.99th percentile get equal room and the tail, where
//! latency problems live, is visible. Latency goes on a log axis too, so the floor
//! (tens of µs) and a rare stall (milliseconds) fit in one picture. A few hundred
//! lines of SVG need no plotting dependency and diff well in git.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

const WIDTH: f64 = 820.0;
const HEIGHT: f64 = 500.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
/// The percentile axis ends at 99.999%.
const X_MAX: f64 = 5.0;
/// Line colours and dash patterns, one per series in the RTT section's order: the
/// floors in black and grey (dotted when spinning), wspp in colour (dashed when
/// busy-polling).
const STYLES: [(&str, &str); 8] = [
    ("#222222", ""),
    ("#888888", "6 4"),
    ("#222222", "2 3"),
    ("#888888", "2 3"),
    ("#1f6fb4", ""),
    ("#d62728", ""),
    ("#1f6fb4", "7 4"),
    ("#d62728", "7 4"),
];

/// An SVG of the percentile curves of `series` (histograms of nanoseconds).
pub fn svg(title: &str, series: &[(&str, &Histogram<u64>)]) -> String {
    svg_of(title, "RTT", series)
}

/// [`svg`], with `quantity` (e.g. `RTT`) naming the vertical axis.
pub fn svg_of(title: &str, quantity: &str, series: &[(&str, &Histogram<u64>)]) -> String {
    let curves: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(name, h)| (*name, curve(h)))
        .collect();
    let values = curves.iter().flat_map(|(_, c)| c.iter().map(|p| p.1));
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (y_lo, y_hi) = if lo <= hi {
        (nice_below(lo * 0.9), hi * 1.2)
    } else {
        (1.0, 1000.0)
    };
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x_of = |x: f64| LEFT + x.min(X_MAX) / X_MAX * plot_w;
    let y_of = |us: f64| {
        let f = (us.max(y_lo).ln() - y_lo.ln()) / (y_hi.ln() - y_lo.ln());
        TOP + plot_h * (1.0 - f)
    };

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    // Percentile grid.
    for (i, label) in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        .iter()
        .enumerate()
    {
        let x = x_of(i as f64);
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#dddddd"/>"##,
            TOP + plot_h
        );
        let _ = writeln!(
            out,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            TOP + plot_h + 18.0
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 15.0
    );
    // Latency grid: 1, 2, 5 times powers of ten.
    for tick in ticks(y_lo, y_hi) {
        let y = y_of(tick);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#dddddd"/>"##,
            LEFT + plot_w
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + 4.0,
            tick_label(tick)
        );
    }
    let _ = writeln!(
        out,
        r#"<text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle">{} (log scale)</text>"#,
        TOP + plot_h / 2.0,
        escape(quantity)
    );
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#444444"/>"##
    );
    for (i, (name, points)) in curves.iter().enumerate() {
        let (colour, dash) = STYLES[i % STYLES.len()];
        let path: Vec<String> = points
            .iter()
            .map(|&(x, us)| format!("{:.1},{:.1}", x_of(x), y_of(us)))
            .collect();
        let dash = if dash.is_empty() {
            String::new()
        } else {
            format!(r#" stroke-dasharray="{dash}""#)
        };
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{}"/>"#,
            path.join(" ")
        );
        let ly = TOP + 18.0 + 18.0 * i as f64;
        let _ = writeln!(
            out,
            r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="2"{dash}/>"#,
            LEFT + 12.0,
            LEFT + 40.0
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            LEFT + 46.0,
            ly + 4.0,
            escape(name)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// `(log10(1 / (1 - q)), µs)` along the histogram's percentile iteration.
fn curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    h.iter_quantiles(8)
        .map(|v| {
            let q = v.quantile_iterated_to();
            let x = if q >= 1.0 {
                X_MAX
            } else {
                (1.0 / (1.0 - q)).log10()
            };
            (
                x,
                h.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0,
            )
        })
        .collect()
}

/// The largest 1-2-5 value at or below `v`.
fn nice_below(v: f64) -> f64 {
    ticks(1e-3, v.max(1e-3)).last().copied().unwrap_or(1.0)
}

/// 1-2-5 ticks within `[lo, hi]`.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi {
        for m in [1.0, 2.0, 5.0] {
            let t = decade * m;
            if t >= lo * 0.999 && t <= hi {
                out.push(t);
            }
        }
        decade *= 10.0;
    }
    out
}

fn tick_label(us: f64) -> String {
    if us >= 1000.0 {
        format!("{} ms", us / 1000.0)
    } else {
        format!("{us} µs")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_follow_1_2_5() {
        assert_eq!(ticks(20.0, 600.0), [20.0, 50.0, 100.0, 200.0, 500.0]);
        assert_eq!(nice_below(23.0), 20.0);
    }

    #[test]
    fn an_svg_has_one_curve_per_series() {
        let mut h = crate::figures::histogram();
        for ns in 20_000..40_000 {
            h.record(ns).expect("in range");
        }
        let svg = svg("t", &[("a", &h), ("b", &h)]);
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
