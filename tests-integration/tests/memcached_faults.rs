//! A memcached that is down, restarted, stalled or talking nonsense makes
//! calls slower (they compute, within the timeout), never wrong, and never
//! makes them hang or panic.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use antidogpile::antidogpiled;
use antidogpile::{install_named, Cache};
use common::memcached::Memcached;
use common::outage::{self, Calls};

#[test]
fn a_server_killed_and_restarted_costs_computes_then_caching_resumes() {
    outage::a_restart_costs_computes_then_caching_resumes(&mut Memcached::start(), Calls::Blocking);
}

#[test]
fn a_server_that_never_answers_costs_one_timeout_not_a_hang() {
    outage::a_server_that_never_answers_costs_one_timeout("memcached", Calls::Blocking);
}

#[test]
fn a_server_replying_garbage_is_a_store_error_and_the_value_is_computed() {
    outage::garbage_replies_cost_computes_never_a_wrong_value(
        "memcached",
        &[
            b"VA 99999999999999999999 f1\r\n",
            b"VA 5 f1094975489 c1\r\nab\r\n",
            b"\x00\xff\xfe garbage\r\n",
            b"HD c-1\r\n",
            b"SERVER_ERROR out of memory\r\n",
            b"VA 3 f1094975489 c7\r\nAD\x01\r\n",
        ],
    );
}

static SPREAD_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "fault_spread", name = "fault::spread")]
fn spread(id: u64) -> u64 {
    SPREAD_CALLS.fetch_add(1, Ordering::SeqCst);
    id
}

#[test]
fn with_one_of_two_servers_down_every_key_is_cached_on_the_other() {
    let first = Memcached::start();
    let mut second = Memcached::start();
    let url = format!(
        "memcached://127.0.0.1:{},127.0.0.1:{}?timeout=300ms&retry_after=1h",
        first.port(),
        second.port()
    );
    install_named("fault_spread", Cache::from_url(&url).unwrap());
    second.kill();
    for id in 0..50 {
        assert_eq!(spread(id), id);
    }
    let computed = SPREAD_CALLS.load(Ordering::SeqCst);
    assert_eq!(computed, 50);
    for id in 0..50 {
        assert_eq!(spread(id), id);
    }
    assert_eq!(
        SPREAD_CALLS.load(Ordering::SeqCst),
        50,
        "all 50 cached on the live server"
    );
}

#[test]
fn a_server_killed_and_restarted_while_threads_call_never_yields_a_wrong_value() {
    outage::threads_call_through_a_restart(&mut Memcached::start());
}
