use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime};

use super::*;
use crate::key::Fingerprint;
use crate::policy::EntryMeta;
use crate::store::{Found, ReadFor, Wait};

/// A directory of its own under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "antidogpile-file-{}-{name}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        TempDir(dir)
    }

    fn store(&self) -> FileStore {
        FileStore::new(&self.0).unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn key(n: u128) -> Key {
    Key::new(Fingerprint::from_u128(n), "file::tests", 0)
}

fn at(millis: u64) -> Timestamp {
    Timestamp::from_millis(millis)
}

fn deadlines(soft: u64, hard: u64) -> Deadlines {
    Deadlines {
        soft: at(soft),
        hard: at(hard),
    }
}

fn bytes(payload: &[u8]) -> Stored {
    Stored::Bytes(payload.to_vec())
}

fn raw(value: &[u8]) -> Stored {
    Stored::Raw(value.to_vec())
}

fn lookup(store: &FileStore, key: &Key, now: u64) -> Option<Found> {
    let mut found = None;
    store
        .read(
            Wait::Blocking,
            *key,
            at(now),
            ReadFor::Peek,
            &mut |lookup| found = Some(Found::of(lookup)),
        )
        .wait()
        .unwrap();
    found
}

/// The entry's meta, version and value, or a panic saying what was found instead.
fn entry(store: &FileStore, key: &Key, now: u64) -> (EntryMeta, Version, Stored) {
    match lookup(store, key, now) {
        Some(Found::Entry {
            meta,
            version,
            value,
        }) => (meta, version, value),
        other => panic!("expected an entry, found {other:?}"),
    }
}

fn payload_of(value: &Stored) -> &[u8] {
    match value {
        Stored::Bytes(bytes) | Stored::Raw(bytes) => bytes,
        Stored::Object(_) => panic!("a file store returned an object"),
    }
}

fn path_of(store: &FileStore, key: &Key) -> PathBuf {
    store.inner.dir.path(key.fingerprint())
}

fn write_at(store: &FileStore, key: &Key, value: Stored, soft: u64, hard: u64) {
    store
        .write(Wait::Blocking, *key, value, deadlines(soft, hard), at(0))
        .wait()
        .unwrap();
}

/// Runs `race` on 8 threads started together; how many returned true.
fn winners(race: impl Fn() -> bool + Send + Sync + 'static) -> usize {
    let race = Arc::new(race);
    let start = Arc::new(Barrier::new(8));
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let (race, start) = (Arc::clone(&race), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                race()
            })
        })
        .collect();
    racers
        .into_iter()
        .map(|racer| racer.join().unwrap())
        .filter(|won| *won)
        .count()
}

#[test]
fn values_and_raw_values_read_back_with_their_deadlines() {
    let dir = TempDir::new("round-trip");
    let store = dir.store();
    assert!(store.keeps_bytes());
    write_at(&store, &key(1), bytes(b"payload"), 10, 100);
    let (meta, first, value) = entry(&store, &key(1), 5);
    assert_eq!(meta.soft_deadline, at(10));
    assert_eq!(meta.claimed_until, Timestamp::EPOCH);
    assert!(matches!(value, Stored::Bytes(_)));
    assert_eq!(payload_of(&value), b"payload");

    write_at(&store, &key(1), raw(b"hard"), 0, u64::MAX);
    let (meta, second, value) = entry(&store, &key(1), 1_000_000);
    assert_eq!(meta, RAW_META);
    assert!(matches!(value, Stored::Raw(_)));
    assert_eq!(payload_of(&value), b"hard");
    assert_ne!(first, second, "a write changes the version");

    assert!(lookup(&store, &key(2), 0).is_none(), "never written");
    store.remove(Wait::Blocking, key(1)).wait().unwrap();
    assert!(lookup(&store, &key(1), 0).is_none());
    assert!(!path_of(&store, &key(1)).exists());
    store.remove(Wait::Blocking, key(1)).wait().unwrap();
}

#[test]
fn values_survive_a_restart() {
    let dir = TempDir::new("restart");
    let version = {
        let store = dir.store();
        write_at(&store, &key(1), bytes(b"kept"), 10, 100);
        write_at(&store, &key(2), raw(b"7"), 0, u64::MAX);
        store
            .try_lease(Wait::Blocking, key(3), at(0), Duration::from_millis(50))
            .wait()
            .unwrap();
        entry(&store, &key(1), 0).1
    };
    let reopened = dir.store();
    let (meta, again, value) = entry(&reopened, &key(1), 20);
    assert_eq!(payload_of(&value), b"kept");
    assert_eq!(meta.soft_deadline, at(10));
    assert_eq!(again, version, "the version is in the file");
    assert!(reopened
        .try_claim(Wait::Blocking, key(1), version, at(20), at(60))
        .wait()
        .unwrap()
        .is_some());
    assert_eq!(payload_of(&entry(&reopened, &key(2), 0).2), b"7");
    assert!(matches!(
        lookup(&reopened, &key(3), 10),
        Some(Found::Leased)
    ));
    assert_eq!(
        reopened
            .try_lease(Wait::Blocking, key(3), at(10), Duration::from_secs(1))
            .wait()
            .unwrap(),
        None
    );
}

#[test]
fn of_eight_threads_claiming_one_version_exactly_one_wins() {
    let dir = TempDir::new("claim-race");
    let store = dir.store();
    for round in 0..40 {
        write_at(&store, &key(round), bytes(b"v"), 10, 1_000);
        let seen = entry(&store, &key(round), 20).1;
        let racing = store.clone();
        let wins = winners(move || {
            racing
                .try_claim(Wait::Blocking, key(round), seen, at(20), at(80))
                .wait()
                .unwrap()
                .is_some()
        });
        assert_eq!(wins, 1, "round {round}");
        let (meta, _, value) = entry(&store, &key(round), 20);
        assert_eq!(meta.claimed_until, at(80));
        assert_eq!(payload_of(&value), b"v", "a claim keeps the value");
    }
}

#[test]
fn claims_need_the_seen_version_a_stale_entry_and_no_live_claim() {
    let dir = TempDir::new("claims");
    let store = dir.store();
    let k = key(1);
    let claim = |seen, now, until| {
        store
            .try_claim(Wait::Blocking, k, seen, at(now), at(until))
            .wait()
            .unwrap()
    };
    write_at(&store, &k, bytes(b"1"), 10, 100);
    let seen = entry(&store, &k, 0).1;
    assert_eq!(claim(seen, 9, 50), None, "still fresh");
    assert_eq!(claim(Version(seen.0 ^ 1), 10, 50), None, "other version");
    let first = claim(seen, 10, 50).expect("stale and unclaimed");
    let claimed = entry(&store, &k, 10).1;
    assert_eq!(
        claimed.0, first.0,
        "the claim is the claimed entry's version"
    );
    assert_eq!(claim(claimed, 49, 90), None, "the claim is live");
    let second = claim(claimed, 50, 90).expect("the claim ran out");
    // The first claim is not the live one any more: releasing it changes nothing.
    store
        .release_claim(Wait::Blocking, k, first)
        .wait()
        .unwrap();
    assert_eq!(entry(&store, &k, 60).0.claimed_until, at(90));
    store
        .release_claim(Wait::Blocking, k, second)
        .wait()
        .unwrap();
    let (meta, released, _) = entry(&store, &k, 60);
    assert_eq!(meta.claimed_until, Timestamp::EPOCH);
    assert!(claim(released, 61, 90).is_some(), "taken again at once");
    assert_eq!(claim(released, 100, 200), None, "hard-expired");
    write_at(&store, &k, raw(b"r"), 0, u64::MAX);
    let raw_version = entry(&store, &k, 0).1;
    assert_eq!(
        claim(raw_version, 200, 300),
        None,
        "raw values are never stale"
    );
    assert_eq!(
        claim(seen, 10, 50),
        None,
        "nothing to claim under a missing key"
    );
}

#[test]
fn of_eight_threads_leasing_a_missing_key_exactly_one_wins() {
    let dir = TempDir::new("lease-race");
    let store = dir.store();
    for round in 0..40 {
        let racing = store.clone();
        let wins = winners(move || {
            racing
                .try_lease(Wait::Blocking, key(round), at(0), Duration::from_millis(50))
                .wait()
                .unwrap()
                .is_some()
        });
        assert_eq!(wins, 1, "round {round}");
    }
}

#[test]
fn leases_last_their_grace_and_only_their_holder_releases_them() {
    let dir = TempDir::new("leases");
    let store = dir.store();
    let k = key(1);
    let lease = |now| {
        store
            .try_lease(Wait::Blocking, k, at(now), Duration::from_millis(50))
            .wait()
            .unwrap()
    };
    let first = lease(0).expect("nothing stored");
    assert!(matches!(lookup(&store, &k, 49), Some(Found::Leased)));
    assert_eq!(lease(49), None, "held");
    let second = lease(50).expect("the first ran out");
    assert_ne!(first, second);
    store
        .release_lease(Wait::Blocking, k, first)
        .wait()
        .unwrap();
    assert!(
        matches!(lookup(&store, &k, 60), Some(Found::Leased)),
        "not its lease"
    );
    store
        .release_lease(Wait::Blocking, k, second)
        .wait()
        .unwrap();
    assert!(lookup(&store, &k, 60).is_none());
    assert!(lease(60).is_some(), "released: taken again at once");
    write_at(&store, &k, bytes(b"v"), 100, 200);
    assert_eq!(lease(70), None, "a value is stored");
    assert!(lease(200).is_some(), "the value expired");
}

#[test]
fn add_stores_only_where_no_value_is_and_one_of_many_wins() {
    let dir = TempDir::new("add");
    let store = dir.store();
    let add = |n: u128, value: &[u8], now| {
        let write = Write {
            key: key(n),
            value: bytes(value),
            deadlines: deadlines(now + 10, now + 100),
        };
        store.add(Wait::Blocking, write, at(now)).wait().unwrap()
    };
    assert!(add(1, b"first", 0));
    assert!(!add(1, b"second", 0));
    assert_eq!(payload_of(&entry(&store, &key(1), 0).2), b"first");
    assert!(add(1, b"third", 100), "the first expired");
    store
        .try_lease(Wait::Blocking, key(2), at(0), Duration::from_secs(1))
        .wait()
        .unwrap();
    assert!(add(2, b"over a lease", 0));
    std::fs::write(path_of(&store, &key(3)), b"garbage").unwrap();
    assert!(add(3, b"over garbage", 0));
    assert_eq!(payload_of(&entry(&store, &key(3), 0).2), b"over garbage");

    for round in 10..30 {
        let racing = store.clone();
        let wins = winners(move || {
            let write = Write {
                key: key(round),
                value: Stored::Raw(b"x".to_vec()),
                deadlines: deadlines(0, 1_000),
            };
            racing.add(Wait::Blocking, write, at(0)).wait().unwrap()
        });
        assert_eq!(wins, 1, "round {round}");
    }
}

#[test]
fn counters_count_raw_decimals_atomically_and_nothing_else() {
    let dir = TempDir::new("count");
    let store = dir.store();
    let count = |n: u128, delta| {
        store
            .count(Wait::Blocking, key(n), delta, at(0))
            .wait()
            .unwrap()
    };
    assert_eq!(count(1, Delta::Incr(1)), Counted::Absent);
    write_at(&store, &key(1), raw(b"41"), 0, 1_000);
    assert_eq!(count(1, Delta::Incr(1)), Counted::Value(42));
    assert_eq!(payload_of(&entry(&store, &key(1), 0).2), b"42");
    assert_eq!(
        count(1, Delta::Decr(50)),
        Counted::Value(0),
        "stops at zero"
    );
    write_at(&store, &key(2), bytes(b"41"), 10, 1_000);
    assert_eq!(count(2, Delta::Incr(1)), Counted::NotACounter);
    assert_eq!(
        payload_of(&entry(&store, &key(2), 0).2),
        b"41",
        "left as it was"
    );
    write_at(&store, &key(3), raw(b"-3"), 0, 1_000);
    assert_eq!(count(3, Delta::Incr(1)), Counted::NotACounter);
    write_at(&store, &key(4), raw(b"9"), 0, 1_000);
    assert_eq!(
        store
            .count(Wait::Blocking, key(4), Delta::Incr(1), at(1_000))
            .wait()
            .unwrap(),
        Counted::Absent,
        "expired"
    );

    write_at(&store, &key(5), raw(b"0"), 0, u64::MAX);
    let racing = store.clone();
    winners(move || {
        for _ in 0..50 {
            racing
                .count(Wait::Blocking, key(5), Delta::Incr(1), at(0))
                .wait()
                .unwrap();
        }
        true
    });
    assert_eq!(
        count(5, Delta::Incr(0)),
        Counted::Value(400),
        "no increment lost"
    );
}

#[test]
fn marking_stale_keeps_an_envelope_and_removes_a_raw_value() {
    let dir = TempDir::new("mark-stale");
    let store = dir.store();
    write_at(&store, &key(1), bytes(b"v"), 100, 1_000);
    let seen = entry(&store, &key(1), 0).1;
    assert!(store
        .try_claim(Wait::Blocking, key(1), seen, at(150), at(500))
        .wait()
        .unwrap()
        .is_some());
    assert!(store
        .mark_stale(Wait::Blocking, key(1), at(160))
        .wait()
        .unwrap());
    let (meta, version, value) = entry(&store, &key(1), 160);
    assert_eq!(meta.soft_deadline, Timestamp::EPOCH);
    assert_eq!(meta.claimed_until, Timestamp::EPOCH, "the claim is dropped");
    assert_eq!(payload_of(&value), b"v");
    assert!(store
        .try_claim(Wait::Blocking, key(1), version, at(160), at(200))
        .wait()
        .unwrap()
        .is_some());

    write_at(&store, &key(2), raw(b"r"), 0, 1_000);
    assert!(store
        .mark_stale(Wait::Blocking, key(2), at(10))
        .wait()
        .unwrap());
    assert!(lookup(&store, &key(2), 10).is_none());
    assert!(
        !store
            .mark_stale(Wait::Blocking, key(3), at(10))
            .wait()
            .unwrap(),
        "nothing stored"
    );
    store
        .try_lease(Wait::Blocking, key(3), at(0), Duration::from_secs(1))
        .wait()
        .unwrap();
    assert!(
        !store
            .mark_stale(Wait::Blocking, key(3), at(10))
            .wait()
            .unwrap(),
        "a lease is no value"
    );
    assert!(
        !store
            .mark_stale(Wait::Blocking, key(1), at(1_000))
            .wait()
            .unwrap(),
        "expired"
    );
}

#[test]
fn truncated_garbage_and_foreign_files_read_as_nothing_and_are_overwritten() {
    let dir = TempDir::new("garbage");
    let store = dir.store();
    let k = key(1);
    let path = path_of(&store, &k);
    write_at(&store, &k, bytes(b"a value long enough to cut"), 10, 100);
    let whole = std::fs::read(&path).unwrap();
    for len in [0, 1, 10, format::HEADER_LEN, whole.len() - 1] {
        std::fs::write(&path, &whole[..len]).unwrap();
        assert!(lookup(&store, &k, 0).is_none(), "cut to {len} bytes");
        assert_eq!(
            store
                .count(Wait::Blocking, k, Delta::Incr(1), at(0))
                .wait()
                .unwrap(),
            Counted::Absent
        );
    }
    std::fs::write(&path, [0xffu8; 300]).unwrap();
    assert!(lookup(&store, &k, 0).is_none());
    assert!(store
        .try_lease(Wait::Blocking, k, at(0), Duration::from_secs(1))
        .wait()
        .unwrap()
        .is_some());
    write_at(&store, &k, bytes(b"new"), 10, 100);
    assert_eq!(payload_of(&entry(&store, &k, 0).2), b"new");

    // Another key's file under this key's name is not this key's value.
    write_at(&store, &key(2), bytes(b"other key"), 10, 100);
    std::fs::copy(path_of(&store, &key(2)), &path).unwrap();
    assert!(lookup(&store, &k, 0).is_none());
    assert!(!store.mark_stale(Wait::Blocking, k, at(0)).wait().unwrap());
}

#[test]
fn a_file_larger_than_the_limit_is_refused_and_not_read() {
    let dir = TempDir::new("too-large");
    let store = dir.store().with_max_value(64);
    let error = store
        .write(
            Wait::Blocking,
            key(1),
            raw(&[b'x'; 65]),
            deadlines(0, 100),
            at(0),
        )
        .wait()
        .unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::TooLarge);
    assert!(lookup(&store, &key(1), 0).is_none());
    write_at(&store, &key(1), raw(&[b'x'; 64]), 0, 100);
    assert_eq!(payload_of(&entry(&store, &key(1), 0).2).len(), 64);
    // Written by a store with a larger limit: too long for this one to read.
    dir.store()
        .write(
            Wait::Blocking,
            key(2),
            raw(&[b'y'; 500]),
            deadlines(0, 100),
            at(0),
        )
        .wait()
        .unwrap();
    assert!(lookup(&store, &key(2), 0).is_none());
    assert!(lookup(&dir.store(), &key(2), 0).is_some());
}

#[test]
fn reading_an_expired_file_deletes_it() {
    let dir = TempDir::new("expired-read");
    let store = dir.store();
    write_at(&store, &key(1), bytes(b"v"), 10, 100);
    assert!(lookup(&store, &key(1), 99).is_some());
    assert!(path_of(&store, &key(1)).exists());
    assert!(lookup(&store, &key(1), 100).is_none());
    assert!(!path_of(&store, &key(1)).exists());
}

/// Every file under `dir`, as paths relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    files.sort();
    files
}

#[test]
fn a_sweep_removes_expired_undecodable_and_abandoned_files_only() {
    let dir = TempDir::new("sweep");
    let store = dir.store().with_sweep_every(0);
    write_at(&store, &key(1), bytes(b"expired"), 10, 100);
    write_at(&store, &key(2), raw(b"expired"), 0, 100);
    store
        .try_lease(Wait::Blocking, key(3), at(0), Duration::from_millis(100))
        .wait()
        .unwrap();
    write_at(&store, &key(4), bytes(b"live"), 10, 101);
    write_at(&store, &key(5), raw(b"forever"), 0, u64::MAX);
    std::fs::write(path_of(&store, &key(6)), b"garbage").unwrap();
    let shard = path_of(&store, &key(1)).parent().unwrap().to_path_buf();
    let abandoned = shard.join(format!("{}dead-writer", dir::TEMP_PREFIX));
    let fresh = shard.join(format!("{}live-writer", dir::TEMP_PREFIX));
    let unrelated = dir.0.join("README");
    for path in [&abandoned, &fresh, &unrelated] {
        std::fs::write(path, b"...").unwrap();
    }
    std::fs::File::options()
        .write(true)
        .open(&abandoned)
        .unwrap()
        .set_modified(SystemTime::now() - sweep::TEMP_MAX_AGE - Duration::from_secs(60))
        .unwrap();

    assert_eq!(store.sweep(at(100)).unwrap(), 5);
    let left = files_under(&dir.0);
    let expected: Vec<PathBuf> = {
        let mut expected = vec![
            path_of(&store, &key(4)),
            path_of(&store, &key(5)),
            fresh.clone(),
            unrelated.clone(),
        ];
        for path in &mut expected {
            *path = path.strip_prefix(&dir.0).unwrap().to_path_buf();
        }
        expected.sort();
        expected
    };
    assert_eq!(left, expected);
    assert_eq!(store.sweep(at(100)).unwrap(), 0, "nothing more to sweep");
    assert_eq!(payload_of(&entry(&store, &key(4), 100).2), b"live");
}

#[test]
fn writes_sweep_every_so_often_and_reads_never() {
    let dir = TempDir::new("auto-sweep");
    let store = dir.store().with_sweep_every(4);
    for n in 0..3 {
        write_at(&store, &key(n), bytes(b"short-lived"), 1, 2);
    }
    // Reads of other keys, however many, sweep nothing.
    for _ in 0..10 {
        assert!(lookup(&store, &key(99), 50).is_none());
    }
    assert_eq!(files_under(&dir.0).len(), 3);
    store
        .write(
            Wait::Blocking,
            key(10),
            raw(b"x"),
            deadlines(0, 1_000),
            at(50),
        )
        .wait()
        .unwrap();
    assert_eq!(
        files_under(&dir.0),
        vec![path_of(&store, &key(10))
            .strip_prefix(&dir.0)
            .unwrap()
            .to_path_buf()],
        "the fourth write swept the three expired files"
    );
}

#[test]
fn any_key_and_namespace_make_a_safe_file_name_inside_the_directory() {
    let dir = TempDir::new("names");
    let store = dir.store();
    let long: &'static str = "n".repeat(10_000).leak();
    let namespaces = [
        "../../etc/passwd",
        "/abs",
        "a\0b",
        "",
        "C:\\x",
        "é/..",
        long,
    ];
    let fingerprints = [0, 1, u128::MAX, 0xff00 << 112, 42];
    for (i, namespace) in namespaces.iter().enumerate() {
        let k = Key::new(Fingerprint::from_u128(fingerprints[i % 5]), namespace, 7);
        write_at(&store, &k, raw(namespace.as_bytes()), 0, u64::MAX);
        assert_eq!(payload_of(&entry(&store, &k, 0).2), namespace.as_bytes());
    }
    for file in files_under(&dir.0) {
        let parts: Vec<&str> = file.iter().map(|part| part.to_str().unwrap()).collect();
        assert_eq!(parts.len(), 2, "{file:?}");
        assert!(dir::is_shard_name(parts[0]), "{file:?}");
        assert!(dir::fingerprint_of_name(parts[1]).is_some(), "{file:?}");
        assert!(parts[1].starts_with(parts[0]), "{file:?}");
    }
    assert_eq!(files_under(&dir.0).len(), 5, "one file per fingerprint");
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "current_thread")]
async fn async_operations_give_the_results_of_blocking_ones() {
    let dir = TempDir::new("async");
    let store = dir.store();
    let keys = [key(1), key(2)];
    let wait = Wait::Async;
    store
        .write(wait, keys[0], bytes(b"v"), deadlines(10, 100), at(0))
        .await
        .unwrap();
    let writes = vec![Write {
        key: keys[1],
        value: raw(b"5"),
        deadlines: deadlines(0, 100),
    }];
    store.write_many(wait, writes, at(0)).await.unwrap();
    let mut found: Vec<Option<Found>> = vec![None, None];
    let mut reader = |index: usize, lookup: Lookup<'_>| found[index] = Some(Found::of(lookup));
    store
        .read_many(wait, &keys, at(20), ReadFor::Peek, &mut reader)
        .await
        .unwrap();
    let Some(Found::Entry { version, .. }) = found[0] else {
        panic!("key 1 not found");
    };
    assert!(matches!(found[1], Some(Found::Entry { .. })));
    let claim = store.try_claim(wait, keys[0], version, at(20), at(60));
    assert!(matches!(claim.await, Ok(Some(_))));
    let count = store.count(wait, keys[1], Delta::Incr(2), at(20));
    assert!(matches!(count.await, Ok(Counted::Value(7))));
    store.remove_many(wait, &keys).await.unwrap();
    let mut read = false;
    let mut reader = |_: Lookup<'_>| read = true;
    store
        .read(wait, keys[0], at(20), ReadFor::Peek, &mut reader)
        .await
        .unwrap();
    assert!(!read, "a removed key was read");
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "current_thread")]
async fn an_async_operation_waiting_for_a_lock_leaves_the_runtime_thread_free() {
    let dir = TempDir::new("async-lock");
    let store = dir.store();
    write_at(&store, &key(1), raw(b"1"), 0, u64::MAX);
    // Another thread holds the key's lock until told to let go (or, if this
    // runtime's only thread never gets to tell it, for 10 s).
    let locked = store
        .inner
        .dir
        .lock(key(1).fingerprint(), false)
        .unwrap()
        .unwrap();
    let (let_go, told) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let was_told = told.recv_timeout(Duration::from_secs(10)).is_ok();
        drop(locked);
        was_told
    });
    let counting = store.clone();
    let count = tokio::spawn(async move {
        let count = counting.count(Wait::Async, key(1), Delta::Incr(1), at(0));
        count.await
    });
    // Lets the count start and wait for the lock: on this very thread, were
    // it not moved to a blocking one.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let _ = let_go.send(()); // refused only if the holder gave up waiting
    assert!(
        holder.join().unwrap(),
        "the runtime's thread was blocked until the lock was released"
    );
    let reply = count.await.unwrap().unwrap();
    assert_eq!(reply, Counted::Value(2));
}

#[test]
fn outside_a_runtime_async_operations_run_in_place() {
    let dir = TempDir::new("no-runtime");
    let store = dir.store();
    write_at(&store, &key(1), raw(b"1"), 0, 100);
    let reply = store
        .count(Wait::Async, key(1), Delta::Incr(1), at(0))
        .wait();
    assert_eq!(reply.unwrap(), Counted::Value(2));
}

/// Special files at a key's path or in a shard directory: FIFOs, devices, symlinks.
#[cfg(target_os = "linux")]
mod special_files {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    /// Runs `scenario` on a thread of its own; fails (rather than hangs) if it
    /// has not finished within a generous bound.
    fn finishes(what: &str, scenario: impl FnOnce() + Send + 'static) {
        assert!(
            antidogpile_test_support::within(Duration::from_secs(10), scenario).is_some(),
            "{what}: still blocked after 10 s, or failed"
        );
    }

    fn make_fifo(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(made.success());
        assert!(std::fs::symlink_metadata(path)
            .unwrap()
            .file_type()
            .is_fifo());
    }

    /// Bytes this thread has read through system calls so far.
    fn bytes_read_by_this_thread() -> u64 {
        let io = std::fs::read_to_string("/proc/thread-self/io").unwrap();
        io.lines()
            .find_map(|line| line.strip_prefix("rchar: "))
            .and_then(|count| count.trim().parse().ok())
            .unwrap()
    }

    #[test]
    fn a_fifo_at_a_keys_path_reads_as_nothing_and_is_replaced_without_blocking() {
        finishes("FIFO at a key's path", || {
            let dir = TempDir::new("fifo-key");
            let store = dir.store();
            let k = key(1);
            make_fifo(&path_of(&store, &k));
            assert!(lookup(&store, &k, 0).is_none(), "a FIFO is no value");
            assert_eq!(
                store
                    .count(Wait::Blocking, k, Delta::Incr(1), at(0))
                    .wait()
                    .unwrap(),
                Counted::Absent
            );
            make_fifo(&path_of(&store, &k));
            write_at(&store, &k, bytes(b"after the FIFO"), 10, 100);
            assert_eq!(payload_of(&entry(&store, &k, 0).2), b"after the FIFO");
            assert!(std::fs::symlink_metadata(path_of(&store, &k))
                .unwrap()
                .is_file());
        });
    }

    #[test]
    fn a_fifo_in_a_shard_directory_does_not_hang_the_sweep() {
        finishes("FIFO in a shard directory", || {
            let dir = TempDir::new("fifo-sweep");
            let store = dir.store().with_sweep_every(0);
            write_at(&store, &key(1), bytes(b"expired"), 10, 100);
            write_at(&store, &key(2), bytes(b"live"), 10, 1_000);
            let fifo = path_of(&store, &key(3));
            make_fifo(&fifo);
            store.sweep(at(100)).unwrap();
            assert!(
                std::fs::symlink_metadata(&fifo).is_err(),
                "the FIFO is removed"
            );
            assert!(lookup(&store, &key(1), 100).is_none());
            assert_eq!(payload_of(&entry(&store, &key(2), 100).2), b"live");
        });
    }

    #[test]
    fn a_symlink_at_a_keys_path_is_not_followed() {
        finishes("symlink to /dev/zero", || {
            let dir = TempDir::new("symlink");
            let store = dir.store();
            let k = key(1);
            let path = path_of(&store, &k);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
            let before = bytes_read_by_this_thread();
            assert!(lookup(&store, &k, 0).is_none(), "a symlink is no value");
            let read = bytes_read_by_this_thread() - before;
            assert!(read < 1 << 20, "{read} bytes read for one lookup");
            write_at(&store, &k, bytes(b"a file again"), 10, 100);
            assert_eq!(payload_of(&entry(&store, &k, 0).2), b"a file again");
            assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
        });
    }
}
