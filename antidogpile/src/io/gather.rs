//! [`Gather`]: the store requests of a batch's keys, sent together.
//!
//! [`Cache::get_or_compute_many`](crate::Cache::get_or_compute_many) runs
//! one [`Call`](crate::memo::Call) per key. Each takes its cold-miss lease,
//! its refresh claim and, once computed, its write (guarded by its hold, or
//! not when it computed without one) through an
//! [`Io`] that names this gatherer, which holds them back instead of sending
//! each on its own: the calls of a round run side by side ([`Gather::all`])
//! and, once every one of them waits, what they asked is sent as one
//! batched operation per kind ([`Store::try_lease_many`](crate::store::Store::try_lease_many),
//! [`Store::try_claim_many`](crate::store::Store::try_claim_many), [`Store::write_held_many`](crate::store::Store::write_held_many),
//! [`Store::write_many`](crate::store::Store::write_many); on memcached one
//! pipelined exchange per server), and each call goes on with its own answer. The calls are the
//! single-key state machine unchanged: leases and claims are taken for the
//! same window, handed to the liveness thread and released the same way;
//! only the transport of these four requests differs. Every other request
//! (the rare release of a lease whose value was not stored, say) goes to
//! the store at once, a few at a time ([`AT_ONCE`]): a batch of thousands of
//! keys never opens a connection per key.

use std::collections::HashSet;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use super::Io;
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::key::Key;
use crate::store::{ClaimId, Hold, LeaseId, Version, Write};

/// Gathers the leases, claims and writes of the calls it runs
/// (through an [`Io`] that names it), and sends them together.
pub(crate) struct Gather<'i> {
    inner: Io<'i>,
    /// The namespace of the batch's keys (requests on other keys go at once).
    namespace: &'static str,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Fingerprints whose read of this round found another process's lease.
    leased: HashSet<u128>,
    /// Requests not sent yet.
    asks: Vec<(usize, Ask)>,
    /// Answers, by ticket, until their call takes them.
    leases: Vec<Option<Result<Option<LeaseId>, StoreError>>>,
    claims: Vec<Option<Result<Option<ClaimId>, StoreError>>>,
    writes: Vec<Option<Result<bool, StoreError>>>,
    unguarded: Vec<Option<Result<(), StoreError>>>,
    /// Requests sent at once, not gathered, still under way.
    in_flight: usize,
    /// Calls waiting for one of those to end.
    waiting: Vec<Waker>,
}

/// How many requests that are not gathered (releases of leases and claims
/// whose values were not stored, requests on keys of other namespaces) the
/// calls send at once:
/// about what they cost one after another, and never a connection per key.
const AT_ONCE: usize = 4;

/// A request sent at once, under way: lets the next one go when it ends.
struct UnderWay<'g>(&'g Mutex<State>);

impl Drop for UnderWay<'_> {
    fn drop(&mut self) {
        let waiting = {
            let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            state.in_flight = state.in_flight.saturating_sub(1);
            std::mem::take(&mut state.waiting)
        };
        waiting.into_iter().for_each(Waker::wake);
    }
}

/// The calls of [`Gather::all`] woken since they were last polled, and the
/// waker of the task that runs them.
#[derive(Default)]
struct Woken {
    calls: Mutex<Vec<usize>>,
    outer: Mutex<Option<Waker>>,
}

impl Woken {
    fn calls(&self) -> MutexGuard<'_, Vec<usize>> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn outer(&self) -> MutexGuard<'_, Option<Waker>> {
        self.outer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Wakes one call of [`Gather::all`]: marks it, and wakes the task.
struct CallWaker {
    index: usize,
    woken: Arc<Woken>,
}

impl Wake for CallWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.calls().push(self.index);
        if let Some(outer) = self.woken.outer().as_ref() {
            outer.wake_by_ref();
        }
    }
}

/// Requests of one kind sent together, with what they share.
struct Group<P, T> {
    at: P,
    tickets: Vec<usize>,
    items: Vec<T>,
}

impl<P: PartialEq, T> Group<P, T> {
    fn new(at: P) -> Self {
        Group {
            at,
            tickets: Vec::new(),
            items: Vec::new(),
        }
    }

    /// Adds `item` to the group of `groups` that shares `at`, or to a new one.
    fn add(groups: &mut Vec<Group<P, T>>, at: P, ticket: usize, item: T) {
        let group = match groups.iter().position(|group| group.at == at) {
            Some(index) => &mut groups[index],
            None => {
                groups.push(Group::new(at));
                let last = groups.len() - 1;
                &mut groups[last]
            }
        };
        group.tickets.push(ticket);
        group.items.push(item);
    }
}

enum Ask {
    Lease {
        key: Key,
        now: Timestamp,
        grace: Duration,
    },
    Claim {
        key: Key,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    },
    Write {
        write: Write,
        held: Hold,
        now: Timestamp,
    },
    Unguarded {
        write: Write,
        now: Timestamp,
    },
}

impl<'i> Gather<'i> {
    pub(crate) fn new(inner: Io<'i>, namespace: &'static str) -> Self {
        Gather {
            inner,
            namespace,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The keys whose read of this round found a lease of another process:
    /// a lease asked for right after that read would be refused, so it is
    /// not asked (the key is polled and read again next round, where a
    /// lease gone meanwhile reads as nothing and is taken then).
    pub(crate) fn found_leased(&self, fingerprints: impl IntoIterator<Item = u128>) {
        let mut state = self.state();
        state.leased.clear();
        state.leased.extend(fingerprints);
    }

    /// Runs `calls` side by side to their ends, sending what they ask
    /// together whenever all of them wait. Their outputs, in order.
    pub(crate) async fn all<F: Future>(
        &self,
        calls: impl IntoIterator<Item = F>,
    ) -> Vec<F::Output> {
        let mut running: Vec<Pin<Box<F>>> = calls.into_iter().map(Box::pin).collect();
        let mut outputs: Vec<Option<F::Output>> = running.iter().map(|_| None).collect();
        // Each call has a waker of its own, so that a call waiting for I/O
        // is polled again when that I/O wakes it, not whenever another does.
        let woken = Arc::new(Woken::default());
        let wakers: Vec<Waker> = (0..running.len())
            .map(|index| {
                Waker::from(Arc::new(CallWaker {
                    index,
                    woken: Arc::clone(&woken),
                }))
            })
            .collect();
        let mut done = 0;
        while done < running.len() {
            // Every call that is not done yet: the answers just sent woke no one.
            woken
                .calls()
                .extend((0..running.len()).filter(|&index| outputs[index].is_none()));
            poll_fn(|context| {
                *woken.outer() = Some(context.waker().clone());
                // Once per poll: a call woken while polled (it yields) wakes
                // this task, which polls it again on its next turn.
                let ready = std::mem::take(&mut *woken.calls());
                for index in ready {
                    let (Some(call), Some(output), Some(waker)) = (
                        running.get_mut(index),
                        outputs.get_mut(index),
                        wakers.get(index),
                    ) else {
                        continue;
                    };
                    if output.is_some() {
                        continue;
                    }
                    let mut context = Context::from_waker(waker);
                    if let Poll::Ready(out) = call.as_mut().poll(&mut context) {
                        *output = Some(out);
                        done += 1;
                    }
                }
                // The gathered requests' answers wake no one: they are sent
                // (and their calls polled again) once every call waits.
                if done == running.len() || !self.state().asks.is_empty() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
            self.send().await;
        }
        outputs.into_iter().flatten().collect()
    }

    /// Sends the gathered requests: one batched operation per kind (and per
    /// time and window, which the calls of one round share).
    async fn send(&self) {
        let asks = std::mem::take(&mut self.state().asks);
        if asks.is_empty() {
            return;
        }
        let mut leases: Vec<Group<(Timestamp, Duration), Key>> = Vec::new();
        let mut claims: Vec<Group<(Timestamp, Timestamp), (Key, Version)>> = Vec::new();
        // Written at the latest of their times (they are a round's).
        let mut writes: Group<Timestamp, (Write, Hold)> = Group::new(Timestamp::EPOCH);
        let mut unguarded: Group<Timestamp, Write> = Group::new(Timestamp::EPOCH);
        for (ticket, ask) in asks {
            match ask {
                Ask::Lease { key, now, grace } => {
                    Group::add(&mut leases, (now, grace), ticket, key);
                }
                Ask::Claim {
                    key,
                    seen,
                    now,
                    until,
                } => Group::add(&mut claims, (now, until), ticket, (key, seen)),
                Ask::Write { write, held, now } => {
                    writes.tickets.push(ticket);
                    writes.items.push((write, held));
                    writes.at = writes.at.max(now);
                }
                Ask::Unguarded { write, now } => {
                    unguarded.tickets.push(ticket);
                    unguarded.items.push(write);
                    unguarded.at = unguarded.at.max(now);
                }
            }
        }
        let (store, wait) = (self.inner.store, self.inner.wait);
        for Group {
            at: (now, grace),
            tickets,
            items: keys,
        } in leases
        {
            let answers = store.try_lease_many(wait, &keys, now, grace).await;
            self.answer(&tickets, answers, |state| &mut state.leases);
        }
        for Group {
            at: (now, until),
            tickets,
            items: asked,
        } in claims
        {
            let answers = store.try_claim_many(wait, &asked, now, until).await;
            self.answer(&tickets, answers, |state| &mut state.claims);
        }
        let Group {
            at: now,
            tickets,
            items: asked,
        } = writes;
        if !tickets.is_empty() {
            let answers = store.write_held_many(wait, asked, now).await;
            self.answer(&tickets, answers, |state| &mut state.writes);
        }
        let Group {
            at: now,
            tickets,
            items: asked,
        } = unguarded;
        if !tickets.is_empty() {
            // One outcome for the batch: each write is told it.
            let answers = store
                .write_many(wait, asked, now)
                .await
                .map(|()| tickets.iter().map(|_| Ok(())).collect());
            self.answer(&tickets, answers, |state| &mut state.unguarded);
        }
    }

    /// Hands each ticket its answer (the batch's failure to all of them; a
    /// reply of the wrong length is a failure too).
    fn answer<T>(
        &self,
        tickets: &[usize],
        answers: Result<Vec<Result<T, StoreError>>, StoreError>,
        slots: impl Fn(&mut State) -> &mut Vec<Option<Result<T, StoreError>>>,
    ) {
        let answers = answers.and_then(|each| {
            if each.len() == tickets.len() {
                Ok(each)
            } else {
                Err(StoreError::new(
                    crate::error::StoreErrorKind::Protocol,
                    format!(
                        "the store answered {} of {} batched requests",
                        each.len(),
                        tickets.len()
                    ),
                ))
            }
        });
        let mut state = self.state();
        let slots = slots(&mut state);
        match answers {
            Ok(each) => {
                for (&ticket, answer) in tickets.iter().zip(each) {
                    slots[ticket] = Some(answer);
                }
            }
            Err(error) => {
                for &ticket in tickets {
                    slots[ticket] = Some(Err(error.clone()));
                }
            }
        }
    }

    /// Sends `request` now, a few at a time (see [`AT_ONCE`]).
    pub(crate) async fn at_once<T>(&self, request: impl Future<Output = T>) -> T {
        poll_fn(|context| {
            let mut state = self.state();
            if state.in_flight < AT_ONCE {
                state.in_flight += 1;
                Poll::Ready(())
            } else {
                state.waiting.push(context.waker().clone());
                Poll::Pending
            }
        })
        .await;
        let _under_way = UnderWay(&self.state);
        request.await
    }

    /// Gathers `ask`; its answer, from `slots`, once sent.
    async fn ask<T>(
        &self,
        ask: Ask,
        slots: impl Fn(&mut State) -> &mut Vec<Option<Result<T, StoreError>>>,
    ) -> Result<T, StoreError> {
        let ticket = {
            let mut state = self.state();
            let slots_of_kind = slots(&mut state);
            let ticket = slots_of_kind.len();
            slots_of_kind.push(None);
            state.asks.push((ticket, ask));
            ticket
        };
        poll_fn(|_| match slots(&mut self.state())[ticket].take() {
            Some(answer) => Poll::Ready(answer),
            None => Poll::Pending,
        })
        .await
    }

    /// [`Store::try_lease`](crate::store::Store::try_lease), gathered (at once for a key of another namespace).
    pub(crate) async fn try_lease(
        &self,
        key: Key,
        now: Timestamp,
        grace: Duration,
    ) -> Result<Option<LeaseId>, StoreError> {
        if !self.gathers(&key) {
            let (store, wait) = (self.inner.store, self.inner.wait);
            return self.at_once(store.try_lease(wait, key, now, grace)).await;
        }
        if self.state().leased.contains(&key.fingerprint().as_u128()) {
            return Ok(None);
        }
        self.ask(Ask::Lease { key, now, grace }, |state| &mut state.leases)
            .await
    }

    /// [`Store::try_claim`](crate::store::Store::try_claim), gathered (at once for a key of another namespace).
    pub(crate) async fn try_claim(
        &self,
        key: Key,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Option<ClaimId>, StoreError> {
        if !self.gathers(&key) {
            let (store, wait) = (self.inner.store, self.inner.wait);
            return self
                .at_once(store.try_claim(wait, key, seen, now, until))
                .await;
        }
        let ask = Ask::Claim {
            key,
            seen,
            now,
            until,
        };
        self.ask(ask, |state| &mut state.claims).await
    }

    /// [`Store::write_held`](crate::store::Store::write_held), gathered (at once for a key of another namespace).
    pub(crate) async fn write_held(
        &self,
        write: Write,
        held: Hold,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        if !self.gathers(&write.key) {
            return self.at_once(self.written_now(write, Some(held), now)).await;
        }
        self.ask(Ask::Write { write, held, now }, |state| &mut state.writes)
            .await
    }

    /// [`Store::write`](crate::store::Store::write), gathered (at once for a key of another namespace):
    /// the values computed without a hold (the store failed when the lease
    /// was asked, or the lease's holder overran the grace) are written in
    /// one [`Store::write_many`](crate::store::Store::write_many), not a request each.
    pub(crate) async fn write(&self, write: Write, now: Timestamp) -> Result<(), StoreError> {
        if !self.gathers(&write.key) {
            let written = self.at_once(self.written_now(write, None, now)).await;
            return written.map(drop);
        }
        self.ask(Ask::Unguarded { write, now }, |state| &mut state.unguarded)
            .await
    }

    /// `write` sent on its own, guarded by `held` if given (the store's
    /// `write_held`, else `write`): whether it landed.
    async fn written_now(
        &self,
        write: Write,
        held: Option<Hold>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (store, wait) = (self.inner.store, self.inner.wait);
        let Write {
            key,
            value,
            deadlines,
        } = write;
        match held {
            Some(held) => {
                store
                    .write_held(wait, key, held, value, deadlines, now)
                    .await
            }
            None => store
                .write(wait, key, value, deadlines, now)
                .await
                .map(|()| true),
        }
    }

    /// Whether requests on `key` are gathered: the batch's keys (all in the
    /// client's namespace) are; others go at once.
    fn gathers(&self, key: &Key) -> bool {
        key.namespace() == self.namespace
    }
}
