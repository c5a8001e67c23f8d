//! The [`Store`](super::Store) impl of a store on other servers (memcached,
//! Redis), written once.
//!
//! Such a store keeps its operations on an `Ops` value bound to the
//! transport that fits how its caller waits: `fn ops(&self, wait: Wait) ->
//! Ops<'_>` on the store, and on `Ops` one `async fn` per operation of the
//! `Store` trait, under the trait method's name and with its arguments
//! (minus `wait`), answering `Result<T, StoreError>`; the reads answer
//! what they found as [`Found`](super::Found) with the hold they took.
//! [`store_over_remote_ops!`] then maps every `Store` method onto its
//! `Ops` method through [`Answer::for_caller`](super::Answer::for_caller):
//! run to its end at once for a blocking caller, a future for an async one.
//! Such stores keep bytes, take their holds in their reads and renew them.

/// `impl Store for $store` over `$store::ops(wait)` (see the module docs).
macro_rules! store_over_remote_ops {
    ($store:ty) => {
        impl $crate::store::Store for $store {
            fn keeps_bytes(&self) -> bool {
                true
            }

            fn reads_take_holds(&self) -> bool {
                true
            }

            fn renews_holds(&self) -> bool {
                true
            }

            fn stalls_as_one(&self) -> bool {
                $crate::store::remote::StallsAsOne::stalls_as_one(self)
            }

            fn read<'a>(
                &'a self,
                wait: $crate::store::Wait,
                key: $crate::key::Key,
                now: $crate::clock::Timestamp,
                purpose: $crate::store::ReadFor,
                reader: &'a mut $crate::store::Reader<'_>,
            ) -> $crate::store::Answer<'a, Option<$crate::store::Hold>> {
                let ops = self.ops(wait);
                $crate::store::Answer::for_caller(wait, async move {
                    let (found, hold) = ops.read(&key, now, purpose).await?;
                    if let Some(found) = found {
                        reader(found.lookup());
                    }
                    Ok(hold)
                })
            }

            fn try_claim(
                &self,
                wait: $crate::store::Wait,
                key: $crate::key::Key,
                seen: $crate::store::Version,
                now: $crate::clock::Timestamp,
                until: $crate::clock::Timestamp,
            ) -> $crate::store::Answer<'_, Option<$crate::store::ClaimId>> {
                let ops = self.ops(wait);
                $crate::store::Answer::for_caller(wait, async move {
                    ops.try_claim(&key, seen, now, until).await
                })
            }

            fn release_claim(
                &self,
                wait: $crate::store::Wait,
                key: $crate::key::Key,
                claim: $crate::store::ClaimId,
            ) -> $crate::store::Answer<'_, ()> {
                let ops = self.ops(wait);
                $crate::store::Answer::for_caller(wait, async move {
                    ops.release_claim(&key, claim).await
                })
            }

            fn write(
                &self,
                wait: $crate::store::Wait,
                key: $crate::key::Key,
                value: $crate::store::Stored,
                deadlines: $crate::policy::Deadlines,
                now: $crate::clock::Timestamp,
            ) -> $crate::store::Answer<'_, ()> {
                let ops = self.ops(wait);
                $crate::store::Answer::for_caller(wait, async move {
                    ops.write(&key, value, deadlines, now).await
                })
            }

            fn write_held(
                &self,
                wait: $crate::store::Wait,
                key: $crate::key::Key,
                held: $crate::store::Hold,
                value: $crate::store::Stored,
                deadlines: $crate::policy::Deadlines,
                now: $crate::clock::Timestamp,
            ) -> $crate::store::Answer<'_, bool> {
                let ops = self.ops(wait);
                $crate::store::Answer::for_caller(wait, async move {
                    ops.write_held(&key, held, value, deadlines, now).await
                })
            }

            fn remove(
                &self,
                wait: $crate::store::Wait,
                key: $crate::key::Key,
            ) -> $crate::store::Answer<'_, ()> {
                let ops = self.ops(wait);
                $crate::store::Answer::for_caller(wait, async move { ops.remove(&key).await })
            }

            fn try_lease(
                &self,
                wait: $crate::store::Wait,
                key: $crate::key::Key,
                now: $crate::clock::Timestamp,
                grace: ::std::time::Duration,
            ) -> $crate::store::Answer<'_, Option<$crate::store::LeaseId>> {
                let ops = self.ops(wait);
                $crate::store::Answer::for_caller(wait, async move {
                    ops.try_lease(&key, now, grace).await
                })
            }

            fn release_lease(
                &self,
                wait: $crate::store::Wait,
                key: $crate::key::Key,
                lease: $crate::store::LeaseId,
            ) -> $crate::store::Answer<'_, ()> {
                let ops = self.ops(wait);
                $crate::store::Answer::for_caller(wait, async move {
                    ops.release_lease(&key, lease).await
                })
            }

            fn renew(
                &self,
                wait: $crate::store::Wait,
                key: $crate::key::Key,
                hold: $crate::store::Hold,
                until: $crate::clock::Timestamp,
                now: $crate::clock::Timestamp,
            ) -> $crate::store::Answer<'_, Option<$crate::store::Hold>> {
                let ops = self.ops(wait);
                $crate::store::Answer::for_caller(wait, async move {
                    ops.renew(&key, hold, until, now).await
                })
            }

            fn renew_many<'a>(
                &'a self,
                wait: $crate::store::Wait,
                renewals: &'a [$crate::store::Renew],
                now: $crate::clock::Timestamp,
            ) -> $crate::store::Answer<
                'a,
                Vec<Result<Option<$crate::store::Hold>, $crate::error::StoreError>>,
            > {
                let ops = self.ops(wait);
                $crate::store::Answer::for_caller(wait, async move {
                    ops.renew_many(renewals, now).await
                })
            }

            fn add(
                &self,
                wait: $crate::store::Wait,
                write: $crate::store::Write,
                now: $crate::clock::Timestamp,
            ) -> $crate::store::Answer<'_, bool> {
                let ops = self.ops(wait);
                $crate::store::Answer::for_caller(wait, async move { ops.add(write, now).await })
            }

            fn mark_stale(
                &self,
                wait: $crate::store::Wait,
                key: $crate::key::Key,
                now: $crate::clock::Timestamp,
            ) -> $crate::store::Answer<'_, bool> {
                let ops = self.ops(wait);
                $crate::store::Answer::for_caller(
                    wait,
                    async move { ops.mark_stale(&key, now).await },
                )
            }

            fn count(
                &self,
                wait: $crate::store::Wait,
                key: $crate::key::Key,
                delta: $crate::store::Delta,
                _: $crate::clock::Timestamp,
            ) -> $crate::store::Answer<'_, $crate::store::Counted> {
                let ops = self.ops(wait);
                $crate::store::Answer::for_caller(wait, async move { ops.count(&key, delta).await })
            }

            fn read_many<'a>(
                &'a self,
                wait: $crate::store::Wait,
                keys: &'a [$crate::key::Key],
                now: $crate::clock::Timestamp,
                purpose: $crate::store::ReadFor,
                reader: &'a mut $crate::store::ManyReader<'_>,
            ) -> $crate::store::Answer<'a, Vec<Option<$crate::store::Hold>>> {
                let ops = self.ops(wait);
                $crate::store::Answer::for_caller(wait, async move {
                    let found = ops.read_many(keys, now, purpose).await?;
                    Ok($crate::store::Found::hand_to(found, reader))
                })
            }

            fn write_many(
                &self,
                wait: $crate::store::Wait,
                writes: Vec<$crate::store::Write>,
                now: $crate::clock::Timestamp,
            ) -> $crate::store::Answer<'_, ()> {
                let ops = self.ops(wait);
                $crate::store::Answer::for_caller(
                    wait,
                    async move { ops.write_many(writes, now).await },
                )
            }

            fn remove_many<'a>(
                &'a self,
                wait: $crate::store::Wait,
                keys: &'a [$crate::key::Key],
            ) -> $crate::store::Answer<'a, ()> {
                let ops = self.ops(wait);
                $crate::store::Answer::for_caller(wait, async move { ops.remove_many(keys).await })
            }

            fn try_lease_many<'a>(
                &'a self,
                wait: $crate::store::Wait,
                keys: &'a [$crate::key::Key],
                now: $crate::clock::Timestamp,
                grace: ::std::time::Duration,
            ) -> $crate::store::Answer<
                'a,
                Vec<Result<Option<$crate::store::LeaseId>, $crate::error::StoreError>>,
            > {
                let ops = self.ops(wait);
                $crate::store::Answer::for_caller(wait, async move {
                    ops.try_lease_many(keys, now, grace).await
                })
            }

            fn try_claim_many<'a>(
                &'a self,
                wait: $crate::store::Wait,
                claims: &'a [($crate::key::Key, $crate::store::Version)],
                now: $crate::clock::Timestamp,
                until: $crate::clock::Timestamp,
            ) -> $crate::store::Answer<
                'a,
                Vec<Result<Option<$crate::store::ClaimId>, $crate::error::StoreError>>,
            > {
                let ops = self.ops(wait);
                $crate::store::Answer::for_caller(wait, async move {
                    ops.try_claim_many(claims, now, until).await
                })
            }

            fn write_held_many(
                &self,
                wait: $crate::store::Wait,
                writes: Vec<($crate::store::Write, $crate::store::Hold)>,
                now: $crate::clock::Timestamp,
            ) -> $crate::store::Answer<'_, Vec<Result<bool, $crate::error::StoreError>>> {
                let ops = self.ops(wait);
                $crate::store::Answer::for_caller(wait, async move {
                    ops.write_held_many(writes, now).await
                })
            }

            fn ping(&self, wait: $crate::store::Wait) -> $crate::store::Answer<'_, ()> {
                let ops = self.ops(wait);
                $crate::store::Answer::for_caller(wait, async move { ops.ping().await })
            }
        }
    };
}

pub(crate) use store_over_remote_ops;

/// [`Store::stalls_as_one`](super::Store::stalls_as_one) of a remote store
/// (`true` unless it says otherwise).
pub(crate) trait StallsAsOne {
    fn stalls_as_one(&self) -> bool {
        true
    }
}

/// Several servers' timeouts are each server's own.
impl StallsAsOne for super::MemcachedStore {
    fn stalls_as_one(&self) -> bool {
        self.config().servers.len() == 1
    }
}
