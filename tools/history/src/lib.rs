//! Histories of what callers saw, and a checker of antidogpile's promises
//! over them (issue 23, "A history checker"): the core, before the
//! workload and the fault injector that will write the histories.
//!
//! A history is text, one event a line, written by each process and merged
//! by the checker (times are real-time milliseconds, shared by the
//! processes of one machine):
//!
//! ```text
//! compute  PROCESS KEY ID START END ok|err|panic|hung
//! call     PROCESS KEY START END fresh|stale|computed|uncached VALUE
//! invalidate PROCESS KEY START END
//! ```
//!
//! A compute's `ID` is unique in the run and is the value it produces; a
//! call's `VALUE` is the `ID` of the compute whose value it returned (`-`
//! for none). Blank lines and lines starting with `#` are skipped.
//!
//! Checked so far ([`check`]):
//! - **stale set**: no call is served fresh a value whose compute started
//!   before an invalidation of its key that returned before the call
//!   started;
//! - **one compute at a time**: no two computes of one key overlap in time
//!   while neither failed, panicked or hung (a holder that died, hung or
//!   failed may be replaced: the docs' bounds for that are to come);
//! - **no value of another key**: a call returns only a value computed for
//!   its own key.

use std::collections::BTreeMap;
use std::fmt;

/// What a compute ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It returned a value to cache.
    Ok,
    /// It returned a failure (`Err`, `None`): nothing cached.
    Err,
    /// It panicked.
    Panic,
    /// It ran past the grace (its holder may be replaced).
    Hung,
}

/// How a call was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// A fresh value from the cache.
    Fresh,
    /// A stale value, served while another caller refreshed it.
    Stale,
    /// The value this call computed, or waited for.
    Computed,
    /// Computed without the cache (the store failed, or none is installed).
    Uncached,
}

/// One event of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A compute of `key`, producing the value `id`.
    Compute {
        process: String,
        key: String,
        id: u64,
        start: u64,
        end: u64,
        outcome: Outcome,
    },
    /// A call of `key`, returning the value of compute `value`.
    Call {
        process: String,
        key: String,
        start: u64,
        end: u64,
        served: Served,
        value: Option<u64>,
    },
    /// An invalidation (soft or hard) of `key`.
    Invalidate {
        process: String,
        key: String,
        start: u64,
        end: u64,
    },
}

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
        events.push(event(&fields).map_err(error)?);
    }
    Ok(events)
}

/// A compute's outcomes, as a history spells them.
const OUTCOMES: &[(&str, Outcome)] = &[
    ("ok", Outcome::Ok),
    ("err", Outcome::Err),
    ("panic", Outcome::Panic),
    ("hung", Outcome::Hung),
];

/// How a call was served, as a history spells it.
const SERVED: &[(&str, Served)] = &[
    ("fresh", Served::Fresh),
    ("stale", Served::Stale),
    ("computed", Served::Computed),
    ("uncached", Served::Uncached),
];

fn event(fields: &[&str]) -> Result<Event, String> {
    let arity = match fields[0] {
        "compute" | "call" => 7,
        "invalidate" => 5,
        other => {
            return Err(format!(
                "unknown event {other:?}: one of compute, call, invalidate"
            ))
        }
    };
    if fields.len() != arity {
        return Err(format!(
            "`{}` takes {} fields, found {}",
            fields[0],
            arity - 1,
            fields.len() - 1
        ));
    }
    let (process, key) = (fields[1].to_owned(), fields[2].to_owned());
    Ok(match fields[0] {
        "compute" => Event::Compute {
            process,
            key,
            id: number(fields[3], "ID")?,
            start: number(fields[4], "START")?,
            end: number(fields[5], "END")?,
            outcome: one_of(fields[6], OUTCOMES, "outcome")?,
        },
        "call" => Event::Call {
            process,
            key,
            start: number(fields[3], "START")?,
            end: number(fields[4], "END")?,
            served: one_of(fields[5], SERVED, "way served")?,
            value: match fields[6] {
                "-" => None,
                id => Some(number(id, "VALUE")?),
            },
        },
        _ => Event::Invalidate {
            process,
            key,
            start: number(fields[3], "START")?,
            end: number(fields[4], "END")?,
        },
    })
}

/// The value `text` names among `words`.
fn one_of<T: Copy>(text: &str, words: &[(&str, T)], what: &str) -> Result<T, String> {
    let found = words.iter().find(|(word, _)| *word == text);
    found.map(|(_, value)| *value).ok_or_else(|| {
        let names: Vec<&str> = words.iter().map(|(word, _)| *word).collect();
        format!("unknown {what} {text:?}: one of {}", names.join(", "))
    })
}

fn number(text: &str, what: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("{what} must be a whole number, found {text:?}"))
}

/// A broken promise, with the events that make it up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which promise.
    pub promise: &'static str,
    /// The events that break it.
    pub events: Vec<Event>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}:", self.promise)?;
        for event in &self.events {
            writeln!(f, "  {event:?}")?;
        }
        Ok(())
    }
}

/// Every broken promise of a merged history (the events of every process).
pub fn check(events: &[Event]) -> Vec<Violation> {
    let mut computes: BTreeMap<u64, &Event> = BTreeMap::new();
    for event in events {
        if let Event::Compute { id, .. } = event {
            computes.insert(*id, event);
        }
    }
    let mut violations = Vec::new();
    stale_sets(events, &computes, &mut violations);
    overlapping_computes(events, &mut violations);
    values_of_other_keys(events, &computes, &mut violations);
    violations
}

/// A fresh value computed from data older than an invalidation that
/// returned before the call started.
fn stale_sets(events: &[Event], computes: &BTreeMap<u64, &Event>, out: &mut Vec<Violation>) {
    for call in events {
        let Event::Call {
            key,
            start: call_start,
            served: Served::Fresh,
            value: Some(value),
            ..
        } = call
        else {
            continue;
        };
        let Some(
            compute @ Event::Compute {
                start: compute_start,
                ..
            },
        ) = computes.get(value).copied()
        else {
            continue;
        };
        for invalidation in events {
            if let Event::Invalidate {
                key: invalidated,
                start,
                end,
                ..
            } = invalidation
            {
                if invalidated == key && compute_start < start && end < call_start {
                    out.push(Violation {
                        promise: "stale set: a value computed before an invalidation served \
                                  fresh after it returned",
                        events: vec![compute.clone(), invalidation.clone(), call.clone()],
                    });
                }
            }
        }
    }
}

/// Two computes of one key at once, neither of which failed, panicked or hung.
fn overlapping_computes(events: &[Event], out: &mut Vec<Violation>) {
    let mut by_key: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for event in events {
        if let Event::Compute {
            key,
            outcome: Outcome::Ok,
            ..
        } = event
        {
            by_key.entry(key).or_default().push(event);
        }
    }
    for computes in by_key.values_mut() {
        computes.sort_by_key(|event| match event {
            Event::Compute { start, .. } => *start,
            _ => 0,
        });
        // Each compute against the one that ran latest among those before it.
        let mut latest: Option<&Event> = None;
        for &compute in computes.iter() {
            let Event::Compute { start, end, .. } = compute else {
                continue;
            };
            if let Some(
                earlier @ Event::Compute {
                    end: earlier_end, ..
                },
            ) = latest
            {
                if start < earlier_end {
                    out.push(Violation {
                        promise: "one compute at a time: two computes of one key overlapped",
                        events: vec![earlier.clone(), compute.clone()],
                    });
                }
                if earlier_end >= end {
                    continue;
                }
            }
            latest = Some(compute);
        }
    }
}

/// A call that returned the value of another key's compute.
fn values_of_other_keys(
    events: &[Event],
    computes: &BTreeMap<u64, &Event>,
    out: &mut Vec<Violation>,
) {
    for call in events {
        let Event::Call {
            key,
            value: Some(value),
            ..
        } = call
        else {
            continue;
        };
        if let Some(compute @ Event::Compute { key: computed, .. }) = computes.get(value).copied() {
            if computed != key {
                out.push(Violation {
                    promise: "a value of another key",
                    events: vec![compute.clone(), call.clone()],
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
