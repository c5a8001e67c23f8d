//! A claim or a lease held by this process ([`Release`]): renewed by the
//! liveness thread while its holder computes, given back when dropped armed.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, Timestamp};
use crate::error::StoreErrorKind;
use crate::io::Io;
use crate::key::Key;
use crate::liveness::{self, Holding, Renewal};
use crate::store::{Hold, Store};
use crate::warn::trace_store_error;

/// Gives back a claim or a lease when dropped armed (its holder panicked or
/// was cancelled), so the next caller need not wait for the grace to pass.
/// While it lives, the liveness thread may renew the hold (see
/// [`liveness`](crate::liveness)): `held` always has its current token.
pub(crate) struct Release {
    store: Arc<dyn Store>,
    pub(crate) key: Key,
    held: Arc<Holding>,
    armed: bool,
}

impl std::fmt::Debug for Release {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Release")
            .field("key", &self.key)
            .field("held", &self.held.current())
            .field("armed", &self.armed)
            .finish()
    }
}

/// How long a claim or lease with `grace` is taken for in `store`: the
/// grace, or, in a store that renews holds, the shorter liveness `window`
/// (renewed meanwhile).
pub(crate) fn hold_window(store: &dyn Store, window: Duration, grace: Duration) -> Duration {
    if window.is_zero() || window >= grace || !store.renews_holds() {
        return grace;
    }
    if liveness::available() {
        window
    } else {
        grace
    }
}

impl Release {
    /// Holds `held`, taken at `now` on `key` of `cache`'s store for
    /// [`hold_window`]: renewed by the liveness thread while this lives,
    /// up to `grace`, if that window is shorter (a memoized function's
    /// compute, or the cache client's [`Recompute`](crate::client::Recompute)).
    pub(crate) fn renewed(
        store: &Arc<dyn Store>,
        clock: &Clock,
        liveness: Duration,
        key: Key,
        held: Hold,
        now: Timestamp,
        grace: Duration,
    ) -> Release {
        let holding = Holding::new(held);
        let window = hold_window(&**store, liveness, grace);
        if window < grace {
            liveness::keep_alive(Renewal {
                store: Arc::clone(store),
                key,
                holding: Arc::downgrade(&holding),
                clock: clock.clone(),
                window,
                deadline: now.saturating_add(grace),
            });
        }
        Release {
            store: Arc::clone(store),
            key,
            held: holding,
            armed: true,
        }
    }

    /// The claim or lease as held now.
    pub(crate) fn held(&self) -> Hold {
        self.held.current()
    }

    /// Gives it back now, through `io`.
    pub(crate) async fn give_back(mut self, io: &Io<'_>) {
        self.armed = false;
        if let Err(error) = io.release(self.key, self.held.stop()).await {
            trace_store_error(self.key.namespace(), &error);
        }
    }

    /// No more renewals (a last write is about to name it): the hold's
    /// current token. It stays armed.
    pub(crate) fn stop_renewals(&self) -> Hold {
        self.held.stop()
    }

    /// Its holder is done with it: no more renewals, no release on drop.
    /// Returns the hold's current token (what a guarded last write names).
    pub(crate) fn disarm(&mut self) -> Hold {
        self.armed = false;
        self.held.stop()
    }

    /// A failed refresh: keep the claim only until `now + spacing` (at most
    /// the grace), so that the next caller retries then, not after the grace.
    pub(crate) async fn space_retry(mut self, io: &Io<'_>, now: Timestamp, spacing: Duration) {
        let hold = self.disarm();
        let until = now.saturating_add(spacing);
        match io.renew(self.key, hold, until, now).await {
            Ok(Some(_)) => {}
            // Not renewed: the value is past its hard deadline (or the
            // claim ended). No stale value is left to serve while a retry
            // is spaced, so the claim is given back: a cold miss must not
            // wait for a claim nobody computes under.
            Ok(None) => {
                if let Err(error) = io.release(self.key, hold).await {
                    trace_store_error(self.key.namespace(), &error);
                }
            }
            // A store that cannot renew keeps the claim until the grace.
            Err(error) if error.kind() == StoreErrorKind::Unsupported => {}
            Err(error) => trace_store_error(self.key.namespace(), &error),
        }
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // A broken build keeps the hold of a holder that panicked
        // (`hooks::Broken`), for the history checker.
        if std::thread::panicking() && crate::hooks::broken(crate::hooks::Broken::LeaseKeptOnPanic)
        {
            return;
        }
        // On a runtime's thread, a store that does I/O (or whose holds are
        // renewed) is released on the liveness thread: never blocking the
        // runtime, and done even if the runtime is shut down right after (a
        // task spawned on it would never run). Elsewhere, and for in-process
        // stores, it is released here and now, so the next caller finds it free.
        let does_io = self.store.keeps_bytes() || self.store.renews_holds();
        if does_io && on_a_runtime_thread() {
            liveness::give_back_later(Arc::clone(&self.store), self.key, Arc::clone(&self.held));
        } else {
            liveness::give_back_now(&*self.store, self.key, &self.held);
        }
    }
}

/// Whether this thread runs an async runtime's tasks (where blocking I/O must not be done).
fn on_a_runtime_thread() -> bool {
    #[cfg(feature = "tokio")]
    {
        tokio::runtime::Handle::try_current().is_ok()
    }
    #[cfg(not(feature = "tokio"))]
    {
        false
    }
}
