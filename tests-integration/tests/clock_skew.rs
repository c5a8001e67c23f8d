//! Processes whose clocks differ (found by the history checker, issue 23):
//! once a soft invalidation has returned, no process serves the value it
//! invalidated as fresh, whatever its clock says, also after another
//! process claimed its refresh (memcached's claim of an invalidated value
//! rewrote the envelope stale "from now" by the claimer's clock, which a
//! process whose clock was behind read as fresh).

use std::time::Duration;

use antidogpile::clock::{ManualClock, Timestamp};
use antidogpile::{Cache, Got, Ttl};
use antidogpile_test_support::memcached::Memcached;
use antidogpile_test_support::redis::Redis;
use antidogpile_test_support::temp_dir::TempDir;

/// Two processes' caches of one store, the first's clock `skew` ahead.
fn two_clocks(url: &str, skew: Duration) -> (Cache, Cache) {
    let start = Timestamp::from_millis(1_700_000_000_000);
    let ahead = ManualClock::new(start);
    ahead.advance(skew);
    let behind = ManualClock::new(start);
    (
        Cache::from_url(url).unwrap().with_clock(ahead.clock()),
        Cache::from_url(url).unwrap().with_clock(behind.clock()),
    )
}

fn an_invalidated_value_is_stale_to_a_clock_behind(url: &str) {
    let (ahead, behind) = two_clocks(url, Duration::from_millis(200));
    let ttl = Ttl::soft(Duration::from_secs(60));
    ahead.set("k", &1u32, ttl).unwrap();
    ahead.delete("k").unwrap();
    // The process ahead claims the refresh and records its claim (a claim
    // shorter than 3 s is recorded at once on memcached).
    let claimed = ahead.get::<u32, _>("k").unwrap();
    assert!(
        matches!(claimed, Got::Recompute(Some(1), _)),
        "{url}: the first reader after the invalidation claims its refresh: {claimed:?}"
    );
    let seen = behind.get::<u32, _>("k").unwrap();
    assert!(
        !matches!(seen, Got::Fresh(_)),
        "{url}: a value invalidated before was served fresh to a process whose clock \
         is 200 ms behind: {seen:?}"
    );
    drop(claimed);
}

#[test]
fn memcached_keeps_an_invalidated_value_stale_for_every_clock() {
    let server = Memcached::start();
    an_invalidated_value_is_stale_to_a_clock_behind(&server.url("timeout=2s&liveness=1s"));
}

#[test]
fn redis_keeps_an_invalidated_value_stale_for_every_clock() {
    let server = Redis::start();
    an_invalidated_value_is_stale_to_a_clock_behind(&server.url("timeout=2s&liveness=1s"));
}

#[test]
fn files_keep_an_invalidated_value_stale_for_every_clock() {
    let dir = TempDir::new("antidogpile-clock-skew");
    an_invalidated_value_is_stale_to_a_clock_behind(&format!("{}?liveness=1s", dir.file_url()));
}

/// An invalidation by a process whose clock is ahead of the writer's, of a
/// value past its hard deadline by that clock but not by the others': it
/// must still reach it (it was skipped as already gone, and a process whose
/// clock was behind served it fresh).
fn an_invalidation_by_a_clock_ahead_reaches_a_value_near_its_deadline(url: &str) {
    let start = Timestamp::from_millis(1_700_000_000_000);
    let (ahead, behind) = (ManualClock::new(start), ManualClock::new(start));
    ahead.advance(Duration::from_millis(300));
    let invalidator = Cache::from_url(url).unwrap().with_clock(ahead.clock());
    let reader = Cache::from_url(url).unwrap().with_clock(behind.clock());
    // Fresh until its hard deadline (factor 1), 2 s after it is written.
    let ttl = Ttl::soft(Duration::from_secs(2)).factor(1);
    reader.set("k", &1u32, ttl).unwrap();
    // 1.8 s later by the writer's clock: 2.1 s by the invalidator's.
    for clock in [&ahead, &behind] {
        clock.advance(Duration::from_millis(1_800));
    }
    invalidator.delete("k").unwrap();
    let seen = reader.get::<u32, _>("k").unwrap();
    assert!(
        !matches!(seen, Got::Fresh(_)),
        "{url}: a value invalidated before was served fresh to a process whose clock \
         is 300 ms behind the invalidator's: {seen:?}"
    );
}

#[test]
fn an_invalidation_by_a_clock_ahead_reaches_redis_and_files() {
    let server = Redis::start();
    an_invalidation_by_a_clock_ahead_reaches_a_value_near_its_deadline(&server.url("timeout=2s"));
    let dir = TempDir::new("antidogpile-clock-ahead");
    an_invalidation_by_a_clock_ahead_reaches_a_value_near_its_deadline(&dir.file_url());
}
