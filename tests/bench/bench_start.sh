#!/usr/bin/env bash
# Benchmark: from `stackmgr start` to "ready" against pluto started directly (README.md).
# Both are run by the same stand-in systemd (pluto_test_tool notify-record), which timestamps
# the READY=1 it receives from the moment it forks its child: for pluto alone that is pluto's
# own READY=1; for stackmgr it is stackmgr's READY=1, sent only after detection, the stack
# check, the SAD/SPD flush, the spawn and pluto's READY=1. Interleaved, after one warm-up
# round each; BENCH_START_RUNS rounds (default 15). Runs inside `unshare --net`. Asserts
# nothing about time: it prints medians and the ratio.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../stackmgr/pluto/common.sh
source "$here/../stackmgr/pluto/common.sh"

runs=${BENCH_START_RUNS:-15}
setup_world pluto
write_config "$(pluto_argv)"

# Milliseconds from fork to the first READY=1 in notify log $1 (waits up to 20 s).
ready_ms() {
  wait_for 20000 grep -qs 'READY=1' "$1" || fail "no READY=1 in $1"
  grep -m1 'READY=1' "$1" | cut -d' ' -f1
}

pluto_direct() {
  local log=$D/direct-$1.log
  "$PLUTO_TEST_TOOL" notify-record "$D/sd.sock" "$log" -- "$PLUTO" --nofork --stderrlog \
    --config "$D/pluto/ipsec.conf" --rundir "$D/pluto/run" --nssdir "$D/pluto/nss" \
    --secretsfile "$D/pluto/ipsec.secrets" --ipsecdir "$D/pluto/ipsecd" --dumpdir "$D/pluto/dump" \
    >/dev/null 2>&1 &
  local recorder=$!
  ready_ms "$log"
  pkill -TERM -f -- "--rundir $D/pluto/run" || true
  wait "$recorder" || true
  # A direct pluto leaves policies behind; start each round from an empty SPD like stackmgr.
  ip xfrm policy flush
  ip xfrm state flush
}

via_stackmgr() {
  local log=$D/stackmgr-$1.log
  "$PLUTO_TEST_TOOL" notify-record "$D/sd.sock" "$log" -- "$STACKMGR" --log-level warn \
    --config "$D/stackmgr.toml" start >/dev/null 2>&1 &
  local recorder=$!
  ready_ms "$log"
  # stackmgr's own CPU time until ready (user + system), immune to the machine's load.
  local supervisor
  supervisor=$(cat "$D/run/stackmgr.pid")
  awk '{ printf "%.3f\n", $1 / 1e6 }' "/proc/$supervisor/schedstat" >>"$D/cpu.txt"
  sm --log-level warn stop >/dev/null 2>&1 || fail "stop failed"
  wait "$recorder" || fail "stackmgr start exited non-zero"
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

pluto_direct warmup >/dev/null
via_stackmgr warmup >/dev/null
rm -f "$D/cpu.txt"
direct=()
managed=()
for round in $(seq 1 "$runs"); do
  direct+=("$(pluto_direct "$round")")
  managed+=("$(via_stackmgr "$round")")
done

direct_median=$(printf '%s\n' "${direct[@]}" | median)
managed_median=$(printf '%s\n' "${managed[@]}" | median)
echo "bench_start: $runs rounds each, interleaved; load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
echo "  pluto alone, fork to READY=1:          median ${direct_median} ms  (all: ${direct[*]})"
echo "  stackmgr start, fork to its READY=1:   median ${managed_median} ms  (all: ${managed[*]})"
awk -v a="$managed_median" -v b="$direct_median" \
  'BEGIN { printf "  ratio stackmgr/pluto (wall time to ready): %.2f, difference %+.1f ms\n", a / b, a - b }'
echo "  stackmgr's own CPU time until ready (detection, stack check, flush, spawn; schedstat):" \
  "median $(median <"$D/cpu.txt") ms"
echo "  (wall times swing with the load average; the CPU time is what stackmgr itself costs)"
awk -v a="$managed_median" -v b="$direct_median" -v cpu="$(median <"$D/cpu.txt")" \
  'BEGIN { printf "FACT bench_start: stackmgr/pluto time to ready %.2f (%+.1f ms), stackmgr CPU until ready %s ms\n", a / b, a - b, cpu }'
