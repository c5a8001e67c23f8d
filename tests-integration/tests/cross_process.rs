//! Several OS processes share one memcached: exactly one recompute per
//! expiry across all of them, no two at once, stale callers never wait for
//! it, and a claimer killed with SIGKILL is taken over after the grace.
//!
//! The processes are `antidogpile-worker` (src/bin), whose function is
//! fresh for 1 s, takes 300 ms to compute, and has a grace of 2 s; the
//! scenarios are in tests/common/workers.rs, shared with tests/file_store.rs.

mod common;

use common::memcached::Memcached;
use common::workers;

#[test]
fn four_processes_of_eight_threads_recompute_once_per_expiry() {
    let server = Memcached::start();
    let hammered = workers::four_processes_hammer_one_key(&server.url("timeout=1s"));
    // Claims are coalesced in each process: at most one claim attempt (a CAS
    // rewrite) per process per expiry reaches memcached, not one per thread.
    let stats = server.stats();
    let cas_attempts = stats["cas_hits"] + stats["cas_badval"] + stats["cas_misses"];
    let expiries = hammered.expiries();
    assert!(
        cas_attempts <= 4 * expiries,
        "{cas_attempts} claim attempts for {expiries} expiries of 4 processes"
    );
}

#[test]
fn a_claimer_killed_mid_refresh_is_taken_over_after_the_grace() {
    let server = Memcached::start();
    let taken_over = workers::a_claimer_is_killed_mid_refresh(&server.url("timeout=1s"));
    // Until the grace has passed, the poller was served the stale value.
    let stale_value = taken_over.calls[0][2];
    for call in taken_over.within_grace() {
        assert_eq!(call[1], 0, "no compute within the grace");
        assert_eq!(call[2], stale_value, "the stale value served meanwhile");
    }
}
