//! How the held computes of one key follow each other: one at a time
//! (rule 4), and one per expiry (rule 5), each case a fault may explain
//! exempted and counted by the fault's kind.

use std::collections::BTreeMap;

use super::{History, Scope};
use crate::event::{Call, Clear, Compute, Event, Hold, Invalidate, Outcome, Served};
use crate::report::{Promise, Report};

/// Checks the held computes that returned a value, key by key.
pub(super) fn check(history: &History<'_>, report: &mut Report) {
    let mut computes: BTreeMap<Scope<'_>, Vec<&Compute>> = BTreeMap::new();
    for compute in &history.computes {
        if compute.hold == Hold::Held && compute.outcome == Outcome::Ok {
            let scope = history.scope(&compute.process, &compute.key);
            computes.entry(scope).or_default().push(compute);
        }
    }
    let mut calls: BTreeMap<Scope<'_>, Vec<&Call>> = BTreeMap::new();
    for call in &history.calls {
        let scope = history.scope(&call.process, &call.key);
        calls.entry(scope).or_default().push(call);
    }
    for of_key in calls.values_mut() {
        of_key.sort_by_key(|call| call.start);
    }
    let mut invalidations: BTreeMap<Scope<'_>, Vec<&Invalidate>> = BTreeMap::new();
    for invalidation in &history.invalidations {
        let scope = history.scope(&invalidation.process, &invalidation.key);
        invalidations.entry(scope).or_default().push(invalidation);
    }
    for (scope, of_key) in &mut computes {
        of_key.sort_by_key(|compute| (compute.start, compute.end));
        let key = KeyEvents {
            scope: *scope,
            calls: calls.get(scope).map_or(&[][..], Vec::as_slice),
            invalidations: invalidations.get(scope).map_or(&[][..], Vec::as_slice),
        };
        overlaps(history, of_key, &key, report);
        early_recomputes(history, of_key, &key, report);
    }
}

/// The events of one key that may explain a recompute.
struct KeyEvents<'k, 'a> {
    /// Whose key.
    scope: Scope<'a>,
    /// Its calls, by start.
    calls: &'k [&'a Call],
    /// Its invalidations.
    invalidations: &'k [&'a Invalidate],
}

/// Rule 4: two held computes of one key that overlap in time, neither of
/// which failed, panicked or hung (`computes`: those of one key, by
/// start). Not a violation, and counted: an invalidation of the key, or a
/// clear that reaches it, between the earlier's start and the later's (the
/// invalidation ends the earlier's hold, and callers after it do not join
/// it: the next one recomputes, as documented; after a clear, processes
/// that have not seen it yet compute under the old generation). A fault
/// whose window meets the pair exempts it (counted).
fn overlaps(
    history: &History<'_>,
    computes: &[&Compute],
    key: &KeyEvents<'_, '_>,
    report: &mut Report,
) {
    let mut running: Vec<&Compute> = Vec::new();
    for &later in computes {
        running.retain(|earlier| earlier.end > later.start);
        for &earlier in &running {
            if later.end <= earlier.start {
                continue;
            }
            if let Some(why) = ended_by_invalidation(history, earlier, later, key) {
                report.exempt(Promise::OneCompute, why, DOCUMENTED_RECOMPUTE);
                continue;
            }
            if let Some(fault) = history.lapse_fault(earlier.start, later.end) {
                let kind = fault.kind;
                report.exempt(Promise::OneCompute, kind.name(), kind.documented_as());
                continue;
            }
            let detail = format!("two held computes of {} overlapped", later.key);
            let events = vec![
                Event::Compute(earlier.clone()),
                Event::Compute(later.clone()),
            ];
            let violation = history.violation(Promise::OneCompute, detail, events);
            report.violations.push(violation);
        }
        running.push(later);
    }
}

/// Rule 5, one compute per expiry: a held compute B of a key that starts
/// after the one that ended last before it, A, and before A's value can
/// have gone stale.
///
/// A's value is written as A ends, fresh for `soft_ms` from then (no
/// jitter in the workload); a store may judge it stale up to `early_ms`
/// sooner (memcached's whole seconds), the writer's and the reader's
/// clocks may differ by `2 * skew_ms`, and `wait_tolerance_ms` covers the
/// write's own time. So B must start at or after A.END + soft_ms -
/// early_ms - 2 * skew_ms - wait_tolerance_ms. On compressed timescales
/// (soft 300 ms) that bound is at or before A.END, and the rule catches
/// little; it bites with a soft timeout well above the tolerances.
///
/// Not a violation: an invalidation of the key, or a clear that reaches
/// it, between A.START and B.START (A's value is gone); a call of the key
/// between A.END and B.START served a value of another producer (A's
/// write was refused or lost); a fault whose window meets [A.START,
/// B.END] (exempted, counted).
fn early_recomputes(
    history: &History<'_>,
    computes: &[&Compute],
    key: &KeyEvents<'_, '_>,
    report: &mut Report,
) {
    let config = &history.config;
    let slack = config
        .early_ms
        .saturating_add(2 * config.skew_ms)
        .saturating_add(config.wait_tolerance_ms);
    let mut last: Option<&Compute> = None;
    for &next in computes {
        let Some(previous) = last.filter(|previous| next.start >= previous.end) else {
            if last.is_none_or(|previous| next.end > previous.end) {
                last = Some(next);
            }
            continue;
        };
        last = Some(next);
        let stale_at = previous.end.saturating_add(config.soft_ms);
        if next.start.saturating_add(slack) >= stale_at || value_gone(history, previous, next, key)
        {
            continue;
        }
        if let Some(fault) = history.lapse_fault(previous.start, next.end) {
            let kind = fault.kind;
            report.exempt(
                Promise::RecomputeWhileFresh,
                kind.name(),
                kind.documented_as(),
            );
            continue;
        }
        let detail = format!(
            "a held compute of {} began {} ms after the last one ended, before its value \
             could be stale (soft timeout {} ms)",
            next.key,
            next.start - previous.end,
            config.soft_ms
        );
        let events = vec![
            Event::Compute(previous.clone()),
            Event::Compute(next.clone()),
        ];
        let violation = history.violation(Promise::RecomputeWhileFresh, detail, events);
        report.violations.push(violation);
    }
}

/// What the docs say of a compute after an invalidation or a clear.
const DOCUMENTED_RECOMPUTE: &str =
    "callers after an invalidation, or a clear, do not join a compute that started before it";

/// Whether an invalidation of the key came between the start of the
/// earlier of the two computes' calls and `later`'s start (`"invalidate"`), or the two computes' calls started on
/// either side of a clear that reaches the key, and so computed it under
/// different generations (`"clear"`).
fn ended_by_invalidation(
    history: &History<'_>,
    earlier: &Compute,
    later: &Compute,
    key: &KeyEvents<'_, '_>,
) -> Option<&'static str> {
    // A hold is taken between its call's start and its compute's: an
    // invalidation in between may have ended one compute's hold before the
    // other took its own.
    let first_call = history.call_start(earlier).min(history.call_start(later));
    let invalidated = key
        .invalidations
        .iter()
        .any(|invalidation| invalidation.start <= later.start && invalidation.end >= first_call);
    if invalidated {
        return Some("invalidate");
    }
    // The two computes' calls chose their generations on either side of a
    // clear: one before the clear reached its process, one after it began.
    let before_and_after = |clear: &Clear, one: &Compute, other: &Compute| {
        let delay = history.clear_delay(&clear.process, &one.process);
        history.clear_reaches_key(&clear.process, &one.process, &one.key)
            && history.call_start(one) <= clear.end.saturating_add(delay)
            && history.call_start(other) >= clear.start
    };
    let cleared = history.clears.iter().any(|clear| {
        before_and_after(clear, earlier, later) || before_and_after(clear, later, earlier)
    });
    cleared.then_some("clear")
}

/// Whether `previous`'s value may be gone before `next` began: invalidated,
/// cleared, or never served (a call in between got another producer's).
fn value_gone(
    history: &History<'_>,
    previous: &Compute,
    next: &Compute,
    key: &KeyEvents<'_, '_>,
) -> bool {
    let invalidated = key
        .invalidations
        .iter()
        .any(|invalidation| invalidation.start <= next.start && invalidation.end >= previous.start);
    let (process, _) = key.scope;
    let cleared = history.clears.iter().any(|clear| {
        history.clear_reaches_key(&clear.process, process, &next.key)
            && clear.start <= next.start
            && clear.end >= previous.start
    });
    let from = key.calls.partition_point(|call| call.start < previous.end);
    let another_producer = key.calls[from..]
        .iter()
        .take_while(|call| call.start <= next.start)
        .any(|call| {
            matches!(call.served, Served::Fresh | Served::Stale | Served::Waited)
                && call.value.is_some_and(|value| value != previous.id)
        });
    invalidated || cleared || another_producer
}
