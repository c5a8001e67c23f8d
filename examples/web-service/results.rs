//! What a load run measured, as a table for people or JSON for programs.

use std::fmt::Write as _;
use std::time::Duration;

use crate::backend::LATENCY;

/// One route under load.
#[derive(Debug, Default)]
pub struct Measured {
    /// Requests sent, failed ones included.
    pub requests: u64,
    /// Requests that got no answer, a status other than 200, or a wrong body.
    pub failures: u64,
    /// Expiries the backend calls answered (see `Backend::expiries`).
    pub expiries: u64,
    pub backend_calls: u64,
    /// Latencies of the requests that succeeded, sorted.
    pub latencies: Vec<Duration>,
}

impl Measured {
    /// Backend calls per expiry.
    pub fn per_expiry(&self) -> f64 {
        self.backend_calls as f64 / self.expiries.max(1) as f64
    }

    /// Requests that took at least a backend call's time: those that waited
    /// for the backend.
    pub fn waited(&self) -> usize {
        self.latencies.len() - self.latencies.partition_point(|l| *l < LATENCY)
    }

    /// The latency at quantile `q` (0.5 for the median, 1 for the maximum).
    pub fn latency(&self, q: f64) -> Duration {
        match self.latencies.len() {
            0 => Duration::ZERO,
            n => self.latencies[((n - 1) as f64 * q).round() as usize],
        }
    }
}

/// The table: one row per (label, measured).
pub fn table(rows: &[(&str, &Measured)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| {:<12} | {:>8} | {:>8} | {:>13} | {:>10} | {:>14} | {:>8} | {:>8} | {:>8} |",
        "handler",
        "requests",
        "expiries",
        "backend calls",
        "per expiry",
        format!("waited ≥{} ms", LATENCY.as_millis()),
        "p50",
        "p99",
        "max"
    );
    let _ = writeln!(
        out,
        "|{:-<14}|{:->10}|{:->10}|{:->15}|{:->12}|{:->16}|{:->10}|{:->10}|{:->10}|",
        "", "", "", "", "", "", "", "", ""
    );
    for (label, measured) in rows {
        let _ = writeln!(
            out,
            "| {:<12} | {:>8} | {:>8} | {:>13} | {:>10.1} | {:>14} | {:>8} | {:>8} | {:>8} |",
            label,
            measured.requests,
            measured.expiries,
            measured.backend_calls,
            measured.per_expiry(),
            measured.waited(),
            show(measured.latency(0.5)),
            show(measured.latency(0.99)),
            show(measured.latency(1.0)),
        );
    }
    out
}

/// One JSON object per (key, measured), under `"handlers"`, with `extra`
/// members (already JSON) first.
pub fn json(extra: &[(&str, String)], rows: &[(&str, &Measured)]) -> String {
    let mut members: Vec<String> = extra
        .iter()
        .map(|(name, value)| format!(r#""{name}":{value}"#))
        .collect();
    let handlers: Vec<String> = rows
        .iter()
        .map(|(key, m)| {
            format!(
                r#""{key}":{{"requests":{},"failures":{},"expiries":{},"backend_calls":{},"waited":{},"p50_us":{},"p99_us":{},"max_us":{}}}"#,
                m.requests,
                m.failures,
                m.expiries,
                m.backend_calls,
                m.waited(),
                m.latency(0.5).as_micros(),
                m.latency(0.99).as_micros(),
                m.latency(1.0).as_micros(),
            )
        })
        .collect();
    members.push(format!(r#""handlers":{{{}}}"#, handlers.join(",")));
    format!("{{{}}}", members.join(","))
}

/// A JSON string.
pub fn json_string(text: &str) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A duration in the unit that suits it.
fn show(d: Duration) -> String {
    let micros = d.as_secs_f64() * 1e6;
    if micros < 1_000.0 {
        format!("{micros:.0} µs")
    } else if micros < 1_000_000.0 {
        format!("{:.1} ms", micros / 1e3)
    } else {
        format!("{:.2} s", micros / 1e6)
    }
}
