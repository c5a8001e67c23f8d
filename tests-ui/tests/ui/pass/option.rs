use std::sync::atomic::{AtomicUsize, Ordering};

use antidogpile::antidogpiled;

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[antidogpiled(soft = "1h")]
fn find(id: u32) -> Option<String> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    if id == 0 {
        return None;
    }
    Some(format!("item {id}"))
}

fn main() {
    assert_eq!(find(3).as_deref(), Some("item 3"));
    assert_eq!(find(3).as_deref(), Some("item 3"));
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    // `None` is not cached.
    assert_eq!(find(0), None);
    assert_eq!(find(0), None);
    assert_eq!(RUNS.load(Ordering::SeqCst), 3);
}
