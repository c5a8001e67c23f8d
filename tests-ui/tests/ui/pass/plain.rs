use std::sync::atomic::{AtomicUsize, Ordering};

use antidogpile::antidogpiled;

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[antidogpiled(soft = "250ms")]
fn fib(n: u64, _: &str, mut scratch: Vec<u64>) -> Vec<u64> {
    #![allow(clippy::needless_pass_by_value)]
    RUNS.fetch_add(1, Ordering::SeqCst);
    scratch.clear();
    let (mut a, mut b) = (0, 1);
    for _ in 0..n {
        scratch.push(a);
        (a, b) = (b, a + b);
    }
    scratch
}

fn main() {
    assert_eq!(fib(6, "ignored", Vec::new()), [0, 1, 1, 2, 3, 5]);
    // `_` arguments are not part of the key.
    assert_eq!(fib(6, "other", Vec::new()), [0, 1, 1, 2, 3, 5]);
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
}
