//! What a check found: each broken promise with its events and the faults
//! around them, and the run's figures (what was checked, what exempted).

use std::collections::BTreeMap;
use std::fmt;

use crate::config::Config;
use crate::event::{Event, Fault, Hold, Outcome, Served};
use crate::words;

/// The promises checked (see "Guarantees and their limits" in the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Promise {
    /// No value produced before an invalidation served after it returned.
    StaleSet,
    /// No value produced before a clear served once the clear reached the process.
    Clear,
    /// A call returns only its own key's values.
    OtherKey,
    /// No two held computes of one key at once.
    OneCompute,
    /// One compute per expiry: no recompute while the last value is fresh.
    RecomputeWhileFresh,
    /// A caller waits only while someone computes its key.
    WaitedWithNobodyComputing,
    /// A caller waits at most the grace (and its store's timeouts).
    WaitedPastGrace,
    /// A stale value is served only until the hard timeout.
    StaleUntilHard,
    /// After the run no hold is left: the probe waits for nothing.
    HeldAfterRun,
    /// Not a promise of the library: the history itself is inconsistent.
    History,
}

impl Promise {
    /// What the promise is, as printed.
    pub fn title(self) -> &'static str {
        match self {
            Promise::StaleSet => "stale set",
            Promise::Clear => "clear",
            Promise::OtherKey => "a value of another key",
            Promise::OneCompute => "one compute at a time",
            Promise::RecomputeWhileFresh => "no recompute while fresh",
            Promise::WaitedWithNobodyComputing => "waited with nobody computing",
            Promise::WaitedPastGrace => "waited past the grace",
            Promise::StaleUntilHard => "stale only until the hard timeout",
            Promise::HeldAfterRun => "nothing held after the run",
            Promise::History => "a malformed history",
        }
    }

    /// What an exemption from it exempts, in the plural.
    fn exempted(self) -> &'static str {
        match self {
            Promise::OneCompute => "overlaps",
            Promise::RecomputeWhileFresh => "early recomputes",
            Promise::WaitedWithNobodyComputing => "waits with nobody computing",
            Promise::WaitedPastGrace => "waits past the grace",
            _ => "cases",
        }
    }
}

impl fmt::Display for Promise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

/// A broken promise, with the events that make it up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which promise.
    pub promise: Promise,
    /// What happened, in a sentence.
    pub detail: String,
    /// The events that break it.
    pub events: Vec<Event>,
    /// The faults within 2 s of those events.
    pub faults: Vec<Fault>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "VIOLATION {}: {}", self.promise, self.detail)?;
        for event in &self.events {
            writeln!(f, "  {event}")?;
        }
        if self.faults.is_empty() {
            writeln!(f, "  faults within 2 s: none")
        } else {
            writeln!(f, "  faults within 2 s:")?;
            for fault in &self.faults {
                writeln!(f, "    {}", Event::Fault(fault.clone()))?;
            }
            Ok(())
        }
    }
}

/// How many cases of one promise one kind of fault exempted, and why the
/// docs allow them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exemptions {
    /// How many.
    pub count: usize,
    /// The documented reason.
    pub documented_as: &'static str,
}

/// The figures of a checked history, and its violations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The settings checked against (the `config` line's, or the defaults).
    pub config: Config,
    /// Every broken promise.
    pub violations: Vec<Violation>,
    /// Events read (every line that is one).
    pub events: usize,
    /// Distinct processes that wrote calls, computes, sets, invalidations or clears.
    pub processes: usize,
    /// Calls by how they were served.
    pub calls: BTreeMap<Served, usize>,
    /// Computes by outcome and hold.
    pub computes: BTreeMap<(Outcome, Hold), usize>,
    /// Invalidations.
    pub invalidations: usize,
    /// Clears.
    pub clears: usize,
    /// Plain sets.
    pub sets: usize,
    /// Faults by kind (`delay`, not `delay=50`).
    pub faults: BTreeMap<&'static str, usize>,
    /// Exemptions by promise and the kind of fault that exempted them.
    pub exemptions: BTreeMap<(Promise, &'static str), Exemptions>,
    /// Whether the history has a `probe` fault.
    pub probed: bool,
    /// Calls that started at or after the probe.
    pub probe_calls: usize,
    /// The longest of their waits (milliseconds).
    pub longest_probe_wait_ms: u64,
    /// Distinct values returned whose producer's event is missing (its
    /// process was killed before writing it).
    pub values_without_producer: usize,
}

impl Report {
    /// Counts one exemption of `promise` by a fault of `kind`.
    pub(crate) fn exempt(
        &mut self,
        promise: Promise,
        kind: &'static str,
        documented_as: &'static str,
    ) {
        self.exemptions
            .entry((promise, kind))
            .or_insert(Exemptions {
                count: 0,
                documented_as,
            })
            .count += 1;
    }
}

/// `name count, name count` of a map's entries, or `none`.
fn counts<K>(map: &BTreeMap<K, usize>, name: impl Fn(&K) -> String) -> String {
    if map.is_empty() {
        return "none".to_owned();
    }
    let parts: Vec<String> = map
        .iter()
        .map(|(key, count)| format!("{} {count}", name(key)))
        .collect();
    parts.join(", ")
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.config)?;
        writeln!(
            f,
            "events: {} from {} processes",
            self.events, self.processes
        )?;
        let calls: usize = self.calls.values().sum();
        let served = counts(&self.calls, |served| words::served(*served).to_owned());
        writeln!(f, "calls: {calls} ({served})")?;
        let computes: usize = self.computes.values().sum();
        let kinds = counts(&self.computes, |(outcome, hold)| {
            format!("{} {}", words::outcome(*outcome), words::hold(*hold))
        });
        writeln!(f, "computes: {computes} ({kinds})")?;
        writeln!(
            f,
            "invalidations: {}, clears: {}, sets: {}",
            self.invalidations, self.clears, self.sets
        )?;
        let faults: usize = self.faults.values().sum();
        let kinds = counts(&self.faults, |kind| (*kind).to_owned());
        writeln!(f, "faults: {faults} ({kinds})")?;
        if self.exemptions.is_empty() {
            writeln!(f, "exempted: none")?;
        }
        for ((promise, kind), exemptions) in &self.exemptions {
            writeln!(
                f,
                "exempted: {} {} during {kind}, documented: {}",
                exemptions.count,
                promise.exempted(),
                exemptions.documented_as
            )?;
        }
        if self.probed {
            writeln!(
                f,
                "probe calls: {}, longest probe wait: {} ms",
                self.probe_calls, self.longest_probe_wait_ms
            )?;
        } else {
            writeln!(f, "probe calls: none (no probe in the history)")?;
        }
        writeln!(
            f,
            "values with no producer event: {}",
            self.values_without_producer
        )?;
        writeln!(f, "violations: {}", self.violations.len())
    }
}
