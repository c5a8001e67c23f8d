//! The memoized functions of the workload and what their computes do: take
//! a random time, and now and then fail, panic or hang past the grace. Each
//! compute gives its value a new ID and leaves a record of itself ([`Ran`])
//! for the call that ran it, which writes it once the library has said
//! whether the compute held a claim or lease.

use std::cell::RefCell;
use std::sync::OnceLock;
use std::time::Duration;

use antidogpile::antidogpiled;
use antidogpile_test_support::rng::XorShift;
use serde::{Deserialize, Serialize};

use super::history::{now_ms, History};

/// The named cache the workload's functions use.
pub const CACHE: &str = "history";
/// The functions' timeouts (compressed, so that a short run sees many
/// expiries): keep in step with the `#[antidogpiled]` attributes below
/// and with the run's `config` line.
pub const SOFT: Duration = Duration::from_millis(300);
pub const FACTOR: u32 = 4;
pub const GRACE: Duration = Duration::from_secs(2);
/// The message of the deliberate panics, kept out of stderr.
pub const DELIBERATE: &str = "history: a deliberate panic in a compute";

/// A cached value: its key, and the ID of the compute or set that made it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Val {
    pub key: String,
    pub id: u64,
}

/// A compute that ran, for the history.
#[derive(Clone, Debug)]
pub struct Ran {
    pub key: String,
    pub id: u64,
    pub start: u64,
    pub end: u64,
    /// `ok`, `err`, `hung` (a panic writes its own line).
    pub outcome: &'static str,
}

/// What this process's computes do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Random times, failures, panics and hangs.
    Faulty,
    /// Quick and always successful (the final probe).
    Quick,
}

static HISTORY: OnceLock<History> = OnceLock::new();
static BEHAVIOUR: OnceLock<Behaviour> = OnceLock::new();

/// Sets where computes write and how they behave (once, at start).
pub fn set_up(history: History, behaviour: Behaviour) {
    let _ = HISTORY.set(history);
    let _ = BEHAVIOUR.set(behaviour);
}

/// This process's history.
pub fn history() -> &'static History {
    HISTORY.get().expect("the worker sets its history up first")
}

/// A random number from this thread's generator.
pub fn random() -> u64 {
    thread_local! {
        static RANDOM: RefCell<XorShift> = RefCell::new(XorShift::from_time());
    }
    RANDOM.with(|random| random.borrow_mut().next_u64())
}

/// What one compute will do.
enum Plan {
    Ok(Duration),
    Fail(Duration),
    Panic(Duration),
    Hang,
}

fn plan() -> Plan {
    if BEHAVIOUR.get() == Some(&Behaviour::Quick) {
        return Plan::Ok(Duration::from_millis(1));
    }
    let took = Duration::from_millis(2 + random() % 40);
    match random() % 1000 {
        0..=19 => Plan::Panic(took),
        20..=59 => Plan::Fail(took),
        60..=66 => Plan::Hang,
        _ => Plan::Ok(took),
    }
}

/// How long a hung compute runs: past the grace.
const HUNG: Duration = Duration::from_millis(2_500);

thread_local! {
    /// The compute a sync call ran on this thread.
    static RAN: RefCell<Option<Ran>> = const { RefCell::new(None) };
}

tokio::task_local! {
    /// The compute an async call ran in this task.
    static RAN_IN_TASK: RefCell<Option<Ran>>;
}

/// Runs `call` and returns what it returned with the compute it ran (sync).
pub fn with_ran_sync<T>(call: impl FnOnce() -> T) -> (T, Option<Ran>) {
    RAN.with(|ran| ran.borrow_mut().take());
    let returned = call();
    (returned, RAN.with(|ran| ran.borrow_mut().take()))
}

/// Runs `call` and returns what it returned with the compute it ran (async).
pub async fn with_ran_async<T>(call: impl std::future::Future<Output = T>) -> (T, Option<Ran>) {
    RAN_IN_TASK
        .scope(RefCell::new(None), async {
            let returned = call.await;
            (returned, RAN_IN_TASK.with(|ran| ran.borrow_mut().take()))
        })
        .await
}

/// The compute line of one that panicked (its call writes nothing).
pub fn write_panicked(key: &str, id: u64, start: u64) {
    let history = history();
    history.write(format_args!(
        "compute {} {key} {id} {start} {} panic unknown",
        history.process,
        now_ms()
    ));
}

/// The body of a compute: `Some(value)` or `None` (a failure); panics as planned.
fn finish(key: String, id: u64, start: u64, plan: &Plan) -> (Option<Val>, Ran) {
    let (value, outcome) = match plan {
        Plan::Ok(_) => (
            Some(Val {
                key: key.clone(),
                id,
            }),
            "ok",
        ),
        Plan::Hang => (
            Some(Val {
                key: key.clone(),
                id,
            }),
            "hung",
        ),
        Plan::Fail(_) => (None, "err"),
        Plan::Panic(_) => {
            write_panicked(&key, id, start);
            panic!("{DELIBERATE}");
        }
    };
    let end = now_ms();
    let ran = Ran {
        key,
        id,
        start,
        end,
        outcome: past_the_grace(outcome, start, end),
    };
    (value, ran)
}

fn compute_sync(key: String) -> Option<Val> {
    let (id, start, plan) = (history().new_id(), now_ms(), plan());
    std::thread::sleep(match plan {
        Plan::Ok(took) | Plan::Fail(took) | Plan::Panic(took) => took,
        Plan::Hang => HUNG,
    });
    let (value, ran) = finish(key, id, start, &plan);
    RAN.with(|slot| *slot.borrow_mut() = Some(ran));
    value
}

async fn compute_async(key: String) -> Option<Val> {
    let (id, start, plan) = (history().new_id(), now_ms(), plan());
    tokio::time::sleep(match plan {
        Plan::Ok(took) | Plan::Fail(took) | Plan::Panic(took) => took,
        Plan::Hang => HUNG,
    })
    .await;
    let (value, ran) = finish(key, id, start, &plan);
    // Outside a scope (never in the workload) the record is dropped.
    let _ = RAN_IN_TASK.try_with(|slot| *slot.borrow_mut() = Some(ran));
    value
}

/// A sync memoized function whose failures are `Err`.
#[antidogpiled(
    soft = "300ms",
    factor = 4,
    grace = "2s",
    cache = "history",
    name = "history::sync_value"
)]
pub fn sync_value(key: u32) -> Result<Val, String> {
    compute_sync(format!("s{key}")).ok_or_else(|| format!("s{key} failed"))
}

/// An async memoized function whose failures are `None`.
#[antidogpiled(
    soft = "300ms",
    factor = 4,
    grace = "2s",
    cache = "history",
    name = "history::async_value"
)]
pub async fn async_value(key: u32) -> Option<Val> {
    compute_async(format!("a{key}")).await
}

/// `hung` for a compute that ran past the grace whatever its plan (one
/// that waited for another key, as a compute that calls the cache may):
/// the docs let its holder be replaced then.
pub fn past_the_grace(outcome: &'static str, start: u64, end: u64) -> &'static str {
    if end.saturating_sub(start) >= GRACE.as_millis() as u64 {
        "hung"
    } else {
        outcome
    }
}

/// The computes of one batch's keys: one plan for the batch, a value (and
/// a record) per key. A batch's compute cannot fail (it returns a value per
/// key): a plan to fail runs as a success; it may panic or hang.
pub fn compute_batch(keys: &[&String], ran: &mut Vec<Ran>) -> Vec<Val> {
    let start = now_ms();
    let ids: Vec<u64> = keys.iter().map(|_| history().new_id()).collect();
    let plan = plan();
    std::thread::sleep(match plan {
        Plan::Ok(took) | Plan::Fail(took) | Plan::Panic(took) => took,
        Plan::Hang => HUNG,
    });
    batch_values(keys, &ids, start, &plan, ran)
}

/// [`compute_batch`] in a task.
pub async fn compute_batch_async(keys: Vec<String>, ran: &std::sync::Mutex<Vec<Ran>>) -> Vec<Val> {
    let start = now_ms();
    let ids: Vec<u64> = keys.iter().map(|_| history().new_id()).collect();
    let plan = plan();
    tokio::time::sleep(match plan {
        Plan::Ok(took) | Plan::Fail(took) | Plan::Panic(took) => took,
        Plan::Hang => HUNG,
    })
    .await;
    let keys: Vec<&String> = keys.iter().collect();
    let mut ran = ran.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    batch_values(&keys, &ids, start, &plan, &mut ran)
}

fn batch_values(
    keys: &[&String],
    ids: &[u64],
    start: u64,
    plan: &Plan,
    ran: &mut Vec<Ran>,
) -> Vec<Val> {
    if let Plan::Panic(_) = plan {
        for (key, id) in keys.iter().zip(ids) {
            write_panicked(key, *id, start);
        }
        panic!("{DELIBERATE}");
    }
    let end = now_ms();
    let outcome = if let Plan::Hang = plan {
        "hung"
    } else {
        past_the_grace("ok", start, end)
    };
    keys.iter()
        .zip(ids)
        .map(|(key, &id)| {
            ran.push(Ran {
                key: (*key).clone(),
                id,
                start,
                end,
                outcome,
            });
            Val {
                key: (*key).clone(),
                id,
            }
        })
        .collect()
}
