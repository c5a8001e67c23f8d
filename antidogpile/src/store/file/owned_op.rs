//! Store operations that own what they refer to, so that `run_async` can
//! move them to one of tokio's blocking threads.

use super::FileStore;
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::key::Key;
use crate::store::{Store, StoreOp, StoreReply, Write};

/// A [`StoreOp`] that owns what it refers to, to be moved to a blocking
/// thread. The file store needs only a key's fingerprint: keys keep it and
/// drop their namespace.
pub(super) enum OwnedOp {
    One(StoreOp<'static>),
    ReadMany {
        keys: Vec<Key<'static>>,
        now: Timestamp,
    },
    RemoveMany {
        keys: Vec<Key<'static>>,
    },
    TryLeaseMany {
        keys: Vec<Key<'static>>,
        now: Timestamp,
        grace: std::time::Duration,
    },
    TryClaimMany {
        claims: Vec<(Key<'static>, crate::store::Version)>,
        now: Timestamp,
        until: Timestamp,
    },
}

fn owned_key(key: &Key<'_>) -> Key<'static> {
    Key::new(key.fingerprint(), "", key.version())
}

fn owned_write(write: Write<'_>) -> Write<'static> {
    Write {
        key: owned_key(&write.key),
        value: write.value,
        deadlines: write.deadlines,
    }
}

impl From<StoreOp<'_>> for OwnedOp {
    fn from(op: StoreOp<'_>) -> OwnedOp {
        OwnedOp::One(match op {
            StoreOp::Read { key, now } => StoreOp::Read {
                key: owned_key(&key),
                now,
            },
            StoreOp::TryClaim {
                key,
                seen,
                now,
                until,
            } => StoreOp::TryClaim {
                key: owned_key(&key),
                seen,
                now,
                until,
            },
            StoreOp::ReleaseClaim { key, claim } => StoreOp::ReleaseClaim {
                key: owned_key(&key),
                claim,
            },
            StoreOp::Write {
                key,
                value,
                deadlines,
                now,
            } => StoreOp::Write {
                key: owned_key(&key),
                value,
                deadlines,
                now,
            },
            StoreOp::WriteHeld {
                key,
                held,
                value,
                deadlines,
                now,
            } => StoreOp::WriteHeld {
                key: owned_key(&key),
                held,
                value,
                deadlines,
                now,
            },
            StoreOp::Remove { key } => StoreOp::Remove {
                key: owned_key(&key),
            },
            StoreOp::TryLease { key, now, grace } => StoreOp::TryLease {
                key: owned_key(&key),
                now,
                grace,
            },
            StoreOp::ReleaseLease { key, lease } => StoreOp::ReleaseLease {
                key: owned_key(&key),
                lease,
            },
            StoreOp::Renew {
                key,
                hold,
                until,
                now,
            } => StoreOp::Renew {
                key: owned_key(&key),
                hold,
                until,
                now,
            },
            StoreOp::Add { write, now } => StoreOp::Add {
                write: owned_write(write),
                now,
            },
            StoreOp::MarkStale { key, now } => StoreOp::MarkStale {
                key: owned_key(&key),
                now,
            },
            StoreOp::Count { key, delta, now } => StoreOp::Count {
                key: owned_key(&key),
                delta,
                now,
            },
            StoreOp::WriteMany { writes, now } => StoreOp::WriteMany {
                writes: writes.into_iter().map(owned_write).collect(),
                now,
            },
            StoreOp::ReadMany { keys, now } => {
                return OwnedOp::ReadMany {
                    keys: keys.iter().map(owned_key).collect(),
                    now,
                }
            }
            StoreOp::Ping => StoreOp::Ping,
            StoreOp::TryLeaseMany { keys, now, grace } => {
                return OwnedOp::TryLeaseMany {
                    keys: keys.iter().map(owned_key).collect(),
                    now,
                    grace,
                }
            }
            StoreOp::TryClaimMany { claims, now, until } => {
                return OwnedOp::TryClaimMany {
                    claims: claims
                        .iter()
                        .map(|(key, seen)| (owned_key(key), *seen))
                        .collect(),
                    now,
                    until,
                }
            }
            StoreOp::WriteHeldMany { writes, now } => StoreOp::WriteHeldMany {
                writes: writes
                    .into_iter()
                    .map(|(write, held)| (owned_write(write), held))
                    .collect(),
                now,
            },
            StoreOp::RemoveMany { keys } => {
                return OwnedOp::RemoveMany {
                    keys: keys.iter().map(owned_key).collect(),
                }
            }
        })
    }
}

impl OwnedOp {
    pub(super) fn run_on(self, store: &FileStore) -> Result<StoreReply, StoreError> {
        match self {
            OwnedOp::One(op) => store.run(op),
            OwnedOp::ReadMany { keys, now } => store.run(StoreOp::ReadMany { keys: &keys, now }),
            OwnedOp::RemoveMany { keys } => store.run(StoreOp::RemoveMany { keys: &keys }),
            OwnedOp::TryLeaseMany { keys, now, grace } => store.run(StoreOp::TryLeaseMany {
                keys: &keys,
                now,
                grace,
            }),
            OwnedOp::TryClaimMany { claims, now, until } => store.run(StoreOp::TryClaimMany {
                claims: &claims,
                now,
                until,
            }),
        }
    }
}
