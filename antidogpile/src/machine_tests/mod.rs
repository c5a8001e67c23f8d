//! The call machine (read → decide → claim or lease → compute → settle),
//! unit-tested against a [`ScriptedStore`](scripted::ScriptedStore) that
//! answers each step as a test says and records every operation asked.
//!
//! Each test scripts what the store answers (a fresh or stale entry,
//! nothing, another's lease, a lost claim, a refused write, a failure),
//! runs one call through a stable entry point ([`Cache::get_or_compute`],
//! its async twin, `get_or_compute_many`, or the macro's `memoize`), and
//! asserts the value returned, how many times it computed and the exact
//! sequence of store operations, as the design and the module docs say
//! it should be. The clock is a [`ManualClock`]: nothing depends on real
//! time, except the few milliseconds a caller pauses between two polls of
//! another process's lease.
//!
//! The caches built here turn the liveness window off
//! ([`Cache::with_liveness`] zero): holds are then taken for the grace and
//! never renewed by the liveness thread, whose renewals run on real time
//! and would make the sequences vary. One test turns it on to check the
//! window a read asks for.
//!
//! - `calls`: one call, through the blocking client, in both store styles.
//! - `drivers`: the blocking and the async drivers, and the macro's entry
//!   points, ask the same sequence for the same script.
//! - `batches`: `get_or_compute_many` over fresh, stale and missing keys.

// Every path into the crate that these tests use, in one place.
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::clock::{ManualClock, Timestamp};
use crate::custom_store::{
    envelope, Answer, ClaimId, Deadlines, EntryMeta, EntryView, Hold, Key, LeaseId, Lookup,
    ManyReader, ReadFor, Reader, Stored, Version, Wait, Write,
};
use crate::store::{Store, StoreError, StoreErrorKind};
use crate::{Cache, Ttl};
// The macro's entry points: only the driver tests (with tokio) use them.
#[cfg(feature = "tokio")]
use crate::install_named;
#[cfg(feature = "tokio")]
use crate::private::{memoize, memoize_async, Always, KeyHasher, Site, SiteOptions};

/// The namespace of the generations a store that keeps bytes holds for the
/// macro's calls (see the `clearing` module's docs): not the machine's keys.
const GENERATION_NAMESPACE: &str = "antidogpile::generation";

mod batches;
mod calls;
#[cfg(feature = "tokio")]
mod drivers;
mod scripted;

use scripted::{Finds, Op, ScriptedStore, Style, Val};

/// When every test starts, in ms.
const START: u64 = 1_000_000;
/// The soft timeout of the tests' values.
const SOFT: Duration = Duration::from_secs(10);
/// The hard timeout factor: values are kept 80 s.
const FACTOR: u32 = 8;
/// The grace.
const GRACE: Duration = Duration::from_secs(30);

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).expect("a test's durations fit")
}

/// A cache over a scripted store, with a manual clock at [`START`] (the
/// store moves it when its script says).
struct Rig {
    style: Style,
    store: Arc<ScriptedStore>,
    cache: Cache,
    computes: Arc<AtomicUsize>,
}

impl Rig {
    fn new(style: Style) -> Rig {
        let clock = ManualClock::new(Timestamp::from_millis(START));
        let store = Arc::new(ScriptedStore::new(style, clock.clone()));
        let shared: Arc<dyn Store> = store.clone();
        let cache = Cache::from_store(shared)
            .with_clock(clock.clock())
            .with_hard_timeout_factor(FACTOR)
            .with_default_grace(GRACE)
            .with_liveness(Duration::ZERO);
        Rig {
            style,
            store,
            cache,
            computes: Arc::default(),
        }
    }

    /// The same, with the cache's liveness window at `window`.
    fn with_liveness(style: Style, window: Duration) -> Rig {
        let rig = Rig::new(style);
        Rig {
            cache: rig.cache.with_liveness(window),
            ..rig
        }
    }

    /// A compute that returns `value`, counted.
    fn compute(&self, value: u64) -> impl FnOnce() -> u64 + Send + 'static {
        let computes = Arc::clone(&self.computes);
        move || {
            computes.fetch_add(1, Ordering::SeqCst);
            value
        }
    }

    /// One blocking call of the client's key `"k"`, computing `value` if it must.
    fn call(&self, value: u64) -> u64 {
        self.cache
            .get_or_compute("k", Ttl::soft(SOFT), self.compute(value))
    }

    /// The same call, whose compute fails.
    fn call_failing(&self) -> Result<u64, &'static str> {
        self.cache
            .get_or_try_compute("k", Ttl::soft(SOFT), || Err::<u64, &str>("down"))
    }

    /// One blocking [`call`](Rig::call) computing 8: asserts that it
    /// returns `returns`, having computed `computes` times and asked the
    /// store the operations `expected`, in order.
    #[track_caller]
    fn expect_call(&self, returns: u64, computes: usize, expected: Vec<Op>) {
        let style = self.style;
        assert_eq!(self.call(8), returns, "{style:?}");
        assert_eq!(self.computes(), computes, "{style:?}");
        assert_eq!(self.calls(), expected, "{style:?}");
    }

    /// The same call through the async client.
    #[cfg(feature = "tokio")]
    async fn call_async(&self, value: u64) -> u64 {
        let compute = self.compute(value);
        self.cache
            .as_async()
            .get_or_compute("k", Ttl::soft(SOFT), async move { compute() })
            .await
    }

    /// How many times a compute ran.
    fn computes(&self) -> usize {
        self.computes.load(Ordering::SeqCst)
    }

    /// The operations the store was asked.
    fn calls(&self) -> Vec<Op> {
        self.store.calls()
    }
}

/// A current-thread tokio runtime, as the brief of these tests asks.
#[cfg(feature = "tokio")]
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime")
}

// ---- the operations a test expects, named as the design names them ----

/// What a call's read is for in a store of `style` at `now`: a plain look,
/// or (a store whose reads take holds) a read that may take the claim
/// until `now + grace` or the lease for the grace (liveness off).
fn purpose(style: Style, now: u64) -> ReadFor {
    if style.reads_take_holds {
        ReadFor::Use {
            claim_until: Timestamp::from_millis(now + ms(GRACE)),
            lease_for: GRACE,
            keep_stale: SOFT * (FACTOR - 1),
        }
    } else {
        ReadFor::Peek
    }
}

/// A read of key 0 by a call at `now`.
fn read(style: Style, now: u64) -> Op {
    Op::Read {
        key: 0,
        purpose: purpose(style, now),
    }
}

/// The blocking entry points' hit path in an in-process store: one look for
/// a fresh value before the machine runs (none in a store that keeps bytes,
/// where it would cost a second round trip on every stale hit and miss).
fn hit_path(style: Style) -> Vec<Op> {
    if style.keeps_bytes {
        vec![]
    } else {
        vec![Op::Read {
            key: 0,
            purpose: ReadFor::Peek,
        }]
    }
}

/// `ops`, after the blocking entry point's hit path in `style`.
fn after_hit_path(style: Style, ops: impl IntoIterator<Item = Op>) -> Vec<Op> {
    hit_path(style).into_iter().chain(ops).collect()
}

/// What a blocking call at [`START`] asks to take the claim of a stale
/// entry of version `seen`: a store whose reads take holds, its one read;
/// in process, after the hit path, the machine's read and a
/// compare-and-swap on the version it read, for the grace.
fn taking_claim(style: Style, seen: u64) -> Vec<Op> {
    taking(style, [read(style, START), try_claim(seen, START)])
}

/// What a blocking call at [`START`] asks to take the lease of a cold
/// miss: a store whose reads take holds, its one read; in process, after
/// the hit path, the machine's read, then (holding the in-process lease) a
/// second look (a holder may have stored its value between the read and
/// the join), then the store's lease.
fn taking_lease(style: Style) -> Vec<Op> {
    taking(style, [read(style, START), read(style, START), try_lease()])
}

/// A store whose reads take holds: its one read at [`START`]; else `steps`
/// after the hit path.
fn taking(style: Style, steps: impl IntoIterator<Item = Op>) -> Vec<Op> {
    if style.reads_take_holds {
        vec![read(style, START)]
    } else {
        after_hit_path(style, steps)
    }
}

/// `value` as a store of `style` is handed it.
fn val(style: Style, value: u64) -> Val {
    if style.keeps_bytes {
        Val::Bytes(value)
    } else {
        Val::Object(value)
    }
}

/// A held write of key 0 made at `now`: fresh for the soft timeout, kept
/// for the hard one.
fn write_held(style: Style, held: Hold, value: u64, now: u64) -> Op {
    Op::WriteHeld {
        key: 0,
        held,
        value: val(style, value),
        soft: now + ms(SOFT),
        hard: now + ms(SOFT) * u64::from(FACTOR),
    }
}

/// A plain (unguarded) write of key 0 made at `now`.
fn write(style: Style, value: u64, now: u64) -> Op {
    Op::Write {
        key: 0,
        value: val(style, value),
        soft: now + ms(SOFT),
        hard: now + ms(SOFT) * u64::from(FACTOR),
    }
}

/// A claim of key 0 at `now`, on version `seen`, for the grace.
fn try_claim(seen: u64, now: u64) -> Op {
    Op::TryClaim {
        key: 0,
        seen: Version(seen),
        until: now + ms(GRACE),
    }
}

/// A lease of key 0 for the grace.
fn try_lease() -> Op {
    Op::TryLease {
        key: 0,
        lease_for: GRACE,
    }
}

/// Soft deadlines: one that is still ahead at [`START`], one passed.
const FRESH_UNTIL: u64 = START + 5_000;
const STALE_SINCE: u64 = START - 5_000;

/// The styles of store the machine tells apart.
const STYLES: [Style; 2] = [Style::IN_PROCESS, Style::REMOTE];
