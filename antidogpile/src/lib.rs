#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod cache;
mod client;
pub mod clock;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod envelope;
mod error;
mod flight;
mod key;
mod liveness;
mod memo;
#[cfg(all(test, loom))]
mod model_tests;
mod outcome;
pub mod policy;
mod registry;
mod shape;
mod site;
mod stats;
pub mod store;
mod sync;
mod url;

#[doc(hidden)]
pub mod __private {
    pub use crate::private::*;
}
mod private;
mod random;
mod raw;
mod refresh_pool;
#[cfg(feature = "__fuzz")]
#[doc(hidden)]
pub mod __fuzz {
    pub use crate::fuzz::*;
}
#[cfg(feature = "__fuzz")]
mod fuzz;

pub use antidogpile_macros::antidogpiled;
pub use cache::{
    Cache, DEFAULT_GRACE, DEFAULT_HARD_TIMEOUT_FACTOR, DEFAULT_LIVENESS, DEFAULT_RETRY_SPACING,
    ENV_URL,
};
#[cfg(feature = "tokio")]
pub use client::AsyncCache;
pub use client::{Got, Invalidate, Recompute, Ttl, CLIENT_NAMESPACE};
pub use error::{Error, StoreError, StoreErrorKind};
pub use key::{Fingerprint, Key};
pub use outcome::{Cacheable, Outcome};
pub use registry::{default_cache, install, install_named, named_cache};
pub use site::stats;
pub use stats::Stats;
pub use store::{
    FileStore, MemcachedConfig, MemcachedStore, MemoryStore, NoopStore, ServerAddr, Store,
};
pub use url::parse_duration;
