//! Keys are what the caller passed: the concrete type behind an `impl Trait`
//! argument is part of the key (as a named generic is), and equal maps give
//! one key whatever their iteration order, in this process and in another.

use std::collections::HashMap;
use std::fmt::Debug;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use antidogpile::{antidogpiled, Invalidate};
use serde::Serialize;

static SHOWN: AtomicUsize = AtomicUsize::new(0);

#[antidogpiled(soft = "1h")]
fn show(value: impl Serialize + Debug) -> String {
    SHOWN.fetch_add(1, Ordering::SeqCst);
    format!("{value:?}")
}

/// `Some(1u32)` and `vec![1u32]` encode to the same bytes; only their types
/// tell them apart.
#[test]
fn the_type_behind_impl_trait_is_part_of_the_key() {
    assert_eq!(show(Some(1u32)), "Some(1)");
    assert_eq!(show(vec![1u32]), "[1]");
    assert_eq!(show(Some(1u32)), "Some(1)");
    assert_eq!(show(vec![1u32]), "[1]");
    assert_eq!(SHOWN.load(Ordering::SeqCst), 2);

    // The invalidator builds the same key, type included.
    assert_eq!(show_invalidate(vec![1u32], Invalidate::Hard), Ok(true));
    assert_eq!(show(Some(1u32)), "Some(1)");
    assert_eq!(SHOWN.load(Ordering::SeqCst), 2);
    assert_eq!(show(vec![1u32]), "[1]");
    assert_eq!(SHOWN.load(Ordering::SeqCst), 3);
}

static SHOWN_REF: AtomicUsize = AtomicUsize::new(0);

#[antidogpiled(soft = "1h")]
fn show_ref(label: &str, value: &[&(impl Serialize + Debug)]) -> String {
    SHOWN_REF.fetch_add(1, Ordering::SeqCst);
    format!("{label} {value:?}")
}

#[test]
fn the_type_behind_impl_trait_inside_references_is_part_of_the_key() {
    assert_eq!(show_ref("a", &[&Some(7u8)]), "a [Some(7)]");
    assert_eq!(show_ref("a", &[&(true, 7u8)]), "a [(true, 7)]");
    assert_eq!(show_ref("a", &[&Some(7u8)]), "a [Some(7)]");
    assert_eq!(SHOWN_REF.load(Ordering::SeqCst), 2);
    // With `Soft`, the value was there for exactly this type.
    assert_eq!(
        show_ref_invalidate("a", &[&(true, 7u8)], Invalidate::Soft),
        Ok(true)
    );
    assert_eq!(
        show_ref_invalidate("a", &[&(true, 8u8)], Invalidate::Soft),
        Ok(false)
    );
}

/// A map of 16 entries, built from scratch: each `HashMap` has its own
/// random hasher, so its iteration order differs from call to call.
fn prices() -> HashMap<String, u64> {
    (0..16u64).map(|i| (format!("sku-{i}"), i * 100)).collect()
}

static TOTALS: AtomicUsize = AtomicUsize::new(0);

#[antidogpiled(soft = "1h")]
fn total(prices: HashMap<String, u64>) -> u64 {
    TOTALS.fetch_add(1, Ordering::SeqCst);
    prices.values().sum()
}

#[test]
fn equal_hash_maps_give_one_key() {
    for _ in 0..20 {
        assert_eq!(total(prices()), 12_000);
    }
    assert_eq!(TOTALS.load(Ordering::SeqCst), 1);
    // A different map is another key.
    let mut other = prices();
    other.insert("sku-0".to_owned(), 1);
    assert_eq!(total(other), 12_001);
    assert_eq!(TOTALS.load(Ordering::SeqCst), 2);
}

#[derive(Serialize)]
struct Query {
    filters: HashMap<String, u64>,
    nested: Vec<HashMap<u32, HashMap<String, u64>>>,
    page: u32,
}

static SEARCHES: AtomicUsize = AtomicUsize::new(0);

#[antidogpiled(soft = "1h")]
fn search(query: Query) -> u32 {
    SEARCHES.fetch_add(1, Ordering::SeqCst);
    query.page
}

/// A map inside a struct, or inside a map inside a vector, is not spelled
/// in the signature: the encoder orders it.
#[test]
fn equal_maps_nested_in_arguments_give_one_key() {
    let query = |page| Query {
        filters: prices(),
        nested: vec![(0..4).map(|i| (i, prices())).collect()],
        page,
    };
    for _ in 0..20 {
        assert_eq!(search(query(3)), 3);
    }
    assert_eq!(SEARCHES.load(Ordering::SeqCst), 1);
    assert_eq!(search(query(4)), 4);
    assert_eq!(SEARCHES.load(Ordering::SeqCst), 2);
}

/// Two processes in turn pass an equal map to one function over one file
/// store: the second reads what the first cached.
#[test]
fn equal_hash_maps_give_one_key_across_processes() {
    let dir = antidogpile_test_support::temp_dir::TempDir::new("keys");
    let url = dir.file_url();
    let run = || {
        let output = Command::new(env!("CARGO_BIN_EXE_antidogpile-worker"))
            .args(["map", &url])
            .output()
            .expect("worker did not run");
        assert!(output.status.success(), "worker failed: {output:?}");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let outputs: Vec<String> = (0..3).map(|_| run()).collect();
    drop(dir);
    assert_eq!(outputs, ["computed 1", "computed 0", "computed 0"]);
}
