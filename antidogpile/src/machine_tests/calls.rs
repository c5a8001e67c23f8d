//! One call of the blocking client, step by step, in an in-process store
//! (the machine claims and leases with `try_claim`/`try_lease`) and in a
//! remote one (its reads take the claim or the lease in the same request).

use super::*;

fn stale(value: u64) -> Finds {
    Finds::entry(value, STALE_SINCE)
}

/// A value stored by another caller: fresh for a soft timeout from `now`.
fn arrived(value: u64, now: u64) -> Finds {
    Finds::entry(value, now + ms(SOFT))
}

fn claim(id: u64) -> Hold {
    Hold::Claim(ClaimId(id))
}

fn lease(id: u64) -> Hold {
    Hold::Lease(LeaseId(id))
}

/// Scripts a call that wins `hold` over what `finds` and computes 8, whose
/// write under the hold the store answers `stored`; returns what the call
/// asks: `taking` (what it asks to take the hold), then that write.
fn wins_and_writes(
    rig: &Rig,
    hold: Hold,
    finds: impl Fn() -> Finds,
    taking: Vec<Op>,
    stored: bool,
) -> Vec<Op> {
    rig.store.wins(hold, finds);
    rig.store.held_writes(0, [Ok(stored)]);
    let mut expected = taking;
    expected.push(write_held(rig.style, hold, 8, START));
    expected
}

/// Scripts the reads of key 0 by a call whose machine reads `count` times,
/// each finding `finds`: the hit path's look comes first in process.
fn machine_reads(rig: &Rig, count: usize, finds: impl Fn() -> Finds) {
    let reads = hit_path(rig.style).len() + count;
    rig.store.reads(0, (0..reads).map(|_| finds()));
}

/// A fill that took no hold (none was to be had): after the hit path, the
/// machine's read, a second look, then a plain write of 8.
fn unheld_fill(style: Style) -> Vec<Op> {
    after_hit_path(
        style,
        [
            read(style, START),
            read(style, START),
            // No hold to name: a plain write.
            write(style, 8, START),
        ],
    )
}

/// In process: a cold miss whose lease another holds; a grace passes while
/// the call polls (the holder never writes), then its second lease is
/// answered `again`. Returns what the call asks up to that lease.
fn polls_out_a_grace(rig: &Rig, again: Option<u64>) -> Vec<Op> {
    let style = rig.style;
    rig.store.reads(0, (0..4).map(|_| Finds::nothing()));
    rig.store.leases(0, [Ok(None), Ok(again)]);
    rig.store.tick_after(3, GRACE);
    after_hit_path(
        style,
        [
            read(style, START),
            read(style, START),
            try_lease(),
            read(style, START + ms(GRACE)),
            try_lease(),
        ],
    )
}

#[test]
fn a_fresh_hit_is_one_read_and_no_write() {
    for style in STYLES {
        let rig = Rig::new(style);
        rig.store.reads(0, [Finds::entry(7, FRESH_UNTIL)]);
        // In process the hit path's look is the one read; a remote store
        // reads once, for use.
        rig.expect_call(7, 0, vec![read(style, START)]);
    }
}

/// A stale hit whose claim is won (decided by the request that reads, or
/// by a compare-and-swap on the version read): the claimer computes once
/// and writes under the claim, which the store answers `stored`; it
/// returns what it computed either way.
fn refresh_under_the_claim(stored: bool) {
    for style in STYLES {
        let rig = Rig::new(style);
        let expected = wins_and_writes(&rig, claim(5), || stale(7), taking_claim(style, 1), stored);
        rig.expect_call(8, 1, expected);
    }
}

#[test]
fn a_stale_hit_whose_claim_is_won_computes_once_and_writes_under_the_claim() {
    refresh_under_the_claim(true);
}

#[test]
fn a_refresh_whose_held_write_is_refused_is_returned_but_not_kept() {
    // The invalidation ended the claim: nothing to give back.
    refresh_under_the_claim(false);
}

#[test]
fn a_stale_hit_whose_claim_is_lost_serves_the_stale_value_without_computing() {
    for style in STYLES {
        let rig = Rig::new(style);
        if style.reads_take_holds {
            // The read tried to take the claim and took nothing: another holds it.
            rig.store.reads(0, [stale(7)]);
        } else {
            rig.store.reads(0, [stale(7), stale(7)]);
            rig.store.claims(0, [Ok(None)]);
        }
        rig.expect_call(7, 0, taking_claim(style, 1));
    }
}

#[test]
fn a_cold_miss_whose_lease_is_won_computes_once_and_writes_under_the_lease() {
    for style in STYLES {
        let rig = Rig::new(style);
        let expected = wins_and_writes(&rig, lease(3), Finds::nothing, taking_lease(style), true);
        rig.expect_call(8, 1, expected);
    }
}

#[test]
fn a_cold_miss_leased_by_another_waits_for_its_value_without_computing() {
    for style in STYLES {
        let rig = Rig::new(style);
        if style.reads_take_holds {
            // Another process's lease, twice; then the holder's value.
            rig.store
                .reads(0, [Finds::leased(), Finds::leased(), arrived(9, START)]);
        } else {
            rig.store.reads(
                0,
                [
                    Finds::nothing(),
                    Finds::nothing(),
                    Finds::nothing(),
                    arrived(9, START),
                ],
            );
            rig.store.leases(0, [Ok(None)]);
        }

        let expected = if style.reads_take_holds {
            // Its reads tried for the lease: no separate lease is asked;
            // it polls by reading.
            vec![read(style, START); 3]
        } else {
            let mut polled = taking_lease(style);
            polled.push(read(style, START));
            polled
        };
        // The holder's value.
        rig.expect_call(9, 0, expected);
    }
}

#[test]
fn a_fill_whose_held_write_is_refused_is_returned_but_not_kept() {
    for style in STYLES {
        let rig = Rig::new(style);
        // An invalidation during the compute ended the lease: the write is refused.
        let mut expected =
            wins_and_writes(&rig, lease(3), Finds::nothing, taking_lease(style), false);
        assert_eq!(rig.call(8), 8, "{style:?}: its caller gets the value");
        // Not stored: the lease is given back, so that nobody waits for it.
        expected.push(Op::ReleaseLease {
            key: 0,
            lease: LeaseId(3),
        });
        assert_eq!(rig.calls(), expected, "{style:?}");

        // Not kept as fresh anywhere: the next call finds nothing and computes.
        rig.store.wins(lease(4), Finds::nothing);
        rig.store.held_writes(0, [Ok(true)]);
        assert_eq!(rig.call(9), 9, "{style:?}");
        assert_eq!(rig.computes(), 2, "{style:?}");
        expected.extend(taking_lease(style));
        expected.push(write_held(style, lease(4), 9, START));
        assert_eq!(rig.calls(), expected, "{style:?}");
    }
}

#[test]
fn a_store_failing_to_read_makes_the_call_compute_and_return() {
    for style in STYLES {
        let rig = Rig::new(style);
        machine_reads(&rig, 2, || Finds::error(StoreErrorKind::Unavailable));
        // No hold to name, so no write: a plain one could land after an
        // invalidation made while it computed. The value is returned.
        let reads = [read(style, START), read(style, START)];
        rig.expect_call(8, 1, after_hit_path(style, reads));
    }
}

#[test]
fn a_store_timing_out_on_a_read_is_asked_nothing_more() {
    for style in STYLES {
        let rig = Rig::new(style);
        machine_reads(&rig, 1, || Finds::error(StoreErrorKind::Timeout));
        // Each further step would wait the timeout again: no second read,
        // no lease, no write.
        rig.expect_call(8, 1, after_hit_path(style, [read(style, START)]));
    }
}

#[test]
fn an_entry_at_its_hard_deadline_is_a_miss_and_a_millisecond_before_a_stale_hit() {
    for style in STYLES {
        // Gone at its hard deadline: a cold miss.
        let rig = Rig::new(style);
        rig.store.wins(lease(3), || stale(7).hard(START));
        rig.store.held_writes(0, [Ok(true)]);
        assert_eq!(rig.call(8), 8, "{style:?}");
        let filled = rig.calls();
        assert!(
            matches!(
                filled.last(),
                Some(Op::WriteHeld {
                    held: Hold::Lease(_),
                    ..
                })
            ),
            "{style:?}: a fill under a lease: {filled:#?}"
        );

        // Still there: stale, claimed, refreshed.
        let rig = Rig::new(style);
        rig.store.wins(claim(5), || stale(7).hard(START + 1));
        rig.store.held_writes(0, [Ok(true)]);
        assert_eq!(rig.call(8), 8, "{style:?}");
        let refreshed = rig.calls();
        assert_eq!(
            refreshed.last(),
            Some(&write_held(style, claim(5), 8, START)),
            "{style:?}: {refreshed:#?}"
        );
    }
}

#[test]
fn a_live_claim_serves_stale_and_a_lapsed_one_is_claimed_again() {
    for style in STYLES {
        // Claimed until a millisecond from now: served stale, nothing asked.
        let rig = Rig::new(style);
        machine_reads(&rig, 1, || stale(7).claimed_until(START + 1));
        rig.expect_call(7, 0, after_hit_path(style, [read(style, START)]));

        // Its grace ended now: this caller claims it.
        let rig = Rig::new(style);
        let lapsed = || stale(7).claimed_until(START).version(2);
        let expected = wins_and_writes(&rig, claim(6), lapsed, taking_claim(style, 2), true);
        assert_eq!(rig.call(8), 8, "{style:?}");
        assert_eq!(rig.calls(), expected, "{style:?}");
    }
}

#[test]
fn a_waiter_takes_the_lease_once_the_holders_lapses_with_the_grace() {
    let style = Style::IN_PROCESS;
    let rig = Rig::new(style);
    let mut expected = polls_out_a_grace(&rig, Some(4));
    rig.store.held_writes(0, [Ok(true)]);

    assert_eq!(rig.call(8), 8);
    assert_eq!(rig.computes(), 1);
    expected.push(write_held(style, lease(4), 8, START + ms(GRACE)));
    assert_eq!(rig.calls(), expected);
}

#[test]
fn a_waiter_that_outwaits_the_grace_computes_and_stores_nothing() {
    for style in STYLES {
        let rig = Rig::new(style);
        let later = START + ms(GRACE);
        // No hold to name: its value is returned, not stored (a plain
        // write would land after an invalidation made meanwhile).
        let expected = if style.reads_take_holds {
            // The store keeps reporting another's lease (it did not expire it).
            rig.store.reads(0, (0..3).map(|_| Finds::leased()));
            rig.store.tick_after(1, GRACE);
            vec![read(style, START), read(style, START), read(style, later)]
        } else {
            polls_out_a_grace(&rig, None)
        };
        rig.expect_call(8, 1, expected);
    }
}

#[test]
fn bytes_of_another_type_are_a_miss_computed_and_overwritten() {
    for style in STYLES {
        let rig = Rig::new(style);
        // Never decoded into the wrong type.
        machine_reads(&rig, 2, || Finds::other_type(FRESH_UNTIL));
        rig.expect_call(8, 1, unheld_fill(style));
    }
}

#[test]
fn with_liveness_a_remote_read_takes_its_hold_for_the_liveness_window() {
    let window = Duration::from_secs(3);
    let rig = Rig::with_liveness(Style::REMOTE, window);
    rig.store.reads(0, [Finds::nothing().taking(lease(3))]);
    rig.store.held_writes(0, [Ok(true)]);

    assert_eq!(rig.call(8), 8);
    // Renewals run on the liveness thread, on real time: not this test's.
    let calls: Vec<Op> = rig
        .calls()
        .into_iter()
        .filter(|op| !matches!(op, Op::Renew { .. }))
        .collect();
    let expected = [
        Op::Read {
            key: 0,
            purpose: ReadFor::Use {
                claim_until: Timestamp::from_millis(START + ms(window)),
                lease_for: window,
                keep_stale: SOFT * (FACTOR - 1),
            },
        },
        write_held(Style::REMOTE, lease(3), 8, START),
    ];
    assert_eq!(calls, expected);
}

#[test]
fn a_failed_refresh_serves_the_stale_value_and_keeps_its_claim_for_the_retry_spacing() {
    for style in STYLES {
        let rig = Rig::new(style);
        rig.store.wins(claim(5), || stale(7));

        assert_eq!(rig.call_failing(), Ok(7), "{style:?}: stale-if-error");
        let mut expected = taking_claim(style, 1);
        // Not cached; the claim is shortened to the retry spacing, so that
        // a later caller retries then, not after the grace.
        expected.push(Op::Renew {
            key: 0,
            hold: claim(5),
            until: START + ms(rig.cache.retry_spacing()),
        });
        assert_eq!(rig.calls(), expected, "{style:?}");
    }
}

#[test]
fn a_failed_fill_is_not_cached_and_gives_its_lease_back() {
    for style in STYLES {
        let rig = Rig::new(style);
        rig.store.wins(lease(3), Finds::nothing);

        assert_eq!(rig.call_failing(), Err("down"), "{style:?}");
        let mut expected = taking_lease(style);
        // No write; the lease is given back at once, so nobody waits for it.
        expected.push(Op::ReleaseLease {
            key: 0,
            lease: LeaseId(3),
        });
        assert_eq!(rig.calls(), expected, "{style:?}");
    }
}
