//! The decision and the deadlines against a reference model written from
//! DESIGN.md's semantics, in plain integer arithmetic.

use proptest::prelude::*;

use super::*;

const MAX_MILLIS: u128 = u64::MAX as u128;

/// Whole milliseconds, rounded up: a store keeps time in milliseconds, and
/// rounding down would let a 0.5 ms grace expire before it began.
fn millis_up(duration: Duration) -> u128 {
    duration.as_nanos().div_ceil(1_000_000)
}

/// `now + duration` in milliseconds, at most the last representable instant.
fn later(now: u64, duration: Duration) -> u64 {
    (u128::from(now) + millis_up(duration)).min(MAX_MILLIS) as u64
}

/// The model: a value is fresh before its soft deadline; after it, a live
/// claim means someone is refreshing (serve the stale value), and without
/// one this caller claims the refresh for one grace window; nothing stored
/// is a miss.
fn model_decide(entry: Option<(u64, u64)>, now: u64, grace: Duration) -> Decision {
    let Some((soft_deadline, claimed_until)) = entry else {
        return Decision::Miss;
    };
    if now < soft_deadline {
        Decision::Fresh
    } else if now < claimed_until {
        Decision::ServeStale
    } else {
        Decision::ClaimRefresh {
            claim_until: Timestamp::from_millis(later(now, grace)),
        }
    }
}

/// Any duration: whole milliseconds (what the macro and URLs give), any
/// nanoseconds, and the extremes.
fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        4 => (0u64..10_000_000_000).prop_map(Duration::from_millis),
        2 => (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        1 => Just(Duration::ZERO),
        1 => Just(Duration::MAX),
    ]
}

/// Any instant, mostly near realistic ones, sometimes at the far end.
fn millis() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..10_000_000_000_000,
        1 => any::<u64>(),
        1 => (0u64..1_000).prop_map(|back| u64::MAX - back),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decide_matches_the_model(
        entry in prop::option::of((millis(), millis())),
        now in millis(),
        near in prop::option::of((any::<bool>(), -2i64..=2)),
        grace in duration(),
    ) {
        // Often just before, at or after one of the entry's deadlines.
        let now = match (entry, near) {
            (Some((soft, claimed)), Some((at_soft, offset))) => {
                let deadline = if at_soft { soft } else { claimed };
                deadline.saturating_add_signed(offset)
            }
            _ => now,
        };
        let meta = entry.map(|(soft, claimed)| EntryMeta {
            soft_deadline: Timestamp::from_millis(soft),
            claimed_until: Timestamp::from_millis(claimed),
        });
        prop_assert_eq!(decide(meta, Timestamp::from_millis(now), grace), model_decide(entry, now, grace));
    }

    /// A value goes stale at its soft deadline; from then on, of callers
    /// arriving in any order of time, exactly one claims the refresh per grace
    /// window (a claimer that never finishes is replaced one grace later),
    /// and every other caller is served the stale value.
    #[test]
    fn one_claim_per_grace_window(
        soft_deadline in 0u64..1_000,
        grace_millis in 1u64..200,
        mut arrivals in prop::collection::vec(0u64..3_000, 1..100),
    ) {
        arrivals.sort_unstable();
        let grace = Duration::from_millis(grace_millis);
        let mut meta = EntryMeta {
            soft_deadline: Timestamp::from_millis(soft_deadline),
            claimed_until: Timestamp::EPOCH,
        };
        let mut last_claim: Option<u64> = None;
        for now in arrivals {
            match decide(Some(meta), Timestamp::from_millis(now), grace) {
                Decision::Fresh => prop_assert!(now < soft_deadline),
                Decision::ServeStale => {
                    let claimed_at = last_claim.expect("serving stale needs a claim");
                    prop_assert!(now >= soft_deadline && now < claimed_at + grace_millis);
                }
                Decision::ClaimRefresh { claim_until } => {
                    prop_assert!(now >= soft_deadline);
                    if let Some(claimed_at) = last_claim {
                        prop_assert!(now >= claimed_at + grace_millis, "two claims in one grace window");
                    }
                    prop_assert_eq!(claim_until.as_millis(), now + grace_millis);
                    // The claimer wins its compare-and-swap, then never finishes.
                    meta.claimed_until = claim_until;
                    last_claim = Some(now);
                }
                Decision::Miss => prop_assert!(false, "a stored value is never a miss"),
            }
        }
    }

    /// hard = soft * factor (factor 0 taken as 1), saturating; no jitter
    /// unless asked for.
    #[test]
    fn timeouts_match_the_model(soft in duration(), factor in any::<u32>(), grace in duration()) {
        let timeouts = Timeouts::new(soft, factor, grace);
        let product = soft.as_nanos() * u128::from(factor.max(1));
        let expected_hard = if product > Duration::MAX.as_nanos() {
            Duration::MAX
        } else {
            Duration::new((product / 1_000_000_000) as u64, (product % 1_000_000_000) as u32)
        };
        prop_assert_eq!(timeouts.hard, expected_hard);
        prop_assert_eq!(timeouts.soft, soft);
        prop_assert_eq!(timeouts.grace, grace);
        prop_assert_eq!(timeouts.jitter, 0.0);
    }

    /// A fraction is clamped into 0 ..= 1; one that is not a number means
    /// no jitter.
    #[test]
    fn jitter_fractions_are_clamped(fraction in any::<f64>()) {
        let jitter = Timeouts::new(Duration::from_secs(1), 1, Duration::from_secs(1))
            .with_jitter(fraction)
            .jitter;
        let expected = if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 0.0 };
        prop_assert_eq!(jitter.to_bits(), expected.to_bits());
    }

    /// Without jitter the soft deadline is `now + soft` and the hard one
    /// `now + max(hard, soft)`; with it, freshness is shortened by
    /// `jitter * unit` of `soft` and never lengthened; the hard deadline never
    /// moves, and nothing panics at the extremes.
    #[test]
    fn deadlines_match_the_model(
        soft in duration(),
        factor in any::<u32>(),
        jitter in prop_oneof![Just(0.0), Just(1.0), 0.0f64..=1.0],
        unit in 0.0f64..1.0,
        now in millis(),
    ) {
        let timeouts = Timeouts::new(soft, factor, Duration::from_secs(60)).with_jitter(jitter);
        let deadlines = timeouts.deadlines(Timestamp::from_millis(now), unit);
        let (soft_at, hard_at) = (deadlines.soft.as_millis(), deadlines.hard.as_millis());

        prop_assert_eq!(hard_at, later(now, timeouts.hard.max(soft)));
        prop_assert!(soft_at >= now);
        prop_assert!(soft_at <= later(now, soft), "fresh for longer than soft");
        prop_assert!(soft_at <= hard_at, "fresh after the store dropped it");
        if jitter * unit == 0.0 {
            prop_assert_eq!(soft_at, later(now, soft));
        }
        // Away from saturation, the shortening is jitter * unit of soft,
        // within the millisecond the deadline is rounded up to.
        if later(now, soft) < u64::MAX {
            let expected = soft.as_nanos() as f64 * (1.0 - jitter * unit) / 1e6;
            let actual = (soft_at - now) as f64;
            prop_assert!(
                (actual - expected).abs() <= 1.0 + expected * 1e-9,
                "fresh for {actual} ms, expected {expected} ms"
            );
        }
        // A larger unit never makes a value fresh for longer.
        let smaller_unit = timeouts.deadlines(Timestamp::from_millis(now), unit / 2.0);
        prop_assert!(smaller_unit.soft >= deadlines.soft);
    }
}
