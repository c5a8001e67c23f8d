#!/usr/bin/env bash
# The whole test suite, from a fresh checkout on a fresh machine:
# unit, behaviour and concurrency tests, trybuild UI tests, lint test, doc tests.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not installed: install Rust 1.95 (https://rustup.rs) first" >&2
  exit 1
fi

cargo test --workspace --all-features --locked
