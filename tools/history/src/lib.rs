//! Histories of what callers saw, and a checker of antidogpile's promises
//! over them (issue 23, "A history checker").
//!
//! A history is text, one event a line, fields separated by spaces; each
//! worker process writes its own, the fault injector writes `run.history`
//! with the `config` line and the faults, and the checker merges them
//! (times are real-time milliseconds since the Unix epoch, shared by the
//! processes of one machine). Blank lines and lines starting with `#` are
//! skipped.
//!
//! ```text
//! config KEY=VALUE ...
//! compute PROCESS KEY ID START END ok|err|panic|hung held|unheld|uncached|unknown
//! call    PROCESS KEY START END fresh|stale|waited|computed|uncached VALUE RAN BATCH
//! set     PROCESS KEY ID START END
//! invalidate PROCESS KEY START END
//! clear   PROCESS START END
//! fault   KIND TARGET START END
//! ```
//!
//! A compute's or set's `ID` is the value it produces, unique in the run; a
//! call's `VALUE` is the ID it returned and `RAN` the compute it ran itself
//! (`-` for none); `BATCH` is shared by the lines of one batch call. The
//! whole contract (config keys and defaults, fault kinds) is in the issue's
//! format notes; [`Config`] and [`FaultKind`] hold it here.
//!
//! [`check_report`] verifies, over one run's merged events, with the
//! tolerances of the run's [`Config`]:
//!
//! 1. **stale set**: no value produced before an invalidation of its key is
//!    served fresh (or waited for) by a call that started after the
//!    invalidation returned (a plain set counts only if it returned before
//!    the invalidation began);
//! 2. **clear**: no value produced before a clear is served from the cache
//!    once the clear reached the call's process (at once in its own, after
//!    `clear_delay_ms` in the others; on the memory store only its own);
//! 3. **a value of another key**: a call's value, and the compute it ran,
//!    are its own key's (values whose producer's event is missing are
//!    counted: a killed process never wrote it);
//! 4. **one compute at a time**: no two held computes of one key that
//!    returned values overlap;
//! 5. **no recompute while fresh**: one held compute per expiry;
//! 6. **waits**: a caller waits only while someone computes its key (or a
//!    fault explains it), and never past the grace (and three store
//!    timeouts);
//! 7. **stale only until the hard timeout**;
//! 8. **nothing held after the run**: after the `probe` fault, rule 6 with
//!    no fault to explain a wait.
//!
//! A case of 4 or 5 that a fault may explain (a hold lapsed, a write lost)
//! is exempted, never silently: every exemption is counted in the
//! [`Report`] by the fault's kind, with the documented reason. With
//! `store=memory` a key is (process, key).

mod check;
mod config;
mod event;
mod parse;
mod report;
mod words;

pub use check::check_report;
pub use config::{Config, Store};
pub use event::{
    Call, Clear, Compute, Event, Fault, FaultKind, Hold, Invalidate, Outcome, Served, Set,
};
pub use parse::{parse, ParseError};
pub use report::{Exemptions, Promise, Report, Violation};

/// Every broken promise of a merged history (the events of every process
/// of one run): [`check_report`]'s violations.
pub fn check(events: &[Event]) -> Vec<Violation> {
    check_report(events).violations
}

#[cfg(test)]
mod tests;
