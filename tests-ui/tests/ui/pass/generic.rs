use std::fmt::Display;
use std::sync::atomic::{AtomicUsize, Ordering};

use antidogpile::antidogpiled;
use serde::de::DeserializeOwned;
use serde::Serialize;

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[antidogpiled(soft = "1m")]
fn describe<T: Serialize + Display>(value: T) -> String {
    RUNS.fetch_add(1, Ordering::SeqCst);
    format!("<{value}>")
}

/// The cached type depends on `T` only: `T` is part of the key.
#[antidogpiled(soft = "1m")]
fn default_of<T>() -> T
where
    T: Default + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    RUNS.fetch_add(1, Ordering::SeqCst);
    T::default()
}

#[antidogpiled(soft = "1m")]
fn repeat<'a, const N: usize>(word: &'a str) -> String {
    word.repeat(N)
}

fn main() {
    assert_eq!(describe(1_u8), "<1>");
    assert_eq!(describe(1_u8), "<1>");
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    assert_eq!(default_of::<u32>(), 0);
    assert_eq!(default_of::<String>(), "");
    assert_eq!(default_of::<Vec<u8>>(), Vec::<u8>::new());
    assert_eq!(RUNS.load(Ordering::SeqCst), 4);
    assert_eq!(repeat::<2>("ab"), "abab");
    assert_eq!(repeat::<3>("ab"), "ababab");
}
