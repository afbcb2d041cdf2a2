#!/usr/bin/env bash
# Runs one real-daemon case: run_case.sh NAME (inside `unshare -n`; see CMakeLists.txt).
# Each case checks what an admin would see: exit codes, status output, processes, SAD/SPD.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$here/common.sh"

# Readiness, whack, SIGKILL and restart, status --json, and a stop that leaves nothing.
case_lifecycle() {
  setup_world pluto
  write_config "$(pluto_argv)"
  start_foreground
  wait_for 20000 notified_ready || fail "stackmgr never sent READY=1 to systemd"
  # READY=1 means pluto is up: its control socket answers at once.
  pluto_answers || fail "stackmgr said READY=1 but 'ipsec whack --status' does not answer"
  local ready_line pid
  ready_line=$(grep 'READY=1' "$D/notify.log")
  pid=$(sed -n 's/.*STATUS=stack native, pluto pid \([0-9]*\).*/\1/p' <<<"$ready_line")
  [ -n "$pid" ] || fail "READY=1 came without 'STATUS=stack native, pluto pid N': $ready_line"
  [ "$(cat "/proc/$pid/comm")" = pluto ] || fail "STATUS names pid $pid, which is not pluto"
  grep -q "pluto (pid $pid) is ready (READY=1 after" "$D/start.log" ||
    fail "the log does not show pluto's own READY=1 before stackmgr's"
  [ "$(grep -c 'READY=1' "$D/notify.log")" -eq 1 ] || fail "READY=1 was sent to systemd more than once"
  pass "ready only after pluto's READY=1; whack answers; STATUS names pluto pid $pid"

  # Only stackmgr can load kernel code: pluto runs (whack answered above) without CAP_SYS_MODULE
  # in any set, bounding included, while its supervisor has it and pluto keeps CAP_NET_ADMIN.
  local supervisor set
  supervisor=$(sm status --json | jq -r .supervisor.pid)
  has_capability "$supervisor" $CAP_SYS_MODULE CapBnd || fail "the supervisor itself lacks CAP_SYS_MODULE"
  for set in CapBnd CapPrm CapEff CapInh CapAmb; do
    ! has_capability "$pid" $CAP_SYS_MODULE $set ||
      fail "pluto has CAP_SYS_MODULE in $set: $(grep "^$set" "/proc/$pid/status")"
  done
  has_capability "$pid" $CAP_NET_ADMIN CapBnd || fail "pluto lost CAP_NET_ADMIN, which it needs"
  pass "pluto $pid: CAP_SYS_MODULE in no set (CapBnd $(sed -n 's/^CapBnd:[[:space:]]*//p' "/proc/$pid/status")), CAP_NET_ADMIN kept"

  local json
  json=$(sm status --json) || fail "status exit $? while running (expected 0)"
  [ "$(jq -r .schema <<<"$json")" = stackmgr.status/1 ] || fail "schema: $(jq .schema <<<"$json")"
  [ "$(jq -r .supervisor.running <<<"$json")" = true ] || fail "supervisor.running is not true"
  [ "$(jq -r .supervisor.phase <<<"$json")" = running ] || fail "phase: $(jq -r .supervisor.phase <<<"$json")"
  [ "$(jq -r .stack.chosen <<<"$json")" = native ] || fail "stack.chosen: $(jq -r .stack.chosen <<<"$json")"
  [ "$(jq -r .daemon.pid <<<"$json")" = "$pid" ] || fail "daemon.pid is not $pid"
  [ "$(jq -r .daemon.restarts <<<"$json")" = 0 ] || fail "daemon.restarts is not 0"
  [ "$(jq -r .daemon.uptime_s <<<"$json")" != null ] || fail "daemon.uptime_s missing"
  [ "$(jq -r .kernel.sas <<<"$json")" = "$(count_xfrm_states)" ] || fail "kernel.sas disagrees with ip xfrm state"
  # ip xfrm policy also lists the per-socket policies pluto sets on its IKE sockets.
  local listed
  listed=$(jq -r '.kernel.policies + .kernel.socket_policies' <<<"$json")
  [ "$listed" = "$(count_xfrm_policies)" ] ||
    fail "kernel.policies + socket_policies ($listed) disagrees with ip xfrm policy ($(count_xfrm_policies))"
  [ "$(jq -r .kernel.socket_policies <<<"$json")" -ge 2 ] ||
    fail "pluto's IKE sockets have no socket policies counted: $(jq -c .kernel <<<"$json")"
  [ "$(jq -r '.modules | length' <<<"$json")" -gt 0 ] || fail "no module states in status"
  [ "$(jq -r .detect.schema <<<"$json")" = stackmgr.detect/1 ] || fail "the detect document is not embedded"
  sm status | grep -q "pluto running, pid $pid" || fail "human status does not show pluto running"
  pass "status --json: schema, phase, stack, daemon pid/restarts/uptime, SA and policy counts"

  kill -KILL "$pid"
  wait_for 20000 restarted_after "$pid" || fail "pluto was not restarted after SIGKILL"
  json=$(sm status --json) || fail "status exit $? after the restart"
  local new_pid
  new_pid=$(jq -r .daemon.pid <<<"$json")
  [ "$(jq -r .daemon.restarts <<<"$json")" = 1 ] || fail "restarts is $(jq -r .daemon.restarts <<<"$json"), not 1"
  [ "$(jq -r .daemon.last_exit.signal <<<"$json")" = SIGKILL ] || fail "last_exit is not SIGKILL"
  [ "$(cat "/proc/$new_pid/comm")" = pluto ] || fail "the new pid $new_pid is not pluto"
  ! has_capability "$new_pid" $CAP_SYS_MODULE CapBnd || fail "the restarted pluto has CAP_SYS_MODULE"
  wait_for 5000 pluto_answers || fail "the restarted pluto does not answer whack"
  pass "SIGKILL of pluto $pid: restarted as $new_pid, restarts=1, last exit SIGKILL"

  # Leftovers a crashed or careless daemon could leave: a placeholder SA and a policy.
  ip xfrm state allocspi src 192.0.2.1 dst 192.0.2.2 proto esp >/dev/null || fail "could not seed an SA"
  ip xfrm policy add src 10.1.0.0/16 dst 10.2.0.0/16 dir out || fail "could not seed a policy"
  [ "$(status_field .kernel.sas)" -ge 1 ] || fail "status does not count the seeded SA"
  [ "$(status_field .kernel.policies)" -ge 1 ] || fail "status does not count the policies"

  local stop_output
  stop_output=$(sm stop 2>&1) || fail "stop exit $?: $stop_output"
  grep -q "stopping pluto (pid $new_pid): SIGTERM" <<<"$stop_output" || fail "stop did not show its steps: $stop_output"
  wait_for 5000 process_gone "$SM_PID" || fail "the supervisor is still running after stop"
  wait "$SM_PID" || fail "stackmgr start exited $? after a clean stop (expected 0)"
  process_gone "$new_pid" || fail "pluto $new_pid survived stop"
  ! pgrep -f -- "$D" >/dev/null || fail "processes left behind: $(pgrep -af -- "$D")"
  [ "$(count_xfrm_states)" = 0 ] || fail "SAs left: $(ip xfrm state)"
  [ "$(count_xfrm_policies)" = 0 ] || fail "policies left: $(ip xfrm policy)"
  [ ! -e "$D/run/stackmgr.pid" ] || fail "the pid file is still there"
  grep -q 'STOPPING=1' "$D/notify.log" || fail "no STOPPING=1 to systemd"
  local rc=0
  sm status >/dev/null 2>&1 || rc=$?
  [ "$rc" = 3 ] || fail "status after stop exits $rc, not 3 (LSB: not running)"
  pass "stop: no process left, empty SAD/SPD, pid file gone, status 3"
}

# --daemon returns 0 only once ready; a stop on a stopped service succeeds.
case_daemon_mode() {
  setup_world pluto
  write_config "$(pluto_argv)"
  sm start --daemon >"$D/start.log" 2>&1 || fail "start --daemon exit $?"
  pluto_answers || fail "start --daemon returned before pluto answers"
  sm status >/dev/null || fail "status exit $? right after start --daemon"
  local supervisor
  supervisor=$(cat "$D/run/stackmgr.pid")
  [ "$supervisor" = "$(status_field .supervisor.pid)" ] || fail "the pid file does not hold the supervisor's pid"
  sm stop >/dev/null || fail "stop exit $?"
  process_gone "$supervisor" || fail "the supervisor $supervisor is still there after stop"
  local output
  output=$(sm stop 2>&1) || fail "stop of a stopped service exit $? (LSB wants 0)"
  grep -q "not running" <<<"$output" || fail "stop did not say it is not running: $output"
  pass "start --daemon returns once ready; stop works and is idempotent"
}

# A daemon slow to send READY=1: start --daemon waits for it, it does not guess.
case_readiness_delay() {
  setup_world
  write_config "[\"$FAKE_DAEMON\", \"--ready-delay-ms\", \"1500\", \"--ready\"]"
  local started took
  started=$(now_ms)
  sm start --daemon >"$D/start.log" 2>&1 || fail "start --daemon exit $?"
  took=$(($(now_ms) - started))
  [ "$took" -ge 1500 ] || fail "start --daemon returned after $took ms, before the daemon's READY=1 (1500 ms)"
  sm stop >/dev/null || fail "stop exit $?"
  pass "start --daemon took $took ms: it waited for READY=1"
}

# Hostile: a daemon binary that does not exist.
case_missing_binary() {
  setup_world
  write_config '["/nonexistent/stackmgr-test/pluto", "--nofork"]'
  local rc=0
  sm start >"$D/start.log" 2>&1 || rc=$?
  [ "$rc" = 8 ] || fail "start exit $rc, not 8 (daemon failed)"
  grep -q "executing /nonexistent/stackmgr-test/pluto: No such file or directory" "$D/start.log" ||
    fail "the log does not say which binary is missing"
  [ "$(grep -c 'starting /nonexistent' "$D/start.log")" = 1 ] || fail "a missing binary was retried"
  rc=0
  sm status >"$D/status.txt" 2>&1 || rc=$?
  [ "$rc" = 1 ] || fail "status exit $rc, not 1 (dead, pid file left)"
  grep -q "No such file or directory" "$D/status.txt" || fail "status does not say why: $(cat "$D/status.txt")"
  pass "missing binary: exit 8 at once, no retries, status 1 says why"
}

# Hostile: a daemon that exits at once: crash loop, then exit 8 and "failed" in status.
case_crash_loop() {
  setup_world
  RESTART_INITIAL=100ms RESTART_MAX=400ms write_config "[\"$FAKE_DAEMON\", \"--exit\", \"1\"]" \
    'crash_loop_limit = 3' 'crash_loop_window = "1m"'
  local rc=0 started
  started=$(now_ms)
  sm start >"$D/start.log" 2>&1 || rc=$?
  [ "$rc" = 8 ] || fail "start exit $rc, not 8"
  [ "$(grep -c '^info: started fake_daemon' "$D/start.log")" = 4 ] ||
    fail "expected 4 starts (1 + crash_loop_limit 3 restarts), got $(grep -c '^info: started fake_daemon' "$D/start.log")"
  local delay
  for delay in 100 200 400; do
    grep -q "restarting in $delay ms" "$D/start.log" || fail "no backoff of $delay ms in the log (100, 200, 400)"
  done
  rc=0
  local json
  json=$(sm status --json) || rc=$?
  [ "$rc" = 1 ] || fail "status exit $rc, not 1"
  [ "$(jq -r .last_run.supervisor.phase <<<"$json")" = failed ] || fail "last run is not 'failed'"
  jq -r .last_run.daemon.failure <<<"$json" | grep -q "died 4 times within 60 s" ||
    fail "status does not say why: $(jq -r .last_run.daemon.failure <<<"$json")"
  [ "$(jq -r .last_run.daemon.restarts <<<"$json")" = 3 ] || fail "restarts is not 3"
  sm stop >/dev/null || fail "stop after a failed run exit $?"
  rc=0
  sm status >/dev/null 2>&1 || rc=$?
  [ "$rc" = 3 ] || fail "status after stop exit $rc, not 3"
  pass "crash loop: 4 starts with backoff 100/200/400 ms, exit 8 after $(($(now_ms) - started)) ms, status 1 'failed'"
}

# Hostile: a daemon that ignores SIGTERM gets SIGKILL after stop_timeout.
case_ignores_sigterm() {
  setup_world
  STOP_TIMEOUT=1s write_config "[\"$FAKE_DAEMON\", \"--ignore-term\", \"--grandchild\", \"--ready\"]"
  sm start --daemon >"$D/start.log" 2>&1 || fail "start --daemon exit $?"
  local daemon started took output
  daemon=$(status_field .daemon.pid)
  started=$(now_ms)
  output=$(sm stop 2>&1) || fail "stop exit $?: $output"
  took=$(($(now_ms) - started))
  grep -q "did not exit within 1 s of SIGTERM; sending SIGKILL" <<<"$output" || fail "no SIGKILL step shown: $output"
  [ "$took" -ge 1000 ] || fail "stop took $took ms: SIGKILL came before stop_timeout"
  process_gone "$daemon" || fail "the daemon $daemon survived"
  ! pgrep -f -- "$FAKE_DAEMON" >/dev/null || fail "the daemon's child survived: $(pgrep -af -- "$FAKE_DAEMON")"
  pass "SIGTERM ignored: SIGKILL after $took ms, daemon and its child gone"
}

# Hostile: a second start while one runs.
case_second_start() {
  setup_world
  write_config "[\"$FAKE_DAEMON\", \"--ready\"]"
  sm start --daemon >"$D/start.log" 2>&1 || fail "start --daemon exit $?"
  local supervisor rc=0 output started
  supervisor=$(cat "$D/run/stackmgr.pid")
  started=$(now_ms)
  output=$(sm start 2>&1) || rc=$?
  [ "$rc" = 6 ] || fail "second start exit $rc, not 6 (busy)"
  [ $(($(now_ms) - started)) -lt 2000 ] || fail "the second start waited instead of failing at once"
  grep -q "already running as pid $supervisor" <<<"$output" || fail "busy message does not name pid $supervisor: $output"
  sm status >/dev/null || fail "the first supervisor suffered from the second start"
  sm stop >/dev/null
  pass "second start: exit 6 at once, naming pid $supervisor"
}

# Hostile: a config others can write is refused.
case_unsafe_config() {
  setup_world
  write_config "[\"$FAKE_DAEMON\", \"--ready\"]"
  chmod 666 "$D/stackmgr.toml"
  local rc=0
  sm start >"$D/start.log" 2>&1 || rc=$?
  [ "$rc" = 7 ] || fail "start with a world-writable config exit $rc, not 7"
  grep -q "writable" "$D/start.log" || fail "the refusal does not say why: $(cat "$D/start.log")"
  ! pgrep -f -- "$FAKE_DAEMON" >/dev/null || fail "a daemon was started anyway"
  pass "world-writable config refused with exit 7"
}

# Hostile: paths.run_dir names a directory stackmgr did not make (as /run would be): refused
# with exit 7, its mode untouched, nothing started.
case_shared_run_dir() {
  setup_world
  write_config "[\"$FAKE_DAEMON\", \"--ready\"]"
  mkdir -m 755 "$D/run"
  : >"$D/run/someone-elses-file"
  local rc=0
  sm start >"$D/start.log" 2>&1 || rc=$?
  [ "$rc" = 7 ] || fail "start with a shared run_dir exit $rc, not 7"
  grep -q "refusing to use $D/run as stackmgr's own directory (paths.run_dir): it exists with mode 0755" \
    "$D/start.log" || fail "the refusal does not say why: $(cat "$D/start.log")"
  [ "$(stat -c %a "$D/run")" = 755 ] || fail "run_dir was chmod'ed to $(stat -c %a "$D/run")"
  [ -e "$D/run/someone-elses-file" ] || fail "a file in the shared directory is gone"
  ! pgrep -f -- "$FAKE_DAEMON" >/dev/null || fail "a daemon was started anyway"
  pass "a run_dir stackmgr did not make: exit 7, mode 755 kept, nothing started"
}

# Hostile: garbage on the control socket gets an error reply; the supervisor carries on.
case_control_garbage() {
  setup_world
  write_config "[\"$FAKE_DAEMON\", \"--ready\"]"
  sm start --daemon >"$D/start.log" 2>&1 || fail "start --daemon exit $?"
  local reply payload
  for payload in 'garbage' '{"cmd":"stop","unload":"please"}' '{"cmd":"reboot"}' "$(head -c 20000 /dev/zero | tr '\0' x)"; do
    reply=$(printf '%s\n' "$payload" | "$PLUTO_TEST_TOOL" control-raw "$D/run/control.sock") || fail "could not connect"
    [ "$(jq -r .ok <<<"$reply")" = false ] || fail "garbage got no error reply: $reply"
    [ "$(jq -r .type <<<"$reply")" = result ] || fail "the reply is not a result line: $reply"
  done
  head -c 4096 /dev/urandom | "$PLUTO_TEST_TOOL" control-raw "$D/run/control.sock" >/dev/null || fail "could not connect"
  sm status >/dev/null || fail "the supervisor is not running after the garbage"
  [ "$(status_field .supervisor.phase)" = running ] || fail "the supervisor is no longer running"
  sm stop >/dev/null || fail "stop exit $?"
  pass "garbage on the control socket: error replies, supervisor still running"
}

# Hostile: a non-root client is refused.
case_non_root_client() {
  setup_world
  write_config "[\"$FAKE_DAEMON\", \"--ready\"]"
  sm start --daemon >"$D/start.log" 2>&1 || fail "start --daemon exit $?"
  local rc=0 output
  output=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$STACKMGR" --config "$D/stackmgr.toml" stop 2>&1) || rc=$?
  [ "$rc" = 9 ] || fail "stop as nobody exit $rc, not 9: $output"
  grep -qi "permission denied" <<<"$output" || fail "no 'permission denied': $output"
  rc=0
  output=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$STACKMGR" --config "$D/stackmgr.toml" status 2>&1) || rc=$?
  [ "$rc" = 4 ] || fail "status as nobody exit $rc, not 4 (unknown): $output"
  [ "$(status_field .supervisor.phase)" = running ] || fail "the supervisor stopped for a non-root client"
  sm stop >/dev/null || fail "stop as root exit $?"
  pass "non-root stop refused (exit 9), status unknown (exit 4), supervisor untouched"
}

[ $# -eq 1 ] || {
  echo "usage: run_case.sh CASE" >&2
  exit 64
}
"case_$1"
