//! The checker: a merged history indexed once ([`History`]), then each
//! group of promises checked over it by its own module.
//!
//! - [`values`]: what a call returned (stale sets, clears, other keys, the
//!   hard timeout);
//! - [`computes`]: how computes of one key follow each other (one at a
//!   time, one per expiry), with the faults that exempt them;
//! - [`waits`]: how long callers waited, and for what (and after the run).

mod computes;
mod values;
mod waits;

use std::collections::{BTreeSet, HashMap};

use crate::config::{Config, Store};
use crate::event::{Call, Clear, Compute, Event, Fault, FaultKind, Invalidate, Set};
use crate::report::{Promise, Report, Violation};

/// How far around a violation's events its faults are shown (milliseconds).
const FAULTS_AROUND_MS: u64 = 2000;

/// Whose key a key is: `("", key)` on a shared store, `(process, key)` on
/// the memory store (each process its own cache).
type Scope<'a> = (&'a str, &'a str);

/// Where a value came from: a compute, or a plain set.
#[derive(Clone, Copy, Debug)]
enum Producer<'a> {
    /// A compute's value.
    Compute(&'a Compute),
    /// A set's value.
    Set(&'a Set),
}

impl<'a> Producer<'a> {
    /// The key it was produced for.
    fn key(self) -> &'a str {
        match self {
            Producer::Compute(compute) => &compute.key,
            Producer::Set(set) => &set.key,
        }
    }

    /// The process that produced it.
    fn process(self) -> &'a str {
        match self {
            Producer::Compute(compute) => &compute.process,
            Producer::Set(set) => &set.process,
        }
    }

    /// When its compute (or set) began.
    fn start(self) -> u64 {
        match self {
            Producer::Compute(compute) => compute.start,
            Producer::Set(set) => set.start,
        }
    }

    /// When it was produced (its write follows).
    fn end(self) -> u64 {
        match self {
            Producer::Compute(compute) => compute.end,
            Producer::Set(set) => set.end,
        }
    }

    /// Whether it is older than a deletion that started at `at`: a compute
    /// that started before it (its data may predate the deletion), a set
    /// that returned before it (a set still running may land after it, as
    /// documented).
    fn predates(self, at: u64) -> bool {
        match self {
            Producer::Compute(compute) => compute.start < at,
            Producer::Set(set) => set.end < at,
        }
    }

    /// Its event.
    fn event(self) -> Event {
        match self {
            Producer::Compute(compute) => Event::Compute(compute.clone()),
            Producer::Set(set) => Event::Set(set.clone()),
        }
    }
}

/// A merged history, indexed for the checks.
#[derive(Debug)]
struct History<'a> {
    /// The run's settings.
    config: Config,
    /// Every call.
    calls: Vec<&'a Call>,
    /// Every compute.
    computes: Vec<&'a Compute>,
    /// Every invalidation.
    invalidations: Vec<&'a Invalidate>,
    /// Every clear.
    clears: Vec<&'a Clear>,
    /// Every fault.
    faults: Vec<&'a Fault>,
    /// Each value's producer, by its ID.
    producers: HashMap<u64, Producer<'a>>,
    /// When the final probe began, if it did.
    probe_start: Option<u64>,
    /// When the call that ran each compute started, by the compute's ID.
    call_starts: HashMap<u64, u64>,
}

impl<'a> History<'a> {
    /// The index of `events`, and the inconsistencies found building it (a
    /// value ID produced twice, two different configs).
    fn new(events: &'a [Event]) -> (History<'a>, Vec<Violation>) {
        let mut history = History {
            config: Config::default(),
            calls: Vec::new(),
            computes: Vec::new(),
            invalidations: Vec::new(),
            clears: Vec::new(),
            faults: Vec::new(),
            producers: HashMap::new(),
            probe_start: None,
            call_starts: HashMap::new(),
        };
        let mut inconsistent = Vec::new();
        let mut config: Option<&Config> = None;
        for event in events {
            let produced = match event {
                Event::Config(this) => {
                    match config {
                        Some(first) if first != this => inconsistent.push(Violation {
                            promise: Promise::History,
                            detail: "two different config lines".to_owned(),
                            events: vec![Event::Config(first.clone()), event.clone()],
                            faults: Vec::new(),
                        }),
                        Some(_) => {}
                        None => config = Some(this),
                    }
                    None
                }
                Event::Compute(compute) => {
                    history.computes.push(compute);
                    Some((compute.id, Producer::Compute(compute)))
                }
                Event::Set(set) => Some((set.id, Producer::Set(set))),
                Event::Call(call) => {
                    history.calls.push(call);
                    if let Some(ran) = call.ran {
                        history.call_starts.insert(ran, call.start);
                    }
                    None
                }
                Event::Invalidate(invalidation) => {
                    history.invalidations.push(invalidation);
                    None
                }
                Event::Clear(clear) => {
                    history.clears.push(clear);
                    None
                }
                Event::Fault(fault) => {
                    history.faults.push(fault);
                    if fault.kind == FaultKind::Probe {
                        history.probe_start = Some(
                            history
                                .probe_start
                                .map_or(fault.start, |at| at.min(fault.start)),
                        );
                    }
                    None
                }
            };
            if let Some((id, producer)) = produced {
                if let Some(first) = history.producers.insert(id, producer) {
                    inconsistent.push(Violation {
                        promise: Promise::History,
                        detail: format!("value ID {id} produced twice"),
                        events: vec![first.event(), producer.event()],
                        faults: Vec::new(),
                    });
                }
            }
        }
        if let Some(config) = config {
            history.config = config.clone();
        }
        (history, inconsistent)
    }

    /// Whose key `key` of `process` is.
    fn scope<'s>(&self, process: &'s str, key: &'s str) -> Scope<'s> {
        match self.config.store {
            Store::Memory => (process, key),
            _ => ("", key),
        }
    }

    /// Whether a clear by `clearer` reaches the cache of `process` at all.
    fn clear_reaches(&self, clearer: &str, process: &str) -> bool {
        self.config.store != Store::Memory || clearer == process
    }

    /// Whether a clear by `clearer` reaches `key` of `process`: the keys of
    /// memoized functions (`s*`, `a*`); `Cache::clear` leaves the client's
    /// (`b*`, `c*`) alone, as documented.
    fn clear_reaches_key(&self, clearer: &str, process: &str, key: &str) -> bool {
        !key.starts_with(['b', 'c']) && self.clear_reaches(clearer, process)
    }

    /// When the call that ran `compute` started (the compute's own start if
    /// its call is not in the history): a call keeps the generation it
    /// started with, so that is when the compute's generation was chosen.
    fn call_start(&self, compute: &Compute) -> u64 {
        self.call_starts
            .get(&compute.id)
            .copied()
            .unwrap_or(compute.start)
            .min(compute.start)
    }

    /// [`History::clear_delay`] for `process`, lengthened by the time it
    /// was stopped (SIGSTOP) between the clear and `at`: a stopped process
    /// reads no generation.
    fn clear_delay_for(&self, clear: &Clear, process: &str, at: u64) -> u64 {
        let stopped: u64 = self
            .faults
            .iter()
            .filter(|fault| fault.kind == FaultKind::Stop && fault.target == process)
            .map(|fault| {
                fault
                    .end
                    .min(at)
                    .saturating_sub(fault.start.max(clear.start))
            })
            .sum();
        self.clear_delay(&clear.process, process)
            .saturating_add(stopped)
    }

    /// How long after a clear by `clearer` ended `process` may still use
    /// the old generation: at once in the clearing process, about
    /// `clear_delay_ms` in the others (with the tolerances).
    fn clear_delay(&self, clearer: &str, process: &str) -> u64 {
        if clearer == process {
            return 0;
        }
        let config = &self.config;
        config
            .clear_delay_ms
            .saturating_add(config.wait_tolerance_ms)
            .saturating_add(2 * config.skew_ms)
    }

    /// The producer of the value `id`, if its event exists.
    fn producer(&self, id: u64) -> Option<Producer<'a>> {
        self.producers.get(&id).copied()
    }

    /// The first fault that may let holds lapse (or writes be lost) whose
    /// window, `[START, END + hold_bound_ms]` (see `window_start`), meets
    /// `[from, to]`.
    fn lapse_fault(&self, from: u64, to: u64) -> Option<&'a Fault> {
        let bound = self.config.hold_bound_ms;
        self.faults.iter().copied().find(|fault| {
            fault.kind.lets_holds_lapse()
                && self.window_start(fault) <= to
                && fault.end.saturating_add(bound) >= from
        })
    }

    /// Where a fault's window starts: at the fault, but for a killed
    /// process a grace before it: the compute it ran when killed was never
    /// recorded, and may have held its key since up to a grace earlier.
    fn window_start(&self, fault: &Fault) -> u64 {
        match fault.kind {
            FaultKind::Kill => fault.start.saturating_sub(self.config.grace_ms),
            _ => fault.start,
        }
    }

    /// The first fault of the store (a server killed or stopped, the
    /// proxy's cuts and delays) whose window, `[START, END +
    /// hold_bound_ms]`, meets `[from, to]`.
    fn store_fault(&self, from: u64, to: u64) -> Option<&'a Fault> {
        let bound = self.config.hold_bound_ms;
        self.faults.iter().copied().find(|fault| {
            fault.kind.is_the_stores()
                && fault.start <= to
                && fault.end.saturating_add(bound) >= from
        })
    }

    /// A violation of `promise` by `events`, with the faults around them.
    fn violation(&self, promise: Promise, detail: String, events: Vec<Event>) -> Violation {
        let spans = events.iter().filter_map(Event::span);
        let from = spans.clone().map(|(start, _)| start).min().unwrap_or(0);
        let to = spans.map(|(_, end)| end).max().unwrap_or(0);
        let faults = self
            .faults
            .iter()
            .filter(|fault| {
                fault.start <= to.saturating_add(FAULTS_AROUND_MS)
                    && fault.end.saturating_add(FAULTS_AROUND_MS) >= from
            })
            .map(|fault| (*fault).clone())
            .collect();
        Violation {
            promise,
            detail,
            events,
            faults,
        }
    }
}

/// The figures and every broken promise of a merged history (the events of
/// every process of one run, and the run's `config` and faults).
pub fn check_report(events: &[Event]) -> Report {
    let (history, inconsistent) = History::new(events);
    let mut report = Report {
        config: history.config.clone(),
        violations: inconsistent,
        events: events.len(),
        probed: history.probe_start.is_some(),
        ..Report::default()
    };
    count(events, &mut report);
    values::check(&history, &mut report);
    computes::check(&history, &mut report);
    waits::check(&history, &mut report);
    report
}

/// The history's figures: processes, calls, computes, and the rest.
fn count(events: &[Event], report: &mut Report) {
    let mut processes = BTreeSet::new();
    for event in events {
        let process = match event {
            Event::Config(_) => None,
            Event::Compute(compute) => {
                *report
                    .computes
                    .entry((compute.outcome, compute.hold))
                    .or_default() += 1;
                Some(&compute.process)
            }
            Event::Call(call) => {
                *report.calls.entry(call.served).or_default() += 1;
                Some(&call.process)
            }
            Event::Set(set) => {
                report.sets += 1;
                Some(&set.process)
            }
            Event::Invalidate(invalidation) => {
                report.invalidations += 1;
                Some(&invalidation.process)
            }
            Event::Clear(clear) => {
                report.clears += 1;
                Some(&clear.process)
            }
            Event::Fault(fault) => {
                *report.faults.entry(fault.kind.name()).or_default() += 1;
                None
            }
        };
        processes.extend(process);
    }
    report.processes = processes.len();
}
