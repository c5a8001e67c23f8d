#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod cache;
mod clearing;
mod client;
pub mod clock;
#[cfg(feature = "conformance")]
mod conformance;
pub mod custom_store;
use antidogpile_duration as duration;
mod envelope;
mod error;
mod flight;
mod holds;
mod hooks;
mod io;
mod key;
mod liveness;
#[cfg(test)]
mod machine_tests;
mod memo;
#[cfg(all(test, loom))]
mod model_tests;
mod outcome;
mod policy;
mod registry;
mod shape;
mod site;
mod stats;
pub mod store;
mod sync;
mod telemetry;
mod url;
mod url_params;
mod warn;

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

// The crate root speaks to people memoizing functions and people using the
// cache client; `store` to people picking a store; `custom_store` to people
// writing one.
pub use antidogpile_macros::antidogpiled;
pub use cache::Cache;
#[cfg(feature = "tokio")]
pub use client::AsyncCache;
pub use client::{Got, Invalidate, Recompute, Ttl};
pub use error::Error;
pub use outcome::Cacheable;
pub use registry::{default_cache, install, install_named, named_cache};
pub use stats::Stats;
#[cfg(feature = "metrics")]
pub use telemetry::publish_metrics;
pub use telemetry::{all_stats, stats};
