//! Wall-clock time in milliseconds, real or controlled by a test.
//!
//! Deadlines are wall-clock (milliseconds since the Unix epoch) rather than
//! [`std::time::Instant`] because remote stores share them between processes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
#[cfg(any(test, not(any(target_os = "linux", target_os = "android"))))]
use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time: milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);
    /// The end of time: a deadline that never comes ("no expiry").
    pub const MAX: Timestamp = Timestamp(u64::MAX);

    /// A timestamp `millis` milliseconds after the Unix epoch.
    pub const fn from_millis(millis: u64) -> Timestamp {
        Timestamp(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// `self + duration`, saturating instead of overflowing.
    pub fn saturating_add(self, duration: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(duration_millis(duration)))
    }

    /// How long from `self` until `later` (zero if `later` is not later).
    pub fn until(self, later: Timestamp) -> Duration {
        Duration::from_millis(later.0.saturating_sub(self.0))
    }
}

/// Whole milliseconds of `duration`, rounded up so that a non-zero duration
/// never becomes zero, saturating at `u64::MAX`.
pub(crate) fn duration_millis(duration: Duration) -> u64 {
    let millis = duration.as_millis();
    let rounded_up = if duration.subsec_nanos() % 1_000_000 != 0 {
        millis + 1
    } else {
        millis
    };
    u64::try_from(rounded_up).unwrap_or(u64::MAX)
}

/// The clock a [`Cache`](crate::Cache) reads deadlines from.
///
/// [`Clock::system`] is the real one; [`ManualClock`] gives tests a clock
/// they move by hand, so behaviour across expiries is tested without sleeping.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    source: Source,
}

/// Where a [`Clock`] reads the time.
#[derive(Clone, Debug, Default)]
enum Source {
    /// The system's wall clock.
    #[default]
    System,
    /// A [`ManualClock`].
    Manual(Arc<AtomicU64>),
    /// The system's wall clock, this many milliseconds ahead (behind if
    /// negative): a process whose clock is off (see [`Clock::__skewed`]).
    Skewed(i64),
}

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Clock {
        Clock {
            source: Source::System,
        }
    }

    /// The system's wall clock, `offset_ms` milliseconds ahead (behind if
    /// negative). Not public API: the history checker's workload
    /// (`tools/history`) gives its processes skewed clocks with it, which
    /// the coarse system clock cannot be from outside.
    #[doc(hidden)]
    pub fn __skewed(offset_ms: i64) -> Clock {
        Clock {
            source: Source::Skewed(offset_ms),
        }
    }

    /// Whether `other` is this clock (the system's, or the same manual one).
    pub(crate) fn is(&self, other: &Clock) -> bool {
        match (&self.source, &other.source) {
            (Source::System, Source::System) => true,
            (Source::Manual(mine), Source::Manual(theirs)) => Arc::ptr_eq(mine, theirs),
            (Source::Skewed(mine), Source::Skewed(theirs)) => mine == theirs,
            _ => false,
        }
    }

    /// The current time.
    #[inline]
    pub fn now(&self) -> Timestamp {
        match &self.source {
            Source::System => system_now(),
            Source::Manual(millis) => Timestamp(millis.load(Ordering::Acquire)),
            Source::Skewed(offset) => Timestamp(system_now().0.saturating_add_signed(*offset)),
        }
    }

    /// How long a waiter may block (in real time) before it must look at
    /// this clock again, given that its deadline is `remaining` away on it.
    ///
    /// On the system clock that is simply `remaining`. A manual clock moves
    /// only when a test says so, so waiters look again every millisecond.
    pub(crate) fn wait_slice(&self, remaining: Duration) -> Duration {
        match self.source {
            Source::System | Source::Skewed(_) => remaining,
            Source::Manual(_) => remaining.min(Duration::from_millis(1)),
        }
    }
}

/// The wall clock at millisecond precision. On Linux this is the coarse
/// clock, updated every scheduler tick (1 to 4 ms): deadlines are whole
/// milliseconds anyway, and it costs a few ns per hit instead of ~20.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn system_now() -> Timestamp {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    // A clock before 1970 is a broken clock; read it as the epoch rather than panic.
    let seconds = u64::try_from(now.tv_sec).unwrap_or(0);
    let millis = u64::try_from(now.tv_nsec / 1_000_000).unwrap_or(0);
    Timestamp(seconds.saturating_mul(1_000).saturating_add(millis))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn system_now() -> Timestamp {
    // A clock before 1970 is a broken clock; read it as the epoch rather than panic.
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
}

/// A clock that only moves when told to: for deterministic tests.
///
/// ```
/// use antidogpile::clock::{ManualClock, Timestamp};
/// use std::time::Duration;
///
/// let manual = ManualClock::new(Timestamp::from_millis(1_000));
/// let clock = manual.clock();
/// manual.advance(Duration::from_secs(2));
/// assert_eq!(clock.now(), Timestamp::from_millis(3_000));
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    millis: Arc<AtomicU64>,
}

impl ManualClock {
    /// A manual clock that reads `start` until it is moved.
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            millis: Arc::new(AtomicU64::new(start.0)),
        }
    }

    /// A [`Clock`] that reads this manual clock (give it to a [`Cache`](crate::Cache)).
    pub fn clock(&self) -> Clock {
        Clock {
            source: Source::Manual(Arc::clone(&self.millis)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = duration_millis(by);
        // fetch_update never fails here: the closure always returns Some.
        let _ = self
            .millis
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                Some(now.saturating_add(by))
            });
    }

    /// Sets the clock to `to` (it may go backwards, like a real clock can).
    pub fn set(&self, to: Timestamp) {
        self.millis.store(to.0, Ordering::Release);
    }

    /// The time this clock reads.
    pub fn now(&self) -> Timestamp {
        Timestamp(self.millis.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_millisecond_durations_round_up() {
        assert_eq!(duration_millis(Duration::from_micros(1)), 1);
        assert_eq!(duration_millis(Duration::from_micros(1_500)), 2);
        assert_eq!(duration_millis(Duration::from_millis(7)), 7);
        assert_eq!(duration_millis(Duration::MAX), u64::MAX);
    }

    #[test]
    fn timestamps_saturate_instead_of_overflowing() {
        let late = Timestamp::from_millis(u64::MAX - 1);
        assert_eq!(
            late.saturating_add(Duration::from_secs(5)).as_millis(),
            u64::MAX
        );
        assert_eq!(late.until(Timestamp::EPOCH), Duration::ZERO);
    }

    #[test]
    fn a_skewed_clock_runs_ahead_or_behind_the_system_clock() {
        let system = Clock::system();
        for offset in [250i64, -250] {
            let skewed = Clock::__skewed(offset);
            let (before, read, after) = (system.now(), skewed.now(), system.now());
            let low = before.as_millis().saturating_add_signed(offset);
            let high = after.as_millis().saturating_add_signed(offset);
            assert!(
                (low..=high).contains(&read.as_millis()),
                "{offset}: {read:?}"
            );
            assert!(!skewed.is(&system) && skewed.is(&Clock::__skewed(offset)));
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let manual = ManualClock::new(Timestamp::from_millis(10));
        let clock = manual.clock();
        assert_eq!(clock.now().as_millis(), 10);
        manual.advance(Duration::from_millis(5));
        assert_eq!(clock.now().as_millis(), 15);
        manual.set(Timestamp::from_millis(3));
        assert_eq!(clock.now().as_millis(), 3);
    }

    #[test]
    fn system_clock_agrees_with_the_precise_clock_within_a_few_ticks() {
        let precise = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64
        };
        let before = precise();
        let ours = Clock::system().now().as_millis();
        let after = precise();
        // The coarse clock lags by at most one scheduler tick (<= 10 ms).
        assert!(
            ours + 10 >= before && ours <= after,
            "{before} <= {ours} <= {after}"
        );
    }
}
