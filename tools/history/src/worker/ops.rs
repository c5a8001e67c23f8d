//! The workload's operations, each recorded as it ends: calls of the
//! memoized functions (with the compute they ran, and how the library says
//! they were served), batches, the client's get/set/delete, invalidations
//! and clears.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use antidogpile::__private::{take_reports, Served};
use antidogpile::{Cache, Got, Invalidate, Ttl};

use super::functions::{
    async_value, async_value_invalidate, compute_batch, compute_batch_async, history, random,
    sync_value, sync_value_invalidate, with_ran_async, with_ran_sync, Ran, Val, FACTOR, GRACE,
    SOFT,
};
use super::history::{id_or_dash, now_ms};

/// Keys per kind of key (a small key space: keys expire, are refreshed,
/// invalidated and contended all the time).
pub const KEYS: u32 = 6;

/// The client's timeouts, the functions' own.
pub fn ttl() -> Ttl {
    Ttl::soft(SOFT).factor(FACTOR).grace(GRACE)
}

fn served_word(served: Served) -> &'static str {
    match served {
        Served::Fresh => "fresh",
        Served::Stale => "stale",
        Served::Waited => "waited",
        Served::Computed { .. } => "computed",
        Served::Uncached => "uncached",
    }
}

/// Whether the compute a call so served ran held a claim or lease.
fn hold_word(served: Option<Served>) -> &'static str {
    match served {
        Some(Served::Computed { held: true }) | Some(Served::Stale) => "held",
        Some(Served::Computed { held: false }) => "unheld",
        Some(Served::Uncached) => "uncached",
        _ => "unknown",
    }
}

/// The library's last report on this thread (`None` if it gave none).
fn last_report() -> Option<Served> {
    take_reports().pop()
}

/// [`write_call`] of a call that is no batch's, which ended at `end`.
fn write_call_at(
    key: &str,
    (start, end): (u64, u64),
    served: Option<Served>,
    value: Option<&Val>,
    ran: Option<&Ran>,
) {
    write_call_ending(key, start, end, served, value, ran, None);
}

/// Writes a call's lines: the compute it ran (if any), then the call,
/// which ends now.
fn write_call(
    key: &str,
    start: u64,
    served: Option<Served>,
    value: Option<&Val>,
    ran: Option<&Ran>,
    batch: Option<u64>,
) {
    write_call_ending(key, start, now_ms(), served, value, ran, batch);
}

/// Writes a call's lines: the compute it ran (if any), then the call.
fn write_call_ending(
    key: &str,
    start: u64,
    end: u64,
    served: Option<Served>,
    value: Option<&Val>,
    ran: Option<&Ran>,
    batch: Option<u64>,
) {
    let history = history();
    let process = &history.process;
    if let Some(ran) = ran {
        history.write(format_args!(
            "compute {process} {} {} {} {} {} {}",
            ran.key,
            ran.id,
            ran.start,
            ran.end,
            ran.outcome,
            hold_word(served)
        ));
    }
    let Some(served) = served else {
        eprintln!("{process}: a call of {key} returned with no report from the library");
        return;
    };
    history.write(format_args!(
        "call {process} {key} {start} {end} {} {} {} {}",
        served_word(served),
        id_or_dash(value.map(|value| value.id)),
        id_or_dash(ran.map(|ran| ran.id)),
        id_or_dash(batch),
    ));
}

/// One call of the sync function, from a thread.
pub fn call_sync(key: u32) {
    let start = now_ms();
    let called = std::panic::catch_unwind(|| with_ran_sync(|| sync_value(key)));
    let Ok((returned, ran)) = called else {
        return; // the compute panicked: its line is written
    };
    write_call(
        &format!("s{key}"),
        start,
        last_report(),
        returned.as_ref().ok(),
        ran.as_ref(),
        None,
    );
}

/// One call of the async function, in a task of its own (so that a
/// compute's panic ends that task only).
pub async fn call_async(key: u32) {
    let _ = tokio::spawn(async move {
        let start = now_ms();
        let (returned, ran) = with_ran_async(async_value(key)).await;
        let served = last_report();
        write_call(
            &format!("a{key}"),
            start,
            served,
            returned.as_ref(),
            ran.as_ref(),
            None,
        );
    })
    .await;
}

/// 2 to all the distinct batch keys, in a random order.
fn batch_keys() -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let wanted = 2 + random() % u64::from(KEYS - 1);
    while (keys.len() as u64) < wanted {
        let key = format!("b{}", random() % u64::from(KEYS));
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// Writes a batch's lines, one call per key.
fn write_batch(keys: &[String], start: u64, values: &[Val], ran: &[Ran]) {
    let batch = history().new_id();
    let mut reports = take_reports();
    // The batch's reports are its last ones, one per key.
    let reports = reports.split_off(reports.len().saturating_sub(keys.len()));
    for (index, key) in keys.iter().enumerate() {
        let ran_here = ran.iter().find(|ran| &ran.key == key);
        write_call(
            key,
            start,
            reports.get(index).copied(),
            values.get(index),
            ran_here,
            Some(batch),
        );
    }
}

/// One `get_or_compute_many` from a thread.
pub fn batch_sync(cache: &Cache) {
    let keys = batch_keys();
    let start = now_ms();
    let mut ran = Vec::new();
    let got = std::panic::catch_unwind(AssertUnwindSafe(|| {
        cache.get_or_compute_many(&keys, ttl(), |missing| compute_batch(&missing, &mut ran))
    }));
    match got {
        Ok(Ok(values)) => write_batch(&keys, start, &values, &ran),
        Ok(Err(error)) => eprintln!("{}: a batch failed: {error}", history().process),
        Err(_) => {} // panicked: its computes' lines are written
    }
}

/// One `get_or_compute_many` in a task of its own.
pub async fn batch_async(cache: Arc<Cache>) {
    let _ = tokio::spawn(async move {
        let keys = batch_keys();
        let start = now_ms();
        let ran = std::sync::Mutex::new(Vec::new());
        let got = cache
            .as_async()
            .get_or_compute_many(&keys, ttl(), |missing| {
                let missing: Vec<String> = missing.into_iter().cloned().collect();
                compute_batch_async(missing, &ran)
            })
            .await;
        match got {
            Ok(values) => {
                let ran = ran.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                write_batch(&keys, start, &values, &ran)
            }
            Err(error) => eprintln!("{}: a batch failed: {error}", history().process),
        }
    })
    .await;
}

/// A random client key.
fn client_key() -> String {
    format!("c{}", random() % u64::from(KEYS))
}

/// One client `get`: fresh, stale (a stale value, with or without a duty
/// to recompute, which is given back), or nothing.
pub fn client_get(cache: &Cache) {
    let key = client_key();
    let start = now_ms();
    let got = cache.get::<Val, _>(&key);
    let end = now_ms();
    let (served, value) = match got {
        Ok(Got::Fresh(value)) => ("fresh", Some(value)),
        Ok(Got::Stale(value)) | Ok(Got::Recompute(Some(value), _)) => ("stale", Some(value)),
        Ok(_) => ("fresh", None),
        Err(_) => ("uncached", None),
    };
    let history = history();
    history.write(format_args!(
        "call {} {key} {start} {end} {served} {} - -",
        history.process,
        id_or_dash(value.map(|value| value.id)),
    ));
}

/// One client `set` of a new value (written to the history even if it
/// failed: a set whose reply was lost may have landed).
pub fn client_set(cache: &Cache) {
    let key = client_key();
    let history = history();
    let id = history.new_id();
    let start = now_ms();
    let value = Val {
        key: key.clone(),
        id,
    };
    // Written even if it failed: a set whose reply was lost may have landed.
    let _ = cache.set(&key, &value, ttl());
    history.write(format_args!(
        "set {} {key} {id} {start} {}",
        history.process,
        now_ms()
    ));
}

/// One `delete_many` of half the batches' keys (so that batches meet cold
/// misses together, and wait for each other), soft or hard.
pub fn batch_delete(cache: &Cache) {
    let keys: Vec<String> = (0..KEYS)
        .filter(|_| random() % 2 == 0)
        .map(|key| format!("b{key}"))
        .collect();
    let start = now_ms();
    if cache.delete_many(&keys, how()).is_ok() {
        for key in &keys {
            write_invalidation(key, start);
        }
    }
}

/// One client `delete` (soft) or `delete_hard`.
pub fn client_delete(cache: &Cache) {
    let key = client_key();
    let start = now_ms();
    let deleted = if random() % 2 == 0 {
        cache.delete(&key).map(drop)
    } else {
        cache.delete_hard(&key)
    };
    if deleted.is_ok() {
        write_invalidation(&key, start);
    }
}

fn write_invalidation(key: &str, start: u64) {
    let history = history();
    history.write(format_args!(
        "invalidate {} {key} {start} {}",
        history.process,
        now_ms()
    ));
}

fn how() -> Invalidate {
    if random() % 2 == 0 {
        Invalidate::Soft
    } else {
        Invalidate::Hard
    }
}

/// One invalidation of the sync function's key.
pub fn invalidate_sync(key: u32) {
    let start = now_ms();
    if sync_value_invalidate(key, how()).is_ok() {
        write_invalidation(&format!("s{key}"), start);
    }
}

/// One invalidation of the async function's key.
pub async fn invalidate_async(key: u32) {
    let start = now_ms();
    if async_value_invalidate(key, how()).await.is_ok() {
        write_invalidation(&format!("a{key}"), start);
    }
}

/// One clear of the whole cache.
pub fn clear(cache: &Cache) {
    let start = now_ms();
    if cache.clear().is_ok() {
        let history = history();
        history.write(format_args!(
            "clear {} {start} {}",
            history.process,
            now_ms()
        ));
    }
}

/// One client `get_or_compute` of a batch's key whose compute calls
/// `get_or_compute` of another batch key: a holder that needs a key a
/// batch may hold (a batch must never hold a lease while it waits for it).
pub fn nested_sync(cache: &Cache) {
    let outer = format!("b{}", random() % u64::from(KEYS));
    let inner = loop {
        let key = format!("b{}", random() % u64::from(KEYS));
        if key != outer {
            break key;
        }
    };
    let history = history();
    let start = now_ms();
    let ran_outer = std::cell::RefCell::new(None);
    let inner_call = std::cell::RefCell::new(None);
    let value = cache.get_or_compute(&outer, ttl(), || {
        let (id, computing) = (history.new_id(), now_ms());
        std::thread::sleep(std::time::Duration::from_millis(5 + random() % 20));
        let inner_start = now_ms();
        let ran_inner = std::cell::RefCell::new(None);
        let inner_value = cache.get_or_compute(&inner, ttl(), || {
            let (id, computing) = (history.new_id(), now_ms());
            std::thread::sleep(std::time::Duration::from_millis(2 + random() % 10));
            *ran_inner.borrow_mut() = Some(ran(&inner, id, computing));
            Val {
                key: inner.clone(),
                id,
            }
        });
        *inner_call.borrow_mut() = Some((inner_start, now_ms(), inner_value, ran_inner.take()));
        *ran_outer.borrow_mut() = Some(ran(&outer, id, computing));
        Val {
            key: outer.clone(),
            id,
        }
    });
    let mut reports = take_reports();
    let outer_report = reports.pop();
    if let Some((inner_start, inner_end, inner_value, ran_inner)) = inner_call.take() {
        write_call_at(
            &inner,
            (inner_start, inner_end),
            reports.pop(),
            Some(&inner_value),
            ran_inner.as_ref(),
        );
    }
    write_call_at(
        &outer,
        (start, now_ms()),
        outer_report,
        Some(&value),
        ran_outer.take().as_ref(),
    );
}

/// The record of a successful compute of `key` that began at `start`.
fn ran(key: &str, id: u64, start: u64) -> Ran {
    let end = now_ms();
    Ran {
        key: key.to_owned(),
        id,
        start,
        end,
        outcome: super::functions::past_the_grace("ok", start, end),
    }
}
