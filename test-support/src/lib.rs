//! Fixtures shared by the tests, the examples, the soak tool and the
//! benchmark: real servers started on free loopback ports (and stopped when
//! dropped), and misbehaving proxies and peers for fault tests. Never a
//! server left running by hand.

pub mod fault_proxy;
pub mod memcached;
pub mod slow_reader;
