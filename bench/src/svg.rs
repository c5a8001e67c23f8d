//! The stampede plot, written by hand: callers' latency over time across
//! one expiry, one colour per cache. For each 1 ms of start time, the
//! slowest call (solid) and the median call (dashed), on a log scale.

use std::fmt::Write;

use crate::measure::percentile;
use crate::stampede::{Run, COMPUTE};

const WIDTH: f64 = 820.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 110.0;
/// The window around the expiry, ms relative to the first compute's start.
const BEFORE_MS: i64 = 20;
const AFTER_MS: i64 = 100;
/// The latency axis, as powers of ten of ns: 100 ns to 1 s.
const LOW_DECADE: f64 = 2.0;
const HIGH_DECADE: f64 = 9.0;

/// One series: a name, a colour and a run.
#[derive(Debug)]
pub struct Series<'a> {
    /// Legend text.
    pub name: &'a str,
    /// SVG colour.
    pub colour: &'a str,
    /// The run plotted.
    pub run: &'a Run,
}

fn x_of(ms: f64) -> f64 {
    LEFT + (ms + BEFORE_MS as f64) / (BEFORE_MS + AFTER_MS) as f64 * (WIDTH - LEFT - RIGHT)
}

fn y_of(ns: u64) -> f64 {
    let decade = (ns.max(1) as f64).log10().clamp(LOW_DECADE, HIGH_DECADE);
    TOP + (HIGH_DECADE - decade) / (HIGH_DECADE - LOW_DECADE) * (HEIGHT - TOP - BOTTOM)
}

/// Calls of the plotted expiry (started within `BEFORE_MS` of it, or in the
/// `AFTER_MS` after it) that waited the compute out.
fn waited(run: &Run) -> usize {
    let Some(&(expiry, _)) = run.spans.iter().find(|s| s.0 >= 100_000_000) else {
        return 0;
    };
    let from = expiry.saturating_sub(BEFORE_MS as u64 * 1_000_000);
    let to = expiry + AFTER_MS as u64 * 1_000_000;
    run.samples
        .iter()
        .filter(|s| {
            (from..to).contains(&s.at) && s.latency >= crate::measure::nanos(COMPUTE) * 9 / 10
        })
        .count()
}

/// Per 1 ms bucket of the window: (max, median) latency of the calls that
/// started in it, aligned on the first compute that starts after 100 ms.
fn buckets(run: &Run) -> Vec<Option<(u64, u64)>> {
    let buckets = (BEFORE_MS + AFTER_MS) as usize;
    let Some(&(expiry, _)) = run.spans.iter().find(|s| s.0 >= 100_000_000) else {
        return vec![None; buckets];
    };
    let mut latencies = vec![Vec::new(); buckets];
    for sample in &run.samples {
        let ms = (sample.at as i64 - expiry as i64).div_euclid(1_000_000) + BEFORE_MS;
        if (0..buckets as i64).contains(&ms) {
            latencies[ms as usize].push(sample.latency);
        }
    }
    latencies
        .into_iter()
        .map(|mut bucket| {
            bucket.sort_unstable();
            (!bucket.is_empty()).then(|| (bucket[bucket.len() - 1], percentile(&bucket, 0.5)))
        })
        .collect()
}

fn polyline(points: &[(f64, f64)], colour: &str, width: f64, dashed: bool) -> String {
    let points: Vec<String> = points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect();
    let dash = if dashed {
        r#" stroke-dasharray="4 3""#
    } else {
        ""
    };
    format!(
        r#"<polyline fill="none" stroke="{colour}" stroke-width="{width}"{dash} points="{}"/>"#,
        points.join(" ")
    ) + "\n"
}

/// The whole SVG document; `machine` goes under the title.
pub fn render(series: &[Series<'_>], callers: usize, machine: &str) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="20" font-size="15" font-weight="bold">{callers} threads call one hot key across its expiry (compute {} ms)</text>"#,
        COMPUTE.as_millis()
    );
    // The compute of the refresh.
    let (x0, x1) = (x_of(0.0), x_of(COMPUTE.as_millis() as f64));
    let _ = writeln!(
        svg,
        r##"<rect x="{x0:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="#eeeeee"/>"##,
        x1 - x0,
        HEIGHT - TOP - BOTTOM
    );
    let _ = writeln!(
        svg,
        r##"<text x="{:.1}" y="{}" fill="#666666">first compute of the expiry</text>"##,
        x0 + 4.0,
        TOP + 14.0
    );
    // Axes and grid.
    for decade in LOW_DECADE as u32..=HIGH_DECADE as u32 {
        let y = y_of(10u64.pow(decade));
        let label = [
            "1 ns", "10 ns", "100 ns", "1 µs", "10 µs", "100 µs", "1 ms", "10 ms", "100 ms", "1 s",
        ][decade as usize];
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#dddddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
    }
    let axis_y = HEIGHT - BOTTOM;
    for ms in (-BEFORE_MS..=AFTER_MS).step_by(20) {
        let x = x_of(ms as f64);
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{axis_y}" y2="{:.1}" stroke="#333333"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{ms}</text>"##,
            axis_y + 5.0,
            axis_y + 18.0
        );
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" x2="{:.1}" y1="{axis_y}" y2="{axis_y}" stroke="#333333"/><line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{axis_y}" stroke="#333333"/>"##,
        WIDTH - RIGHT
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">call start, ms since the first compute of the expiry began</text>"#,
        (LEFT + WIDTH - RIGHT) / 2.0,
        axis_y + 36.0
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle">latency of the call (log)</text>"#,
        (TOP + axis_y) / 2.0
    );
    // The series: a gap where no call started (every caller was blocked).
    for (i, one) in series.iter().enumerate() {
        let (mut slowest, mut median) = (vec![Vec::new()], vec![Vec::new()]);
        for (b, bucket) in buckets(one.run).iter().enumerate() {
            match bucket {
                Some((max, p50)) => {
                    let x = x_of(b as f64 - BEFORE_MS as f64 + 0.5);
                    let last = slowest.len() - 1;
                    slowest[last].push((x, y_of(*max)));
                    median[last].push((x, y_of(*p50)));
                }
                None => {
                    slowest.push(Vec::new());
                    median.push(Vec::new());
                }
            }
        }
        for segment in slowest.iter().filter(|s| !s.is_empty()) {
            svg += &polyline(segment, one.colour, 1.8, false);
            if let [(x, y)] = segment[..] {
                let _ = writeln!(
                    svg,
                    r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{}"/>"#,
                    one.colour
                );
            }
        }
        for segment in median.iter().filter(|m| m.len() > 1) {
            svg += &polyline(segment, one.colour, 1.2, true);
        }
        let y = axis_y + 56.0;
        let x = LEFT + i as f64 * 250.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{}" stroke-width="2"/><text x="{:.1}" y="{:.1}">{} ({} waited)</text>"#,
            x + 24.0,
            one.colour,
            x + 30.0,
            y + 4.0,
            one.name,
            waited(one.run)
        );
    }
    let _ = writeln!(
        svg,
        r##"<text x="{LEFT}" y="{:.1}" fill="#666666">solid: the slowest call started in each ms; dashed: the median; gap: no call started; waited: took ≥ {} ms.</text>"##,
        axis_y + 78.0,
        COMPUTE.as_millis() * 9 / 10
    );
    let _ = writeln!(
        svg,
        r##"<text x="{LEFT}" y="{:.1}" fill="#666666">{machine}</text>"##,
        axis_y + 96.0
    );
    svg.push_str("</svg>\n");
    svg
}
