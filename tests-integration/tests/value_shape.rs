//! A deploy that changes the serde shape of a cached value type (fields
//! swapped, `u64` -> `i64`) but keeps its name never misreads the bytes the
//! other build wrote, and builds that run side by side do not flap.
//!
//! Each "build" is a process of `antidogpile-worker price` (src/bin) with
//! its own `PRICE_SHAPE`: the type `Price` keeps its Rust name, only its
//! serde impls change, as they would after editing the struct. The
//! `nested-price` modes cache it inside a generic envelope of itself
//! (`Wrapper<Wrapper<Price>>`), whose inner `Wrapper` has the outer one's
//! serde name.

mod common;

use std::process::{Child, Command, Stdio};

use antidogpile_test_support::redis::Redis;
use antidogpile_test_support::temp_dir::TempDir;
use common::memcached::Memcached;

const WORKER: &str = env!("CARGO_BIN_EXE_antidogpile-worker");

/// What one `price` process printed.
#[derive(Debug)]
struct Build {
    lines: Vec<String>,
}

impl Build {
    fn count(&self, word: &str) -> u64 {
        self.lines
            .iter()
            .find_map(|line| line.strip_prefix(word)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{word}` line in {:?}", self.lines))
    }
}

/// The worker's memoized price: `price` or `nested-price`.
fn spawn_mode(mode: &str, url: &str, shape: &str, millis: u64) -> Child {
    Command::new(WORKER)
        .args([mode, url, &millis.to_string()])
        .env("PRICE_SHAPE", shape)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("worker did not start")
}

fn spawn(url: &str, shape: &str, millis: u64) -> Child {
    spawn_mode("price", url, shape, millis)
}

fn finish(child: Child) -> Build {
    let output = child.wait_with_output().expect("worker did not run");
    assert!(
        output.status.success(),
        "worker failed: {:?}",
        output.status
    );
    Build {
        lines: String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect(),
    }
}

/// Shape 1 caches `Price { cents: 1999, tax_cents: 400 }`; then a build of
/// each other shape calls once: it must compute its own value, not decode
/// the first one's bytes into the wrong fields.
fn a_new_shape_recomputes(url: &str) {
    a_new_shape_recomputes_in(url, "price");
}

/// [`a_new_shape_recomputes`] with the worker's `mode` (`price` or
/// `nested-price`).
fn a_new_shape_recomputes_in(url: &str, mode: &str) {
    let spawn = |url: &str, shape: &str, millis: u64| spawn_mode(mode, url, shape, millis);
    let first = finish(spawn(url, "1", 0));
    assert_eq!(first.count("computes"), 1, "{first:?}");
    for shape in ["2", "3"] {
        let next = finish(spawn(url, shape, 0));
        assert_eq!(
            (next.count("wrong"), next.count("computes")),
            (0, 1),
            "shape {shape} after shape 1: {:?}",
            next.lines
        );
    }
    // And the first build still reads its own value.
    let again = finish(spawn(url, "1", 0));
    assert_eq!(again.count("wrong"), 0, "{again:?}");
}

/// Two builds call one key side by side for 2.5 s (a rolling deploy): each
/// keeps its own value, so each computes about once per expiry (fresh for
/// 1 s), rather than each overwriting the other's value on every call.
fn two_shapes_side_by_side_do_not_flap(url: &str) {
    let builds = [spawn(url, "1", 2_500), spawn(url, "2", 2_500)].map(finish);
    for build in &builds {
        println!("{:?}", build.lines);
        assert_eq!(build.count("wrong"), 0, "{build:?}");
        let (computes, calls) = (build.count("computes"), build.count("calls"));
        assert!(calls >= 50, "{calls} calls: the run was too short to tell");
        // 2.5 s fresh for 1 s: 3 expiries; generous for a loaded machine.
        assert!(computes <= 6, "{computes} computes in {calls} calls");
    }
}

/// The cache client: a value set by a build of another shape is a miss
/// (never misread), and the next `set` overwrites it.
fn the_client_reads_another_shape_as_a_miss(url: &str) {
    the_client_reads_another_shape_as_a_miss_in(url, "price-client");
}

/// [`the_client_reads_another_shape_as_a_miss`] with the worker's `mode`
/// (`price-client` or `nested-price-client`).
fn the_client_reads_another_shape_as_a_miss_in(url: &str, mode: &str) {
    let client = |shape: &str| {
        let output = Command::new(WORKER)
            .args([mode, url])
            .env("PRICE_SHAPE", shape)
            .output()
            .expect("worker did not run");
        assert!(output.status.success(), "worker failed: {output:?}");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let seen: Vec<String> = ["1", "1", "2", "2", "3", "1"]
        .iter()
        .map(|shape| client(shape))
        .collect();
    assert_eq!(
        seen,
        ["set", "got 1999 400", "set", "got 1999 400", "set", "set"],
        "builds of shapes 1, 1, 2, 2, 3, 1"
    );
}

#[test]
fn memcached_the_client_reads_another_shape_as_a_miss() {
    let server = Memcached::start();
    the_client_reads_another_shape_as_a_miss(&server.url("timeout=1s"));
}

#[test]
fn file_store_the_client_reads_another_shape_as_a_miss() {
    let dir = TempDir::new("value-shape-client");
    the_client_reads_another_shape_as_a_miss(&dir.file_url());
}

#[test]
fn memcached_a_changed_value_shape_is_recomputed_not_misread() {
    let server = Memcached::start();
    a_new_shape_recomputes(&server.url("timeout=1s"));
}

#[test]
fn memcached_builds_of_two_shapes_side_by_side_do_not_flap() {
    let server = Memcached::start();
    two_shapes_side_by_side_do_not_flap(&server.url("timeout=1s"));
}

#[test]
fn redis_the_client_reads_another_shape_as_a_miss() {
    let server = Redis::start();
    the_client_reads_another_shape_as_a_miss(&server.url("timeout=1s"));
}

#[test]
fn redis_a_changed_value_shape_is_recomputed_not_misread() {
    let server = Redis::start();
    a_new_shape_recomputes(&server.url("timeout=1s"));
}

#[test]
fn redis_builds_of_two_shapes_side_by_side_do_not_flap() {
    let server = Redis::start();
    two_shapes_side_by_side_do_not_flap(&server.url("timeout=1s"));
}

#[test]
fn file_store_a_changed_value_shape_is_recomputed_not_misread() {
    let dir = TempDir::new("value-shape-misread");
    a_new_shape_recomputes(&dir.file_url());
}

#[test]
fn file_store_builds_of_two_shapes_side_by_side_do_not_flap() {
    let dir = TempDir::new("value-shape-flap");
    two_shapes_side_by_side_do_not_flap(&dir.file_url());
}

#[test]
fn file_store_the_client_reads_another_shape_nested_in_an_envelope_of_its_name_as_a_miss() {
    let dir = TempDir::new("value-shape-nested-client");
    the_client_reads_another_shape_as_a_miss_in(&dir.file_url(), "nested-price-client");
}

#[test]
fn file_store_a_changed_shape_nested_in_an_envelope_of_its_name_is_recomputed() {
    let dir = TempDir::new("value-shape-nested");
    a_new_shape_recomputes_in(&dir.file_url(), "nested-price");
}

#[test]
fn redis_a_changed_shape_nested_in_an_envelope_of_its_name_is_recomputed() {
    let server = Redis::start();
    a_new_shape_recomputes_in(&server.url("timeout=1s"), "nested-price");
}

/// A value type whose `Deserialize` panics on the tracer's made-up input
/// cannot be traced: its shape is its type name, and the function computes
/// once and is then a hit, in its process and in the next one. The panic is
/// reported (by the panic hook) once per process, not per call.
fn a_deserialize_that_panics_when_traced_still_caches(url: &str) {
    let run = || {
        let output = Command::new(WORKER)
            .args(["currency", url])
            .output()
            .expect("worker did not run");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "worker failed: {stderr}");
        let panics = stderr.matches("panicked").count();
        assert!(panics <= 1, "{panics} panics reported: {stderr}");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), ["got EUR", "got EUR", "computes 1"], "first process");
    assert_eq!(
        run(),
        ["got EUR", "got EUR", "computes 0"],
        "second process"
    );
}

#[test]
fn file_store_a_deserialize_that_panics_when_traced_still_caches() {
    let dir = TempDir::new("value-shape-panic");
    a_deserialize_that_panics_when_traced_still_caches(&dir.file_url());
}

#[test]
fn redis_a_deserialize_that_panics_when_traced_still_caches() {
    let server = Redis::start();
    a_deserialize_that_panics_when_traced_still_caches(&server.url("timeout=1s"));
}

#[test]
fn memcached_the_client_reads_another_shape_nested_in_an_envelope_of_its_name_as_a_miss() {
    let server = Memcached::start();
    the_client_reads_another_shape_as_a_miss_in(&server.url("timeout=1s"), "nested-price-client");
}

#[test]
fn memcached_a_changed_shape_nested_in_an_envelope_of_its_name_is_recomputed() {
    let server = Memcached::start();
    a_new_shape_recomputes_in(&server.url("timeout=1s"), "nested-price");
}

#[test]
fn memcached_a_deserialize_that_panics_when_traced_still_caches() {
    let server = Memcached::start();
    a_deserialize_that_panics_when_traced_still_caches(&server.url("timeout=1s"));
}
