//! How long callers waited, and for what: only while someone computed
//! their key (rule 6), never past the grace, and after the run's last
//! fault for nothing at all (rule 8, the probe).

use std::collections::BTreeMap;

use super::{History, Producer, Scope};
use crate::event::{Call, Compute, Event, FaultKind};
use crate::report::{Promise, Report};

/// How long after a compute's END its value may take to reach a waiter:
/// storing it, the waiters' 50 ms poll back-off, the call's return.
const LANDING_MS: u64 = 200;

/// The computes of one key, by start.
#[derive(Default)]
struct KeyComputes<'a> {
    /// By start.
    by_start: Vec<&'a Compute>,
    /// The longest one's duration, to find those that ran during a wait.
    longest_ms: u64,
}

impl<'a> KeyComputes<'a> {
    /// Those that ran, or were landing, during `[from, to]`.
    fn during(&self, from: u64, to: u64) -> impl Iterator<Item = &'a Compute> + '_ {
        let earliest = from.saturating_sub(self.longest_ms.saturating_add(LANDING_MS));
        let first = self
            .by_start
            .partition_point(|compute| compute.start < earliest);
        self.by_start[first..]
            .iter()
            .copied()
            .take_while(move |compute| compute.start <= to)
            .filter(move |compute| compute.end.saturating_add(LANDING_MS) >= from)
    }
}

/// Checks every call's wait.
pub(super) fn check(history: &History<'_>, report: &mut Report) {
    let mut computes: BTreeMap<Scope<'_>, KeyComputes<'_>> = BTreeMap::new();
    for compute in &history.computes {
        let of_key = computes
            .entry(history.scope(&compute.process, &compute.key))
            .or_default();
        of_key.by_start.push(compute);
        of_key.longest_ms = of_key.longest_ms.max(compute.end - compute.start);
    }
    for of_key in computes.values_mut() {
        of_key.by_start.sort_by_key(|compute| compute.start);
    }
    let mut batches: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for call in &history.calls {
        if let Some(batch) = &call.batch {
            batches
                .entry((&call.process, batch))
                .or_default()
                .push(&call.key);
        }
    }
    for call in &history.calls {
        let own_key = call.key.as_str();
        let keys = match &call.batch {
            Some(batch) => batches
                .get(&(call.process.as_str(), batch.as_str()))
                .map_or(&[][..], Vec::as_slice),
            None => std::slice::from_ref(&own_key),
        };
        let key_computes = keys
            .iter()
            .filter_map(|key| computes.get(&history.scope(&call.process, key)));
        wait(history, call, key_computes, report);
    }
}

/// One call's wait: `[START, the START of the compute it ran, else END]`,
/// and the computes of its key (its batch's keys) that ran meanwhile.
struct Wait<'c, 'a> {
    /// The call.
    call: &'c Call,
    /// The compute it ran itself.
    ran: Option<&'a Compute>,
    /// When the wait began.
    from: u64,
    /// When it ended.
    to: u64,
    /// Whether it began at or after the probe (no fault excuses it).
    after_the_run: bool,
    /// The computes of its keys that ran, or were landing, during it.
    computing: Vec<&'a Compute>,
}

impl Wait<'_, '_> {
    /// How long it was.
    fn length(&self) -> u64 {
        self.to - self.from
    }

    /// The events to show with a violation: a few computes, the call.
    fn events(&self) -> Vec<Event> {
        let mut events: Vec<Event> = self
            .computing
            .iter()
            .take(6)
            .map(|compute| Event::Compute((*compute).clone()))
            .collect();
        if let Some(ran) = self.ran.filter(|ran| !self.computing.contains(ran)) {
            events.push(Event::Compute(ran.clone()));
        }
        events.push(Event::Call(self.call.clone()));
        events
    }
}

/// Rules 6 and 8 for one call, given the computes of its key (of every key
/// of its batch).
fn wait<'a>(
    history: &History<'a>,
    call: &Call,
    key_computes: impl Iterator<Item = &'a KeyComputes<'a>>,
    report: &mut Report,
) {
    let ran = match call.ran.and_then(|id| history.producer(id)) {
        Some(Producer::Compute(compute)) => Some(compute),
        _ => None,
    };
    let to = ran.map_or(call.end, |ran| ran.start.clamp(call.start, call.end));
    let mut wait = Wait {
        call,
        ran,
        from: call.start,
        to,
        after_the_run: history.probe_start.is_some_and(|at| call.start >= at),
        computing: Vec::new(),
    };
    for of_key in key_computes {
        wait.computing.extend(of_key.during(wait.from, wait.to));
    }
    if wait.after_the_run {
        report.probe_calls += 1;
        report.longest_probe_wait_ms = report.longest_probe_wait_ms.max(wait.length());
    }
    idle(history, &wait, report);
    past_the_grace(history, &wait, report);
}

/// Rule 6 (8 after the run): the time of a wait while nobody computed its
/// key, beyond `wait_tolerance_ms`. A wait that only a fault's window
/// `[START, END + hold_bound_ms]` explains is exempted, counted.
fn idle(history: &History<'_>, wait: &Wait<'_, '_>, report: &mut Report) {
    let config = &history.config;
    let mut covered: Vec<(u64, u64)> = wait
        .computing
        .iter()
        .map(|compute| (compute.start, compute.end.saturating_add(LANDING_MS)))
        .collect();
    let mut idle = uncovered_ms(wait.from, wait.to, &mut covered);
    if idle <= config.wait_tolerance_ms {
        return;
    }
    if !wait.after_the_run {
        let bound = config.hold_bound_ms;
        let faults = history
            .faults
            .iter()
            .filter(|fault| fault.kind.lets_holds_lapse());
        covered.extend(
            faults.map(|fault| (history.window_start(fault), fault.end.saturating_add(bound))),
        );
        idle = uncovered_ms(wait.from, wait.to, &mut covered);
        if idle <= config.wait_tolerance_ms {
            if let Some(fault) = history.lapse_fault(wait.from, wait.to) {
                let kind = fault.kind;
                report.exempt(
                    Promise::WaitedWithNobodyComputing,
                    kind.name(),
                    kind.documented_as(),
                );
            }
            return;
        }
    }
    let key = &wait.call.key;
    let (promise, detail) = if wait.after_the_run {
        (
            Promise::HeldAfterRun,
            format!("a probe call of {key} waited {idle} ms with nobody computing it"),
        )
    } else {
        (
            Promise::WaitedWithNobodyComputing,
            format!(
                "a call of {key} waited {idle} ms (of {}) while nobody computed it and no \
                 fault was near",
                wait.length()
            ),
        )
    };
    let violation = history.violation(promise, detail, wait.events());
    report.violations.push(violation);
}

/// Rule 6's bound (8 after the run): no wait longer than the grace, three
/// store timeouts and the tolerance, unless the caller's own process was
/// stopped during the call (exempted, counted; never after the run).
fn past_the_grace(history: &History<'_>, wait: &Wait<'_, '_>, report: &mut Report) {
    let config = &history.config;
    let grace = config
        .grace_ms
        .saturating_add(3 * config.timeout_ms)
        .saturating_add(config.wait_tolerance_ms);
    if wait.length() <= grace {
        return;
    }
    let call = wait.call;
    let stopped = history.faults.iter().any(|fault| {
        fault.kind == FaultKind::Stop
            && fault.target == call.process
            && fault.start <= call.end
            && fault.end >= call.start
    });
    if stopped && !wait.after_the_run {
        report.exempt(
            Promise::WaitedPastGrace,
            FaultKind::Stop.name(),
            "the caller itself was stopped",
        );
        return;
    }
    let promise = if wait.after_the_run {
        Promise::HeldAfterRun
    } else {
        Promise::WaitedPastGrace
    };
    let detail = format!(
        "a call of {} waited {} ms, past the grace ({} ms) and three store timeouts",
        call.key,
        wait.length(),
        config.grace_ms
    );
    let violation = history.violation(promise, detail, wait.events());
    report.violations.push(violation);
}

/// How much of `[from, to]` none of the `covered` intervals covers.
fn uncovered_ms(from: u64, to: u64, covered: &mut [(u64, u64)]) -> u64 {
    covered.sort_unstable();
    let mut uncovered = 0;
    let mut reached = from;
    for &(start, end) in covered.iter() {
        if start > reached {
            uncovered += start.min(to) - reached;
        }
        reached = reached.max(end);
        if reached >= to {
            return uncovered;
        }
    }
    uncovered + to.saturating_sub(reached)
}
