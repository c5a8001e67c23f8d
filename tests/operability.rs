//! What an operator relies on at run time: a health check that names the
//! failing server, bounded warnings when a store is down, and clearing a
//! function's or a cache's values without a redeploy.

mod common;

use antidogpile::{Cache, FileStore, MemoryStore, NoopStore};
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
    cache.nonblocking().ping().await.unwrap();
    let closed = free_port();
    let down = Cache::from_url(&format!("memcached://127.0.0.1:{closed}?timeout=1s")).unwrap();
    let error = down.nonblocking().ping().await.unwrap_err().to_string();
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
