#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined) in a build dir of
# their own, or in an existing tree configured with STACKMGR_FUZZ, and runs each for a bounded
# time over a scratch copy of its committed seed corpus (tests/fuzz/corpus/NAME/). Exits non-zero
# when any target crashes, leaks, times out or trips a sanitizer; the input that did it is kept
# in the artifacts dir and its path printed.
#
# Usage: tests/fuzz/run.sh [NAME...]      (default: every target with a corpus)
# Environment: FUZZ_SECONDS (per target, default 20), FUZZ_RUNS (an execution budget per
# target: each stops at whichever of the two comes first; the deep run of README.md sets
# FUZZ_RUNS=1000000 with a generous FUZZ_SECONDS), FUZZ_JOBS (targets at once, default 1; see
# below), STACKMGR_FUZZ_BUILD_DIR (default build/fuzz), FUZZ_ARTIFACTS (default
# <build>/artifacts), FUZZ_TIMEOUT (seconds one input may take before it counts as a hang,
# default 10; a deep run on a loaded machine may need more).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${STACKMGR_FUZZ_BUILD_DIR:-$top/build/fuzz}
seconds=${FUZZ_SECONDS:-20}
artifacts=${FUZZ_ARTIFACTS:-$build/artifacts}
runs=${FUZZ_RUNS:-}
timeout=${FUZZ_TIMEOUT:-10}
case $seconds in '' | *[!0-9]*) echo "fuzz: FUZZ_SECONDS must be a number of seconds" >&2; exit 2 ;; esac
case $runs in *[!0-9]*) echo "fuzz: FUZZ_RUNS must be a number of executions" >&2; exit 2 ;; esac
case $timeout in '' | *[!0-9]*) echo "fuzz: FUZZ_TIMEOUT must be a number of seconds" >&2; exit 2 ;; esac
budget=(-max_total_time="$seconds")
[ -z "$runs" ] || budget+=(-runs="$runs")

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

# A tree already configured with STACKMGR_FUZZ (tests/run-all.sh's clang ASan+UBSan tree, which
# also runs the unit tests) is used as it is, with its build type and flags.
if grep -qx 'STACKMGR_FUZZ:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  echo "fuzz: building ${targets[*]} in the existing fuzz tree $build"
else
  echo "fuzz: building ${targets[*]} with clang in $build"
  CC=clang CXX=clang++ cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSTACKMGR_FUZZ=ON -DSTACKMGR_SANITIZE=ON >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

mkdir -p "$artifacts"

# fuzz_one NAME: runs one target over a scratch copy of its seeds; prints what happened and
# fails when the target did.
fuzz_one() {
  local name=$1 corpus=$top/tests/fuzz/corpus/$1 scratch started executions rc=0
  [ -d "$corpus" ] || { echo "fuzz: $name has no seed corpus in $corpus"; return 1; }
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-$name.XXXXXX")
  echo "fuzz: $name for ${seconds}s${runs:+ or $runs executions} over $(find "$corpus" -type f | wc -l) seeds"
  started=$SECONDS
  # New inputs go to the scratch dir (first corpus dir), never into the committed seeds.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/tests/fuzz/fuzz_$name" "${budget[@]}" -timeout="$timeout" -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/$name-" -print_final_stats=1 "$scratch" "$corpus" >"$artifacts/$name.log" 2>&1 || rc=$?
  rm -rf "$scratch"
  if [ "$rc" != 0 ]; then
    echo "fuzz: $name FAILED; last lines of $artifacts/$name.log:"
    tail -n 40 "$artifacts/$name.log"
    return 1
  fi
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$artifacts/$name.log" | head -n 1)
  echo "fuzz: $name: ${executions:-?} executions in $((SECONDS - started)) s, no failure"
}

# FUZZ_JOBS targets run side by side; each one's lines print together when it ends. The default
# is one at a time: on the 2-core CI machine two at once halved the stage's time but each target
# then made only 55 to 65% of its executions, a shallower run than the suite promises. A deep
# run on a machine with cores to spare can set it.
jobs=${FUZZ_JOBS:-1}
case $jobs in '' | *[!0-9]* | 0) echo "fuzz: FUZZ_JOBS must be a positive number" >&2; exit 2 ;; esac
failed=()
declare -A running=() # pid -> target
reap_one() {
  local pid rc=0
  wait -n -p pid "${!running[@]}" || rc=$?
  cat "$artifacts/${running[$pid]}.out"
  [ "$rc" = 0 ] || failed+=("${running[$pid]}")
  unset "running[$pid]"
}
for name in "${targets[@]}"; do
  [ "${#running[@]}" -lt "$jobs" ] || reap_one
  fuzz_one "$name" >"$artifacts/$name.out" 2>&1 &
  running[$!]=$name
done
while [ "${#running[@]}" -gt 0 ]; do reap_one; done

if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (crashing inputs: $artifacts)" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran (${seconds}s${runs:+ or $runs executions} each) without a failure"
