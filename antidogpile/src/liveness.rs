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
//! Renewals scale with the number of holds: the holds of one store that
//! are due (or due within half a period) are renewed together, in one
//! [`Store::renew_many`] call (memcached: one pipelined exchange per
//! server; Redis: one pipeline per node), on a thread of its own, so that a
//! store that is slow or down delays its own holds' renewals only, never
//! another store's. At most one batch per store is under way at a time: a
//! process's renewal work is one batch per store every third of the
//! window, one small request per hold in it.
//!
//! The holder and this thread share the hold's token through a [`Holding`]:
//! a renewal may change it (memcached's CAS), and the holder's last write,
//! release or retry spacing must name the current one. A renewal holds the
//! [`Holding`]'s lock across its store call, so [`Holding::stop`] returns
//! the token that call left, and no renewal follows it.
//!
//! Releases of cancelled holders (a dropped future, a panic) are handed
//! here too, and run on a thread per store: blocking store I/O off the
//! caller's runtime, done even when that runtime is shut down before a
//! spawned task could run, and never holding up renewals.
//!
//! The thread is a std thread, started at the first hold and never stopped
//! (it sleeps while nothing is held). If it cannot be started, holds are
//! taken for the grace, as if the store did not renew them.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::clock::{Clock, Timestamp};
use crate::io::Io;
use crate::key::Key;
use crate::store::{Hold, Renew, Store, Wait};
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
}

/// Renews each of `renewals` (holds on `store`, timed by one clock) whose
/// holder lives and that was neither stopped nor lost, until a window from
/// now (never past its grace), in one [`Store::renew_many`] call; whether
/// each is to be renewed again (`false`: its holder finished, it was
/// stopped or lost, or its grace is over). A failed store call keeps them:
/// they run on until their old end, and are tried again.
///
/// Each live holder's [`Holding`] stays locked across the store call (see
/// the module's docs).
pub(crate) fn renew_all(store: &dyn Store, renewals: &[&Renewal]) -> Vec<bool> {
    let mut again = vec![false; renewals.len()];
    let Some(first) = renewals.first() else {
        return again;
    };
    let now = first.clock.now();
    let holdings: Vec<Option<Arc<Holding>>> = renewals
        .iter()
        .map(|renewal| renewal.holding.upgrade())
        .collect();
    let mut states: Vec<Option<crate::sync::MutexGuard<'_, State>>> = holdings
        .iter()
        .map(|holding| holding.as_deref().map(Holding::state))
        .collect();
    let mut asked = Vec::with_capacity(renewals.len());
    let mut requests = Vec::with_capacity(renewals.len());
    for (index, renewal) in renewals.iter().enumerate() {
        let Some(state) = &states[index] else {
            continue; // its holder finished (or gave it back)
        };
        let until = now.saturating_add(renewal.window).min(renewal.deadline);
        if !state.renewing || until <= now {
            continue; // stopped, lost, or the grace is over: let it lapse
        }
        asked.push(index);
        requests.push(Renew {
            key: renewal.key,
            hold: state.hold,
            until,
        });
    }
    if requests.is_empty() {
        return again;
    }
    let renew = || store.renew_many(Wait::Blocking, &requests, now).wait();
    let outcomes = match catch_unwind(AssertUnwindSafe(renew)) {
        Ok(Ok(outcomes)) if outcomes.len() == requests.len() => Ok(outcomes),
        Ok(Ok(_)) => Err("the store answered another number of renewals than asked".to_owned()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("the store panicked renewing holds".to_owned()),
    };
    let outcomes = match outcomes {
        Ok(outcomes) => outcomes,
        Err(error) => {
            trace(&first.key, &error);
            for index in asked {
                again[index] = true;
            }
            return again;
        }
    };
    let mut first_error = None;
    for (index, outcome) in asked.into_iter().zip(outcomes) {
        let Some(state) = states[index].as_mut() else {
            continue;
        };
        match outcome {
            Ok(Some(hold)) => {
                state.hold = hold;
                again[index] = true;
            }
            Ok(None) => state.renewing = false,
            Err(error) => {
                first_error.get_or_insert((renewals[index].key, error));
                again[index] = true;
            }
        }
    }
    drop(states);
    if let Some((key, error)) = first_error {
        trace(&key, &error.to_string());
    }
    again
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
    #[cfg(all(test, loom))]
    pub(crate) fn tick(&self) -> bool {
        renew_all(&*self.store, &[self])[0]
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
    /// The stores with a batch of renewals under way (by address).
    renewing: Vec<usize>,
}

/// Work handed to the liveness thread. std's locks, also under loom: the
/// thread is not modelled (its steps, [`Holding`] and [`renew_all`], are).
struct Ticker {
    queue: std::sync::Mutex<Queue>,
    wake: std::sync::Condvar,
}

static TICKER: Ticker = Ticker {
    queue: std::sync::Mutex::new(Queue {
        renewals: Vec::new(),
        releases: Vec::new(),
        renewing: Vec::new(),
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

/// What tells stores apart: the address of their value.
fn store_id(store: &Arc<dyn Store>) -> usize {
    Arc::as_ptr(store).cast::<()>() as usize
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
            // The next due hold of a store with no batch under way (a batch
            // that comes back wakes this thread).
            let next = renewals
                .iter()
                .filter(|scheduled| !queue.renewing.contains(&store_id(&scheduled.renewal.store)))
                .map(|scheduled| scheduled.due)
                .min();
            queue = match next {
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
        let busy = queue.renewing.clone();
        drop(queue);
        give_back_aside(releases);
        renewals.retain(|scheduled| scheduled.renewal.holding.strong_count() > 0);
        for batch in due_batches(&mut renewals, &busy, Instant::now()) {
            renew_aside(batch);
        }
    }
}

/// Gives back `releases` on a thread per store, so that a store that is
/// slow or down holds up neither this thread's renewals nor another
/// store's releases. Here, if no thread can be started.
fn give_back_aside(mut releases: Vec<GiveBack>) {
    while let Some(first) = releases.first() {
        let store = store_id(&first.store);
        let (mine, others) = releases
            .into_iter()
            .partition(|release| store_id(&release.store) == store);
        releases = others;
        aside("antidogpile-release", mine, |releases: Vec<GiveBack>| {
            for release in releases {
                give_back_now(&*release.store, release.key, &release.holding);
            }
        });
    }
}

/// Runs `work` on `work_for` on a new thread named `name`, or here if no
/// thread can be started.
fn aside<T: Send + 'static>(name: &str, work_for: T, work: fn(T)) {
    let slot = Arc::new(std::sync::Mutex::new(Some(work_for)));
    let theirs = Arc::clone(&slot);
    let take = |slot: &std::sync::Mutex<Option<T>>| {
        slot.lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    };
    let spawned = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            if let Some(work_for) = take(&theirs) {
                work(work_for);
            }
        });
    if spawned.is_err() {
        if let Some(work_for) = take(&slot) {
            work(work_for);
        }
    }
}

/// Takes out of `renewals`, for each store with a hold due at `now` and no
/// batch under way (not in `busy`), its holds due within half their period
/// (renewed a little early, so that holds taken moments apart are renewed
/// together): one batch per store and clock.
fn due_batches(renewals: &mut Vec<Scheduled>, busy: &[usize], now: Instant) -> Vec<Vec<Scheduled>> {
    let mut due_stores: Vec<usize> = Vec::new();
    for scheduled in renewals.iter().filter(|scheduled| scheduled.due <= now) {
        let store = store_id(&scheduled.renewal.store);
        if !busy.contains(&store) && !due_stores.contains(&store) {
            due_stores.push(store);
        }
    }
    if due_stores.is_empty() {
        return Vec::new();
    }
    let mut batches: Vec<Vec<Scheduled>> = Vec::new();
    let mut waiting = Vec::with_capacity(renewals.len());
    for scheduled in renewals.drain(..) {
        let store = store_id(&scheduled.renewal.store);
        if !due_stores.contains(&store) || scheduled.due > now + scheduled.period / 2 {
            waiting.push(scheduled);
            continue;
        }
        let batch = batches.iter_mut().find(|batch| {
            let first = &batch[0].renewal;
            store_id(&first.store) == store && first.clock.is(&scheduled.renewal.clock)
        });
        match batch {
            Some(batch) => batch.push(scheduled),
            None => batches.push(vec![scheduled]),
        }
    }
    *renewals = waiting;
    batches
}

/// Renews `batch` (holds on one store, timed by one clock) on a thread of
/// its own, so that a store that is slow or down delays no other store's
/// renewals; the holds to renew again come back to the queue.
fn renew_aside(batch: Vec<Scheduled>) {
    queue().renewing.push(store_id(&batch[0].renewal.store));
    aside("antidogpile-renewal", batch, renew_and_requeue);
}

fn renew_and_requeue(batch: Vec<Scheduled>) {
    let started = Instant::now();
    let store = Arc::clone(&batch[0].renewal.store);
    let again = {
        let renewals: Vec<&Renewal> = batch.iter().map(|scheduled| &scheduled.renewal).collect();
        renew_all(&*store, &renewals)
    };
    let kept = batch
        .into_iter()
        .zip(again)
        .filter(|(_, again)| *again)
        .map(|(mut scheduled, _)| {
            scheduled.due = started + scheduled.period;
            scheduled
        });
    let mut queue = queue();
    let id = store_id(&store);
    queue.renewing.retain(|renewing| *renewing != id);
    queue.renewals.extend(kept);
    drop(queue);
    TICKER.wake.notify_one();
}
