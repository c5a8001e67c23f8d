//! What an operator relies on at run time: a health check that names the
//! failing server, bounded warnings when a store is down, and clearing a
//! function's or a cache's values without a redeploy.

mod common;

use antidogpile::store::{FileStore, MemoryStore, NoopStore};
use antidogpile::Cache;
use common::memcached::{free_port, Memcached};

#[test]
fn ping_answers_for_in_process_stores() {
    Cache::new(MemoryStore::new()).ping().unwrap();
    Cache::new(NoopStore).ping().unwrap();
}

#[test]
fn ping_of_a_live_memcached_is_ok_and_of_a_dead_one_names_it() {
    let mut server = Memcached::start();
    // from_url connects to nothing: a closed port is only found out by ping.
    let closed = free_port();
    let url = format!(
        "memcached://127.0.0.1:{},127.0.0.1:{closed}?timeout=1s",
        server.port()
    );
    let both = Cache::from_url(&url).unwrap();
    let error = both.ping().unwrap_err().to_string();
    assert!(error.contains(&format!("127.0.0.1:{closed}")), "{error}");
    assert!(
        !error.contains(&format!("127.0.0.1:{}", server.port())),
        "the live server is not named: {error}"
    );
    assert!(error.contains("1 of 2"), "{error}");

    let cache = Cache::from_url(&server.url("timeout=1s")).unwrap();
    cache.ping().unwrap();
    server.kill();
    let error = cache.ping().unwrap_err().to_string();
    assert!(
        error.contains(&format!("127.0.0.1:{}", server.port())),
        "{error}"
    );
    server.restart();
    // A server that answers again is put back at once, retry_after or not.
    cache.ping().unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn the_async_ping_does_the_same() {
    let server = Memcached::start();
    let cache = Cache::from_url(&server.url("timeout=1s")).unwrap();
    cache.as_async().ping().await.unwrap();
    let closed = free_port();
    let down = Cache::from_url(&format!("memcached://127.0.0.1:{closed}?timeout=1s")).unwrap();
    let error = down.as_async().ping().await.unwrap_err().to_string();
    assert!(error.contains(&format!("127.0.0.1:{closed}")), "{error}");
}

#[test]
fn ping_of_a_file_store_checks_its_directory_is_writable() {
    let dir = std::env::temp_dir().join(format!("antidogpile-ping-{}", std::process::id()));
    let cache = Cache::new(FileStore::new(&dir).unwrap());
    cache.ping().unwrap();
    // The directory replaced by a plain file: nothing can be written there.
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, b"not a directory").unwrap();
    let error = cache.ping().unwrap_err().to_string();
    std::fs::remove_file(&dir).unwrap();
    assert!(error.contains(&dir.display().to_string()), "{error}");
    assert!(error.contains("not writable"), "{error}");
}

// ---- clearing ----

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::sync::Arc;

use antidogpile::{antidogpiled, install_named, named_cache};

const CLEAR_CHECK_EVERY: std::time::Duration = Cache::CLEAR_CHECK_EVERY;
use common::altered_store::{Alterations, AlteredStore};

static MEMORY_F: AtomicU64 = AtomicU64::new(0);
static MEMORY_G: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "clear_memory", name = "clear::memory::f")]
fn memory_f(x: u64) -> u64 {
    MEMORY_F.fetch_add(1, Ordering::SeqCst);
    x
}

#[antidogpiled(soft = "1h", cache = "clear_memory", name = "clear::memory::g")]
fn memory_g(x: u64) -> u64 {
    MEMORY_G.fetch_add(1, Ordering::SeqCst);
    x
}

#[test]
fn clearing_a_namespace_or_a_memory_cache_recomputes_at_once() {
    install_named("clear_memory", Cache::new(MemoryStore::new()));
    let cache = named_cache("clear_memory").unwrap();
    let computes = || {
        (
            MEMORY_F.load(Ordering::SeqCst),
            MEMORY_G.load(Ordering::SeqCst),
        )
    };
    for _ in 0..2 {
        memory_f(1);
        memory_g(1);
    }
    assert_eq!(computes(), (1, 1));
    cache.clear_namespace("clear::memory::f").unwrap();
    for _ in 0..2 {
        memory_f(1);
        memory_g(1);
    }
    assert_eq!(computes(), (2, 1), "only f's values were dropped");
    cache.clear().unwrap();
    for _ in 0..2 {
        memory_f(1);
        memory_g(1);
    }
    assert_eq!(computes(), (3, 2), "every function's values were dropped");
    // Invalidation after a clear reaches the values of the new generation.
    assert!(memory_f_invalidate(1, antidogpile::Invalidate::Soft).unwrap());
    memory_f(1);
    assert_eq!(computes(), (4, 2), "the stale value was refreshed");
}

/// Two caches on one shared store stand for two processes: `a` is the one
/// the functions use, `b` another process's, which clears.
fn cleared_across_caches(
    name: &str,
    a: Cache,
    b: Cache,
    namespace: &str,
    f: fn(u64) -> u64,
    g: fn(u64) -> u64,
    computes: &dyn Fn() -> (u64, u64),
) {
    install_named(name, a);
    let a = named_cache(name).unwrap();
    for _ in 0..2 {
        f(1);
        g(1);
    }
    assert_eq!(computes(), (1, 1));

    // This process's own clear: seen at once.
    a.clear_namespace(namespace).unwrap();
    f(1);
    g(1);
    assert_eq!(computes(), (2, 1));

    // Another process's: seen within CLEAR_CHECK_EVERY (plus a read).
    let bound = CLEAR_CHECK_EVERY + Duration::from_millis(1_500);
    let seen_within = |expected: (u64, u64)| {
        let start = Instant::now();
        while computes() != expected && start.elapsed() < Duration::from_secs(10) {
            f(1);
            g(1);
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(computes(), expected);
        start.elapsed()
    };
    b.clear_namespace(namespace).unwrap();
    let took = seen_within((3, 1));
    assert!(took <= bound, "seen after {took:?}");
    b.clear().unwrap();
    let took = seen_within((4, 2));
    assert!(took <= bound, "seen after {took:?}");
    // And not again: the new generation's values are served.
    std::thread::sleep(CLEAR_CHECK_EVERY + Duration::from_millis(100));
    f(1);
    g(1);
    assert_eq!(computes(), (4, 2));
}

static MEMCACHED_F: AtomicU64 = AtomicU64::new(0);
static MEMCACHED_G: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "clear_memcached", name = "clear::memcached::f")]
fn memcached_f(x: u64) -> u64 {
    MEMCACHED_F.fetch_add(1, Ordering::SeqCst);
    x
}

#[antidogpiled(soft = "1h", cache = "clear_memcached", name = "clear::memcached::g")]
fn memcached_g(x: u64) -> u64 {
    MEMCACHED_G.fetch_add(1, Ordering::SeqCst);
    x
}

#[test]
fn clearing_on_memcached_reaches_another_cache_within_the_bound() {
    let server = Memcached::start();
    let url = server.url("timeout=2s");
    cleared_across_caches(
        "clear_memcached",
        Cache::from_url(&url).unwrap(),
        Cache::from_url(&url).unwrap(),
        "clear::memcached::f",
        memcached_f,
        memcached_g,
        &|| {
            (
                MEMCACHED_F.load(Ordering::SeqCst),
                MEMCACHED_G.load(Ordering::SeqCst),
            )
        },
    );
}

static FILE_F: AtomicU64 = AtomicU64::new(0);
static FILE_G: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "clear_file", name = "clear::file::f")]
fn file_f(x: u64) -> u64 {
    FILE_F.fetch_add(1, Ordering::SeqCst);
    x
}

#[antidogpiled(soft = "1h", cache = "clear_file", name = "clear::file::g")]
fn file_g(x: u64) -> u64 {
    FILE_G.fetch_add(1, Ordering::SeqCst);
    x
}

#[test]
fn clearing_on_files_reaches_another_cache_within_the_bound() {
    let dir = std::env::temp_dir().join(format!("antidogpile-clear-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    cleared_across_caches(
        "clear_file",
        Cache::new(FileStore::new(&dir).unwrap()),
        Cache::new(FileStore::new(&dir).unwrap()),
        "clear::file::f",
        file_f,
        file_g,
        &|| (FILE_F.load(Ordering::SeqCst), FILE_G.load(Ordering::SeqCst)),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

static OFF_PATH: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "clear_off_path", name = "clear::off_path::f")]
fn off_path_f(x: u64) -> u64 {
    OFF_PATH.fetch_add(1, Ordering::SeqCst);
    x
}

/// Regression: every process read its generations (the whole cache's and
/// the namespace's) on a caller's path once a second per namespace, the
/// whole cache's key once per namespace: a hot key the cache made itself.
/// Now the first call of a namespace reads them (the generation is part of
/// the key), and a thread of the cache refreshes them after that.
#[test]
fn generations_are_read_on_a_callers_path_only_at_a_namespaces_first_call() {
    let dir = std::env::temp_dir().join(format!("antidogpile-offpath-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Arc::new(AlteredStore::over(
        Box::new(FileStore::new(&dir).unwrap()),
        Alterations::default(),
    ));
    install_named("clear_off_path", Cache::from_store(store.clone()));
    let caller = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_owned();
    let on_callers_path = || {
        let reads = store.generation_reads.lock().unwrap().clone();
        let on_caller = reads.iter().filter(|thread| **thread == caller).count();
        (on_caller, reads)
    };
    assert_eq!(off_path_f(1), 1);
    let (first, reads) = on_callers_path();
    assert_eq!(first, 2, "the first call reads both generations: {reads:?}");
    let start = Instant::now();
    while start.elapsed() < CLEAR_CHECK_EVERY * 3 + Duration::from_millis(200) {
        assert_eq!(off_path_f(1), 1);
        std::thread::sleep(Duration::from_millis(10));
    }
    let (on_caller, reads) = on_callers_path();
    assert_eq!(
        on_caller, first,
        "generations read on the caller's path: {reads:?}"
    );
    assert!(
        reads.len() - on_caller >= 4,
        "refreshed off the path, two keys a second: {reads:?}"
    );
    assert_eq!(OFF_PATH.load(Ordering::SeqCst), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A clear made by one OS process reaches another (a worker calling a value
/// fresh for an hour every 20 ms) within CLEAR_CHECK_EVERY, and makes it
/// compute once.
#[test]
fn a_clear_by_one_process_reaches_another_within_the_bound() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::mpsc;

    let server = Memcached::start();
    let url = server.url("timeout=2s");
    let mut worker = Command::new(env!("CARGO_BIN_EXE_antidogpile-worker"))
        .args(["clearable", &url, "8"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, calls) = mpsc::channel::<(u64, bool)>();
    let stdout = worker.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let numbers = common::workers::numbers(&line);
            if let [at, computed] = numbers[..] {
                let _ = lines.send((at, computed == 1));
            }
        }
    });
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    };
    let patience = Duration::from_secs(6);
    // The first call computes; the next ones are fresh hits.
    assert!(
        calls.recv_timeout(patience).unwrap().1,
        "the first call computes"
    );
    let (_, computed) = calls.recv_timeout(patience).unwrap();
    assert!(!computed);

    let this_process = Cache::from_url(&url).unwrap();
    let mut taken = Vec::new();
    for whole in [false, true] {
        // Drain what was said before the clear.
        while calls.try_recv().is_ok() {}
        let cleared_at = now_ms();
        if whole {
            this_process.clear().unwrap();
        } else {
            this_process.clear_namespace("worker::clearable").unwrap();
        }
        let (at, _) = std::iter::from_fn(|| calls.recv_timeout(patience).ok())
            .find(|(_, computed)| *computed)
            .expect("the worker computed again after the clear");
        taken.push(at.saturating_sub(cleared_at));
        // Once: the new generation's value is served after that.
        let later: Vec<_> = (0..10)
            .filter_map(|_| calls.recv_timeout(patience).ok())
            .collect();
        assert!(later.iter().all(|(_, computed)| !computed), "{later:?}");
    }
    let bound = CLEAR_CHECK_EVERY.as_millis() as u64 + 1_500;
    eprintln!("the other process computed again {taken:?} ms after each clear");
    assert!(
        taken.iter().all(|ms| *ms <= bound),
        "seen after {taken:?} ms"
    );
    let _ = worker.kill();
    let _ = worker.wait();
    let _ = reader.join();
}

static ASYNC_F: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "clear_async", name = "clear::async::f")]
async fn async_f(x: u64) -> u64 {
    ASYNC_F.fetch_add(1, Ordering::SeqCst);
    x
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_functions_and_the_async_client_clear_too() {
    let server = Memcached::start();
    install_named(
        "clear_async",
        Cache::from_url(&server.url("timeout=2s")).unwrap(),
    );
    let cache = named_cache("clear_async").unwrap();
    async_f(1).await;
    async_f(1).await;
    assert_eq!(ASYNC_F.load(Ordering::SeqCst), 1);
    cache
        .as_async()
        .clear_namespace("clear::async::f")
        .await
        .unwrap();
    async_f(1).await;
    assert_eq!(ASYNC_F.load(Ordering::SeqCst), 2);
    // The invalidator reaches the new generation's value.
    assert!(async_f_invalidate(1, antidogpile::Invalidate::Hard)
        .await
        .unwrap());
    async_f(1).await;
    assert_eq!(ASYNC_F.load(Ordering::SeqCst), 3);
    cache.as_async().clear().await.unwrap();
    async_f(1).await;
    async_f(1).await;
    assert_eq!(ASYNC_F.load(Ordering::SeqCst), 4);
}
