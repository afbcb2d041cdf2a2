#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined) in a build dir of
# their own and runs each for a bounded time over a scratch copy of its committed seed corpus
# (tests/fuzz/corpus/NAME/). Exits non-zero when any target crashes, leaks, times out or trips a
# sanitizer; the input that did it is kept in the artifacts dir and its path printed.
#
# Usage: tests/fuzz/run.sh [NAME...]      (default: every target with a corpus)
# Environment: FUZZ_SECONDS (per target, default 20), STACKMGR_FUZZ_BUILD_DIR (default
# build/fuzz), FUZZ_ARTIFACTS (default <build>/artifacts).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${STACKMGR_FUZZ_BUILD_DIR:-$top/build/fuzz}
seconds=${FUZZ_SECONDS:-20}
artifacts=${FUZZ_ARTIFACTS:-$build/artifacts}
case $seconds in '' | *[!0-9]*) echo "fuzz: FUZZ_SECONDS must be a number of seconds" >&2; exit 2 ;; esac

for tool in clang clang++ cmake; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "fuzz: $tool is not installed (packages clang, libclang-rt-14-dev, cmake; run tests/install-deps.sh)" >&2
    exit 1
  }
done

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for dir in "$top"/tests/fuzz/corpus/*/; do targets+=("$(basename "$dir")"); done
fi
[ "${#targets[@]}" -gt 0 ] || { echo "fuzz: no targets (no tests/fuzz/corpus/*/)" >&2; exit 1; }

echo "fuzz: building ${targets[*]} with clang in $build"
CC=clang CXX=clang++ cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSTACKMGR_FUZZ=ON -DSTACKMGR_SANITIZE=ON \
  -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

mkdir -p "$artifacts"
failed=()
for name in "${targets[@]}"; do
  corpus=$top/tests/fuzz/corpus/$name
  [ -d "$corpus" ] || { echo "fuzz: $name has no seed corpus in $corpus" >&2; failed+=("$name"); continue; }
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-$name.XXXXXX")
  echo "fuzz: $name for ${seconds}s over $(find "$corpus" -type f | wc -l) seeds"
  # New inputs go to the scratch dir (first corpus dir), never into the committed seeds.
  if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/tests/fuzz/fuzz_$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/$name-" -print_final_stats=1 "$scratch" "$corpus" >"$artifacts/$name.log" 2>&1; then
    echo "fuzz: $name: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$artifacts/$name.log" || echo 'ran'), no failure"
  else
    echo "fuzz: $name FAILED; last lines of $artifacts/$name.log:" >&2
    tail -n 40 "$artifacts/$name.log" >&2
    failed+=("$name")
  fi
  rm -rf "$scratch"
done

if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (crashing inputs: $artifacts)" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds}s each without a failure"
