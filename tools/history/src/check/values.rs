//! What a call returned: never a value of another key, never one older
//! than an invalidation or a clear it follows, a stale one only until the
//! hard timeout.

use std::collections::{BTreeSet, HashMap};

use super::{History, Producer, Scope};
use crate::config::Store;
use crate::event::{Call, Clear, Event, FaultKind, Invalidate, Served};
use crate::report::{Promise, Report};

/// Checks every call's value (and the compute it ran).
pub(super) fn check(history: &History<'_>, report: &mut Report) {
    let mut invalidations: HashMap<Scope<'_>, Invalidations<'_>> = HashMap::new();
    for invalidation in &history.invalidations {
        let scope = history.scope(&invalidation.process, &invalidation.key);
        let of_key = invalidations.entry(scope).or_default();
        of_key.by_end.push(invalidation);
    }
    invalidations.values_mut().for_each(Invalidations::index);
    let mut missing = BTreeSet::new();
    for call in &history.calls {
        if let Some(ran) = call.ran {
            ran_of_own_key(history, call, ran, &mut missing, report);
        }
        let Some(id) = call.value else { continue };
        let Some(producer) = history.producer(id) else {
            missing.insert(id);
            continue;
        };
        if !of_own_key(history, call, producer, report) {
            continue;
        }
        if matches!(call.served, Served::Fresh | Served::Waited) {
            let scope = history.scope(&call.process, &call.key);
            if let Some(of_key) = invalidations.get(&scope) {
                stale_set(history, call, producer, of_key, report);
            }
        }
        if matches!(call.served, Served::Fresh | Served::Stale | Served::Waited) {
            cleared(history, call, producer, report);
        }
        if call.served == Served::Stale {
            past_hard_timeout(history, call, producer, report);
        }
    }
    report.values_without_producer = missing.len();
}

/// Rule 3 for a call's value: produced for its key (and, on the memory
/// store, in its process). False if it is not (the other rules then skip it).
fn of_own_key(
    history: &History<'_>,
    call: &Call,
    producer: Producer<'_>,
    report: &mut Report,
) -> bool {
    let detail = if producer.key() != call.key {
        format!(
            "a call of {} returned a value produced for {}",
            call.key,
            producer.key()
        )
    } else if history.config.store == Store::Memory && producer.process() != call.process {
        format!(
            "a call in {} returned a value of {}'s own cache (memory store)",
            call.process,
            producer.process()
        )
    } else {
        return true;
    };
    let events = vec![producer.event(), Event::Call(call.clone())];
    let violation = history.violation(Promise::OtherKey, detail, events);
    report.violations.push(violation);
    false
}

/// Rule 3 for the compute a call ran: a compute of its own key.
fn ran_of_own_key(
    history: &History<'_>,
    call: &Call,
    ran: u64,
    missing: &mut BTreeSet<u64>,
    report: &mut Report,
) {
    let detail = match history.producer(ran) {
        None => {
            missing.insert(ran);
            return;
        }
        Some(Producer::Compute(compute)) if compute.key == call.key => return,
        Some(Producer::Compute(compute)) => {
            format!("a call of {} ran a compute of {}", call.key, compute.key)
        }
        Some(Producer::Set(_)) => format!("a call's RAN {ran} names a set, not a compute"),
    };
    let mut events = Vec::new();
    events.extend(history.producer(ran).map(Producer::event));
    events.push(Event::Call(call.clone()));
    let violation = history.violation(Promise::OtherKey, detail, events);
    report.violations.push(violation);
}

/// The invalidations of one key, indexed to find at once the one that
/// began last among those that returned before a time.
#[derive(Default)]
struct Invalidations<'a> {
    /// By END.
    by_end: Vec<&'a Invalidate>,
    /// For each prefix of `by_end`, the index of its latest START.
    latest_start: Vec<usize>,
}

impl<'a> Invalidations<'a> {
    /// Sorts them and computes `latest_start`.
    fn index(&mut self) {
        self.by_end.sort_by_key(|invalidation| invalidation.end);
        let mut latest = 0;
        self.latest_start = (0..self.by_end.len())
            .map(|at| {
                if self.by_end[at].start > self.by_end[latest].start {
                    latest = at;
                }
                latest
            })
            .collect();
    }

    /// The one that began last among those that returned before `at`.
    fn latest_returned_before(&self, at: u64) -> Option<&'a Invalidate> {
        let returned = self
            .by_end
            .partition_point(|invalidation| invalidation.end < at);
        let latest = *self.latest_start.get(returned.checked_sub(1)?)?;
        Some(self.by_end[latest])
    }
}

/// Rule 1: served fresh (or waited for) a value older than an
/// invalidation of its key that returned before the call started. One
/// violation per call, with the latest such invalidation (a value older
/// than any of them is older than the one that began last).
fn stale_set(
    history: &History<'_>,
    call: &Call,
    producer: Producer<'_>,
    invalidations: &Invalidations<'_>,
    report: &mut Report,
) {
    let Some(invalidation) = invalidations
        .latest_returned_before(call.start)
        .filter(|invalidation| producer.predates(invalidation.start))
    else {
        return;
    };
    // The call's process may not have seen a clear by another process yet
    // (the clear delay): it reads the value under the old generation, which
    // an invalidation by a process that only knew the new one misses. A
    // documented limit, counted.
    // So may the invalidating process (it then reaches the old generation
    // only). A process stopped meanwhile learns of a clear that much later.
    let not_seen_by = |clear: &Clear, process: &str, at: u64| {
        clear.process != process
            && clear.start <= at
            && at
                <= clear
                    .end
                    .saturating_add(history.clear_delay_for(clear, process, at))
    };
    let unseen_clear = history.clears.iter().any(|clear| {
        history.clear_reaches_key(&clear.process, &call.process, &call.key)
            && producer.predates(clear.start)
            && (not_seen_by(clear, &call.process, call.start)
                || not_seen_by(clear, &invalidation.process, invalidation.start))
    });
    if unseen_clear {
        report.exempt(Promise::StaleSet, "clear", UNSEEN_CLEAR);
        return;
    }
    // A Redis Cluster failover may lose what its master acknowledged just
    // before it died (replication is asynchronous): a clear's generation,
    // an invalidation. A documented limit, counted.
    if history.config.store == Store::RedisCluster {
        let bound = history.config.hold_bound_ms;
        let failover = history.faults.iter().any(|fault| {
            fault.kind == FaultKind::ServerKill
                && fault.start.saturating_sub(FAILOVER_LOSES_MS) <= call.start
                && fault.end.saturating_add(bound) >= invalidation.start
        });
        if failover {
            report.exempt(Promise::StaleSet, "server-kill", FAILOVER);
            return;
        }
    }
    // While the store failed, the producer's process could not see another
    // process's invalidation, and its callers that joined its compute got
    // its value: a documented limit, counted.
    if call.process == producer.process() && call.served == Served::Waited {
        if let Some(fault) = history.store_fault(producer.start(), call.end) {
            report.exempt(Promise::StaleSet, fault.kind.name(), STORE_FAILED);
            return;
        }
    }
    let detail = format!(
        "{} served a value produced before an invalidation of {} that returned before the call",
        crate::words::served(call.served),
        call.key
    );
    let events = vec![
        producer.event(),
        Event::Invalidate(invalidation.clone()),
        Event::Call(call.clone()),
    ];
    let violation = history.violation(Promise::StaleSet, detail, events);
    report.violations.push(violation);
}

/// How long before a master's death a write it acknowledged may be lost.
const FAILOVER_LOSES_MS: u64 = 1_000;

/// What the docs say of a stale set after a Redis Cluster failover.
const FAILOVER: &str = "a limit: a Redis Cluster failover may lose the writes its master \
     acknowledged just before it died (a clear, an invalidation)";

/// What the docs say of a stale set while the store failed.
const STORE_FAILED: &str = "a limit: while the store fails, a process cannot see \
     another's invalidation: callers that joined its compute get its value";

/// What the docs say of a stale set within the clear delay.
const UNSEEN_CLEAR: &str = "a limit: a process that has not seen a clear yet may serve \
     a value from before it that a process which only knew the new generation invalidated";

/// Rule 2: served (from the cache) a value older than a clear that reached
/// the call's process before the call started: at once in the clearing
/// process, `clear_delay_ms` (and the tolerances) later in the others.
fn cleared(history: &History<'_>, call: &Call, producer: Producer<'_>, report: &mut Report) {
    let Some(clear) = history.clears.iter().find(|clear| {
        let delay = history.clear_delay(&clear.process, &call.process);
        history.clear_reaches_key(&clear.process, &call.process, &call.key)
            && producer.predates(clear.start)
            && clear.end.saturating_add(delay) < call.start
    }) else {
        return;
    };
    let detail = format!(
        "{} served a value produced before a clear by {} that had reached {}",
        crate::words::served(call.served),
        clear.process,
        call.process
    );
    let events = vec![
        producer.event(),
        Event::Clear((*clear).clone()),
        Event::Call(call.clone()),
    ];
    let violation = history.violation(Promise::Clear, detail, events);
    report.violations.push(violation);
}

/// Rule 7: served stale a value produced more than the hard timeout (and
/// the tolerances) before the call started.
fn past_hard_timeout(
    history: &History<'_>,
    call: &Call,
    producer: Producer<'_>,
    report: &mut Report,
) {
    let config = &history.config;
    let allowed = config
        .hard_ms
        .saturating_add(2 * config.skew_ms)
        .saturating_add(config.wait_tolerance_ms);
    if producer.end().saturating_add(allowed) >= call.start {
        return;
    }
    let detail = format!(
        "a stale value of {} served {} ms after it was produced (hard timeout {} ms)",
        call.key,
        call.start - producer.end(),
        config.hard_ms
    );
    let events = vec![producer.event(), Event::Call(call.clone())];
    let violation = history.violation(Promise::StaleUntilHard, detail, events);
    report.violations.push(violation);
}
