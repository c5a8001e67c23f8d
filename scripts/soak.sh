#!/usr/bin/env bash
# The soak run, in release: 3 minutes by default of mixed load over 10,000
# keys (16 threads and 32 tokio tasks) against a memcached it starts itself
# and restarts now and then, with computes that panic or fail. Not part of
# scripts/test.sh (tools/soak/tests/quick.rs runs a 10 s version there).
#
#   bash scripts/soak.sh                 # 3 minutes
#   bash scripts/soak.sh --seconds 10    # quick
#   options: --seconds N --keys N --threads N --tasks N --restart-every N
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v memcached >/dev/null 2>&1; then
  echo "memcached is not installed (bash scripts/test.sh installs it)" >&2
  exit 1
fi

exec cargo run --release --locked --quiet --bin antidogpile-soak -- "$@"
