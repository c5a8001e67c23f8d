//! A call whose read failed computes with no hold of the store's: its value
//! is returned, not stored, so an invalidation made while it computed is
//! not undone by a plain write (found by the history checker, issue 23: a
//! Redis Cluster node killed, the compute's plain write landed after an
//! invalidation, and later callers were served its value fresh).

use std::time::Duration;

use antidogpile::{Cache, Got, Ttl};
use antidogpile_test_support::fault_proxy::FaultProxy;
use antidogpile_test_support::memcached::Memcached;

#[test]
fn a_compute_after_a_failed_read_does_not_undo_an_invalidation() {
    let server = Memcached::start();
    let proxy = FaultProxy::start(server.port());
    let through_proxy = Cache::from_url(&proxy.url("timeout=2s&retry_after=1ms")).unwrap();
    let direct = Cache::from_url(&server.url("timeout=2s")).unwrap();
    let ttl = Ttl::soft(Duration::from_secs(60));
    // The call's read fails: memcached cannot be reached (refused at once,
    // not a timeout, after which the call would skip the store anyway).
    through_proxy.ping().unwrap();
    proxy.refuse_new_connections();
    proxy.drop_connections();
    let value = through_proxy.get_or_compute("k", ttl, || {
        // memcached is back, and another process invalidates the key while
        // this compute runs.
        proxy.pass_through();
        direct.delete_hard("k").unwrap();
        std::thread::sleep(Duration::from_millis(5));
        1u64
    });
    assert_eq!(value, 1, "the caller gets its value");
    let seen = direct.get::<u64, _>("k").unwrap();
    assert!(
        !matches!(seen, Got::Fresh(1)),
        "a value computed before an invalidation was served fresh after it returned: {seen:?}"
    );
}
