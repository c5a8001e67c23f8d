use std::sync::atomic::{AtomicUsize, Ordering};

use antidogpile::{antidogpiled, Cache, store::MemoryStore};

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[antidogpiled(soft = "1m", cache = "sessions")]
fn session(token: String) -> Option<u64> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    token.strip_prefix("s").and_then(|id| id.parse().ok())
}

fn main() {
    antidogpile::install_named("sessions", Cache::new(MemoryStore::default()));
    assert_eq!(session("s42".to_owned()), Some(42));
    assert_eq!(session("s42".to_owned()), Some(42));
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
}
