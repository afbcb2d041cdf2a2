#!/bin/sh
# The switch through the supervisor on the real kernel, in one boot: the admin switch through the running supervisor.
#   a. a switch with a daemon running (a busybox sh stand-in daemon): stopped, switched,
#      started again on the new stack; the choice is recorded for the next start;
#   b. a failed switch (esp4 blacklisted) rolled back to KLIPS, with the daemon back up;
#   c. a small concurrency run: five callers at once get done, already there or busy, and
#      the kernel ends on the recorded choice;
#   d. stackmgr SIGKILLed in the middle of a direct switch (uevent-pause stops it right after
#      the kernel removed ipsec), then `stackmgr start` finds the journal and rolls back.
set -u
# shellcheck source=../guest/lib.sh
. "$VM_LIB"
# shellcheck source=lib/stackmgr.sh
. /scenario/stackmgr.sh

UP=/usr/sbin/uevent-pause
CHOSEN=/var/lib/stackmgr/stack
JOURNAL=/var/lib/stackmgr/journal
BL=/etc/modprobe.d/blacklist-esp4.conf

install_standin_daemon

# daemon_pid: the supervisor's daemon pid from `stackmgr status --json` ("" when none).
daemon_pid() {
	"$S" status --json >/tmp/status.json 2>/dev/null
	json_get /tmp/status.json daemon.pid
}
# shellcheck disable=SC2317  # called through check
no_daemon_on() { ! daemon_stack_is "$1"; }
# shellcheck disable=SC2317  # called through check
differs() { [ -n "$1" ] && [ "$1" != "$2" ]; }
# shellcheck disable=SC2317  # called through check
rc_is_one_of() { _rc=$1; shift; for _w; do [ "$_rc" = "$_w" ] && return 0; done; return 1; }
# shellcheck disable=SC2317  # called through check
only_codes() { ! grep -vxE "$1" "$2"; }

note "=== a. a switch through the supervisor with a daemon running"
expect_rc 0 "direct switch native (no supervisor yet)" "$S" switch native
expect_rc 0 "stackmgr start --daemon is ready" "$S" start --daemon
check "the stand-in daemon runs on native" daemon_stack_is native
PID1=$(daemon_pid)
expect_rc 0 "stackmgr switch klips --yes through the supervisor" "$S" switch klips --yes
cp "$VM_OUT" /tmp/switch-klips.out
check "it said it stopped the daemon" grep -q 'stopping standin-daemon' /tmp/switch-klips.out
check "it said it switched" grep -q 'switching to the klips stack' /tmp/switch-klips.out
check "it ended: switched to the klips stack" grep -q 'switched to the klips stack' /tmp/switch-klips.out
check "ipsec is live" module_is ipsec live
check "no native core module is loaded" none_loaded "$NATIVE_CORE"
check "the autoload guard is installed" [ -f "$GUARD" ]
check "the stand-in daemon runs on klips" daemon_stack_is klips
check "the old daemon is gone" no_daemon_on native
PID2=$(daemon_pid)
check "a new daemon pid ($PID1 -> $PID2)" differs "$PID2" "$PID1"
check "the choice is recorded for the next start" grep -qx klips "$CHOSEN"
expect_no_file "$JOURNAL" "no journal left after the switch"

note "=== b. a failed switch (esp4 blacklisted) is rolled back, the daemon back up"
echo 'blacklist esp4' >"$BL"
VM_RC=0
"$S" switch native --yes >/tmp/switch-bl.out 2>&1 || VM_RC=$?
_vm_indent /tmp/switch-bl.out
check "it exits 3 (refused) or 4 (rolled back): got $VM_RC" rc_is_one_of "$VM_RC" 3 4
check "it says it rolled back" grep -q 'rolled back' /tmp/switch-bl.out
check "ipsec is live again" module_is ipsec live
check "esp4 is not loaded" none_loaded esp4
check "the daemon is back on klips" daemon_stack_is klips
check "the supervisor is running" "$S" status
check "the choice is still klips" grep -qx klips "$CHOSEN"
rm -f "$BL"

note "=== c. five concurrent callers, mixed targets"
rm -f /tmp/conc.rc
for t in native klips native klips native; do
	("$S" switch "$t" --yes >/tmp/conc-$t-$$.out 2>&1; echo $? >>/tmp/conc.rc) &
done
wait
note "exit codes: $(tr '\n' ' ' </tmp/conc.rc)"
check "every caller got 0 (done or already there) or 6 (busy)" only_codes '0|6' /tmp/conc.rc
FINAL=$(grep -v "^#" "$CHOSEN")
if [ "$FINAL" = klips ]; then
	check "the kernel is on the recorded klips" module_is ipsec live
	check "and nothing native" none_loaded "$NATIVE_CORE"
else
	check "the kernel is on the recorded native" all_live "$NATIVE_CORE"
	check "and no ipsec" none_loaded ipsec
fi
check "the daemon runs on the recorded stack ($FINAL)" daemon_stack_is "$FINAL"
expect_rc 0 "stackmgr stop" "$S" stop

note "=== d. SIGKILL in the middle of a direct switch, then start recovers"
expect_rc 0 "direct switch klips first" "$S" switch klips
rm -f /tmp/up.pid
"$UP" --pid-file /tmp/up.pid remove@/module/ipsec -- "$S" switch native >/tmp/killed.out 2>&1 &
UP_PID=$!
_i=0
while [ ! -s /tmp/up.pid ] && [ "$_i" -lt 600 ]; do sleep 0.1; _i=$((_i + 1)); done
SM_PID=$(cat /tmp/up.pid 2>/dev/null)
check "stackmgr stopped right after ipsec went" [ -n "$SM_PID" ]
kill -KILL "$SM_PID"
wait "$UP_PID"
check "the kernel is between stacks: no ipsec" none_loaded ipsec
check "the kernel is between stacks: no native core" none_loaded "$NATIVE_CORE"
expect_file "$JOURNAL" "the journal survived the kill"
expect_rc 0 "stackmgr start --daemon recovers and starts" "$S" start --daemon
cp "$VM_OUT" /tmp/recover.out
check "it found the interrupted switch" grep -q 'found an interrupted switch' /tmp/recover.out
check "it says it rolled back" grep -q 'rolled back' /tmp/recover.out
check "ipsec is live again" module_is ipsec live
check "the daemon runs on klips" daemon_stack_is klips
expect_no_file "$JOURNAL" "the journal is gone"
expect_rc 0 "stackmgr stop" "$S" stop
expect_no_kernel_errors
done_testing
