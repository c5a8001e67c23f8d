//! [`Gather`]: the store requests of a batch's keys, sent together.
//!
//! [`Cache::get_or_compute_many`](crate::Cache::get_or_compute_many) runs
//! one [`Call`](crate::memo::Call) per key. Each takes its cold-miss lease,
//! its refresh claim and, once computed, its guarded write through this
//! [`Io`], which holds them back instead of sending each on its own: the
//! calls of a round run side by side ([`Gather::all`]) and, once every one
//! of them waits, what they asked is sent as one batched operation per kind
//! ([`StoreOp::TryLeaseMany`], [`StoreOp::TryClaimMany`],
//! [`StoreOp::WriteHeldMany`]; on memcached one pipelined exchange per
//! server), and each call goes on with its own answer. The calls are the
//! single-key state machine unchanged: leases and claims are taken for the
//! same window, handed to the liveness thread and released the same way;
//! only the transport of these three requests differs. Every other request
//! (the rare release of a lease whose value was not stored, say) goes to
//! the store at once, a few at a time ([`AT_ONCE`]): a batch of thousands of
//! keys never opens a connection per key.

use std::collections::HashSet;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::key::Key;
use crate::memo::{unexpected, Io, Looked};
use crate::outcome::Cacheable;
use crate::store::{Hold, Store, StoreOp, StoreReply, Version, Write};

/// An [`Io`] that gathers the leases, claims and guarded writes of the
/// calls it runs, and sends them together.
pub(super) struct Gather<'i, I> {
    inner: &'i I,
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
    answers: Vec<Option<Result<StoreReply, StoreError>>>,
    /// Requests sent at once, not gathered, still under way.
    in_flight: usize,
    /// Calls waiting for one of those to end.
    waiting: Vec<Waker>,
}

/// How many requests that are not gathered (releases of leases and claims
/// whose values were not stored, unguarded writes) the calls send at once:
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
        key: Key<'static>,
        now: Timestamp,
        grace: Duration,
    },
    Claim {
        key: Key<'static>,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    },
    Write {
        write: Write<'static>,
        held: Hold,
        now: Timestamp,
    },
}

impl<'i, I: Io> Gather<'i, I> {
    pub(super) fn new(inner: &'i I, namespace: &'static str) -> Self {
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
    pub(super) fn found_leased(&self, fingerprints: impl IntoIterator<Item = u128>) {
        let mut state = self.state();
        state.leased.clear();
        state.leased.extend(fingerprints);
    }

    /// Runs `calls` side by side to their ends, sending what they ask
    /// together whenever all of them wait. Their outputs, in order.
    pub(super) async fn all<F: Future>(
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
        let mut leases: Vec<Group<(Timestamp, Duration), Key<'static>>> = Vec::new();
        let mut claims: Vec<Group<(Timestamp, Timestamp), (Key<'static>, Version)>> = Vec::new();
        // Written at the latest of their times (they are a round's).
        let mut writes: Group<Timestamp, (Write<'static>, Hold)> = Group::new(Timestamp::EPOCH);
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
            }
        }
        for Group {
            at: (now, grace),
            tickets,
            items: keys,
        } in leases
        {
            let op = StoreOp::TryLeaseMany {
                keys: &keys,
                now,
                grace,
            };
            let answers = match self.inner.run(op).await {
                Ok(StoreReply::Leases(each)) => Ok(each),
                Ok(other) => Err(unexpected(&other)),
                Err(error) => Err(error),
            };
            self.answer(&tickets, answers, StoreReply::Lease);
        }
        for Group {
            at: (now, until),
            tickets,
            items: asked,
        } in claims
        {
            let op = StoreOp::TryClaimMany {
                claims: &asked,
                now,
                until,
            };
            let answers = match self.inner.run(op).await {
                Ok(StoreReply::Claims(each)) => Ok(each),
                Ok(other) => Err(unexpected(&other)),
                Err(error) => Err(error),
            };
            self.answer(&tickets, answers, StoreReply::Claim);
        }
        let Group {
            at: now,
            tickets,
            items: asked,
        } = writes;
        if !tickets.is_empty() {
            let op = StoreOp::WriteHeldMany { writes: asked, now };
            let answers = match self.inner.run(op).await {
                Ok(StoreReply::ChangedMany(each)) => Ok(each),
                Ok(other) => Err(unexpected(&other)),
                Err(error) => Err(error),
            };
            self.answer(&tickets, answers, StoreReply::Changed);
        }
    }

    /// Hands each ticket its answer (the batch's failure to all of them; a
    /// reply of the wrong length is a failure too).
    fn answer<T>(
        &self,
        tickets: &[usize],
        answers: Result<Vec<Result<T, StoreError>>, StoreError>,
        reply: impl Fn(T) -> StoreReply,
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
        match answers {
            Ok(each) => {
                for (&ticket, answer) in tickets.iter().zip(each) {
                    state.answers[ticket] = Some(answer.map(&reply));
                }
            }
            Err(error) => {
                for &ticket in tickets {
                    state.answers[ticket] = Some(Err(error.clone()));
                }
            }
        }
    }

    /// The batch's key as `'static` (all its keys share the client's namespace).
    fn owned(&self, key: &Key<'_>) -> Option<Key<'static>> {
        (key.namespace() == self.namespace)
            .then(|| Key::new(key.fingerprint(), self.namespace, key.version()))
    }

    /// Sends `op` now, a few at a time (see [`AT_ONCE`]).
    async fn at_once(&self, op: StoreOp<'_>) -> Result<StoreReply, StoreError> {
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
        self.inner.run(op).await
    }

    /// Gathers `ask`; its answer once sent.
    async fn ask(&self, ask: Ask) -> Result<StoreReply, StoreError> {
        let ticket = {
            let mut state = self.state();
            let ticket = state.answers.len();
            state.answers.push(None);
            state.asks.push((ticket, ask));
            ticket
        };
        poll_fn(|_| match self.state().answers[ticket].take() {
            Some(answer) => Poll::Ready(answer),
            None => Poll::Pending,
        })
        .await
    }
}

impl<I: Io> Io for Gather<'_, I> {
    async fn look<V: Cacheable>(
        &self,
        key: &Key<'_>,
        now: Timestamp,
    ) -> Result<Looked<V>, StoreError> {
        self.inner.look(key, now).await
    }

    async fn run(&self, op: StoreOp<'_>) -> Result<StoreReply, StoreError> {
        let ask = match op {
            StoreOp::TryLease { key, now, grace } => match self.owned(&key) {
                Some(key) => {
                    if self.state().leased.contains(&key.fingerprint().as_u128()) {
                        return Ok(StoreReply::Lease(None));
                    }
                    Ask::Lease { key, now, grace }
                }
                None => return self.at_once(op).await,
            },
            StoreOp::TryClaim {
                key,
                seen,
                now,
                until,
            } => match self.owned(&key) {
                Some(key) => Ask::Claim {
                    key,
                    seen,
                    now,
                    until,
                },
                None => return self.at_once(op).await,
            },
            StoreOp::WriteHeld {
                key,
                held,
                value,
                deadlines,
                now,
            } => match self.owned(&key) {
                Some(key) => Ask::Write {
                    write: Write {
                        key,
                        value,
                        deadlines,
                    },
                    held,
                    now,
                },
                None => {
                    let op = StoreOp::WriteHeld {
                        key,
                        held,
                        value,
                        deadlines,
                        now,
                    };
                    return self.at_once(op).await;
                }
            },
            op => return self.at_once(op).await,
        };
        self.ask(ask).await
    }

    fn store(&self) -> &dyn Store {
        self.inner.store()
    }
}
