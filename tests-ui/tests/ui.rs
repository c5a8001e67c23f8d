//! Compile-time behaviour of `#[antidogpiled]`: what compiles (and memoizes),
//! and what is rejected, with the exact error and the token it points at.
//! `TRYBUILD=overwrite cargo test --test ui` rewrites the `.stderr` files.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
