//! The pure soft/hard/grace decision, shared by every store and by the sync
//! and async paths. No I/O, no locks, no clock reads: inputs in, decision out.

use std::time::Duration;

use crate::clock::Timestamp;

/// The timeouts of one memoized function, resolved against its cache's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timeouts {
    /// How long a value is fresh.
    pub soft: Duration,
    /// How long the store keeps a value (`soft * factor`).
    pub hard: Duration,
    /// How long one caller may take to recompute before another may try.
    pub grace: Duration,
    /// Fraction (0.0 ..= 1.0) by which soft deadlines are spread.
    pub jitter: f64,
}

impl Timeouts {
    /// `soft`, with the hard timeout `soft * factor` (factor 0 is taken as 1).
    pub fn new(soft: Duration, factor: u32, grace: Duration) -> Timeouts {
        Timeouts {
            soft,
            hard: soft.saturating_mul(factor.max(1)),
            grace,
            jitter: 0.0,
        }
    }

    /// The same timeouts with soft deadlines spread by `fraction`.
    pub fn with_jitter(self, fraction: f64) -> Timeouts {
        Timeouts {
            jitter: if fraction.is_finite() {
                fraction.clamp(0.0, 1.0)
            } else {
                0.0
            },
            ..self
        }
    }

    /// The deadlines of a value stored at `now`. `unit` is a uniform random
    /// number in `[0, 1)`; jitter only ever shortens freshness, so a value is
    /// never served as fresh for longer than `soft`.
    pub fn deadlines(&self, now: Timestamp, unit: f64) -> Deadlines {
        let shortening = self.soft.mul_f64((self.jitter * unit).clamp(0.0, 1.0));
        Deadlines {
            soft: now.saturating_add(self.soft.saturating_sub(shortening)),
            hard: now.saturating_add(self.hard.max(self.soft)),
        }
    }
}

/// When a stored value goes stale, and when the store drops it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    /// Fresh strictly before this.
    pub soft: Timestamp,
    /// Gone at this.
    pub hard: Timestamp,
}

/// What a store knows about an entry besides its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryMeta {
    /// Fresh strictly before this.
    pub soft_deadline: Timestamp,
    /// A refresh claim is held until this (the epoch when nobody holds one).
    pub claimed_until: Timestamp,
}

/// What to do with what the store returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Return the value.
    Fresh,
    /// The value is stale and nobody is refreshing it: try to claim the
    /// refresh until `claim_until`; serve the stale value if the claim is lost.
    ClaimRefresh {
        /// The end of the claim's grace window.
        claim_until: Timestamp,
    },
    /// The value is stale and someone else is refreshing it: serve it.
    ServeStale,
    /// Nothing stored: one caller computes, the others wait for it.
    Miss,
}

/// The decision for an entry read at `now`.
pub fn decide(entry: Option<EntryMeta>, now: Timestamp, grace: Duration) -> Decision {
    match entry {
        None => Decision::Miss,
        Some(meta) if now < meta.soft_deadline => Decision::Fresh,
        Some(meta) if now < meta.claimed_until => Decision::ServeStale,
        Some(_) => Decision::ClaimRefresh {
            claim_until: now.saturating_add(grace),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(60);

    fn at(millis: u64) -> Timestamp {
        Timestamp::from_millis(millis)
    }

    fn meta(soft: u64, claimed: u64) -> Option<EntryMeta> {
        Some(EntryMeta {
            soft_deadline: at(soft),
            claimed_until: at(claimed),
        })
    }

    #[test]
    fn nothing_stored_is_a_miss() {
        assert_eq!(decide(None, at(5), GRACE), Decision::Miss);
    }

    #[test]
    fn before_the_soft_deadline_is_fresh_even_if_claimed() {
        assert_eq!(decide(meta(10, 0), at(9), GRACE), Decision::Fresh);
        assert_eq!(decide(meta(10, 50), at(9), GRACE), Decision::Fresh);
    }

    #[test]
    fn at_the_soft_deadline_the_refresh_is_claimed_for_one_grace() {
        assert_eq!(
            decide(meta(10, 0), at(10), GRACE),
            Decision::ClaimRefresh {
                claim_until: at(60_010)
            }
        );
    }

    #[test]
    fn a_live_claim_means_serve_stale_and_an_expired_one_is_claimable_again() {
        assert_eq!(decide(meta(10, 100), at(99), GRACE), Decision::ServeStale);
        assert!(matches!(
            decide(meta(10, 100), at(100), GRACE),
            Decision::ClaimRefresh { .. }
        ));
    }

    #[test]
    fn hard_is_soft_times_factor_and_factor_zero_means_one() {
        let soft = Duration::from_secs(30);
        assert_eq!(Timeouts::new(soft, 8, GRACE).hard, Duration::from_secs(240));
        assert_eq!(Timeouts::new(soft, 0, GRACE).hard, soft);
    }

    #[test]
    fn jitter_only_shortens_freshness_and_never_the_hard_timeout() {
        let t = Timeouts::new(Duration::from_millis(1000), 4, GRACE).with_jitter(0.5);
        let none = t.deadlines(at(0), 0.0);
        let most = t.deadlines(at(0), 0.999_999);
        assert_eq!(none.soft, at(1000));
        assert!(most.soft >= at(500) && most.soft < at(502), "{most:?}");
        assert_eq!(most.hard, at(4000));
    }

    #[test]
    fn nonsense_jitter_is_clamped() {
        let soft = Duration::from_secs(1);
        assert_eq!(
            Timeouts::new(soft, 1, GRACE).with_jitter(f64::NAN).jitter,
            0.0
        );
        assert_eq!(Timeouts::new(soft, 1, GRACE).with_jitter(7.0).jitter, 1.0);
        assert_eq!(Timeouts::new(soft, 1, GRACE).with_jitter(-1.0).jitter, 0.0);
    }
}

#[cfg(test)]
mod proptests;
