#!/usr/bin/env bash
# Model-checks the in-process claim/lease state machines (MemoryStore's
# claims and leases, Flights, Refreshing, and liveness: renewal of a hold
# against its release, its holder's last write and a takeover) under every thread interleaving
# with loom: antidogpile/src/model_tests/. Prints, per model, how many
# interleavings loom ran and how long it took.
#
# `--cfg loom` swaps std's locks for loom's (antidogpile/src/sync.rs). It
# also reaches tokio, which then leaves out tokio::net: the models run
# without the `tokio` feature, which they do not need.
#
# Its own target dir by default, so the normal build cache is kept; the
# `loom` profile (Cargo.toml) optimizes loom and this crate, not the rest.
# LOOM_MAX_PREEMPTIONS bounds the search (unset: exhaustive); LOOM_LOG=1
# traces each interleaving; LOOM_LOCATION=1 names the lock in a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-${CARGO_TARGET_DIR:-target}/loom}"
export RUSTFLAGS="${RUSTFLAGS:-} --cfg loom"
exec cargo test -p antidogpile --no-default-features --lib --profile loom model_tests \
    -- --nocapture --test-threads=1 "$@"
