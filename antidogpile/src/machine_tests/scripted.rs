//! [`ScriptedStore`]: a store that answers each operation as its test
//! scripted it, and records every operation it was asked, in order.
//!
//! Keys are named by the order in which the store first sees them (`0`,
//! `1`, ...): a call of one key names it `0`, a batch names its keys in
//! the order it reads them. Each key has a queue of answers per kind of
//! operation (reads, claims, leases, held writes, plain writes); a batched
//! operation takes each key's answer from the same queue as the single one.
//! A read, claim, lease or held write that nothing was scripted for panics,
//! naming the operation, so a test whose machine asks more than its script
//! foresaw fails at once instead of polling forever. Releases, renewals and
//! plain writes succeed unless scripted otherwise; they are recorded too.
//!
//! The generations that the macro's calls read in a store that keeps bytes
//! (namespace `antidogpile::generation`) are not the call machine's: they
//! read as nothing, and are counted apart ([`ScriptedStore::generation_ops`]),
//! never in [`ScriptedStore::calls`].

use super::*;

/// Which kind of store the script plays: the machine takes other paths
/// for a store that keeps bytes, takes holds in its reads or renews them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Style {
    pub(super) keeps_bytes: bool,
    pub(super) reads_take_holds: bool,
    pub(super) renews_holds: bool,
}

impl Style {
    /// An in-process store (as [`MemoryStore`](crate::store::MemoryStore)):
    /// values as they are, holds taken by `try_claim`/`try_lease`.
    pub(super) const IN_PROCESS: Style = Style {
        keeps_bytes: false,
        reads_take_holds: false,
        renews_holds: false,
    };
    /// A store shared by processes (as memcached): values as bytes, holds
    /// taken by the read itself and renewed.
    pub(super) const REMOTE: Style = Style {
        keeps_bytes: true,
        reads_take_holds: true,
        renews_holds: true,
    };
}

/// A value as the machine handed it to a write, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Val {
    /// A `u64` as it is ([`Stored::Object`]).
    Object(u64),
    /// A `u64` serialized ([`Stored::Bytes`]).
    Bytes(u64),
    /// Anything else.
    Other,
}

impl Val {
    fn of(stored: &Stored) -> Val {
        match stored {
            Stored::Object(value) => value
                .downcast_ref::<u64>()
                .map_or(Val::Other, |v| Val::Object(*v)),
            Stored::Bytes(bytes) => {
                envelope::decode_payload::<u64>(bytes).map_or(Val::Other, Val::Bytes)
            }
            Stored::Raw(_) => Val::Other,
        }
    }
}

/// One operation the store was asked, with its arguments (keys by their
/// names; times in milliseconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Op {
    Read {
        key: usize,
        purpose: ReadFor,
    },
    ReadMany {
        keys: Vec<usize>,
        purpose: ReadFor,
    },
    TryClaim {
        key: usize,
        seen: Version,
        until: u64,
    },
    TryClaimMany {
        claims: Vec<(usize, Version)>,
        until: u64,
    },
    ReleaseClaim {
        key: usize,
        claim: ClaimId,
    },
    TryLease {
        key: usize,
        lease_for: Duration,
    },
    TryLeaseMany {
        keys: Vec<usize>,
        lease_for: Duration,
    },
    ReleaseLease {
        key: usize,
        lease: LeaseId,
    },
    Renew {
        key: usize,
        hold: Hold,
        until: u64,
    },
    Write {
        key: usize,
        value: Val,
        soft: u64,
        hard: u64,
    },
    WriteMany {
        writes: Vec<(usize, Val)>,
    },
    WriteHeld {
        key: usize,
        held: Hold,
        value: Val,
        soft: u64,
        hard: u64,
    },
    WriteHeldMany {
        writes: Vec<(usize, Hold, Val)>,
    },
    Remove {
        key: usize,
    },
    MarkStale {
        key: usize,
    },
}

/// What a scripted read finds, and the hold it takes.
#[derive(Clone, Debug)]
pub(super) struct Finds {
    found: Result<Option<Found>, StoreErrorKind>,
    takes: Option<Hold>,
}

#[derive(Clone, Debug)]
enum Found {
    Leased,
    Entry {
        value: Payload,
        soft: u64,
        hard: u64,
        claimed_until: u64,
        version: u64,
    },
}

#[derive(Clone, Copy, Debug)]
enum Payload {
    /// A `u64`, as the store's style keeps it.
    Value(u64),
    /// Something that does not decode as a `u64`: a `u32` object in
    /// process, bytes of another type in a store that keeps bytes.
    OtherType,
}

impl Finds {
    /// Nothing stored.
    pub(super) fn nothing() -> Finds {
        Finds {
            found: Ok(None),
            takes: None,
        }
    }

    /// No value, but another process's cold-miss lease.
    pub(super) fn leased() -> Finds {
        Finds {
            found: Ok(Some(Found::Leased)),
            takes: None,
        }
    }

    /// `value`, fresh before `soft` (ms), kept forever, unclaimed, version 1.
    pub(super) fn entry(value: u64, soft: u64) -> Finds {
        Finds {
            found: Ok(Some(Found::Entry {
                value: Payload::Value(value),
                soft,
                hard: u64::MAX,
                claimed_until: 0,
                version: 1,
            })),
            takes: None,
        }
    }

    /// A value of another type (written by another build), fresh before `soft`.
    pub(super) fn other_type(soft: u64) -> Finds {
        let mut finds = Finds::entry(0, soft);
        if let Ok(Some(Found::Entry { value, .. })) = &mut finds.found {
            *value = Payload::OtherType;
        }
        finds
    }

    /// The read fails.
    pub(super) fn error(kind: StoreErrorKind) -> Finds {
        Finds {
            found: Err(kind),
            takes: None,
        }
    }

    /// The entry's hard deadline: from then on the store has nothing.
    pub(super) fn hard(mut self, at: u64) -> Finds {
        if let Ok(Some(Found::Entry { hard, .. })) = &mut self.found {
            *hard = at;
        }
        self
    }

    /// The entry's refresh is claimed until `at`.
    pub(super) fn claimed_until(mut self, at: u64) -> Finds {
        if let Ok(Some(Found::Entry { claimed_until, .. })) = &mut self.found {
            *claimed_until = at;
        }
        self
    }

    /// The entry's version.
    pub(super) fn version(mut self, of: u64) -> Finds {
        if let Ok(Some(Found::Entry { version, .. })) = &mut self.found {
            *version = of;
        }
        self
    }

    /// The read also takes `hold` (a store whose reads take holds).
    pub(super) fn taking(mut self, hold: Hold) -> Finds {
        self.takes = Some(hold);
        self
    }
}

/// A scripted answer of a claim or a lease: `Ok(None)` is "another holds it".
pub(super) type Granted = Result<Option<u64>, StoreErrorKind>;

/// Claims or leases, as [`ScriptedStore::grants`] answers them: what a
/// script calls them, the queue of a key's scripted answers, their id.
struct Grants<H> {
    what: &'static str,
    queue: fn(&mut Script) -> &mut VecDeque<Granted>,
    of: fn(u64) -> H,
}

const CLAIMS: Grants<ClaimId> = Grants {
    what: "claim",
    queue: |script| &mut script.claims,
    of: ClaimId,
};

const LEASES: Grants<LeaseId> = Grants {
    what: "lease",
    queue: |script| &mut script.leases,
    of: LeaseId,
};

#[derive(Default)]
struct Script {
    reads: VecDeque<Finds>,
    claims: VecDeque<Granted>,
    leases: VecDeque<Granted>,
    held_writes: VecDeque<Result<bool, StoreErrorKind>>,
    writes: VecDeque<Result<(), StoreErrorKind>>,
}

#[derive(Default)]
struct State {
    /// Fingerprints of the keys seen, in the order first seen (their names).
    names: Vec<u128>,
    scripts: HashMap<usize, Script>,
    calls: Vec<Op>,
    generation_ops: usize,
    /// After the call of this index, the clock moves by this much.
    ticks: Vec<(usize, Duration)>,
}

/// A store that answers as its test scripted, and records what it was asked.
pub(super) struct ScriptedStore {
    style: Style,
    clock: ManualClock,
    state: Mutex<State>,
}

impl fmt::Debug for ScriptedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptedStore")
            .field("style", &self.style)
            .finish_non_exhaustive()
    }
}

fn failure(kind: StoreErrorKind) -> StoreError {
    StoreError::new(kind, "scripted failure")
}

impl ScriptedStore {
    /// A store of `style`; `clock` is the one its cache reads (the script
    /// may move it: [`tick_after`](ScriptedStore::tick_after)).
    pub(super) fn new(style: Style, clock: ManualClock) -> ScriptedStore {
        ScriptedStore {
            style,
            clock,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn script(&self, key: usize, edit: impl FnOnce(&mut Script)) {
        edit(self.state().scripts.entry(key).or_default());
    }

    /// What the reads of `key` find, in order.
    pub(super) fn reads(&self, key: usize, finds: impl IntoIterator<Item = Finds>) {
        self.script(key, |script| script.reads.extend(finds));
    }

    /// Drops the next scripted read of `key` (a script shared by callers
    /// that read a different number of times before the machine runs).
    #[cfg(feature = "tokio")]
    pub(super) fn skip_read(&self, key: usize) {
        self.script(key, |script| {
            script.reads.pop_front();
        });
    }

    /// Scripts a blocking call of key 0 that wins `hold` (the claim of a
    /// stale entry, or a cold miss's lease), its reads finding `finds`: a
    /// store whose reads take holds takes it in its one read; in process,
    /// the hit path's look and the machine's read come first (and a
    /// second look before a lease), then `try_claim` or `try_lease` wins.
    pub(super) fn wins(&self, hold: Hold, finds: impl Fn() -> Finds) {
        if self.style.reads_take_holds {
            self.reads(0, [finds().taking(hold)]);
            return;
        }
        match hold {
            Hold::Claim(ClaimId(id)) => {
                self.reads(0, [finds(), finds()]);
                self.claims(0, [Ok(Some(id))]);
            }
            Hold::Lease(LeaseId(id)) => {
                self.reads(0, [finds(), finds(), finds()]);
                self.leases(0, [Ok(Some(id))]);
            }
        }
    }

    /// What the claims of `key` answer, in order (`Some(id)`: won).
    pub(super) fn claims(&self, key: usize, answers: impl IntoIterator<Item = Granted>) {
        self.script(key, |script| script.claims.extend(answers));
    }

    /// What the leases of `key` answer, in order (`Some(id)`: won).
    pub(super) fn leases(&self, key: usize, answers: impl IntoIterator<Item = Granted>) {
        self.script(key, |script| script.leases.extend(answers));
    }

    /// What the held writes of `key` answer, in order (`false`: refused,
    /// the hold was ended by an invalidation).
    pub(super) fn held_writes(
        &self,
        key: usize,
        answers: impl IntoIterator<Item = Result<bool, StoreErrorKind>>,
    ) {
        self.script(key, |script| script.held_writes.extend(answers));
    }

    /// Once the call of index `index` (0-based, as in [`calls`](ScriptedStore::calls))
    /// has been answered, the clock moves forward by `by`: time passing
    /// while the caller waits.
    pub(super) fn tick_after(&self, index: usize, by: Duration) {
        self.state().ticks.push((index, by));
    }

    /// Every operation asked so far, in order.
    pub(super) fn calls(&self) -> Vec<Op> {
        self.state().calls.clone()
    }

    /// How many operations were asked on generation keys (not the machine's).
    #[cfg(feature = "tokio")]
    pub(super) fn generation_ops(&self) -> usize {
        self.state().generation_ops
    }

    /// The name of `key`, or `None` for a generation key.
    fn name(state: &mut State, key: &Key) -> Option<usize> {
        if key.namespace() == GENERATION_NAMESPACE {
            return None;
        }
        let fingerprint = key.fingerprint().as_u128();
        Some(
            match state.names.iter().position(|seen| *seen == fingerprint) {
                Some(name) => name,
                None => {
                    state.names.push(fingerprint);
                    state.names.len() - 1
                }
            },
        )
    }

    /// Records `op` (built from the names of `keys`); `None` for an
    /// operation on generation keys only.
    fn record(&self, keys: &[Key], op: impl FnOnce(&[usize]) -> Op) -> Option<Vec<usize>> {
        let mut state = self.state();
        let names: Vec<usize> = keys
            .iter()
            .filter_map(|key| Self::name(&mut state, key))
            .collect();
        if names.is_empty() {
            state.generation_ops += 1;
            return None;
        }
        state.calls.push(op(&names));
        Some(names)
    }

    /// Records `op` of one key (built from its name) that always succeeds,
    /// with `answer`; then the clock moves if it must.
    fn answered<'a, T>(&self, key: Key, op: impl FnOnce(usize) -> Op, answer: T) -> Answer<'a, T> {
        self.record(&[key], |names| op(names[0]));
        self.tick();
        Answer::ready(Ok(answer))
    }

    /// Moves the clock if the last recorded call is one a tick follows.
    fn tick(&self) {
        let by: Duration = {
            let state = self.state();
            let index = state.calls.len().wrapping_sub(1);
            state
                .ticks
                .iter()
                .filter(|(after, _)| *after == index)
                .map(|(_, by)| *by)
                .sum()
        };
        if !by.is_zero() {
            self.clock.advance(by);
        }
    }

    /// The next scripted answer of `key` from `queue`; panics (after
    /// letting go of the lock) if there is none.
    fn next<T>(&self, key: usize, what: &str, queue: impl FnOnce(&mut Script) -> Option<T>) -> T {
        let answer = queue(self.state().scripts.entry(key).or_default());
        match answer {
            Some(answer) => answer,
            None => {
                let calls = self.calls();
                panic!("unscripted {what} of key {key}; the calls so far: {calls:#?}")
            }
        }
    }

    /// Records `op` of `keys` (built from their names; none is a
    /// generation key: its holds are not the machine's), answered by the
    /// next scripted claim or lease answer of each key (`kind`); then the
    /// clock moves if it must.
    fn grants<H>(
        &self,
        keys: &[Key],
        op: impl FnOnce(&[usize]) -> Op,
        kind: Grants<H>,
    ) -> Vec<Result<Option<H>, StoreError>> {
        let Grants { what, queue, of } = kind;
        let names = self.record(keys, op);
        let names = names.unwrap_or_else(|| panic!("{what}s are on the machine's keys"));
        let answers = names
            .into_iter()
            .map(|name| {
                let answer = self.next(name, what, |script| queue(script).pop_front());
                answer.map(|won| won.map(of)).map_err(failure)
            })
            .collect();
        self.tick();
        answers
    }

    fn optional<T>(&self, key: usize, queue: impl FnOnce(&mut Script) -> Option<T>) -> Option<T> {
        queue(self.state().scripts.entry(key).or_default())
    }

    /// The next scripted read of `key` at `now`, as what it hands its reader.
    fn finds(
        &self,
        key: usize,
        now: Timestamp,
    ) -> (Result<Option<Owned>, StoreError>, Option<Hold>) {
        let finds = self.next(key, "read", |script| script.reads.pop_front());
        let found = match finds.found {
            Err(kind) => return (Err(failure(kind)), None),
            Ok(None) => None,
            Ok(Some(Found::Leased)) => Some(Owned::Leased),
            // Like every store, it keeps nothing past its hard deadline.
            Ok(Some(Found::Entry { hard, .. })) if hard <= now.as_millis() => None,
            Ok(Some(Found::Entry {
                value,
                soft,
                claimed_until,
                version,
                ..
            })) => Some(Owned::Entry {
                meta: EntryMeta {
                    soft_deadline: Timestamp::from_millis(soft),
                    claimed_until: Timestamp::from_millis(claimed_until),
                },
                version: Version(version),
                value: self.stored(value),
            }),
        };
        (Ok(found), finds.takes)
    }

    fn stored(&self, payload: Payload) -> Stored {
        match (payload, self.style.keeps_bytes) {
            (Payload::Value(value), false) => Stored::Object(Arc::new(value)),
            (Payload::Value(value), true) => {
                Stored::Bytes(envelope::encode_payload(&value).expect("a u64 encodes"))
            }
            (Payload::OtherType, false) => Stored::Object(Arc::new(7u32)),
            (Payload::OtherType, true) => Stored::Bytes(
                envelope::encode_payload(&"seven".to_owned()).expect("a string encodes"),
            ),
        }
    }
}

/// What a scripted read found, owned until it is lent to the reader.
enum Owned {
    Leased,
    Entry {
        meta: EntryMeta,
        version: Version,
        value: Stored,
    },
}

impl Owned {
    fn lend(&self, reader: &mut dyn FnMut(Lookup<'_>)) {
        match self {
            Owned::Leased => reader(Lookup::Leased),
            Owned::Entry {
                meta,
                version,
                value,
            } => reader(Lookup::Entry(EntryView {
                meta: *meta,
                version: *version,
                value: value.as_ref(),
            })),
        }
    }
}

fn millis(at: Timestamp) -> u64 {
    at.as_millis()
}

impl Store for ScriptedStore {
    fn keeps_bytes(&self) -> bool {
        self.style.keeps_bytes
    }

    fn reads_take_holds(&self) -> bool {
        self.style.reads_take_holds
    }

    fn renews_holds(&self) -> bool {
        self.style.renews_holds
    }

    fn read<'a>(
        &'a self,
        _wait: Wait,
        key: Key,
        now: Timestamp,
        purpose: ReadFor,
        reader: &'a mut Reader<'_>,
    ) -> Answer<'a, Option<Hold>> {
        let Some(names) = self.record(&[key], |names| Op::Read {
            key: names[0],
            purpose,
        }) else {
            return Answer::ready(Ok(None));
        };
        let (found, takes) = self.finds(names[0], now);
        self.tick();
        Answer::ready(found.map(|found| {
            if let Some(found) = found {
                found.lend(&mut |lookup| reader(lookup));
            }
            takes
        }))
    }

    fn read_many<'a>(
        &'a self,
        _wait: Wait,
        keys: &'a [Key],
        now: Timestamp,
        purpose: ReadFor,
        reader: &'a mut ManyReader<'_>,
    ) -> Answer<'a, Vec<Option<Hold>>> {
        let Some(names) = self.record(keys, |names| Op::ReadMany {
            keys: names.to_vec(),
            purpose,
        }) else {
            return Answer::ready(Ok(vec![None; keys.len()]));
        };
        assert_eq!(
            names.len(),
            keys.len(),
            "a batch of the machine's keys only"
        );
        let mut holds = Vec::with_capacity(names.len());
        let (mut first_error, mut failures) = (None, 0);
        for (index, name) in names.iter().enumerate() {
            let (found, takes) = self.finds(*name, now);
            match found {
                Ok(found) => {
                    if let Some(found) = found {
                        found.lend(&mut |lookup| reader(index, lookup));
                    }
                    holds.push(takes);
                }
                Err(error) => {
                    failures += 1;
                    first_error.get_or_insert(error);
                    holds.push(None);
                }
            }
        }
        self.tick();
        // As a store's batch read: it fails only if every key's read failed.
        Answer::ready(match first_error {
            Some(error) if failures == names.len() => Err(error),
            _ => Ok(holds),
        })
    }

    fn try_claim(
        &self,
        _wait: Wait,
        key: Key,
        seen: Version,
        _now: Timestamp,
        until: Timestamp,
    ) -> Answer<'_, Option<ClaimId>> {
        let op = |names: &[usize]| Op::TryClaim {
            key: names[0],
            seen,
            until: millis(until),
        };
        Answer::ready(self.grants(&[key], op, CLAIMS).remove(0))
    }

    fn try_claim_many<'a>(
        &'a self,
        _wait: Wait,
        claims: &'a [(Key, Version)],
        _now: Timestamp,
        until: Timestamp,
    ) -> Answer<'a, Vec<Result<Option<ClaimId>, StoreError>>> {
        let keys: Vec<Key> = claims.iter().map(|(key, _)| *key).collect();
        let op = |names: &[usize]| Op::TryClaimMany {
            claims: names
                .iter()
                .zip(claims)
                .map(|(name, (_, seen))| (*name, *seen))
                .collect(),
            until: millis(until),
        };
        Answer::ready(Ok(self.grants(&keys, op, CLAIMS)))
    }

    fn release_claim(&self, _wait: Wait, key: Key, claim: ClaimId) -> Answer<'_, ()> {
        self.answered(key, |key| Op::ReleaseClaim { key, claim }, ())
    }

    fn write(
        &self,
        _wait: Wait,
        key: Key,
        value: Stored,
        deadlines: Deadlines,
        _now: Timestamp,
    ) -> Answer<'_, ()> {
        let Some(names) = self.record(&[key], |names| Op::Write {
            key: names[0],
            value: Val::of(&value),
            soft: millis(deadlines.soft),
            hard: millis(deadlines.hard),
        }) else {
            return Answer::ready(Ok(()));
        };
        let answer = self.optional(names[0], |script| script.writes.pop_front());
        self.tick();
        Answer::ready(answer.unwrap_or(Ok(())).map_err(failure))
    }

    fn write_many(&self, _wait: Wait, writes: Vec<Write>, _now: Timestamp) -> Answer<'_, ()> {
        let keys: Vec<Key> = writes.iter().map(|write| write.key).collect();
        let names = self.record(&keys, |names| Op::WriteMany {
            writes: names
                .iter()
                .zip(&writes)
                .map(|(name, write)| (*name, Val::of(&write.value)))
                .collect(),
        });
        let mut result = Ok(());
        for name in names.unwrap_or_default() {
            if let Some(Err(kind)) = self.optional(name, |script| script.writes.pop_front()) {
                result = Err(failure(kind));
            }
        }
        self.tick();
        Answer::ready(result)
    }

    fn write_held(
        &self,
        _wait: Wait,
        key: Key,
        held: Hold,
        value: Stored,
        deadlines: Deadlines,
        _now: Timestamp,
    ) -> Answer<'_, bool> {
        let names = self.record(&[key], |names| Op::WriteHeld {
            key: names[0],
            held,
            value: Val::of(&value),
            soft: millis(deadlines.soft),
            hard: millis(deadlines.hard),
        });
        let name = names.expect("held writes are on the machine's keys")[0];
        let answer = self.next(name, "held write", |script| script.held_writes.pop_front());
        self.tick();
        Answer::ready(answer.map_err(failure))
    }

    fn write_held_many(
        &self,
        _wait: Wait,
        writes: Vec<(Write, Hold)>,
        _now: Timestamp,
    ) -> Answer<'_, Vec<Result<bool, StoreError>>> {
        let keys: Vec<Key> = writes.iter().map(|(write, _)| write.key).collect();
        let names = self.record(&keys, |names| Op::WriteHeldMany {
            writes: names
                .iter()
                .zip(&writes)
                .map(|(name, (write, held))| (*name, *held, Val::of(&write.value)))
                .collect(),
        });
        let answers = names
            .expect("held writes are on the machine's keys")
            .into_iter()
            .map(|name| {
                self.next(name, "held write", |script| script.held_writes.pop_front())
                    .map_err(failure)
            })
            .collect();
        self.tick();
        Answer::ready(Ok(answers))
    }

    fn remove(&self, _wait: Wait, key: Key) -> Answer<'_, ()> {
        self.answered(key, |key| Op::Remove { key }, ())
    }

    fn mark_stale(&self, _wait: Wait, key: Key, _now: Timestamp) -> Answer<'_, bool> {
        self.answered(key, |key| Op::MarkStale { key }, true)
    }

    fn try_lease(
        &self,
        _wait: Wait,
        key: Key,
        _now: Timestamp,
        grace: Duration,
    ) -> Answer<'_, Option<LeaseId>> {
        let op = |names: &[usize]| Op::TryLease {
            key: names[0],
            lease_for: grace,
        };
        Answer::ready(self.grants(&[key], op, LEASES).remove(0))
    }

    fn try_lease_many<'a>(
        &'a self,
        _wait: Wait,
        keys: &'a [Key],
        _now: Timestamp,
        grace: Duration,
    ) -> Answer<'a, Vec<Result<Option<LeaseId>, StoreError>>> {
        let op = |names: &[usize]| Op::TryLeaseMany {
            keys: names.to_vec(),
            lease_for: grace,
        };
        Answer::ready(Ok(self.grants(keys, op, LEASES)))
    }

    fn release_lease(&self, _wait: Wait, key: Key, lease: LeaseId) -> Answer<'_, ()> {
        self.answered(key, |key| Op::ReleaseLease { key, lease }, ())
    }

    fn renew(
        &self,
        _wait: Wait,
        key: Key,
        hold: Hold,
        until: Timestamp,
        _now: Timestamp,
    ) -> Answer<'_, Option<Hold>> {
        let until = millis(until);
        self.answered(key, |key| Op::Renew { key, hold, until }, Some(hold))
    }
}
