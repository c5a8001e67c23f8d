//! One state machine: the blocking and the async drivers ask the store the
//! same operations, in the same order, for the same script; they differ
//! only in how they wait.

use super::*;

/// A scenario: its script, and what a call returns under it.
struct Scenario {
    name: &'static str,
    script: fn(&ScriptedStore, Style),
    returns: u64,
    /// Whether the value is fresh: the blocking entry points' hit path
    /// answers the call, before the machine runs.
    fresh: bool,
}

/// The scenarios of `calls`, scripted for either store style; a call computes 8.
const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "fresh hit",
        script: |store, _| store.reads(0, [Finds::entry(7, FRESH_UNTIL)]),
        returns: 7,
        fresh: true,
    },
    Scenario {
        name: "stale hit, claim won",
        script: |store, style| {
            let stale = || Finds::entry(7, STALE_SINCE);
            if style.reads_take_holds {
                store.reads(0, [stale().taking(Hold::Claim(ClaimId(5)))]);
            } else {
                store.reads(0, [stale(), stale()]);
                store.claims(0, [Ok(Some(5))]);
            }
            store.held_writes(0, [Ok(true)]);
        },
        returns: 8,
        fresh: false,
    },
    Scenario {
        name: "stale hit, claim lost",
        script: |store, style| {
            let stale = || Finds::entry(7, STALE_SINCE);
            store.reads(0, [stale(), stale()]);
            if !style.reads_take_holds {
                store.claims(0, [Ok(None)]);
            }
        },
        returns: 7,
        fresh: false,
    },
    Scenario {
        name: "cold miss, lease won, write refused",
        script: |store, style| {
            if style.reads_take_holds {
                store.reads(0, [Finds::nothing().taking(Hold::Lease(LeaseId(3)))]);
            } else {
                store.reads(0, (0..3).map(|_| Finds::nothing()));
                store.leases(0, [Ok(Some(3))]);
            }
            store.held_writes(0, [Ok(false)]);
        },
        returns: 8,
        fresh: false,
    },
    Scenario {
        name: "cold miss, leased by another, its value arrives",
        script: |store, style| {
            let arrived = Finds::entry(9, START + ms(SOFT));
            if style.reads_take_holds {
                store.reads(0, [Finds::leased(), Finds::leased(), arrived]);
            } else {
                store.reads(0, (0..3).map(|_| Finds::nothing()).chain([arrived]));
                store.leases(0, [Ok(None)]);
            }
        },
        returns: 9,
        fresh: false,
    },
    Scenario {
        name: "store unavailable",
        script: |store, _| {
            store.reads(0, (0..3).map(|_| Finds::error(StoreErrorKind::Unavailable)));
        },
        returns: 8,
        fresh: false,
    },
];

/// The client's blocking and async calls, in a store that keeps bytes:
/// neither has a hit path of its own there, so their sequences are equal.
#[test]
fn the_blocking_and_the_async_client_ask_the_same_of_a_remote_store() {
    let style = Style::REMOTE;
    for scenario in SCENARIOS {
        let blocking = Rig::new(style);
        (scenario.script)(&blocking.store, style);
        assert_eq!(blocking.call(8), scenario.returns, "{}", scenario.name);

        let awaiting = Rig::new(style);
        (scenario.script)(&awaiting.store, style);
        let value = runtime().block_on(awaiting.call_async(8));
        assert_eq!(value, scenario.returns, "{}", scenario.name);

        assert_eq!(blocking.calls(), awaiting.calls(), "{}", scenario.name);
        assert_eq!(
            blocking.computes(),
            awaiting.computes(),
            "{}",
            scenario.name
        );
        assert!(!blocking.calls().is_empty(), "{}", scenario.name);
    }
}

/// In an in-process store the blocking client looks for a fresh value
/// before it runs the machine (the hit path); the async client runs the
/// machine at once. After that look, the sequences are equal.
#[test]
fn the_blocking_and_the_async_client_run_one_machine_in_process() {
    let style = Style::IN_PROCESS;
    for scenario in SCENARIOS {
        let blocking = Rig::new(style);
        (scenario.script)(&blocking.store, style);
        assert_eq!(blocking.call(8), scenario.returns, "{}", scenario.name);

        let awaiting = Rig::new(style);
        (scenario.script)(&awaiting.store, style);
        // Unless the hit path answered (a fresh hit, then the async
        // machine's one read is the same look), the async client's first
        // read is the blocking machine's first: it skips the hit path's answer.
        if !scenario.fresh {
            awaiting.store.skip_read(0);
        }
        let value = runtime().block_on(awaiting.call_async(8));
        assert_eq!(value, scenario.returns, "{}", scenario.name);

        let mut expected = awaiting.calls();
        if !scenario.fresh {
            expected.splice(0..0, hit_path(style));
        }
        assert_eq!(blocking.calls(), expected, "{}", scenario.name);
        assert_eq!(
            blocking.computes(),
            awaiting.computes(),
            "{}",
            scenario.name
        );
    }
}

/// A memoized function's site, named after `test`, using the named cache
/// `test` (installed by the caller): values fresh for [`SOFT`], the cache's
/// factor and grace.
fn site(test: &str) -> &'static Site {
    let name: &'static str = Box::leak(format!("machine_tests::{test}").into_boxed_str());
    Box::leak(Box::new(Site::new(
        name,
        SiteOptions {
            soft_ms: ms(SOFT),
            cache: Some(name),
            ..SiteOptions::DEFAULT
        },
    )))
}

/// The key of a call of `site` with the argument `1`.
fn key_of(site: &'static Site) -> crate::private::KeyHash {
    let mut hasher = KeyHasher::new(site);
    hasher.arg(&1u32);
    hasher.finish()
}

/// The macro's blocking and async entry points (`memoize`,
/// `memoize_async`) over a named cache: both go through the same hit path,
/// then the same machine, so they ask the same of the store in both styles.
#[test]
fn the_macros_blocking_and_async_entry_points_ask_the_same() {
    for style in STYLES {
        for (index, scenario) in SCENARIOS.iter().enumerate() {
            let tag = if style.keeps_bytes { "remote" } else { "local" };
            let run = |asynchronous: bool| {
                let rig = Rig::new(style);
                (scenario.script)(&rig.store, style);
                let how = if asynchronous { "async" } else { "blocking" };
                let site = site(&format!("entry_points_{tag}_{index}_{how}"));
                let Rig { store, cache, .. } = rig;
                install_named(site.options.cache.expect("a named cache"), cache);
                let computes = Arc::new(AtomicUsize::new(0));
                let counted = Arc::clone(&computes);
                let compute = move || {
                    counted.fetch_add(1, Ordering::SeqCst);
                    Always(8u64)
                };
                let Always(value) = if asynchronous {
                    runtime().block_on(memoize_async(site, key_of(site), async { compute() }))
                } else {
                    memoize(site, key_of(site), compute)
                };
                let generations_apart = store.generation_ops() > 0;
                (
                    value,
                    store.calls(),
                    computes.load(Ordering::SeqCst),
                    generations_apart,
                )
            };
            let (blocking, awaiting) = (run(false), run(true));
            assert_eq!(blocking.0, scenario.returns, "{tag} {}", scenario.name);
            assert_eq!(blocking, awaiting, "{tag} {}", scenario.name);
            assert!(!blocking.1.is_empty(), "{tag} {}", scenario.name);
            // A store that keeps bytes holds the generations the macro's
            // calls read first: asked, and kept apart from the machine's.
            assert_eq!(blocking.3, style.keeps_bytes, "{tag} {}", scenario.name);
        }
    }
}
