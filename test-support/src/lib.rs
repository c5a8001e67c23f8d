//! Fixtures shared by the tests, the examples, the soak tool and the
//! benchmark: real servers started on free loopback ports (and stopped when
//! dropped), directories of their own (removed when dropped), misbehaving proxies and peers for fault tests, the naive TTL
//! cache that antidogpile is set beside, and one small random number
//! generator, and [`within`] for calls that must not hang. Never a server left running by hand.

pub mod fault_proxy;
pub mod memcached;
pub mod naive_ttl;
pub mod redis;
pub mod redis_tls;
pub mod rng;
pub mod server;
pub mod slow_reader;
pub mod temp_dir;
mod within;

pub use within::within;
