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

impl Scenario {
    /// A scenario that the blocking entry points' hit path does not
    /// answer: a call returns `returns` under `script`.
    const fn past_the_hit_path(
        name: &'static str,
        returns: u64,
        script: fn(&ScriptedStore, Style),
    ) -> Scenario {
        Scenario {
            name,
            script,
            returns,
            fresh: false,
        }
    }
}

/// The scenarios of `calls`, scripted for either store style; a call computes 8.
const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "fresh hit",
        script: |store, _| store.reads(0, [Finds::entry(7, FRESH_UNTIL)]),
        returns: 7,
        fresh: true,
    },
    Scenario::past_the_hit_path("stale hit, claim won", 8, |store, _| {
        store.wins(Hold::Claim(ClaimId(5)), || Finds::entry(7, STALE_SINCE));
        store.held_writes(0, [Ok(true)]);
    }),
    Scenario::past_the_hit_path("stale hit, claim lost", 7, |store, style| {
        let stale = || Finds::entry(7, STALE_SINCE);
        store.reads(0, [stale(), stale()]);
        if !style.reads_take_holds {
            store.claims(0, [Ok(None)]);
        }
    }),
    Scenario::past_the_hit_path("cold miss, lease won, write refused", 8, |store, _| {
        store.wins(Hold::Lease(LeaseId(3)), Finds::nothing);
        store.held_writes(0, [Ok(false)]);
    }),
    Scenario::past_the_hit_path(
        "cold miss, leased by another, its value arrives",
        9,
        |store, style| {
            let arrived = Finds::entry(9, START + ms(SOFT));
            if style.reads_take_holds {
                store.reads(0, [Finds::leased(), Finds::leased(), arrived]);
            } else {
                store.reads(0, (0..3).map(|_| Finds::nothing()).chain([arrived]));
                store.leases(0, [Ok(None)]);
            }
        },
    ),
    Scenario::past_the_hit_path("store unavailable", 8, |store, _| {
        store.reads(0, (0..3).map(|_| Finds::error(StoreErrorKind::Unavailable)));
    }),
];

/// Runs `scenario` in a store of `style` through the blocking client and
/// through the async one, on a rig each (`skip_hit_path`: the async
/// client's script first drops the read the blocking hit path answers);
/// checks that both return what the scenario says, having computed as
/// many times. The two rigs, blocking first.
fn both_clients(style: Style, scenario: &Scenario, skip_hit_path: bool) -> (Rig, Rig) {
    let blocking = Rig::new(style);
    (scenario.script)(&blocking.store, style);
    assert_eq!(blocking.call(8), scenario.returns, "{}", scenario.name);

    let awaiting = Rig::new(style);
    (scenario.script)(&awaiting.store, style);
    if skip_hit_path {
        awaiting.store.skip_read(0);
    }
    let value = runtime().block_on(awaiting.call_async(8));
    assert_eq!(value, scenario.returns, "{}", scenario.name);

    let computes = (blocking.computes(), awaiting.computes());
    assert_eq!(computes.0, computes.1, "{}", scenario.name);
    (blocking, awaiting)
}

/// The client's blocking and async calls, in a store that keeps bytes:
/// neither has a hit path of its own there, so their sequences are equal.
#[test]
fn the_blocking_and_the_async_client_ask_the_same_of_a_remote_store() {
    for scenario in SCENARIOS {
        let (blocking, awaiting) = both_clients(Style::REMOTE, scenario, false);
        assert_eq!(blocking.calls(), awaiting.calls(), "{}", scenario.name);
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
        // Unless the hit path answered (a fresh hit, then the async
        // machine's one read is the same look), the async client's first
        // read is the blocking machine's first: it skips the hit path's answer.
        let (blocking, awaiting) = both_clients(style, scenario, !scenario.fresh);
        let mut expected = awaiting.calls();
        if !scenario.fresh {
            expected.splice(0..0, hit_path(style));
        }
        assert_eq!(blocking.calls(), expected, "{}", scenario.name);
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
