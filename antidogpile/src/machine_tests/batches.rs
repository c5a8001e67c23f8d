//! `get_or_compute_many`: one single-key machine per key, run side by side,
//! whose reads, claims, leases and held writes go to the store as one
//! batched operation per kind and round (see the `gather` module's docs).
//! A batch's reads take nothing (they are peeks in every store).

use super::*;

/// Runs `get_or_compute_many` over `keys` (named `0`, `1`, ... in the
/// order they are read), computing 10 × the key; returns the values and
/// the keys of each compute call.
fn batch(rig: &Rig, keys: &[u64], asynchronous: bool) -> (Vec<u64>, Vec<Vec<u64>>) {
    let mut computed = Vec::new();
    let compute = |missing: Vec<&u64>| {
        computed.push(missing.iter().map(|key| **key).collect::<Vec<_>>());
        missing.iter().map(|key| **key * 10).collect::<Vec<u64>>()
    };
    let values = if asynchronous {
        run_async(rig, keys, compute)
    } else {
        rig.cache
            .get_or_compute_many(keys, Ttl::soft(SOFT), compute)
    };
    (values.expect("the batch answers"), computed)
}

#[cfg(feature = "tokio")]
fn run_async(
    rig: &Rig,
    keys: &[u64],
    mut compute: impl FnMut(Vec<&u64>) -> Vec<u64>,
) -> Result<Vec<u64>, crate::Error> {
    runtime().block_on(
        rig.cache
            .as_async()
            .get_or_compute_many(keys, Ttl::soft(SOFT), |missing| {
                std::future::ready(compute(missing))
            }),
    )
}

#[cfg(not(feature = "tokio"))]
fn run_async(
    rig: &Rig,
    keys: &[u64],
    compute: impl FnMut(Vec<&u64>) -> Vec<u64>,
) -> Result<Vec<u64>, crate::Error> {
    rig.cache
        .get_or_compute_many(keys, Ttl::soft(SOFT), compute)
}

fn drivers() -> Vec<bool> {
    if cfg!(feature = "tokio") {
        vec![false, true]
    } else {
        vec![false]
    }
}

#[test]
fn a_batch_serves_the_fresh_refreshes_the_stale_and_fills_the_missing() {
    for style in STYLES {
        for asynchronous in drivers() {
            let rig = Rig::new(style);
            // Key 0 (1) fresh, key 1 (2) stale, key 2 (3) missing.
            rig.store.reads(0, [Finds::entry(100, FRESH_UNTIL)]);
            rig.store.reads(1, [Finds::entry(200, STALE_SINCE)]);
            rig.store.claims(1, [Ok(Some(11))]);
            rig.store.held_writes(1, [Ok(true)]);
            rig.store
                .reads(2, [Finds::nothing(), Finds::nothing(), Finds::nothing()]);
            rig.store.leases(2, [Ok(Some(12))]);
            rig.store.held_writes(2, [Ok(true)]);

            let (values, computed) = batch(&rig, &[1, 2, 3], asynchronous);
            let how = format!("{style:?}, async: {asynchronous}");
            assert_eq!(values, [100, 20, 30], "{how}");
            // The stale key is computed in the round that claimed it; the
            // missing key's in-process lease, which that round took to read
            // it again, is given back before that compute (others need not
            // wait for a key nobody computes meanwhile), taken again in the
            // next round, and the key computed in the one after: two
            // compute calls, and one more read of the missing key. (The doc
            // of `get_or_compute_many` says the keys to compute, "missing,
            // or stale and claimed", are computed in one call.)
            assert_eq!(computed, [vec![2], vec![3]], "{how}");
            let expected = [
                Op::ReadMany {
                    keys: vec![0, 1, 2],
                    purpose: ReadFor::Peek,
                },
                Op::TryClaimMany {
                    claims: vec![(1, Version(1))],
                    until: START + ms(GRACE),
                },
                Op::WriteHeldMany {
                    writes: vec![(1, Hold::Claim(ClaimId(11)), val(style, 20))],
                },
                Op::ReadMany {
                    keys: vec![2],
                    purpose: ReadFor::Peek,
                },
                Op::ReadMany {
                    keys: vec![2],
                    purpose: ReadFor::Peek,
                },
                Op::TryLeaseMany {
                    keys: vec![2],
                    lease_for: GRACE,
                },
                Op::WriteHeldMany {
                    writes: vec![(2, Hold::Lease(LeaseId(12)), val(style, 30))],
                },
            ];
            assert_eq!(rig.calls(), expected, "{how}");
        }
    }
}

#[test]
fn a_batch_of_fresh_and_missing_keys_leases_the_missing_together_and_computes_them_once() {
    for style in STYLES {
        for asynchronous in drivers() {
            let rig = Rig::new(style);
            // Key 0 (1) missing, key 1 (2) fresh, key 2 (3) missing.
            rig.store.reads(0, [Finds::nothing(), Finds::nothing()]);
            rig.store.reads(1, [Finds::entry(200, FRESH_UNTIL)]);
            rig.store.reads(2, [Finds::nothing(), Finds::nothing()]);
            rig.store.leases(0, [Ok(Some(10))]);
            rig.store.leases(2, [Ok(Some(12))]);
            // The lease of key 0 was ended by an invalidation meanwhile.
            rig.store.held_writes(0, [Ok(false)]);
            rig.store.held_writes(2, [Ok(true)]);

            let (values, computed) = batch(&rig, &[1, 2, 3], asynchronous);
            let how = format!("{style:?}, async: {asynchronous}");
            assert_eq!(
                values,
                [10, 200, 30],
                "{how}: a refused value is still returned"
            );
            assert_eq!(computed, [vec![1, 3]], "{how}");
            let expected = [
                Op::ReadMany {
                    keys: vec![0, 1, 2],
                    purpose: ReadFor::Peek,
                },
                Op::ReadMany {
                    keys: vec![0, 2],
                    purpose: ReadFor::Peek,
                },
                Op::TryLeaseMany {
                    keys: vec![0, 2],
                    lease_for: GRACE,
                },
                Op::WriteHeldMany {
                    writes: vec![
                        (0, Hold::Lease(LeaseId(10)), val(style, 10)),
                        (2, Hold::Lease(LeaseId(12)), val(style, 30)),
                    ],
                },
                // Not stored: its lease is given back at once.
                Op::ReleaseLease {
                    key: 0,
                    lease: LeaseId(10),
                },
            ];
            assert_eq!(rig.calls(), expected, "{how}");
        }
    }
}
