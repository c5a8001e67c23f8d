//! Tests of the whole pipeline on `proc_macro2` tokens: expansion snapshots
//! and the errors of `validate`. The compile-time behaviour of the
//! expansion (spans, lints, memoization) is tested in the workspace's
//! `tests/ui.rs` and `tests/lints.rs`.

mod expansion;
mod rejection;
