#!/usr/bin/env bash
# Benchmark: the idle cost of a running supervisor (README.md). stackmgr supervises pluto in a
# network namespace; after it is ready we let STACKMGR_IDLE_SECONDS (default 60, what CI uses)
# pass with nothing happening and count the supervisor's context switches (voluntary +
# involuntary, /proc/PID/status): each is a wakeup. Target: none (no periodic wakeups). The
# baseline, in the same run: pluto itself over the same period, and the same supervisor with a
# systemd watchdog (WATCHDOG_USEC=2 s), whose pings are the one periodic wakeup allowed; that is a
# rate (one ping a second), so its window is STACKMGR_IDLE_BASELINE_SECONDS (default 10).
# Also prints RSS (VmRSS, VmHWM; RssAnon and RssFile) against pluto's. Asserts nothing: it prints "met"/"NOT met".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../stackmgr/pluto/common.sh
source "$here/../stackmgr/pluto/common.sh"

seconds=${STACKMGR_IDLE_SECONDS:-60}
baseline_seconds=${STACKMGR_IDLE_BASELINE_SECONDS:-10}
setup_world pluto
write_config "$(pluto_argv)"

field() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }
switches() { echo $(($(field "$1" voluntary_ctxt_switches) + $(field "$1" nonvoluntary_ctxt_switches))); }

# Starts stackmgr under the stand-in systemd (extra environment in "$@"), waits for READY=1,
# and sets SUPERVISOR and DAEMON to the two pids.
start_supervisor() {
  rm -f "$D/notify.log"
  env "$@" "$PLUTO_TEST_TOOL" notify-record "$D/sd.sock" "$D/notify.log" -- "$STACKMGR" --log-level warn \
    --config "$D/stackmgr.toml" start >"$D/start.log" 2>&1 &
  SM_PID=$!
  wait_for 20000 notified_ready || fail "stackmgr never became ready"
  SUPERVISOR=$(cat "$D/run/stackmgr.pid")
  DAEMON=$(sed -n 's/.*pluto pid \([0-9]*\).*/\1/p' <<<"$(grep -m1 'READY=1' "$D/notify.log")")
  sleep 2 # let pluto finish its start-up chatter (its log lines wake the supervisor)
}

stop_supervisor() {
  sm --log-level warn stop >/dev/null 2>&1 || fail "stop failed"
  wait "$SM_PID" || true
}

# measure SECONDS: prints "<supervisor switches> <pluto switches> <log lines>" over that time.
measure() {
  local s0 d0 lines0
  s0=$(switches "$SUPERVISOR")
  d0=$(switches "$DAEMON")
  lines0=$(wc -l <"$D/start.log")
  sleep "$1"
  echo "$(($(switches "$SUPERVISOR") - s0)) $(($(switches "$DAEMON") - d0)) $(($(wc -l <"$D/start.log") - lines0))"
}

start_supervisor
read -r quiet_supervisor quiet_pluto quiet_lines <<<"$(measure "$seconds")"
rss=$(field "$SUPERVISOR" VmRSS)
hwm=$(field "$SUPERVISOR" VmHWM)
rss_anon=$(field "$SUPERVISOR" RssAnon)
rss_file=$(field "$SUPERVISOR" RssFile)
pluto_rss=$(field "$DAEMON" VmRSS)
stop_supervisor

start_supervisor WATCHDOG_USEC=2000000
pings0=$(grep -c 'WATCHDOG=1' "$D/notify.log" || true)
read -r watchdog_supervisor watchdog_pluto _ <<<"$(measure "$baseline_seconds")"
pings=$(($(grep -c 'WATCHDOG=1' "$D/notify.log" || true) - pings0))
stop_supervisor

echo "bench_idle: ${seconds} s of nothing happening; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  supervisor wakeups (context switches): ${quiet_supervisor}   pluto over the same time: ${quiet_pluto}"
echo "    daemon log lines forwarded meanwhile: ${quiet_lines} (each one wakes the supervisor)"
echo "  with WatchdogSec (WATCHDOG_USEC=2 s), over ${baseline_seconds} s: supervisor ${watchdog_supervisor} wakeups," \
  "${pings} WATCHDOG=1 sent (expected about ${baseline_seconds} at one per second); pluto ${watchdog_pluto}"
echo "  RSS: supervisor ${rss} kB (peak ${hwm} kB; its own memory ${rss_anon} kB, pages of the program and its libraries ${rss_file} kB), pluto ${pluto_rss} kB; ratio $(awk -v a="$rss" -v b="$pluto_rss" 'BEGIN { printf "%.2f", a / b }')"
if [ "$quiet_supervisor" -eq 0 ]; then
  echo "  target (no periodic wakeups): met"
else
  echo "  target (no periodic wakeups): NOT met (${quiet_supervisor} wakeups in ${seconds} s)"
fi
echo "FACT bench_idle: supervisor wakeups ${quiet_supervisor} in ${seconds} s (pluto ${quiet_pluto}), RSS ${rss} kB," \
  "supervisor/pluto RSS $(awk -v a="$rss" -v b="$pluto_rss" 'BEGIN { printf "%.2f", a / b }')"
