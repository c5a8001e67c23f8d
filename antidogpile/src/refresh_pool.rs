//! The threads that run `background` refreshes of sync functions: a few,
//! started as work arrives and ended after a while without any, fed by a
//! bounded queue. A thread per refresh would let a burst of stale keys (a
//! deploy, a clock jump, a cold restart) start thousands of threads.
//!
//! When the queue is full, the refresh is not queued: it is handed back to
//! the caller, which drops it. Dropping it gives back its claim, so callers
//! keep getting the stale value and a later caller claims and tries again
//! (until the hard deadline, after which the key is a plain miss computed in
//! the foreground). No caller ever waits for someone else's refresh.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// Threads at most: refreshes are someone's expensive compute, and the
/// stale value is served meanwhile, so a few at a time is enough.
pub(crate) const THREADS: usize = 4;
/// Refreshes waiting for a thread, at most.
pub(crate) const QUEUE: usize = 1024;
/// A thread with nothing to do for this long ends.
const IDLE: Duration = Duration::from_secs(30);

/// A refresh to run.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

#[derive(Default)]
struct Pool {
    state: Mutex<State>,
    work: Condvar,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(Pool::default)
}

/// Queues `job` for a pool thread, starting one if none is idle and fewer
/// than [`THREADS`] run. `Err(job)` if the queue is full or no thread could
/// be started: the caller drops it (and with it the refresh's claim).
pub(crate) fn submit(job: Job) -> Result<(), Job> {
    let pool = pool();
    let mut state = pool.lock();
    if state.queue.len() >= QUEUE {
        return Err(job);
    }
    state.queue.push_back(job);
    if state.idle > 0 || state.threads >= THREADS {
        drop(state);
        pool.work.notify_one();
        return Ok(());
    }
    state.threads += 1;
    drop(state);
    let started = std::thread::Builder::new()
        .name("antidogpile-refresh".into())
        .spawn(move || pool.serve());
    if let Err(error) = started {
        let mut state = pool.lock();
        state.threads -= 1;
        tracing::warn!(target: "antidogpile", %error, "could not start a background refresh thread");
        if state.threads == 0 {
            // No thread will ever take it: hand back the newest job (ours,
            // unless another caller queued since; either way one goes back).
            if let Some(job) = state.queue.pop_back() {
                return Err(job);
            }
        }
    }
    Ok(())
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Jobs run outside the lock, which guards only the queue and counts.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A pool thread: runs jobs until none has come for [`IDLE`].
    fn serve(&self) {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                // A panicking compute has been reported and its claim
                // released (by unwinding); the thread goes on.
                let _ = catch_unwind(AssertUnwindSafe(job));
                state = self.lock();
                continue;
            }
            state.idle += 1;
            let (next, waited) = self
                .work
                .wait_timeout(state, IDLE)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state = next;
            state.idle -= 1;
            if waited.timed_out() && state.queue.is_empty() {
                state.threads -= 1;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Arc};

    #[test]
    fn a_full_queue_hands_the_job_back_and_queued_jobs_all_run() {
        // Block every pool thread, fill the queue, then one more.
        let (release, blocked) = mpsc::channel::<()>();
        let blocked = Arc::new(Mutex::new(blocked));
        let started = Arc::new(AtomicUsize::new(0));
        for _ in 0..THREADS {
            let (blocked, started) = (Arc::clone(&blocked), Arc::clone(&started));
            assert!(submit(Box::new(move || {
                started.fetch_add(1, Ordering::SeqCst);
                let _ = blocked.lock().unwrap().recv();
            }))
            .is_ok());
        }
        let ran = Arc::new(AtomicUsize::new(0));
        let mut handed_back = 0;
        for _ in 0..QUEUE + 10 {
            let ran = Arc::clone(&ran);
            if submit(Box::new(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            }))
            .is_err()
            {
                handed_back += 1;
            }
        }
        assert!(handed_back >= 10, "{handed_back} handed back");
        for _ in 0..THREADS {
            release.send(()).unwrap();
        }
        let queued = QUEUE + 10 - handed_back;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while ran.load(Ordering::SeqCst) < queued && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(ran.load(Ordering::SeqCst), queued);
        assert!(pool().lock().threads <= THREADS);
    }
}
