#!/usr/bin/env bash
# The whole test suite, from a fresh checkout on a fresh machine:
# unit, behaviour and concurrency tests, trybuild UI tests, lint test, doc tests.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not installed: install Rust 1.95 (https://rustup.rs) first" >&2
  exit 1
fi

# ensure COMMAND PACKAGE WHAT [SERVICE]: installs the Debian/Ubuntu PACKAGE when
# COMMAND is missing; stops and disables SERVICE, the system-wide server the package
# starts (the tests start their own, on free loopback ports).
ensure() {
  local command=$1 package=$2 what=$3 service=${4:-}
  command -v "$command" >/dev/null 2>&1 && return 0
  echo "$command is not installed: installing the Debian package $package" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "no apt-get here: install $what by hand, then run this again" >&2
    exit 1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$package" >/dev/null
  if [ -n "$service" ]; then
    $sudo systemctl disable --now "$service" >/dev/null 2>&1 || $sudo service "$service" stop >/dev/null 2>&1 || true
  fi
}

# The memcached and Redis tests start their own servers; the Redis TLS tests
# make throwaway certificates with the openssl CLI.
ensure memcached memcached "memcached (1.6+)" memcached
ensure redis-server redis-server "redis-server (6.2+)" redis-server
ensure openssl openssl "the openssl CLI"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# The default members: every package but the benchmark (cargo run --release -p antidogpile-bench).
# With cargo-nextest (.config/nextest.toml), every test runs in its own process and the
# tests of all binaries side by side: most of them wait on timers, child processes or
# memcached, so this takes a fraction of the time of `cargo test`, which runs one test
# binary after another. nextest does not run doc tests: `cargo test --doc` does.
# Without cargo-nextest (or with ANTIDOGPILE_TEST_RUNNER=cargo), plain `cargo test`.
runner=${ANTIDOGPILE_TEST_RUNNER:-nextest}
if [ "$runner" = nextest ] && ! cargo nextest --version >/dev/null 2>&1; then
  echo "cargo-nextest is not installed: running the tests with cargo test (slower)" >&2
  runner=cargo
fi
# The history checker's seeded runs (tools/history/tests/runs.rs, issue 23) come last,
# one at a time, on an otherwise idle machine: each runs three worker processes and
# servers under faults, and the checker holds their calls to real-time bounds that a
# machine busy with other tests would stretch.
runs='binary_id(antidogpile-history::runs)'
if [ "$runner" = nextest ]; then
  cargo nextest run --all-features --locked -E "not $runs" 2>&1 | tee "$log" || status=1
  cargo test --doc --all-features --locked 2>&1 | tee -a "$log" || status=1
  cargo nextest run --all-features --locked -E "$runs" --test-threads 1 2>&1 | tee -a "$log" || status=1
else
  cargo test --all-features --locked --no-fail-fast 2>&1 | tee "$log" || status=1
fi

# One closing line for the whole run (cargo prints one per test binary, nextest one
# "Summary ... N tests run: P passed, F failed, T timed out, S skipped" for its part).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     /^ *Summary \[.*tests? run:/ { sub(/.*run:/, ""); n = split($0, part, ",")
       for (j = 1; j <= n; j++) { split(part[j], w, " ")
         if (w[2] == "passed") p += w[1]; else if (w[2] == "failed" || w[2] == "timed") f += w[1] } }
     END { printf "total: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
