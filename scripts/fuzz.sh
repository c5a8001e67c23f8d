#!/usr/bin/env bash
# Fuzzes every target in fuzz/ for a while each, on stable Rust:
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   (default: 30 s each, every target)
#
# Seeds come from fuzz/corpus/<target>/ (committed, read only); what the
# fuzzer finds on top of them goes to the build directory, not the repo.
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the run;
# `cargo fuzz run -s none <target> fuzz/artifacts/<target>/<file>` replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
shift || true
case $seconds in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "cargo-fuzz is not installed: installing it from crates.io" >&2
  cargo install cargo-fuzz --locked
fi

# Address Sanitizer needs nightly (-Zsanitizer); `-s none` builds on stable
# with libFuzzer's coverage instrumentation only. The crates forbid unsafe
# code, so ASan would watch little but the dependencies.
build_dir=${CARGO_TARGET_DIR:-$PWD/fuzz/target}/fuzz-build
fuzz=(cargo fuzz run --fuzz-dir fuzz -s none --target-dir "$build_dir")

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi

cargo fuzz build --fuzz-dir fuzz -s none --target-dir "$build_dir"

# One fuzzer uses one core: as many targets at a time as there are cores
# (FUZZ_JOBS), each for its full time, reported in order once all are done.
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
run_one() {
  local target=$1 corpus=$build_dir/corpus/$1 log=$build_dir/logs/$1.log
  mkdir -p "$corpus" "$(dirname "$log")"
  # -timeout: one input running for 10 s is a hang, reported as a crash.
  if "${fuzz[@]}" "$target" "$corpus" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    echo 0 >"$log.status"
  else
    echo 1 >"$log.status"
  fi
}
for target in "${targets[@]}"; do
  rm -f "$build_dir/logs/$target.log.status"
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  echo "fuzzing $target for ${seconds}s"
  run_one "$target" &
done
wait

failed=()
for target in "${targets[@]}"; do
  log=$build_dir/logs/$target.log
  echo "== $target: ${seconds}s"
  if [ "$(cat "$log.status" 2>/dev/null)" = 0 ]; then
    # Coverage at the start and at the end, as libFuzzer printed it.
    grep -E '^#[0-9]+[[:space:]]+INITED' "$log" || true
    grep -E '^#[0-9]+[[:space:]]' "$log" | tail -n 1
    grep -E '^Done [0-9]+ runs' "$log" || true
  else
    # The panic (or libFuzzer's error), then where the input was saved.
    grep -a -m 1 -A 3 -E 'panicked at|ERROR: libFuzzer|^error' "$log" || true
    grep -a -E 'Test unit written|^Error' "$log" || tail -n 20 "$log"
    failed+=("$target")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]} (crash inputs in fuzz/artifacts/<target>/, logs in $build_dir/logs/)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, $jobs at a time, no crash"
