//! The stores a [`Cache`](crate::Cache) can keep its values in: pick one,
//! configure it, and hand it to [`Cache::new`](crate::Cache::new) (or name
//! it in a URL: [`Cache::from_url`](crate::Cache::from_url)).
//!
//! | store | where values live | shared by |
//! |---|---|---|
//! | [`MemoryStore`] (the default) | this process's memory | the threads and tasks of this process |
//! | [`MemcachedStore`] ([`MemcachedConfig`], [`ServerAddr`]) | one or more memcached servers | every process using those servers |
//! | `RedisStore` (`RedisConfig`, `RedisAddr`, `RedisTls`; feature `redis`) | a Redis node or cluster | every process using it |
//! | [`FileStore`] | files in a directory | every process on the machine using it |
//! | [`NoopStore`] | nowhere: every call computes | nobody |
//!
//! ```
//! use antidogpile::{store::MemoryStore, Cache};
//!
//! let cache = Cache::new(MemoryStore::new().with_max_entries(10_000));
//! # drop(cache);
//! ```
//!
//! Every store implements [`Store`]; a store of your own does too: see
//! [`custom_store`](crate::custom_store) for the contract, the types its
//! operations use, and the conformance suite.

pub use crate::error::{StoreError, StoreErrorKind};

pub(crate) mod answer;
pub(crate) mod api;
pub(crate) mod file;
pub(crate) mod memcached;
mod memory;
mod noop;
#[cfg(feature = "redis")]
pub(crate) mod redis;
mod remote;

pub(crate) use answer::block_on;
pub(crate) use answer::{Answer, Wait};
pub use api::Store;
pub(crate) use api::*;
pub use file::FileStore;
pub use memcached::{MemcachedConfig, MemcachedStore, ServerAddr};
pub use memory::MemoryStore;
pub use noop::NoopStore;
#[cfg(feature = "redis")]
pub use redis::{RedisAddr, RedisConfig, RedisStore, RedisTls};
