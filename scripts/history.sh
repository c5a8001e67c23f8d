#!/usr/bin/env bash
# One long seeded run of the history checker (issue 23), in release: the
# store's servers, worker processes under the seed's faults, then every
# history checked. Not part of scripts/test.sh (tools/history/tests/runs.rs
# runs a 10 s fixed-seed run per store there).
#
#   bash scripts/history.sh STORE [SEED] [SECONDS]
#   STORE: memory, memcached, redis, redis-cluster or file
#   SEED: from the time if not given (printed, to run it again)
#   SECONDS: of load, 120 by default
#
# Exit status: 0 no violation, 1 a violation (printed with the commands that
# recheck its histories and rerun its seed), 2 a set-up error.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ] || [ $# -gt 3 ]; then
  echo "usage: bash scripts/history.sh STORE [SEED] [SECONDS]" >&2
  exit 2
fi
store=$1
seed=${2:-$(date +%s%N)}
seconds=${3:-120}

need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "$1 is not installed (bash scripts/test.sh installs it)" >&2
    exit 2
  fi
}
case "$store" in
  memcached) need memcached ;;
  redis) need redis-server ;;
  redis-cluster) need redis-server; need redis-cli ;;
esac

echo "store=$store seed=$seed seconds=$seconds"
exec cargo run --release --locked --quiet -p antidogpile-history -- \
  run --store "$store" --seed "$seed" --seconds "$seconds"
