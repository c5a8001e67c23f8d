//! Liveness of claims and leases: one thread per process renews the holds
//! of the computes that are running, and gives back those whose holder was
//! cancelled or panicked.
//!
//! A store whose holds other processes see ([`Store::renews_holds`]) gets
//! them for a short window (the cache's liveness, 3 s by default), not for
//! the whole grace: if the holder's process dies, its hold lapses within
//! that window. While the holder computes, this thread renews the hold
//! every third of the window, never past the grace from when it was taken
//! (a hung compute is still replaced after the grace).
//!
//! The holder and this thread share the hold's token through a [`Holding`]:
//! a renewal may change it (memcached's CAS), and the holder's last write,
//! release or retry spacing must name the current one. A renewal holds the
//! [`Holding`]'s lock across its store call, so [`Holding::stop`] returns
//! the token that call left, and no renewal follows it.
//!
//! Releases of cancelled holders (a dropped future, a panic) run here too:
//! blocking store I/O off the caller's runtime, and done even when that
//! runtime is shut down before a spawned task could run.
//!
//! The thread is a std thread, started at the first hold and never stopped
//! (it sleeps while nothing is held). If it cannot be started, holds are
//! taken for the grace, as if the store did not renew them.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::clock::{Clock, Timestamp};
use crate::key::Key;
use crate::memo::Io;
use crate::store::{Hold, Store, Wait};
use crate::sync::Mutex;

/// A renewal never comes more often than this, whatever the window.
const SHORTEST_PERIOD: Duration = Duration::from_millis(10);

/// The hold of one compute, shared by its holder and the liveness thread.
#[derive(Debug)]
pub(crate) struct Holding {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    hold: Hold,
    /// Whether renewals go on: false once stopped, or once a renewal found
    /// the hold lost.
    renewing: bool,
}

/// What one renewal did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Renewed {
    /// The hold runs on, until the renewal's `until`.
    Kept,
    /// The store failed: the hold runs on until its old end; try again later.
    Failed,
    /// Stopped by its holder, or lost (written over, released, expired).
    Ended,
}

impl Holding {
    pub(crate) fn new(hold: Hold) -> Arc<Holding> {
        Arc::new(Holding {
            state: Mutex::new(State {
                hold,
                renewing: true,
            }),
        })
    }

    fn state(&self) -> crate::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The hold's token as the last renewal left it.
    #[allow(dead_code)] // for guarded writes, which name the current hold
    pub(crate) fn current(&self) -> Hold {
        self.state().hold
    }

    /// Ends renewals and returns the hold's token as the last one left it
    /// (waiting for a renewal under way). Idempotent.
    pub(crate) fn stop(&self) -> Hold {
        let mut state = self.state();
        state.renewing = false;
        state.hold
    }

    /// Extends the hold until `until`, unless it was stopped or lost.
    pub(crate) fn renew(
        &self,
        store: &dyn Store,
        key: &Key,
        until: Timestamp,
        now: Timestamp,
    ) -> Renewed {
        let mut state = self.state();
        if !state.renewing {
            return Renewed::Ended;
        }
        let hold = state.hold;
        let renew = || store.renew(Wait::Blocking, *key, hold, until, now).wait();
        match catch_unwind(AssertUnwindSafe(renew)) {
            Ok(Ok(Some(hold))) => {
                state.hold = hold;
                Renewed::Kept
            }
            Ok(Ok(None)) => {
                state.renewing = false;
                Renewed::Ended
            }
            Ok(Err(error)) => {
                trace(key, &error.to_string());
                Renewed::Failed
            }
            Err(_) => {
                trace(key, "the store panicked renewing a hold");
                Renewed::Failed
            }
        }
    }
}

/// Stops renewing `holding` and gives its hold back, here and now.
pub(crate) fn give_back_now(store: &dyn Store, key: Key, holding: &Holding) {
    let hold = holding.stop();
    let give_back = || crate::store::block_on(Io::blocking(store).release(key, hold));
    match catch_unwind(AssertUnwindSafe(give_back)) {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => trace(&key, &error.to_string()),
        Err(_) => trace(&key, "the store panicked releasing a hold"),
    }
}

fn trace(key: &Key, error: &str) {
    crate::warn::warn_limited!(key.namespace(), crate::warn::Kind::Hold, %error,
        "could not renew or release a claim or lease; it lapses on its own");
}

/// A hold the liveness thread renews while its holder lives.
pub(crate) struct Renewal {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) key: Key,
    pub(crate) holding: Weak<Holding>,
    pub(crate) clock: Clock,
    /// How far each renewal extends the hold.
    pub(crate) window: Duration,
    /// The end of the grace from when the hold was taken: never renewed past it.
    pub(crate) deadline: Timestamp,
}

impl Renewal {
    /// Renews once if its holder lives; whether to keep renewing.
    pub(crate) fn tick(&self) -> bool {
        let Some(holding) = self.holding.upgrade() else {
            return false; // its holder finished (or gave it back)
        };
        let now = self.clock.now();
        let until = now.saturating_add(self.window).min(self.deadline);
        if until <= now {
            return false; // the grace is over: let it lapse
        }
        holding.renew(&*self.store, &self.key, until, now) != Renewed::Ended
    }
}

/// How often a hold taken for `window` is renewed: three times per window.
pub(crate) fn period(window: Duration) -> Duration {
    (window / 3).max(SHORTEST_PERIOD)
}

// ---- the thread ----

struct Scheduled {
    renewal: Renewal,
    period: Duration,
    due: Instant,
}

struct GiveBack {
    store: Arc<dyn Store>,
    key: Key,
    holding: Arc<Holding>,
}

#[derive(Default)]
struct Queue {
    renewals: Vec<Scheduled>,
    releases: Vec<GiveBack>,
}

/// Work handed to the liveness thread. std's locks, also under loom: the
/// thread is not modelled (its steps, [`Holding`] and [`Renewal::tick`], are).
struct Ticker {
    queue: std::sync::Mutex<Queue>,
    wake: std::sync::Condvar,
}

static TICKER: Ticker = Ticker {
    queue: std::sync::Mutex::new(Queue {
        renewals: Vec::new(),
        releases: Vec::new(),
    }),
    wake: std::sync::Condvar::new(),
};

static STARTED: OnceLock<bool> = OnceLock::new();

/// Whether the liveness thread runs (starting it if it does not yet).
pub(crate) fn available() -> bool {
    *STARTED.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("antidogpile-liveness".into())
            .spawn(run);
        if let Err(error) = &spawned {
            tracing::warn!(target: "antidogpile", %error,
                "could not start the liveness thread: claims and leases last the whole grace");
        }
        spawned.is_ok()
    })
}

fn queue() -> std::sync::MutexGuard<'static, Queue> {
    TICKER
        .queue
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Renews `renewal`'s hold while its holder lives (the thread must be
/// [`available`]).
pub(crate) fn keep_alive(renewal: Renewal) {
    let period = period(renewal.window);
    queue().renewals.push(Scheduled {
        renewal,
        period,
        due: Instant::now() + period,
    });
    TICKER.wake.notify_one();
}

/// Gives `holding`'s hold back on the liveness thread, or here if it does
/// not run.
pub(crate) fn give_back_later(store: Arc<dyn Store>, key: Key, holding: Arc<Holding>) {
    if !available() {
        give_back_now(&*store, key, &holding);
        return;
    }
    queue().releases.push(GiveBack {
        store,
        key,
        holding,
    });
    TICKER.wake.notify_one();
}

fn run() {
    let mut renewals: Vec<Scheduled> = Vec::new();
    loop {
        let mut queue = queue();
        loop {
            if !queue.releases.is_empty() || !queue.renewals.is_empty() {
                break;
            }
            let now = Instant::now();
            queue = match renewals.iter().map(|scheduled| scheduled.due).min() {
                None => TICKER
                    .wake
                    .wait(queue)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(due) if due <= now => break,
                Some(due) => {
                    TICKER
                        .wake
                        .wait_timeout(queue, due - now)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0
                }
            };
        }
        let releases = std::mem::take(&mut queue.releases);
        renewals.append(&mut queue.renewals);
        drop(queue);
        for release in releases {
            give_back_now(&*release.store, release.key, &release.holding);
        }
        let now = Instant::now();
        renewals.retain_mut(|scheduled| {
            if scheduled.renewal.holding.strong_count() == 0 {
                return false;
            }
            if scheduled.due > now {
                return true;
            }
            scheduled.due = now + scheduled.period;
            scheduled.renewal.tick()
        });
    }
}
