//! A caller that waited out the grace for a holder that hung computes
//! without the cache: its value is returned, not stored (the holder stores
//! its own), so an invalidation made while it computed is not undone by its
//! write (found by the history checker, issue 23: the overrunning compute
//! wrote its value plainly, after the invalidation, and later callers were
//! served it fresh).

use std::sync::mpsc;
use std::time::Duration;

use antidogpile::{Cache, Got, Ttl};
use antidogpile_test_support::memcached::Memcached;
use antidogpile_test_support::temp_dir::TempDir;

fn an_overrun_compute_does_not_undo_an_invalidation(url: &str) {
    // Two processes' caches of one store.
    let holder = Cache::from_url(url).unwrap();
    let overrunner = Cache::from_url(url).unwrap();
    let ttl = Ttl::soft(Duration::from_secs(60)).grace(Duration::from_millis(300));
    let (held, hung) = (mpsc::channel::<()>(), mpsc::channel::<()>());
    std::thread::scope(|scope| {
        let (holding, release) = (held.0, hung.1);
        scope.spawn(move || {
            holder.get_or_compute("k", ttl, || {
                holding.send(()).unwrap();
                // Hangs past the grace, until the test is done.
                let _ = release.recv();
                1u64
            })
        });
        held.1.recv().unwrap();
        let (computing, invalidated) = (mpsc::channel::<()>(), mpsc::channel::<()>());
        let (started, resume) = (computing.0, invalidated.1);
        let overrunner = &overrunner;
        let value = std::thread::scope(|inner| {
            let waiter = inner.spawn(move || {
                overrunner.get_or_compute("k", ttl, move || {
                    started.send(()).unwrap();
                    resume.recv().unwrap();
                    2u64
                })
            });
            computing.1.recv().unwrap();
            overrunner.delete_hard("k").unwrap();
            invalidated.0.send(()).unwrap();
            waiter.join().unwrap()
        });
        assert_eq!(value, 2, "{url}: the caller gets its own value");
        let seen = overrunner.get::<u64, _>("k").unwrap();
        assert!(
            !matches!(seen, Got::Fresh(2)),
            "{url}: a value computed before an invalidation was served fresh after it \
             returned: {seen:?}"
        );
        drop(hung.0);
    });
}

#[test]
fn on_files() {
    let dir = TempDir::new("antidogpile-grace-overrun");
    an_overrun_compute_does_not_undo_an_invalidation(&format!("{}?liveness=1s", dir.file_url()));
}

#[test]
fn on_memcached() {
    let server = Memcached::start();
    an_overrun_compute_does_not_undo_an_invalidation(&server.url("timeout=2s&liveness=1s"));
}
