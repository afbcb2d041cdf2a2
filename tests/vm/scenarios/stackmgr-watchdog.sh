#!/bin/sh
# The supervisor never blocks on module work, on the real kernel. The KLIPS stand-in is told to
# stay GOING for 6 s when it is unloaded (its exit_delay_ms parameter), and the supervisor runs
# under notify-watchdog, which enforces a 2 s watchdog the way systemd's WatchdogSec= does
# (SIGABRT when no WATCHDOG=1 comes in time).
#   a. a switch klips -> native through the supervisor spends 6 s unloading ipsec: the
#      watchdog keeps being pinged, and `stackmgr status` answers during it and names the step;
#   b. a SIGTERM in the middle of that unload: the supervisor stops at the next step boundary,
#      puts the kernel back on KLIPS, keeps the journal, exits 0 without a watchdog kill; the
#      next start recovers from the journal.
set -u
# shellcheck source=../guest/lib.sh
. "$VM_LIB"
# shellcheck source=lib/stackmgr.sh
. /scenario/stackmgr.sh

NW=/usr/sbin/notify-watchdog
DELAY=/sys/module/ipsec/parameters/exit_delay_ms
JOURNAL=/var/lib/stackmgr/journal
WD_USEC=2000000

install_standin_daemon

# supervise LOG: `stackmgr start` in the background under the enforced watchdog; its exit
# status lands in LOG.rc.
supervise() {
	rm -f "$1" "$1.rc"
	("$NW" /run/wd-notify.sock "$WD_USEC" "$1" -- "$S" start >"$1.out" 2>&1
		echo $? >"$1.rc") &
}
# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds or SECONDS pass.
# shellcheck disable=SC2317  # called through check
wait_for() {
	_n=$(($1 * 5))
	shift
	while [ "$_n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
		_n=$((_n - 1))
	done
	return 1
}
# shellcheck disable=SC2317  # called through wait_for/check
supervisor_running() { "$S" status >/dev/null 2>&1; }
supervisor_pid() {
	"$S" status --json >/tmp/status.json 2>/dev/null
	json_get /tmp/status.json supervisor.pid
}
# shellcheck disable=SC2317
ended() { [ -f "$1.rc" ]; }
# pings LOG FROM_MS TO_MS: the WATCHDOG=1 messages LOG recorded in that window.
pings() { awk -v a="$2" -v b="$3" '$1 >= a && $1 <= b && /WATCHDOG=1/ {n++} END {print n + 0}' "$1"; }
now_ms() { awk '{printf "%d\n", $1 * 1000}' /proc/uptime; }
# shellcheck disable=SC2317
at_least() { [ "$1" -ge "$2" ]; }

note "=== a. a slow module step while the watchdog is enforced"
expect_rc 0 "direct switch to klips" "$S" switch klips
echo 6000 >"$DELAY"
check "the stand-in will stay GOING for 6 s when unloaded" grep -qx 6000 "$DELAY"
START0=$(now_ms)
supervise /tmp/wd-a.log
check "the supervisor is up under the enforced watchdog" wait_for 60 supervisor_running
T0=$(($(now_ms) - START0))
"$S" switch native --yes >/tmp/switch-a.out 2>&1 &
SWITCH=$!
sleep 2.5
"$S" status >/tmp/status-a.txt 2>&1
STATUS_RC=$?
_vm_indent /tmp/status-a.txt
check "status answers during the switch (LSB 4: not running yet)" [ "$STATUS_RC" = 4 ]
check "status says which module work runs" grep -q 'making the native stack ready for' /tmp/status-a.txt
check "status names the step under way: remove ipsec" grep -q 'remove ipsec' /tmp/status-a.txt
wait "$SWITCH"
SWITCH_RC=$?
_vm_indent /tmp/switch-a.out
check "the switch to native succeeded" [ "$SWITCH_RC" = 0 ]
T1=$(($(now_ms) - START0))
check "af_key is live" module_is af_key live
check "ipsec is gone" none_loaded ipsec
N=$(pings /tmp/wd-a.log "$T0" "$T1")
fact "watchdog pings during the $((T1 - T0)) ms switch: $N (one due every $((WD_USEC / 2000)) ms)"
check "the watchdog was pinged all through the switch (>= 3)" at_least "$N" 3
expect_rc 0 "stackmgr stop" "$S" stop
check "the supervisor ended" wait_for 30 ended /tmp/wd-a.log
check "it ended 0, not by a watchdog kill" grep -qx 0 /tmp/wd-a.log.rc
check "no watchdog timeout was recorded" sh -c '! grep -q "WATCHDOG TIMEOUT" /tmp/wd-a.log'

note "=== b. SIGTERM while a module is GOING"
expect_rc 0 "direct switch back to klips" "$S" switch klips
echo 6000 >"$DELAY"
supervise /tmp/wd-b.log
check "the supervisor is up again" wait_for 60 supervisor_running
SUPERVISOR=$(supervisor_pid)
"$S" switch native --yes >/tmp/switch-b.out 2>&1 &
SWITCH=$!
sleep 2.5
check "ipsec is GOING (the step under way)" module_is ipsec going
SENT=$(now_ms)
kill -TERM "$SUPERVISOR"
check "the supervisor ended" wait_for 60 ended /tmp/wd-b.log
TOOK=$(($(now_ms) - SENT))
wait "$SWITCH"
SWITCH_RC=$?
_vm_indent /tmp/switch-b.out
fact "SIGTERM to exit while ipsec was GOING: $TOOK ms (the step ends, then the rollback)"
check "it ended 0, not by a watchdog kill" grep -qx 0 /tmp/wd-b.log.rc
check "no watchdog timeout was recorded" sh -c '! grep -q "WATCHDOG TIMEOUT" /tmp/wd-b.log'
check "the switch's client was told a stop interrupted it (exit 4)" [ "$SWITCH_RC" = 4 ]
check "it says why" grep -q 'a stop request interrupted the switch to native' /tmp/switch-b.out
check "the kernel is back on KLIPS: ipsec is live" module_is ipsec live
check "no native core module is loaded" none_loaded "$NATIVE_CORE"
check "the autoload guard is back" [ -f "$GUARD" ]
expect_file "$JOURNAL" "the journal is kept for the next start"
expect_rc 0 "the next start recovers and is ready" "$S" start --daemon
cp "$VM_OUT" /tmp/start-b.out
check "it said what it found in the journal" grep -q 'found an interrupted switch (supervisor' /tmp/start-b.out
expect_no_file "$JOURNAL" "the journal is gone after the recovery"
check "KLIPS is still the stack" module_is ipsec live
expect_rc 0 "stackmgr stop" "$S" stop
expect_no_kernel_errors
done_testing
