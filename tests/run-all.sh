#!/usr/bin/env bash
# Runs every test stackmgr has, from a fresh Debian 12 machine: installs what it needs, builds,
# then runs lint, the unit tests (plain, and under ASan/UBSan in the clang tree the fuzzers are
# built in), the fuzzers for a bounded time, the real-daemon tests, the packaging tests, the
# real-kernel suite in qemu, the end-to-end system test, and the benchmarks.
# This is the README's test command; CI (.ci/run) calls it. Needs root (apt-get, namespaces,
# module loading in the guest). Exit status: 0 only when every stage passed. Every stage prints
# its time.
# Usage: tests/run-all.sh [--quick]
#   --quick: for everyday work: one build, the unit tests and the fast real-kernel scenarios.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${STACKMGR_BUILD_DIR:-$top/build/test}
# clang, ASan+UBSan, libFuzzer coverage: the sanitized unit tests and the fuzzers.
sanitize_build=${STACKMGR_SANITIZE_BUILD_DIR:-$top/build/sanitize}
jobs=$(nproc)
# Unit tests are everything not in one of the slower labelled suites.
not_unit="^(vm|pluto|packaging|bench|e2e)$"
# --quick's real-kernel scenarios: those that take under about 25 s each (vm.prepare, their
# fixture, comes with them).
quick_vm="^vm\\.(stackmgr-smoke|standin-esp4-stale|standin-conflict|stackmgr-silent|stackmgr-refused|standin-basics|stackmgr-unsafe|stackmgr-switch)$"

quick=0
case ${1:-} in
--quick) quick=1 ;;
"") ;;
*)
  echo "usage: tests/run-all.sh [--quick]" >&2
  exit 2
  ;;
esac

stage() { printf '\n=== %s ===\n' "$*"; }
failed=()
run_stage() {
  local name=$1
  shift
  stage "$name"
  local started=$SECONDS
  if "$@"; then
    echo "--- $name: passed in $((SECONDS - started)) s"
  else
    echo "--- $name: FAILED in $((SECONDS - started)) s"
    failed+=("$name")
  fi
}

# required_stage NAME COMMAND...: run_stage for a stage the later ones need; stops on failure.
required_stage() {
  local before=${#failed[@]}
  run_stage "$@"
  [ "${#failed[@]}" -eq "$before" ] || {
    echo "run-all: stopping: the later stages need $1" >&2
    exit 1
  }
}

if [ "$(id -u)" -ne 0 ]; then
  echo "run-all: must run as root: it installs packages, makes network namespaces and boots a kernel" >&2
  exit 1
fi

required_stage "installing build and test dependencies" "$top/tests/install-deps.sh"

build_tree() {
  # The package's compiler flags, -Werror included, and ccache settings shared with the package
  # build, so that the packaging stage's dpkg-buildpackage finds every object in ccache instead
  # of compiling the project again (tests/packaging/deb-compile-env.sh, docs/packaging.md).
  # STACKMGR_TEST_PAUSE_POINTS: also the test-only stackmgr-pause-points, for the power-cut test.
  (
    # shellcheck source=tests/packaging/deb-compile-env.sh
    . "$top/tests/packaging/deb-compile-env.sh"
    deb_compile_env "$top"
    mapfile -t options < <(deb_cmake_options "$top")
    cmake -S "$top" -B "$build" -G Ninja "${options[@]}" -DSTACKMGR_WERROR=OFF -DSTACKMGR_TEST_PAUSE_POINTS=ON &&
      cmake --build "$build" -j "$jobs"
  )
}
required_stage "building (warnings are errors)" build_tree

if [ "$quick" = 1 ]; then
  run_stage "unit tests" ctest --test-dir "$build" --output-on-failure -j "$jobs" -LE "$not_unit"
  run_stage "fast real-kernel scenarios (Debian kernel in qemu)" \
    ctest --test-dir "$build" --output-on-failure -j "$jobs" -L vm -R "$quick_vm" --no-tests=error
  stage "summary (--quick: not lint, sanitizers, fuzzers, pluto, packaging, the slow qemu scenarios, e2e, bench)"
  if [ "${#failed[@]}" -ne 0 ]; then
    printf 'FAILED: %s\n' "${failed[@]}"
    exit 1
  fi
  echo "quick stages passed in $SECONDS s"
  exit 0
fi

run_stage "lint (clang-format, clang-tidy, shellcheck)" "$top/tests/lint.sh" "$build"
run_stage "unit tests" ctest --test-dir "$build" --output-on-failure -j "$jobs" -LE "$not_unit"

# One clang tree for the sanitized unit tests and the fuzzers: a second compiler also catches
# what gcc does not warn about. Debug: the quickest to compile, and assertions stay on.
sanitize_build_tree() {
  CC=clang CXX=clang++ cmake -S "$top" -B "$sanitize_build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DSTACKMGR_WERROR=ON -DSTACKMGR_SANITIZE=ON -DSTACKMGR_FUZZ=ON &&
    cmake --build "$sanitize_build" -j "$jobs"
}
run_stage "building with clang, ASan+UBSan and libFuzzer (warnings are errors)" sanitize_build_tree
run_stage "unit tests under ASan+UBSan" env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$sanitize_build" --output-on-failure -j "$jobs" -LE "$not_unit"

# Ten seconds per target keeps the suite well under 30 minutes; FUZZ_SECONDS=600 for a deep run.
run_stage "fuzzers (bounded time)" env FUZZ_SECONDS="${FUZZ_SECONDS:-10}" \
  STACKMGR_FUZZ_BUILD_DIR="$sanitize_build" "$top/tests/fuzz/run.sh"
run_stage "real keying daemon (pluto in a network namespace)" \
  ctest --test-dir "$build" --output-on-failure -L pluto --no-tests=error
run_stage "packaging (.deb, lintian, install/upgrade/purge in a Debian root)" \
  ctest --test-dir "$build" --output-on-failure -L packaging --no-tests=error
# ctest_facts ARGS...: ctest on $build, then the FACT lines the tests printed (their whole output
# is in LastTest.log), so a run's log holds the measured numbers; ctest's status is kept.
ctest_facts() {
  local rc=0
  ctest --test-dir "$build" "$@" || rc=$?
  grep -ah 'FACT ' "$build/Testing/Temporary/LastTest.log" | sed 's/^.*FACT /FACT /' || true
  return "$rc"
}
# The guest's benchmark (labels vm and bench) runs once, with the benchmarks.
run_stage "real-kernel suite (Debian kernel in qemu)" \
  ctest_facts --output-on-failure -j "$jobs" -L vm -LE bench --no-tests=error
# A Debian 12 system booted with systemd under qemu: apt installs the .deb the packaging stage
# built (-FS: not rebuilt here), and an IPsec tunnel to a second guest lives through switches,
# reboot, kill -9, upgrade and purge (docs/e2e.md). Never skipped: it fails when it cannot run.
# Verbose: the image build's cold or warm time, every step's raw output and the FACT lines.
run_stage "end-to-end system (Debian 12 with systemd in qemu, stackmgr from its .deb, a real tunnel)" \
  ctest --test-dir "$build" --verbose -L e2e -FS stackmgr_deb --no-tests=error
run_stage "benchmarks (ratios against baselines measured in the same run)" \
  ctest_facts --output-on-failure -L bench --no-tests=error

stage "summary"
if [ "${#failed[@]}" -ne 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "all stages passed in $SECONDS s"
