//! Stale sets: a compute that started before an invalidation must never be
//! served as fresh after it. Its own caller gets what it computed; its
//! write is refused (or lands stale), so the next caller recomputes the
//! new value. A compute with no invalidation in between still lands.
//!
//! Each scenario: a "database" holds 1; a caller starts a refresh (stale
//! value) or a fill (nothing stored) and is held inside its compute, having
//! read 1; the database changes to 2 and the value is invalidated (soft or
//! hard, through the macro's `name_invalidate` or the client's `delete`);
//! a caller arriving now gets 2; the held compute ends and returns 1 to its
//! own caller; the next caller gets 2 without computing. On the memory
//! store, memcached and the file store; across OS processes in
//! `stale_set_across_processes` below. Clocks never move: a soft
//! invalidation is what makes a value stale here.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use antidogpile::{antidogpiled, install_named, store::MemoryStore, Cache, Invalidate};
use common::memcached::Memcached;
use common::PATIENCE;

/// How long a caller that should compute at once may take (a loaded machine).
const PROMPTLY: Duration = Duration::from_secs(5);

/// The "database" a compute reads, and a way to hold one compute inside.
struct Source {
    db: AtomicU64,
    computes: AtomicU64,
    hold: Mutex<Hold>,
    changed: Condvar,
}

#[derive(Clone, Copy)]
struct Hold {
    armed: bool,
    inside: bool,
    released: bool,
}

impl Source {
    const fn new() -> Source {
        Source {
            db: AtomicU64::new(1),
            computes: AtomicU64::new(0),
            hold: Mutex::new(Hold {
                armed: false,
                inside: false,
                released: false,
            }),
            changed: Condvar::new(),
        }
    }

    /// Reads the database; the first compute after [`arm`](Source::arm)
    /// then waits inside until [`release`](Source::release).
    fn compute(&self) -> u64 {
        self.computes.fetch_add(1, Ordering::SeqCst);
        let value = self.db.load(Ordering::SeqCst);
        let mut hold = self.hold.lock().unwrap();
        if hold.armed {
            hold.armed = false;
            hold.inside = true;
            self.changed.notify_all();
            hold = self
                .changed
                .wait_timeout_while(hold, PATIENCE, |hold| !hold.released)
                .unwrap()
                .0;
            hold.inside = false;
        }
        value
    }

    fn arm(&self) {
        let mut hold = self.hold.lock().unwrap();
        hold.armed = true;
        hold.released = false;
    }

    fn wait_inside(&self) {
        let hold = self.hold.lock().unwrap();
        let (hold, timeout) = self
            .changed
            .wait_timeout_while(hold, PATIENCE, |hold| !hold.inside)
            .unwrap();
        assert!(
            !timeout.timed_out() && hold.inside,
            "the compute never started"
        );
    }

    fn release(&self) {
        self.hold.lock().unwrap().released = true;
        self.changed.notify_all();
    }

    fn computes(&self) -> u64 {
        self.computes.load(Ordering::SeqCst)
    }
}

/// What a scenario starts with.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Start {
    /// A stale value: the held compute is a refresh.
    Refresh,
    /// Nothing: the held compute is a cold-miss fill.
    Fill,
}

/// Runs the scenario on `call` (one key) and `invalidate` (that key);
/// `how = None` is the control: no invalidation, the held compute lands.
fn scenario<C, I>(
    source: &'static Source,
    call: C,
    invalidate: I,
    start: Start,
    how: Option<Invalidate>,
) where
    C: Fn() -> u64 + Clone + Send + 'static,
    I: Fn(Invalidate),
{
    source.db.store(1, Ordering::SeqCst);
    if start == Start::Refresh {
        assert_eq!(call(), 1, "first value");
        invalidate(Invalidate::Soft);
    }
    let before = source.computes();

    // A caller starts a compute, reads 1, and is held inside it.
    source.arm();
    let held = {
        let call = call.clone();
        std::thread::spawn(call)
    };
    source.wait_inside();

    // The data changes, and the application invalidates the value.
    source.db.store(2, Ordering::SeqCst);
    if let Some(how) = how {
        invalidate(how);
        // A caller arriving now recomputes the new value at once (it does
        // not wait for, nor get, the compute that started before).
        let (sent, arrived) = mpsc::channel();
        let call_now = call.clone();
        std::thread::spawn(move || {
            let _ = sent.send(call_now());
        });
        let got = arrived.recv_timeout(PROMPTLY);
        if got.is_err() {
            source.release();
        }
        assert_eq!(
            got,
            Ok(2),
            "{start:?}, {how:?}: a caller after the invalidation got the old compute's value"
        );
    }

    // The held compute ends: its own caller gets what it computed.
    source.release();
    assert_eq!(held.join().unwrap(), 1, "the held caller's own value");

    // The next caller reads the store.
    let expected = if how.is_some() { 2 } else { 1 };
    assert_eq!(
        call(),
        expected,
        "{start:?}, {how:?}: after the held compute ended (1 = its stale set was served as fresh)"
    );
    let computes = source.computes() - before;
    let expected_computes = if how.is_some() { 2 } else { 1 };
    assert_eq!(
        computes, expected_computes,
        "{start:?}, {how:?}: computes after the first value"
    );
}

// ---- through the macro's invalidator ----

macro_rules! macro_test {
    ($test:ident, $function:ident, $invalidate:ident, $cache:literal, $store:expr, $start:expr, $how:expr) => {
        #[antidogpiled(soft = "1h", cache = $cache, skip(source))]
        fn $function(key: u64, source: &'static Source) -> u64 {
            source.compute()
        }

        #[test]
        fn $test() {
            static SOURCE: Source = Source::new();
            #[allow(clippy::redundant_closure_call)]
            let _server = ($store)($cache);
            scenario(
                &SOURCE,
                || $function(7, &SOURCE),
                |how| {
                    $invalidate(7, &SOURCE, how).expect("invalidate");
                },
                $start,
                $how,
            );
        }
    };
}

/// Installs a memory cache as `name`.
fn memory(name: &str) -> Option<Memcached> {
    install_named(name, Cache::new(MemoryStore::new()));
    None
}

/// Starts a memcached and installs a cache on it as `name`.
fn memcached(name: &str) -> Option<Memcached> {
    let server = Memcached::start();
    install_named(name, Cache::from_url(&server.url("")).unwrap());
    Some(server)
}

macro_test!(
    memory_soft_invalidation_during_a_refresh_is_not_overwritten,
    mem_soft_refresh,
    mem_soft_refresh_invalidate,
    "ss_mem_soft_refresh",
    memory,
    Start::Refresh,
    Some(Invalidate::Soft)
);
macro_test!(
    memory_hard_invalidation_during_a_refresh_is_not_overwritten,
    mem_hard_refresh,
    mem_hard_refresh_invalidate,
    "ss_mem_hard_refresh",
    memory,
    Start::Refresh,
    Some(Invalidate::Hard)
);
macro_test!(
    memory_soft_invalidation_during_a_fill_is_not_overwritten,
    mem_soft_fill,
    mem_soft_fill_invalidate,
    "ss_mem_soft_fill",
    memory,
    Start::Fill,
    Some(Invalidate::Soft)
);
macro_test!(
    memory_hard_invalidation_during_a_fill_is_not_overwritten,
    mem_hard_fill,
    mem_hard_fill_invalidate,
    "ss_mem_hard_fill",
    memory,
    Start::Fill,
    Some(Invalidate::Hard)
);
macro_test!(
    memory_a_refresh_with_no_invalidation_lands,
    mem_no_refresh,
    mem_no_refresh_invalidate,
    "ss_mem_no_refresh",
    memory,
    Start::Refresh,
    None
);
macro_test!(
    memory_a_fill_with_no_invalidation_lands,
    mem_no_fill,
    mem_no_fill_invalidate,
    "ss_mem_no_fill",
    memory,
    Start::Fill,
    None
);
macro_test!(
    memcached_soft_invalidation_during_a_refresh_is_not_overwritten,
    mc_soft_refresh,
    mc_soft_refresh_invalidate,
    "ss_mc_soft_refresh",
    memcached,
    Start::Refresh,
    Some(Invalidate::Soft)
);
macro_test!(
    memcached_hard_invalidation_during_a_refresh_is_not_overwritten,
    mc_hard_refresh,
    mc_hard_refresh_invalidate,
    "ss_mc_hard_refresh",
    memcached,
    Start::Refresh,
    Some(Invalidate::Hard)
);
macro_test!(
    memcached_soft_invalidation_during_a_fill_is_not_overwritten,
    mc_soft_fill,
    mc_soft_fill_invalidate,
    "ss_mc_soft_fill",
    memcached,
    Start::Fill,
    Some(Invalidate::Soft)
);
macro_test!(
    memcached_hard_invalidation_during_a_fill_is_not_overwritten,
    mc_hard_fill,
    mc_hard_fill_invalidate,
    "ss_mc_hard_fill",
    memcached,
    Start::Fill,
    Some(Invalidate::Hard)
);
macro_test!(
    memcached_a_refresh_with_no_invalidation_lands,
    mc_no_refresh,
    mc_no_refresh_invalidate,
    "ss_mc_no_refresh",
    memcached,
    Start::Refresh,
    None
);

// ---- through the client's delete ----

/// Runs the scenario with the client's `get_or_compute` and `delete`s on `cache`.
fn client_scenario(cache: Cache, source: &'static Source, start: Start, how: Option<Invalidate>) {
    let cache = Arc::new(cache);
    let ttl = Duration::from_secs(3600);
    let call = {
        let cache = Arc::clone(&cache);
        move || cache.get_or_compute("stale-set", ttl, || source.compute())
    };
    let invalidate = |how| match how {
        Invalidate::Soft => {
            cache.delete("stale-set").expect("delete");
        }
        Invalidate::Hard => cache.delete_hard("stale-set").expect("delete_hard"),
    };
    scenario(source, call, invalidate, start, how);
}

/// A file store in a directory of its own.
fn file_cache(name: &str) -> Cache {
    let dir = std::env::temp_dir().join(format!(
        "antidogpile-stale-set-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    Cache::from_url(&format!("file://{}", dir.display())).unwrap()
}

#[test]
fn client_memory_soft_delete_during_a_refresh() {
    static SOURCE: Source = Source::new();
    client_scenario(
        Cache::new(MemoryStore::new()),
        &SOURCE,
        Start::Refresh,
        Some(Invalidate::Soft),
    );
}

#[test]
fn client_memory_hard_delete_during_a_fill() {
    static SOURCE: Source = Source::new();
    client_scenario(
        Cache::new(MemoryStore::new()),
        &SOURCE,
        Start::Fill,
        Some(Invalidate::Hard),
    );
}

#[test]
fn client_memcached_soft_delete_during_a_refresh() {
    static SOURCE: Source = Source::new();
    let server = Memcached::start();
    client_scenario(
        Cache::from_url(&server.url("")).unwrap(),
        &SOURCE,
        Start::Refresh,
        Some(Invalidate::Soft),
    );
}

#[test]
fn client_memcached_hard_delete_during_a_fill() {
    static SOURCE: Source = Source::new();
    let server = Memcached::start();
    client_scenario(
        Cache::from_url(&server.url("")).unwrap(),
        &SOURCE,
        Start::Fill,
        Some(Invalidate::Hard),
    );
}

#[test]
fn client_file_soft_delete_during_a_refresh() {
    static SOURCE: Source = Source::new();
    client_scenario(
        file_cache("soft-refresh"),
        &SOURCE,
        Start::Refresh,
        Some(Invalidate::Soft),
    );
}

#[test]
fn client_file_hard_delete_during_a_refresh() {
    static SOURCE: Source = Source::new();
    client_scenario(
        file_cache("hard-refresh"),
        &SOURCE,
        Start::Refresh,
        Some(Invalidate::Hard),
    );
}

#[test]
fn client_file_soft_delete_during_a_fill() {
    static SOURCE: Source = Source::new();
    client_scenario(
        file_cache("soft-fill"),
        &SOURCE,
        Start::Fill,
        Some(Invalidate::Soft),
    );
}

#[test]
fn client_file_a_refresh_with_no_delete_lands() {
    static SOURCE: Source = Source::new();
    client_scenario(file_cache("no-refresh"), &SOURCE, Start::Refresh, None);
}

// ---- the client's `get` that answers Recompute ----

/// A `get` told to recompute whose caller drops the answer without setting
/// gives the lease (nothing stored) or the claim (a stale value) back at
/// once: the next caller is told to recompute, not to wait or take the
/// stale value for the whole grace.
fn dropped_recompute_gives_back(cache: Cache) {
    // The lease of a cold miss.
    let got = cache.get::<u64, _>("dropped").unwrap();
    assert!(got.must_recompute(), "first caller: {got:?}");
    drop(got);
    let again = cache.get::<u64, _>("dropped").unwrap();
    assert!(
        again.must_recompute(),
        "after the first caller dropped its answer, the next got {again:?}"
    );
    drop(again);

    // The claim of a stale value.
    cache
        .set("dropped", &1u64, Duration::from_secs(3600))
        .unwrap();
    assert!(cache.delete("dropped").unwrap());
    let got = cache.get::<u64, _>("dropped").unwrap();
    assert!(
        got.must_recompute(),
        "first caller of the stale value: {got:?}"
    );
    drop(got);
    let again = cache.get::<u64, _>("dropped").unwrap();
    assert!(
        again.must_recompute(),
        "after the claimer dropped its answer, the next got {again:?}"
    );
}

#[test]
fn memory_a_dropped_recompute_gives_its_lease_or_claim_back_at_once() {
    dropped_recompute_gives_back(Cache::new(MemoryStore::new()));
}

#[test]
fn memcached_a_dropped_recompute_gives_its_lease_or_claim_back_at_once() {
    let server = Memcached::start();
    dropped_recompute_gives_back(Cache::from_url(&server.url("")).unwrap());
}

#[test]
fn file_a_dropped_recompute_gives_its_lease_or_claim_back_at_once() {
    dropped_recompute_gives_back(file_cache("dropped"));
}

// ---- across OS processes ----

/// How the cross-process scenario reaches the key: the cache client's
/// `get_or_compute` and `delete`s, or a memoized function and its
/// `name_invalidate` (the worker declares one of the same name).
#[derive(Clone, Copy, Debug)]
enum Via {
    Client,
    Macro,
}

/// One cross-process case.
#[derive(Clone, Copy, Debug)]
struct Case {
    via: Via,
    start: Start,
    how: Option<Invalidate>,
}

/// The number in the "database" file.
fn read_db(db: &std::path::Path) -> u64 {
    std::fs::read_to_string(db)
        .expect("read the database file")
        .trim()
        .parse()
        .expect("a number")
}

/// A worker process starts a compute of the key (it reads 1 and is held);
/// this process changes the database to 2 and invalidates (or not, with
/// `how = None`); the worker's compute ends, returning 1; then this process
/// reads the key: 2 (recomputed here) after an invalidation, 1 (the
/// worker's value, landed, no compute here) without.
fn across_processes<C: Fn() -> u64, I: Fn(Invalidate)>(
    url: &str,
    files: &std::path::Path,
    case: Case,
    call: C,
    invalidate: I,
    computes_here: &AtomicU64,
) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let Case { via, start, how } = case;

    let _ = std::fs::remove_dir_all(files);
    std::fs::create_dir_all(files).unwrap();
    let (db, go) = (files.join("db"), files.join("go"));
    std::fs::write(&db, "1").unwrap();
    if start == Start::Refresh {
        assert_eq!(call(), 1, "first value");
        invalidate(Invalidate::Soft);
    } else {
        invalidate(Invalidate::Hard);
    }
    let before = computes_here.load(Ordering::SeqCst);

    let via_arg = match via {
        Via::Client => "client",
        Via::Macro => "macro",
    };
    let mut worker = Command::new(env!("CARGO_BIN_EXE_antidogpile-worker"))
        .args(["stale-set", url])
        .arg(&db)
        .arg(&go)
        .arg(via_arg)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the worker");
    let mut lines = BufReader::new(worker.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(Result::ok);
    assert_eq!(
        first.as_deref(),
        Some("computing 1"),
        "the worker's compute"
    );

    std::fs::write(&db, "2").unwrap();
    if let Some(how) = how {
        invalidate(how);
    }
    std::fs::write(&go, "").unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = worker.wait().unwrap();
    assert!(status.success(), "worker: {status:?}");
    assert_eq!(rest, ["got 1"], "the worker's caller gets what it computed");

    let expected = if how.is_some() { 2 } else { 1 };
    assert_eq!(
        call(),
        expected,
        "{via:?}, {start:?}, {how:?}: read after the other process's compute ended \
         (1 = its stale set was served as fresh)"
    );
    assert_eq!(
        computes_here.load(Ordering::SeqCst) - before,
        u64::from(how.is_some()),
        "computes in this process after the worker's"
    );
}

/// A directory for one cross-process test's files.
fn files_for(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "antidogpile-stale-set-xp-{}-{name}",
        std::process::id()
    ))
}

/// The cross-process scenario through the cache client, on `url`.
fn client_across_processes(url: &str, name: &str, start: Start, how: Option<Invalidate>) {
    let files = files_for(name);
    let db = files.join("db");
    let cache = Cache::from_url(url).unwrap();
    let computes = AtomicU64::new(0);
    let call = || {
        cache.get_or_compute("stale-set", Duration::from_secs(3600), || {
            computes.fetch_add(1, Ordering::SeqCst);
            read_db(&db)
        })
    };
    let invalidate = |how| match how {
        Invalidate::Soft => {
            cache.delete("stale-set").expect("delete");
        }
        Invalidate::Hard => cache.delete_hard("stale-set").expect("delete_hard"),
    };
    across_processes(
        url,
        &files,
        Case {
            via: Via::Client,
            start,
            how,
        },
        call,
        invalidate,
        &computes,
    );
}

/// Memoized functions of the worker's name (`worker::stale_set`), one per
/// cache, reading the database file of their test.
macro_rules! worker_function {
    ($function:ident, $invalidate:ident, $cache:literal, $test:ident, $store:expr, $start:expr, $how:expr) => {
        /// Skipped arguments are not part of the key: it is the worker's.
        #[antidogpiled(soft = "1h", name = "worker::stale_set", cache = $cache, skip(computes))]
        fn $function(key: u32, computes: &AtomicU64) -> u64 {
            let _ = key;
            computes.fetch_add(1, Ordering::SeqCst);
            read_db(&files_for($cache).join("db"))
        }

        #[test]
        fn $test() {
            static COMPUTES: AtomicU64 = AtomicU64::new(0);
            #[allow(clippy::redundant_closure_call)]
            let (url, _server) = ($store)($cache);
            install_named($cache, Cache::from_url(&url).unwrap());
            across_processes(
                &url,
                &files_for($cache),
                Case {
                    via: Via::Macro,
                    start: $start,
                    how: $how,
                },
                || $function(1, &COMPUTES),
                |how| {
                    $invalidate(1, &COMPUTES, how).expect("invalidate");
                },
                &COMPUTES,
            );
        }
    };
}

fn memcached_url(_: &str) -> (String, Option<Memcached>) {
    let server = Memcached::start();
    (server.url(""), Some(server))
}

fn file_url(name: &str) -> (String, Option<Memcached>) {
    let dir = std::env::temp_dir().join(format!(
        "antidogpile-stale-set-store-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    (format!("file://{}", dir.display()), None)
}

worker_function!(
    xp_mc_soft_refresh,
    xp_mc_soft_refresh_invalidate,
    "ss_xp_mc_soft_refresh",
    across_processes_memcached_macro_soft_invalidation_during_a_refresh,
    memcached_url,
    Start::Refresh,
    Some(Invalidate::Soft)
);
worker_function!(
    xp_mc_hard_fill,
    xp_mc_hard_fill_invalidate,
    "ss_xp_mc_hard_fill",
    across_processes_memcached_macro_hard_invalidation_during_a_fill,
    memcached_url,
    Start::Fill,
    Some(Invalidate::Hard)
);
worker_function!(
    xp_file_soft_refresh,
    xp_file_soft_refresh_invalidate,
    "ss_xp_file_soft_refresh",
    across_processes_file_macro_soft_invalidation_during_a_refresh,
    file_url,
    Start::Refresh,
    Some(Invalidate::Soft)
);
worker_function!(
    xp_file_no_fill,
    xp_file_no_fill_invalidate,
    "ss_xp_file_no_fill",
    across_processes_file_macro_a_fill_with_no_invalidation_lands,
    file_url,
    Start::Fill,
    None
);

#[test]
fn across_processes_memcached_client_hard_delete_during_a_refresh() {
    let server = Memcached::start();
    client_across_processes(
        &server.url(""),
        "mc-hard-refresh",
        Start::Refresh,
        Some(Invalidate::Hard),
    );
}

#[test]
fn across_processes_memcached_client_soft_delete_during_a_fill() {
    let server = Memcached::start();
    client_across_processes(
        &server.url(""),
        "mc-soft-fill",
        Start::Fill,
        Some(Invalidate::Soft),
    );
}

#[test]
fn across_processes_memcached_client_a_refresh_with_no_delete_lands() {
    let server = Memcached::start();
    client_across_processes(&server.url(""), "mc-no-refresh", Start::Refresh, None);
}

#[test]
fn across_processes_file_client_hard_delete_during_a_fill() {
    let (url, _) = file_url("client-hard-fill");
    client_across_processes(&url, "file-hard-fill", Start::Fill, Some(Invalidate::Hard));
}

#[test]
fn across_processes_file_client_soft_delete_during_a_refresh() {
    let (url, _) = file_url("client-soft-refresh");
    client_across_processes(
        &url,
        "file-soft-refresh",
        Start::Refresh,
        Some(Invalidate::Soft),
    );
}

// ---- the conformance suite keeps user stores to it ----

/// A store that forwards everything to a memory store but the held write,
/// which it leaves to the trait's default (an unconditional write): what a
/// store written before `write_held` existed does.
#[test]
fn a_store_without_held_writes_fails_the_conformance_suite() {
    use antidogpile::custom_store::conformance::{check_store, Expect};
    // The store it wraps passes.
    check_store(Expect::Caching, MemoryStore::new);
    let failed = std::panic::catch_unwind(|| {
        // Every operation of a memory store but `write_held`, which keeps the
        // trait's default (an unconditional write).
        check_store(Expect::Caching, || {
            common::altered_store::AlteredStore::new(common::altered_store::Alterations {
                unguarded_writes: true,
                ..Default::default()
            })
        });
    })
    .expect_err("a store whose held write ignores invalidations passed");
    let message = failed.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("stale sets") && message.contains("began before"),
        "{message}"
    );
}

// ---- the non-blocking client ----

#[test]
fn nonblocking_duties_set_and_release_like_blocking_ones() {
    use antidogpile::Got;
    let server = Memcached::start();
    let cache = Cache::from_url(&server.url("")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let cache = cache.as_async();
        let ttl = Duration::from_secs(3600);
        // Released: the next caller recomputes at once.
        let Got::Recompute(None, duty) = cache.get::<u64, _>("k").await.unwrap() else {
            panic!("first caller recomputes")
        };
        duty.release_async().await;
        let Got::Recompute(None, duty) = cache.get::<u64, _>("k").await.unwrap() else {
            panic!("the lease was given back")
        };
        assert!(duty.set_async(&1u64, ttl).await.unwrap(), "lands");
        assert_eq!(cache.get::<u64, _>("k").await.unwrap(), Got::Fresh(1));

        // Refused after a delete.
        assert!(cache.delete("k").await.unwrap());
        let Got::Recompute(Some(1), duty) = cache.get::<u64, _>("k").await.unwrap() else {
            panic!("one caller refreshes")
        };
        cache.delete_hard("k").await.unwrap();
        assert!(!duty.set_async(&2u64, ttl).await.unwrap(), "refused");
        assert!(cache.get::<u64, _>("k").await.unwrap().must_recompute());
    });
}

/// A worker's fill is held; this process invalidates the key; only then a
/// second caller in the worker's process arrives: it must not be handed
/// the held compute's value (that process never saw the invalidation, but
/// the held compute's refused write tells it), and recomputes the new one.
fn joining_after_an_invalidation_elsewhere(url: &str, name: &str, how: Invalidate) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let files = files_for(name);
    let _ = std::fs::remove_dir_all(&files);
    std::fs::create_dir_all(&files).unwrap();
    let (db, go, join) = (files.join("db"), files.join("go"), files.join("join"));
    std::fs::write(&db, "1").unwrap();
    let cache = Cache::from_url(url).unwrap();
    cache.delete_hard("stale-set").unwrap();

    let mut worker = Command::new(env!("CARGO_BIN_EXE_antidogpile-worker"))
        .args(["stale-set", url])
        .args([&db, &go])
        .arg("client")
        .arg(&join)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the worker");
    let mut lines = BufReader::new(worker.stdout.take().unwrap()).lines();
    let mut next = || lines.next().and_then(Result::ok);
    assert_eq!(next().as_deref(), Some("computing 1"));

    std::fs::write(&db, "2").unwrap();
    match how {
        Invalidate::Soft => {
            cache.delete("stale-set").unwrap();
        }
        Invalidate::Hard => cache.delete_hard("stale-set").unwrap(),
    }
    // The second caller arrives after the invalidation returned, and waits
    // for the compute under way in its process.
    std::fs::write(&join, "").unwrap();
    assert_eq!(next().as_deref(), Some("calling"));
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&go, "").unwrap();
    let mut rest: Vec<String> = std::iter::from_fn(next).collect();
    rest.sort();
    assert!(worker.wait().unwrap().success());
    assert!(
        rest.contains(&"got 1".to_owned()),
        "the held caller gets its own value: {rest:?}"
    );
    assert!(
        rest.contains(&"joined 2".to_owned()),
        "{how:?}: a caller that arrived after the invalidation got {rest:?}"
    );
    let computes = AtomicU64::new(0);
    let value = cache.get_or_compute("stale-set", Duration::from_secs(3600), || {
        computes.fetch_add(1, Ordering::SeqCst);
        read_db(&db)
    });
    assert_eq!(
        (value, computes.into_inner()),
        (2, 0),
        "the new value, stored"
    );
}

#[test]
fn across_processes_memcached_a_caller_joining_after_a_hard_delete_recomputes() {
    let server = Memcached::start();
    joining_after_an_invalidation_elsewhere(&server.url(""), "mc-join", Invalidate::Hard);
}

#[test]
fn across_processes_file_a_caller_joining_after_a_soft_delete_recomputes() {
    let (url, _) = file_url("file-join");
    joining_after_an_invalidation_elsewhere(&url, "file-join", Invalidate::Soft);
}
