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

/// `ops`, after the blocking entry point's hit path in `style`.
fn after_hit_path(style: Style, ops: impl IntoIterator<Item = Op>) -> Vec<Op> {
    hit_path(style).into_iter().chain(ops).collect()
}

#[test]
fn a_fresh_hit_is_one_read_and_no_write() {
    for style in STYLES {
        let rig = Rig::new(style);
        rig.store.reads(0, [Finds::entry(7, FRESH_UNTIL)]);

        assert_eq!(rig.call(8), 7, "{style:?}");
        assert_eq!(rig.computes(), 0, "{style:?}");
        // In process the hit path's look is the one read; a remote store
        // reads once, for use.
        assert_eq!(rig.calls(), [read(style, START)], "{style:?}");
    }
}

#[test]
fn a_stale_hit_whose_claim_is_won_computes_once_and_writes_under_the_claim() {
    for style in STYLES {
        let rig = Rig::new(style);
        if style.reads_take_holds {
            rig.store.reads(0, [stale(7).taking(claim(5))]);
        } else {
            rig.store.reads(0, [stale(7), stale(7)]);
            rig.store.claims(0, [Ok(Some(5))]);
        }
        rig.store.held_writes(0, [Ok(true)]);

        assert_eq!(
            rig.call(8),
            8,
            "{style:?}: the claimer returns what it computed"
        );
        assert_eq!(rig.computes(), 1, "{style:?}");
        let expected = if style.reads_take_holds {
            // The claim is decided by the request that reads.
            vec![read(style, START), write_held(style, claim(5), 8, START)]
        } else {
            after_hit_path(
                style,
                [
                    read(style, START),
                    // A compare-and-swap on the version it read, for the grace.
                    try_claim(1, START),
                    write_held(style, claim(5), 8, START),
                ],
            )
        };
        assert_eq!(rig.calls(), expected, "{style:?}");
    }
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

        assert_eq!(rig.call(8), 7, "{style:?}");
        assert_eq!(rig.computes(), 0, "{style:?}");
        let expected = if style.reads_take_holds {
            vec![read(style, START)]
        } else {
            after_hit_path(style, [read(style, START), try_claim(1, START)])
        };
        assert_eq!(rig.calls(), expected, "{style:?}");
    }
}

#[test]
fn a_cold_miss_whose_lease_is_won_computes_once_and_writes_under_the_lease() {
    for style in STYLES {
        let rig = Rig::new(style);
        if style.reads_take_holds {
            rig.store.reads(0, [Finds::nothing().taking(lease(3))]);
        } else {
            rig.store
                .reads(0, [Finds::nothing(), Finds::nothing(), Finds::nothing()]);
            rig.store.leases(0, [Ok(Some(3))]);
        }
        rig.store.held_writes(0, [Ok(true)]);

        assert_eq!(rig.call(8), 8, "{style:?}");
        assert_eq!(rig.computes(), 1, "{style:?}");
        let expected = if style.reads_take_holds {
            vec![read(style, START), write_held(style, lease(3), 8, START)]
        } else {
            after_hit_path(
                style,
                [
                    read(style, START),
                    // Holding the in-process lease, it looks again (a holder
                    // may have stored its value between the read and the
                    // join), then takes the store's.
                    read(style, START),
                    try_lease(),
                    write_held(style, lease(3), 8, START),
                ],
            )
        };
        assert_eq!(rig.calls(), expected, "{style:?}");
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

        assert_eq!(rig.call(8), 9, "{style:?}: the holder's value");
        assert_eq!(rig.computes(), 0, "{style:?}");
        let expected = if style.reads_take_holds {
            // Its reads tried for the lease: no separate lease is asked;
            // it polls by reading.
            vec![read(style, START); 3]
        } else {
            after_hit_path(
                style,
                [
                    read(style, START),
                    read(style, START),
                    try_lease(),
                    read(style, START),
                ],
            )
        };
        assert_eq!(rig.calls(), expected, "{style:?}");
    }
}

#[test]
fn a_fill_whose_held_write_is_refused_is_returned_but_not_kept() {
    for style in STYLES {
        let rig = Rig::new(style);
        let cold_miss = |id: u64| {
            if style.reads_take_holds {
                rig.store.reads(0, [Finds::nothing().taking(lease(id))]);
            } else {
                rig.store
                    .reads(0, [Finds::nothing(), Finds::nothing(), Finds::nothing()]);
                rig.store.leases(0, [Ok(Some(id))]);
            }
        };
        // An invalidation during the compute ended the lease: the write is refused.
        cold_miss(3);
        rig.store.held_writes(0, [Ok(false)]);

        assert_eq!(rig.call(8), 8, "{style:?}: its caller gets the value");
        let taking = if style.reads_take_holds {
            vec![read(style, START)]
        } else {
            after_hit_path(style, [read(style, START), read(style, START), try_lease()])
        };
        let mut expected = taking.clone();
        expected.extend([
            write_held(style, lease(3), 8, START),
            // Not stored: the lease is given back, so that nobody waits for it.
            Op::ReleaseLease {
                key: 0,
                lease: LeaseId(3),
            },
        ]);
        assert_eq!(rig.calls(), expected, "{style:?}");

        // Not kept as fresh anywhere: the next call finds nothing and computes.
        cold_miss(4);
        rig.store.held_writes(0, [Ok(true)]);
        assert_eq!(rig.call(9), 9, "{style:?}");
        assert_eq!(rig.computes(), 2, "{style:?}");
        expected.extend(taking);
        expected.push(write_held(style, lease(4), 9, START));
        assert_eq!(rig.calls(), expected, "{style:?}");
    }
}

#[test]
fn a_refresh_whose_held_write_is_refused_is_returned_but_not_kept() {
    for style in STYLES {
        let rig = Rig::new(style);
        if style.reads_take_holds {
            rig.store.reads(0, [stale(7).taking(claim(5))]);
        } else {
            rig.store.reads(0, [stale(7), stale(7)]);
            rig.store.claims(0, [Ok(Some(5))]);
        }
        rig.store.held_writes(0, [Ok(false)]);

        assert_eq!(rig.call(8), 8, "{style:?}: its caller gets the value");
        assert_eq!(rig.computes(), 1, "{style:?}");
        let mut expected = if style.reads_take_holds {
            vec![read(style, START)]
        } else {
            after_hit_path(style, [read(style, START), try_claim(1, START)])
        };
        // The invalidation ended the claim: nothing to give back.
        expected.push(write_held(style, claim(5), 8, START));
        assert_eq!(rig.calls(), expected, "{style:?}");
    }
}

#[test]
fn a_store_failing_to_read_makes_the_call_compute_and_return() {
    for style in STYLES {
        let rig = Rig::new(style);
        let unavailable = || Finds::error(StoreErrorKind::Unavailable);
        let reads = if style.keeps_bytes { 2 } else { 3 };
        rig.store.reads(0, (0..reads).map(|_| unavailable()));
        // The write fails as well: the value is returned all the same.
        rig.store.writes(0, [Err(StoreErrorKind::Unavailable)]);

        assert_eq!(rig.call(8), 8, "{style:?}");
        assert_eq!(rig.computes(), 1, "{style:?}");
        let expected = after_hit_path(
            style,
            [
                read(style, START),
                read(style, START),
                // No hold to name: a plain write.
                write(style, 8, START),
            ],
        );
        assert_eq!(rig.calls(), expected, "{style:?}");
    }
}

#[test]
fn a_store_timing_out_on_a_read_is_asked_nothing_more() {
    for style in STYLES {
        let rig = Rig::new(style);
        let reads = if style.keeps_bytes { 1 } else { 2 };
        rig.store
            .reads(0, (0..reads).map(|_| Finds::error(StoreErrorKind::Timeout)));

        assert_eq!(rig.call(8), 8, "{style:?}");
        assert_eq!(rig.computes(), 1, "{style:?}");
        // Each further step would wait the timeout again: no second read,
        // no lease, no write.
        assert_eq!(
            rig.calls(),
            after_hit_path(style, [read(style, START)]),
            "{style:?}"
        );
    }
}

#[test]
fn an_entry_at_its_hard_deadline_is_a_miss_and_a_millisecond_before_a_stale_hit() {
    for style in STYLES {
        // Gone at its hard deadline: a cold miss.
        let rig = Rig::new(style);
        let expired = || stale(7).hard(START);
        if style.reads_take_holds {
            rig.store.reads(0, [expired().taking(lease(3))]);
        } else {
            rig.store.reads(0, [expired(), expired(), expired()]);
            rig.store.leases(0, [Ok(Some(3))]);
        }
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
        let kept = || stale(7).hard(START + 1);
        if style.reads_take_holds {
            rig.store.reads(0, [kept().taking(claim(5))]);
        } else {
            rig.store.reads(0, [kept(), kept()]);
            rig.store.claims(0, [Ok(Some(5))]);
        }
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
        let claimed = || stale(7).claimed_until(START + 1);
        let reads = if style.keeps_bytes { 1 } else { 2 };
        rig.store.reads(0, (0..reads).map(|_| claimed()));
        assert_eq!(rig.call(8), 7, "{style:?}");
        assert_eq!(rig.computes(), 0, "{style:?}");
        assert_eq!(
            rig.calls(),
            after_hit_path(style, [read(style, START)]),
            "{style:?}"
        );

        // Its grace ended now: this caller claims it.
        let rig = Rig::new(style);
        let lapsed = || stale(7).claimed_until(START).version(2);
        if style.reads_take_holds {
            rig.store.reads(0, [lapsed().taking(claim(6))]);
        } else {
            rig.store.reads(0, [lapsed(), lapsed()]);
            rig.store.claims(0, [Ok(Some(6))]);
        }
        rig.store.held_writes(0, [Ok(true)]);
        assert_eq!(rig.call(8), 8, "{style:?}");
        let expected = if style.reads_take_holds {
            vec![read(style, START), write_held(style, claim(6), 8, START)]
        } else {
            after_hit_path(
                style,
                [
                    read(style, START),
                    try_claim(2, START),
                    write_held(style, claim(6), 8, START),
                ],
            )
        };
        assert_eq!(rig.calls(), expected, "{style:?}");
    }
}

#[test]
fn a_waiter_takes_the_lease_once_the_holders_lapses_with_the_grace() {
    let style = Style::IN_PROCESS;
    let rig = Rig::new(style);
    let later = START + ms(GRACE);
    rig.store.reads(0, (0..4).map(|_| Finds::nothing()));
    rig.store.leases(0, [Ok(None), Ok(Some(4))]);
    // The holder never writes; a grace passes while this caller polls.
    rig.store.tick_after(3, GRACE);
    rig.store.held_writes(0, [Ok(true)]);

    assert_eq!(rig.call(8), 8);
    assert_eq!(rig.computes(), 1);
    let expected = after_hit_path(
        style,
        [
            read(style, START),
            read(style, START),
            try_lease(),
            read(style, later),
            try_lease(),
            write_held(style, lease(4), 8, later),
        ],
    );
    assert_eq!(rig.calls(), expected);
}

#[test]
fn a_waiter_computes_without_a_lease_when_the_holder_overruns_the_grace() {
    for style in STYLES {
        let rig = Rig::new(style);
        let later = START + ms(GRACE);
        let expected = if style.reads_take_holds {
            // The store keeps reporting another's lease (it did not expire it).
            rig.store.reads(0, (0..3).map(|_| Finds::leased()));
            rig.store.tick_after(1, GRACE);
            vec![
                read(style, START),
                read(style, START),
                read(style, later),
                write(style, 8, later),
            ]
        } else {
            rig.store.reads(0, (0..4).map(|_| Finds::nothing()));
            rig.store.leases(0, [Ok(None), Ok(None)]);
            rig.store.tick_after(3, GRACE);
            after_hit_path(
                style,
                [
                    read(style, START),
                    read(style, START),
                    try_lease(),
                    read(style, later),
                    try_lease(),
                    // No hold to name: a plain write.
                    write(style, 8, later),
                ],
            )
        };

        assert_eq!(rig.call(8), 8, "{style:?}");
        assert_eq!(rig.computes(), 1, "{style:?}");
        assert_eq!(rig.calls(), expected, "{style:?}");
    }
}

#[test]
fn bytes_of_another_type_are_a_miss_computed_and_overwritten() {
    for style in STYLES {
        let rig = Rig::new(style);
        let reads = if style.keeps_bytes { 2 } else { 3 };
        rig.store
            .reads(0, (0..reads).map(|_| Finds::other_type(FRESH_UNTIL)));

        assert_eq!(
            rig.call(8),
            8,
            "{style:?}: never decoded into the wrong type"
        );
        assert_eq!(rig.computes(), 1, "{style:?}");
        let expected = after_hit_path(
            style,
            [
                read(style, START),
                read(style, START),
                write(style, 8, START),
            ],
        );
        assert_eq!(rig.calls(), expected, "{style:?}");
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
        if style.reads_take_holds {
            rig.store.reads(0, [stale(7).taking(claim(5))]);
        } else {
            rig.store.reads(0, [stale(7), stale(7)]);
            rig.store.claims(0, [Ok(Some(5))]);
        }

        let got = rig
            .cache
            .get_or_try_compute("k", Ttl::soft(SOFT), || Err::<u64, &str>("down"));
        assert_eq!(got, Ok(7), "{style:?}: stale-if-error");
        let mut expected = if style.reads_take_holds {
            vec![read(style, START)]
        } else {
            after_hit_path(style, [read(style, START), try_claim(1, START)])
        };
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
        if style.reads_take_holds {
            rig.store.reads(0, [Finds::nothing().taking(lease(3))]);
        } else {
            rig.store
                .reads(0, [Finds::nothing(), Finds::nothing(), Finds::nothing()]);
            rig.store.leases(0, [Ok(Some(3))]);
        }

        let got = rig
            .cache
            .get_or_try_compute("k", Ttl::soft(SOFT), || Err::<u64, &str>("down"));
        assert_eq!(got, Err("down"), "{style:?}");
        let mut expected = if style.reads_take_holds {
            vec![read(style, START)]
        } else {
            after_hit_path(style, [read(style, START), read(style, START), try_lease()])
        };
        // No write; the lease is given back at once, so nobody waits for it.
        expected.push(Op::ReleaseLease {
            key: 0,
            lease: LeaseId(3),
        });
        assert_eq!(rig.calls(), expected, "{style:?}");
    }
}
