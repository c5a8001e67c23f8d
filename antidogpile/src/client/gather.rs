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
//! goes to the store at once.

use std::collections::HashSet;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Poll;
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
        let mut done = 0;
        while done < running.len() {
            poll_fn(|context| {
                for (call, output) in running.iter_mut().zip(outputs.iter_mut()) {
                    if output.is_none() {
                        if let Poll::Ready(out) = call.as_mut().poll(context) {
                            *output = Some(out);
                            done += 1;
                        }
                    }
                }
                // The gathered requests' answers wake no one: they are
                // sent (and the calls polled again) once all calls wait.
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
                None => return self.inner.run(op).await,
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
                None => return self.inner.run(op).await,
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
                    return self.inner.run(op).await;
                }
            },
            op => return self.inner.run(op).await,
        };
        self.ask(ask).await
    }

    fn store(&self) -> &dyn Store {
        self.inner.store()
    }
}
