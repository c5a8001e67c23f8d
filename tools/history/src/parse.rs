//! A history's text into events, with errors that name the line.

use std::fmt;

use crate::config::Config;
use crate::event::{Call, Clear, Compute, Event, Fault, FaultKind, Invalidate, Set};
use crate::words::{one_of, HOLDS, OUTCOMES, SERVED};

/// A line that is no event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The line's number (1-based).
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// The events of a history's text, in its order.
pub fn parse(text: &str) -> Result<Vec<Event>, ParseError> {
    let mut events = Vec::new();
    let mut config_line = None;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let error = |reason: String| ParseError {
            line: index + 1,
            reason,
        };
        let event = event(&fields).map_err(error)?;
        if let Event::Config(_) = event {
            if let Some(first) = config_line.replace(index + 1) {
                return Err(error(format!(
                    "a second config line (the first is line {first})"
                )));
            }
        }
        events.push(event);
    }
    Ok(events)
}

/// The event of one line's fields (at least one).
fn event(fields: &[&str]) -> Result<Event, String> {
    let kind = fields[0];
    if kind == "config" {
        return Config::from_fields(&fields[1..]).map(Event::Config);
    }
    let arity = match kind {
        "compute" => 7,
        "call" => 8,
        "set" => 5,
        "invalidate" | "fault" => 4,
        "clear" => 3,
        other => {
            return Err(format!(
                "unknown event {other:?}: one of config, compute, call, set, invalidate, \
                 clear, fault"
            ))
        }
    };
    if fields.len() != arity + 1 {
        return Err(format!(
            "`{kind}` takes {arity} fields, found {}",
            fields.len() - 1
        ));
    }
    let text = |at: usize| fields[at].to_owned();
    Ok(match kind {
        "compute" => {
            let (start, end) = span(fields[4], fields[5])?;
            Event::Compute(Compute {
                process: text(1),
                key: text(2),
                id: number(fields[3], "ID")?,
                start,
                end,
                outcome: one_of(fields[6], OUTCOMES, "outcome")?,
                hold: one_of(fields[7], HOLDS, "hold")?,
            })
        }
        "call" => {
            let (start, end) = span(fields[3], fields[4])?;
            Event::Call(Call {
                process: text(1),
                key: text(2),
                start,
                end,
                served: one_of(fields[5], SERVED, "way served")?,
                value: optional(fields[6], "VALUE")?,
                ran: optional(fields[7], "RAN")?,
                batch: (fields[8] != "-").then(|| text(8)),
            })
        }
        "set" => {
            let (start, end) = span(fields[4], fields[5])?;
            Event::Set(Set {
                process: text(1),
                key: text(2),
                id: number(fields[3], "ID")?,
                start,
                end,
            })
        }
        "invalidate" => {
            let (start, end) = span(fields[3], fields[4])?;
            Event::Invalidate(Invalidate {
                process: text(1),
                key: text(2),
                start,
                end,
            })
        }
        "clear" => {
            let (start, end) = span(fields[2], fields[3])?;
            Event::Clear(Clear {
                process: text(1),
                start,
                end,
            })
        }
        _ => {
            let (start, end) = span(fields[3], fields[4])?;
            Event::Fault(Fault {
                kind: fault_kind(fields[1])?,
                target: text(2),
                start,
                end,
            })
        }
    })
}

/// A fault's KIND, with its parameter (`delay=MS`, `skew=±MS`).
fn fault_kind(text: &str) -> Result<FaultKind, String> {
    if let Some(ms) = text.strip_prefix("delay=") {
        return Ok(FaultKind::Delay(number(ms, "a delay")?));
    }
    if let Some(ms) = text.strip_prefix("skew=") {
        return ms
            .parse()
            .map(FaultKind::Skew)
            .map_err(|_| format!("a skew must be ±MS, found {ms:?}"));
    }
    const PLAIN: &[(&str, FaultKind)] = &[
        ("kill", FaultKind::Kill),
        ("stop", FaultKind::Stop),
        ("restart", FaultKind::Restart),
        ("server-kill", FaultKind::ServerKill),
        ("server-stop", FaultKind::ServerStop),
        ("cut", FaultKind::Cut),
        ("cut-after-act", FaultKind::CutAfterAct),
        ("probe", FaultKind::Probe),
    ];
    one_of(text, PLAIN, "fault (or delay=MS, skew=±MS)")
}

/// START and END, END not before START.
fn span(start: &str, end: &str) -> Result<(u64, u64), String> {
    let (start, end) = (number(start, "START")?, number(end, "END")?);
    if end < start {
        return Err(format!("END {end} is before START {start}"));
    }
    Ok((start, end))
}

/// An ID, or `-` for none.
fn optional(text: &str, what: &str) -> Result<Option<u64>, String> {
    match text {
        "-" => Ok(None),
        id => number(id, what).map(Some),
    }
}

/// A whole number.
fn number(text: &str, what: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("{what} must be a whole number, found {text:?}"))
}
