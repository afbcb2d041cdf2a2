#!/bin/sh
# stackmgr against things that happen behind its back, in one boot (tests/modules/real-kernel-scenarios.md,
# scenarios 5 and 8):
#   5. af_key, esp4, ah4 loaded out of band by modprobe.
#      a. `plan klips` and `switch klips` take the safe path: unload them first.
#      b. An out-of-band load races the switch: uevent-pause stops stackmgr right
#         after it unloaded a native module, a native module is loaded again
#         behind its back (modprobe --ignore-install, as a tool that ignores
#         /run/modprobe.d would), and stackmgr goes on. Its re-check before
#         inserting KLIPS must refuse (rule klips_over_native), and the kernel
#         log must show that the KLIPS stand-in's init never ran: no attempt.
#   8. a busy module: a process holds a PF_KEY socket open, so af_key cannot go.
#      a. held before the switch: the plan is refused (rule busy_module), naming
#         af_key and, where it can be found, the process; nothing changes;
#      b. opened after planning (uevent-pause stops stackmgr at its first unload):
#         unloading af_key fails, stackmgr names af_key and the process (pid and
#         command), rolls back to a working native stack, guard state restored.
set -u
# shellcheck source=../guest/lib.sh
. "$VM_LIB"
# shellcheck source=lib/stackmgr.sh
. /scenario/stackmgr.sh

PH=/usr/sbin/pfkey-hold
UP=/usr/sbin/uevent-pause
M=/sbin/modprobe

# plan_unloads FILE: the modules FILE's plan unloads, in order, one a line.
plan_unloads() { sed -n 's/^ *[0-9][0-9]*\. unload \([A-Za-z0-9_]*\) .*/\1/p' "$1"; }

# paused_switch PIDFILE EVENT OUT: start `stackmgr switch klips` under uevent-pause in the
# background (its output in OUT), and wait until it is stopped at EVENT. Sets UP_PID
# (uevent-pause) and SM_PID (stackmgr, empty when it never stopped).
paused_switch() {
	rm -f "$1"
	"$UP" --pid-file "$1" "$2" -- "$S" switch klips >"$3" 2>&1 &
	UP_PID=$!
	SM_PID=
	_i=0
	while [ "$_i" -lt 600 ]; do
		if [ -s "$1" ]; then
			SM_PID=$(cat "$1")
			return 0
		fi
		kill -0 "$UP_PID" 2>/dev/null || return 1
		sleep 0.1
		_i=$((_i + 1))
	done
	return 1
}

# resume_switch: SIGCONT stackmgr, wait for it; VM_RC = its exit status.
resume_switch() {
	kill -CONT "$SM_PID"
	VM_RC=0
	wait "$UP_PID" || VM_RC=$?
}

note "=== 5. native loaded out of band by modprobe"
expect_rc 0 "modprobe -a af_key esp4 ah4 (out of band)" "$M" -a af_key esp4 ah4
check "af_key, esp4, ah4 are live" all_live "$NATIVE_CORE"
start_state=$(loaded_modules)

note "--- 5a. the safe path is to unload them first"
expect_rc 0 "plan klips exits 0" "$S" plan klips
cp "$VM_OUT" /tmp/plan-oob.out
for m in ah4 esp4 af_key; do
	check "plan unloads $m before it loads ipsec" \
		before "$(line_of /tmp/plan-oob.out "unload $m ")" "$(line_of /tmp/plan-oob.out "load ipsec ")"
done
check "plan: nothing changed" [ "$(loaded_modules)" = "$start_state" ]

note "--- 5b. an out-of-band load between stackmgr's unloads and its KLIPS insert"
# The first native core module the plan unloads (B) is confirmed gone before the next unload
# (A) starts; stackmgr is stopped inside A's delete_module and B is loaded again behind its back.
plan_unloads /tmp/plan-oob.out >/tmp/unloads
reload=$(grep -m1 -xE 'af_key|esp4|ah4' /tmp/unloads)
pause_at=$(grep -A1 -x "$reload" /tmp/unloads | sed -n 2p)
note "stackmgr will be stopped as it unloads $pause_at; then $reload is loaded again behind its back"
check "the plan unloads a native core module ($reload) before another module ($pause_at)" \
	test -n "$reload" -a -n "$pause_at"
dmesg_mark
if paused_switch /tmp/sm.pid "remove@/module/$pause_at" /tmp/race.out; then
	_vm_report 0 "stackmgr stopped right after it unloaded $pause_at"
	check "while stopped: $reload and $pause_at are out" none_loaded "$reload $pause_at"
	check "while stopped: ipsec was not loaded yet" module_is ipsec absent
	expect_file "$GUARD" "while stopped: stackmgr's guard is installed"
	expect_rc 0 "behind its back: modprobe --ignore-install $reload (bypasses the guard)" \
		"$M" --ignore-install "$reload"
	check "$reload is live again" module_is "$reload" live
	resume_switch
else
	_vm_report 1 "stackmgr stopped right after it unloaded $pause_at"
	VM_RC=0
	wait "$UP_PID" || VM_RC=$?
fi
printf '#   $ stackmgr switch klips (paused and resumed)  -> rc=%d\n' "$VM_RC"
_vm_indent /tmp/race.out
check "switch klips exits 3 (refused)" [ "$VM_RC" = 3 ]
check "it names the rule klips_over_native" grep -q 'rule klips_over_native' /tmp/race.out
check "it says it re-checked on fresh state" grep -q 're-checked on fresh state' /tmp/race.out
check "it names $reload" grep -q "$reload is loaded" /tmp/race.out
check "it says the host is where it was" grep -q 'the host is where it was' /tmp/race.out
check "ipsec was never loaded" module_is ipsec absent
expect_no_file /proc/net/ipsec "no /proc/net/ipsec"
expect_no_file /sys/class/net/ipsec0 "no ipsec0"
dmesg_since >/tmp/dmesg-race
expect_out_lacks "dmesg: the stand-in's init never ran (no attempt was made)" "stackmgr KLIPS test stand-in" \
	cat /tmp/dmesg-race
expect_out_lacks "dmesg: no failed PF_KEY registration" "cannot register the PF_KEY" cat /tmp/dmesg-race
# af_key's own reload in the rollback prints one "Registered PF_KEY" line per af_key load.
regs=$(grep -c "NET: Registered PF_KEY protocol family" /tmp/dmesg-race)
af_key_loads=$(grep -cE '\] load af_key +ok' /tmp/race.out)
[ "$reload" = af_key ] && af_key_loads=$((af_key_loads + 1))
check "dmesg: 'Registered PF_KEY' only for af_key's own loads ($regs lines, $af_key_loads af_key loads)" \
	[ "$regs" = "$af_key_loads" ]
check "rolled back: af_key, esp4, ah4 are live" all_live "$NATIVE_CORE"
check "rolled back: the same modules as before" [ "$(loaded_modules)" = "$start_state" ]
expect_no_file "$GUARD" "rolled back: no guard (there was none before)"

note "--- 5c. the same switch without interference unloads first and succeeds"
dmesg_mark
expect_rc 0 "switch klips exits 0" "$S" switch klips
check "no native module is loaded" none_loaded "$NATIVE_ALL"
check "ipsec is live" module_is ipsec live
dmesg_since >/tmp/dmesg-safe
expect_out_lacks "dmesg: no failed PF_KEY registration" "cannot register the PF_KEY" cat /tmp/dmesg-safe
check "dmesg: af_key gave PF_KEY up before the stand-in's init ran" \
	before "$(line_of /tmp/dmesg-safe "NET: Unregistered PF_KEY")" "$(line_of /tmp/dmesg-safe "stackmgr KLIPS test stand-in")"
expect_rc 0 "back to native: switch native exits 0" "$S" switch native
check "native is live" all_live "$NATIVE_CORE"

note "=== 8. a busy module: a PF_KEY socket keeps af_key in use"
native_state=$(loaded_modules)
note "--- 8a. held before the switch: refused by the plan"
"$PH" hold >/tmp/hold1.out 2>&1 &
holder=$!
check "pfkey-hold is holding a PF_KEY socket" wait_for_text /tmp/hold1.out holding 10
fact "af_key with one PF_KEY socket open" "$(grep '^af_key ' /proc/modules)"
expect_rc 3 "switch klips exits 3 (refused)" "$S" switch klips
cp "$VM_OUT" /tmp/busy1.out
check "it names the rule busy_module" grep -q 'rule busy_module' /tmp/busy1.out
check "it names af_key as in use" grep -q 'af_key is in use' /tmp/busy1.out
check "it names the holding process (pid $holder, pfkey-hold)" grep -q "pid $holder (pfkey-hold)" /tmp/busy1.out
check "nothing changed" [ "$(loaded_modules)" = "$native_state" ]
expect_no_file "$GUARD" "no guard was installed"
kill "$holder"
wait "$holder"

note "--- 8b. opened after planning: the unload fails, stackmgr rolls back"
expect_rc 0 "plan klips (to find the first unload)" "$S" plan klips
cp "$VM_OUT" /tmp/plan-busy.out
first=$(plan_unloads /tmp/plan-busy.out | head -n 1)
check "the plan unloads $first before af_key" \
	before "$(line_of /tmp/plan-busy.out "unload $first ")" "$(line_of /tmp/plan-busy.out "unload af_key ")"
holder=
if paused_switch /tmp/sm2.pid "remove@/module/$first" /tmp/busy2.out; then
	_vm_report 0 "stackmgr stopped right after it unloaded $first"
	check "while stopped: af_key is still live" module_is af_key live
	"$PH" hold >/tmp/hold2.out 2>&1 &
	holder=$!
	check "pfkey-hold now holds a PF_KEY socket on af_key" wait_for_text /tmp/hold2.out holding 10
	resume_switch
else
	_vm_report 1 "stackmgr stopped right after it unloaded $first"
	VM_RC=0
	wait "$UP_PID" || VM_RC=$?
fi
printf '#   $ stackmgr switch klips (paused, PF_KEY opened, resumed)  -> rc=%d\n' "$VM_RC"
_vm_indent /tmp/busy2.out
check "switch klips exits 4 (failed, rolled back)" [ "$VM_RC" = 4 ]
check "it names af_key as busy" grep -q 'busy: af_key is in use' /tmp/busy2.out
check "it names the holding process (pid $holder, pfkey-hold)" grep -q "pid $holder (pfkey-hold)" /tmp/busy2.out
check "it says it rolled back" grep -q 'rolled back: the host is back where it was' /tmp/busy2.out
check "rolled back: af_key, esp4, ah4 are live" all_live "$NATIVE_CORE"
check "rolled back: the same modules as before" [ "$(loaded_modules)" = "$native_state" ]
expect_no_file "$GUARD" "rolled back: the guard is gone again"
check "ipsec was never loaded" module_is ipsec absent
expect_rc 0 "the native stack works: a second PF_KEY socket opens" "$PH" open
if [ -n "$holder" ]; then
	kill "$holder"
	wait "$holder"
fi
expect_rc 0 "with the socket closed, switch klips exits 0" "$S" switch klips
check "ipsec is live" module_is ipsec live
check "no native module is left" none_loaded "$NATIVE_ALL"

expect_no_kernel_errors
done_testing
