//! Warnings an operator must act on, rate-limited: at most one per
//! [`WARN_INTERVAL`] for each function (namespace) and kind of trouble, the
//! next one carrying how many were held back meanwhile (`suppressed`). The
//! ones held back are still given, at DEBUG. A store that is down, or a
//! function whose backend fails on every call, thus gives a bounded number
//! of warnings however many calls run.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::error::StoreError;

/// At most one warning per function and kind in this time.
pub(crate) const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Kinds of repeated trouble, rate-limited apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// A store operation failed (the call computed without the store).
    Store,
    /// A claim or lease could not be renewed or released.
    Hold,
    /// A compute returned `Err` (never cached).
    Failure,
    /// A compute (or its value's `Clone`, `Serialize`, `Drop`) panicked.
    Panic,
    /// An argument could not be encoded into a key.
    Key,
}

struct Window {
    since: Instant,
    suppressed: u64,
}

/// Keyed by a hash of the namespace (no allocation per warning).
type Windows = HashMap<(u64, Kind), Window>;

static WINDOWS: OnceLock<Mutex<Windows>> = OnceLock::new();

/// Whether the warning of `kind` at `namespace` is to be given now; if so,
/// how many were held back since the last one given. `None`: hold it back
/// (give it at DEBUG).
pub(crate) fn admit(namespace: &str, kind: Kind) -> Option<u64> {
    admit_at(namespace, kind, Instant::now())
}

fn admit_at(namespace: &str, kind: Kind, now: Instant) -> Option<u64> {
    let mut windows = WINDOWS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let lookup = (xxhash_rust::xxh3::xxh3_64(namespace.as_bytes()), kind);
    match windows.get_mut(&lookup) {
        Some(window) if now.duration_since(window.since) < WARN_INTERVAL => {
            window.suppressed += 1;
            None
        }
        Some(window) => {
            window.since = now;
            Some(std::mem::take(&mut window.suppressed))
        }
        None => {
            windows.insert(
                lookup,
                Window {
                    since: now,
                    suppressed: 0,
                },
            );
            Some(0)
        }
    }
}

/// Gives `$message` (with the fields before it) at WARN if [`admit`]ted,
/// with the count of the ones held back, else at DEBUG.
macro_rules! warn_limited {
    ($namespace:expr, $kind:expr, $($rest:tt)+) => {{
        let namespace: &str = $namespace;
        match $crate::warn::admit(namespace, $kind) {
            Some(suppressed) => ::tracing::warn!(
                target: "antidogpile", namespace, suppressed, $($rest)+
            ),
            None => ::tracing::debug!(target: "antidogpile", namespace, $($rest)+),
        }
    }};
}
pub(crate) use warn_limited;

/// A failed store operation: WARN, rate-limited ([`crate::warn`]).
pub(crate) fn trace_store_error(namespace: &str, error: &StoreError) {
    crate::warn::warn_limited!(
        namespace,
        crate::warn::Kind::Store,
        %error,
        "store failed; computing without it"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_interval_with_the_count_held_back() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        assert_eq!(admit_at("warn::a", Kind::Store, at(0)), Some(0));
        assert_eq!(admit_at("warn::a", Kind::Store, at(1)), None);
        assert_eq!(admit_at("warn::a", Kind::Store, at(9_999)), None);
        // Another kind, another function: their own windows.
        assert_eq!(admit_at("warn::a", Kind::Failure, at(2)), Some(0));
        assert_eq!(admit_at("warn::b", Kind::Store, at(3)), Some(0));
        assert_eq!(admit_at("warn::a", Kind::Store, at(10_000)), Some(2));
        assert_eq!(admit_at("warn::a", Kind::Store, at(10_001)), None);
    }
}
