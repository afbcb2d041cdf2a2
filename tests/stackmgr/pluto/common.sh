#!/usr/bin/env bash
# Shared setup for the real-daemon tests. Each case runs inside its own network namespace
# (`unshare -n`, see CMakeLists.txt), with its own temp dir for stackmgr's run_dir and
# state_dir and for pluto's rundir, NSS db, config and secrets (REFERENCE.md section 4).
# stackmgr runs in `external` module mode: this host's kernel has XFRM built in and no
# module support.
set -euo pipefail

: "${STACKMGR:?the stackmgr binary}" "${PLUTO_TEST_TOOL:?pluto_test_tool}" "${FAKE_DAEMON:?fake_daemon}"
PLUTO=/usr/libexec/ipsec/pluto
SKIP=77

fail() {
  echo "FAIL: $*" >&2
  if [ -n "${D:-}" ] && [ -f "$D/start.log" ]; then
    echo "--- stackmgr's log (last 40 lines):" >&2
    tail -n 40 "$D/start.log" >&2
  fi
  exit 1
}
pass() { echo "ok: $*"; }
skip() {
  echo "SKIP: $*"
  exit "$SKIP"
}

# Milliseconds since the epoch.
now_ms() { date +%s%3N; }

# Retries "$@" every 50 ms until it succeeds or `timeout_ms` passes; returns its last status.
wait_for() {
  local timeout_ms=$1
  shift
  local until=$(($(now_ms) + timeout_ms))
  until "$@"; do
    [ "$(now_ms)" -lt "$until" ] || return 1
    sleep 0.05
  done
}

cleanup() {
  local status=$?
  # Whatever this case left running: the supervisor first, then anything under our temp dir.
  if [ -n "${SM_PID:-}" ] && kill -0 "$SM_PID" 2>/dev/null; then kill -KILL "$SM_PID" 2>/dev/null || true; fi
  if [ -n "${D:-}" ]; then
    pkill -KILL -f -- "$D" 2>/dev/null || true
    rm -rf "$D"
  fi
  exit "$status"
}

# Makes $D: a loopback-only netns, the temp tree, and (with "pluto") the NSS db pluto needs.
setup_world() {
  [ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, XFRM)"
  ip link set lo up
  D=$(mktemp -d /tmp/stackmgr-pluto-XXXXXX)
  chmod 755 "$D"
  trap cleanup EXIT
  # No $D/run: stackmgr makes its run_dir itself (0700), and refuses one it did not make.
  mkdir -p "$D/state" "$D/pluto/run" "$D/pluto/nss" "$D/pluto/ipsecd" "$D/pluto/dump"
  printf 'config setup\n\tlogfile=/dev/stderr\n' >"$D/pluto/ipsec.conf"
  : >"$D/pluto/ipsec.secrets"
  chmod 600 "$D/pluto/ipsec.secrets"
  if [ "${1:-}" = pluto ]; then
    [ -x "$PLUTO" ] || skip "libreswan's pluto is not installed ($PLUTO); tests/install-deps.sh installs it"
    command -v certutil >/dev/null || skip "certutil is missing (package libnss3-tools)"
    certutil -N -d "sql:$D/pluto/nss" --empty-password || fail "certutil could not create the NSS db"
  fi
}

# The pluto argv of REFERENCE.md, as a TOML array.
pluto_argv() {
  printf '["%s", "--nofork", "--stderrlog", "--config", "%s", "--rundir", "%s", "--nssdir", "%s", "--secretsfile", "%s", "--ipsecdir", "%s", "--dumpdir", "%s"]' \
    "$PLUTO" "$D/pluto/ipsec.conf" "$D/pluto/run" "$D/pluto/nss" "$D/pluto/ipsec.secrets" "$D/pluto/ipsecd" "$D/pluto/dump"
}

# Writes $D/stackmgr.toml (root-owned, 0644: trusted, and readable by the non-root case).
# $1: the daemon argv (a TOML array); the rest: extra lines for [daemon]. RESTART_INITIAL,
# RESTART_MAX and STOP_TIMEOUT override the short defaults used here.
write_config() {
  local argv=$1
  shift
  {
    echo 'stack = "native"'
    echo '[modules]'
    echo 'mode = "external"'
    echo '[daemon]'
    echo "argv.native = $argv"
    echo "restart_initial = \"${RESTART_INITIAL:-200ms}\""
    echo "restart_max = \"${RESTART_MAX:-1s}\""
    echo "stop_timeout = \"${STOP_TIMEOUT:-5s}\""
    for line in "$@"; do echo "$line"; done
    echo '[paths]'
    echo "run_dir = \"$D/run\""
    echo "state_dir = \"$D/state\""
    echo "ipsec_conf = \"$D/pluto/ipsec.conf\""
  } >"$D/stackmgr.toml"
  chmod 644 "$D/stackmgr.toml"
}

sm() { "$STACKMGR" --config "$D/stackmgr.toml" "$@"; }

# Starts `stackmgr start` in the foreground under a stand-in systemd (notify-record), logging
# to $D/start.log and the NOTIFY messages to $D/notify.log. SM_PID is the recorder's pid.
start_foreground() {
  "$PLUTO_TEST_TOOL" notify-record "$D/systemd-notify.sock" "$D/notify.log" -- "$STACKMGR" \
    --config "$D/stackmgr.toml" start >"$D/start.log" 2>&1 &
  SM_PID=$!
}

notified_ready() { grep -q 'READY=1' "$D/notify.log" 2>/dev/null; }

# A jq query on `stackmgr status --json`.
status_field() { sm status --json 2>/dev/null | jq -r "$1"; }

count_xfrm_states() { ip xfrm state | grep -c '^src' || true; }
count_xfrm_policies() { ip xfrm policy | grep -c '^src' || true; }

# True once the daemon runs again under a pid other than $1, and is ready.
restarted_after() {
  local now
  now=$(status_field '.daemon.pid')
  [ "$now" != null ] && [ "$now" != "$1" ] && [ "$(status_field '.daemon.ready')" = true ]
}

pluto_answers() { ipsec whack --ctlsocket "$D/pluto/run/pluto.ctl" --status >/dev/null 2>&1; }

# has_capability PID BIT SET: the capability numbered BIT is in SET (CapBnd, CapEff, CapInh,
# CapAmb...) of /proc/PID/status.
has_capability() {
  local mask
  mask=$(sed -n "s/^$3:[[:space:]]*//p" "/proc/$1/status")
  [ -n "$mask" ] && (((0x$mask >> $2) & 1))
}
# Capability numbers of capabilities(7), for has_capability in the cases.
# shellcheck disable=SC2034
CAP_NET_ADMIN=12
# shellcheck disable=SC2034
CAP_SYS_MODULE=16

process_gone() { ! kill -0 "$1" 2>/dev/null || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
