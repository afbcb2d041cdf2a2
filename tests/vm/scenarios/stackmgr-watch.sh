#!/bin/sh
# The switch through the supervisor on the real kernel, in one boot: the supervisor watches module events (libudev,
# "kernel" netlink source) and reacts to changes made behind its back.
#   a. native chosen, supervisor running: no periodic wakeups over a quiet period;
#   b. `modprobe dummy`: counted as unrelated, no reaction;
#   c. out-of-band `rmmod esp4`: reloaded through the safe executor, daemon kept, status shows it;
#   d. KLIPS chosen (the stand-in `ipsec`): xfrm_user loaded with insmod by path (around the
#      guard): conflict reported, the daemon stopped, nothing loaded by stackmgr.
# Latencies are measured from /proc/uptime and reported, never asserted beyond a generous bound.
set -u
# shellcheck source=../guest/lib.sh
. "$VM_LIB"
# shellcheck source=lib/stackmgr.sh
. /scenario/stackmgr.sh

QUIET=5     # seconds of the idle measurement
BOUND=30    # seconds: the generous bound on a reaction (TCG on a loaded host)

install_standin_daemon

# uptime_cs: /proc/uptime in centiseconds.
uptime_cs() { awk '{ split($1, t, "."); print t[1] * 100 + t[2] }' /proc/uptime; }
# status_json: `stackmgr status --json` into /tmp/status.json.
status_json() { "$S" status --json >/tmp/status.json 2>/dev/null; }
# last_reaction: the reaction of the newest watch record ("" when none).
last_reaction() {
	json_flat /tmp/status.json | awk -F '\t' 'match($1, /^watch\.events\[[0-9]+\]\.reaction$/) { r = $2 } END { print r }'
}
# has_reaction R: a watch record with reaction R exists.
# shellcheck disable=SC2317  # also called through wait_until
has_reaction() {
	json_flat /tmp/status.json | awk -F '\t' -v r="$1" '
		match($1, /^watch\.events\[[0-9]+\]\.reaction$/) && $2 == r { f = 1 } END { exit !f }'
}
# ctxt PID: voluntary + involuntary context switches of every thread of PID.
ctxt() {
	cat /proc/"$1"/task/*/status | awk '/^(non)?voluntary_ctxt_switches:/ { n += $2 } END { print n }'
}
# wait_until SECONDS CMD...: poll CMD every 0.1 s until it succeeds; prints the waited
# centiseconds; exit 1 on timeout.
wait_until() {
	_limit=$(($1 * 100))
	shift
	_t0=$(uptime_cs)
	while :; do
		"$@" && break
		[ $(($(uptime_cs) - _t0)) -ge "$_limit" ] && return 1
		sleep 0.1
	done
	echo $(($(uptime_cs) - _t0))
}
# shellcheck disable=SC2317  # called through wait_until
status_has_reaction() { status_json && has_reaction "$1"; }
# shellcheck disable=SC2317
ignored_at_least() { status_json && [ "$(json_get /tmp/status.json watch.ignored_events)" -ge "$1" ]; }
# shellcheck disable=SC2317
supervisor_gone() { ! kill -0 "$1" 2>/dev/null; }
ms() { echo "$(($1 * 10)) ms"; }

note "=== a. native chosen: the supervisor runs and sleeps"
expect_rc 0 "stackmgr start --stack native --daemon is ready" "$S" start --stack native --daemon
check "esp4 is live" module_is esp4 live
status_json
SUP=$(json_get /tmp/status.json supervisor.pid)
DPID=$(json_get /tmp/status.json daemon.pid)
note "supervisor pid $SUP, daemon pid $DPID"
expect_json "status: watch is ok" /tmp/status.json watch.state ok
expect_json "status: the first record is the baseline" /tmp/status.json "watch.events[0].reaction" baseline
# The quiet period: nothing in the guest asks the supervisor anything.
C0=$(ctxt "$SUP")
sleep "$QUIET"
C1=$(ctxt "$SUP")
note "idle: supervisor context switches over ${QUIET} s: $C0 -> $C1 ($((C1 - C0)) wakeups)"
fact "supervisor wakeups over a ${QUIET} s quiet period" "$((C1 - C0))"
check "idle: no periodic wakeups over ${QUIET} s (context switches unchanged)" [ "$C0" = "$C1" ]

note "=== b. an unrelated module: counted, no reaction"
status_json
IGN0=$(json_get /tmp/status.json watch.ignored_events)
REC0=$(last_reaction)
expect_rc 0 "modprobe dummy" /sbin/modprobe dummy
if LAT=$(wait_until "$BOUND" ignored_at_least $((IGN0 + 1))); then
	_vm_report 0 "the supervisor saw the dummy events as unrelated ($(ms "$LAT"))"
else
	_vm_report 1 "the supervisor saw the dummy events as unrelated"
fi
check "no reaction recorded for dummy" [ "$(last_reaction)" = "$REC0" ]
expect_json "status: watch still ok" /tmp/status.json watch.state ok
expect_json "the daemon was not touched" /tmp/status.json daemon.pid "$DPID"

note "=== c. rmmod esp4 behind stackmgr's back: reloaded, daemon kept"
expect_rc 0 "rmmod esp4 (out of band)" /sbin/rmmod esp4
if LAT=$(wait_until "$BOUND" status_has_reaction "done"); then
	_vm_report 0 "the reload is in status ($(ms "$LAT") after rmmod)"
	fact "rmmod esp4 to reload in status" "$(ms "$LAT")"
else
	_vm_report 1 "the reload is in status"
	_vm_indent /tmp/status.json
fi
check "esp4 is live again" module_is esp4 live
check "status: the removal was seen" grep -q '"module esp4 removed"' /tmp/status.json
check "status: the reaction was a reload" has_reaction reload
expect_json "status: watch is ok again" /tmp/status.json watch.state ok
expect_json "the daemon kept running (same pid)" /tmp/status.json daemon.pid "$DPID"
expect_out_contains "status (human) shows the event and the reload" "module esp4 removed -> reload" "$S" status
expect_rc 0 "stackmgr stop" "$S" stop
/sbin/rmmod dummy 2>/dev/null

note "=== d. KLIPS chosen: xfrm_user inserted by path is a conflict"
expect_rc 0 "stackmgr start --stack klips --daemon is ready" "$S" start --stack klips --daemon
check "ipsec (the stand-in) is live" module_is ipsec live
check "no native core module is loaded" none_loaded "$NATIVE_CORE"
expect_file "$GUARD" "the autoload guard is installed"
status_json
SUP=$(json_get /tmp/status.json supervisor.pid)
DPID=$(json_get /tmp/status.json daemon.pid)
expect_json "status: watch is ok on klips" /tmp/status.json watch.state ok
for m in xfrm_algo xfrm_user; do
	grep -q "^$m " /proc/modules && continue
	KO=$(find "/lib/modules/$KVER" -name "$m.ko*" | head -n 1)
	expect_rc 0 "insmod $KO (by path, around the guard)" /sbin/insmod "$KO"
done
if LAT=$(wait_until "$BOUND" supervisor_gone "$SUP"); then
	_vm_report 0 "the supervisor stopped the daemon and ended ($(ms "$LAT") after insmod)"
	fact "insmod xfrm_user to supervisor stopped" "$(ms "$LAT")"
else
	_vm_report 1 "the supervisor stopped the daemon and ended"
fi
check "the daemon is gone" supervisor_gone "$DPID"
expect_rc 1 "status: not running, the failed run's pid file is left (exit 1)" "$S" status
stackmgr_json st status
expect_json "last run: exit 10 (conflict)" /tmp/st.json last_run.supervisor.exit 10
expect_json "last run: the watch state is conflict" /tmp/st.json last_run.watch.state conflict
check "last run: status says why (conflict: xfrm_user)" grep -q 'stopped by the module watch: conflict: xfrm_user (native stack) appeared' /tmp/st.json
check "last run: the guard's state is reported" grep -q 'the autoload guard is installed' /tmp/st.json
expect_out_contains "status (human) names the conflict" "conflict: xfrm_user" "$S" status
check "stackmgr loaded nothing: no native core module" none_loaded "$NATIVE_CORE"
check "ipsec is still live (nothing unloaded either)" module_is ipsec live
check "xfrm_user is still live" module_is xfrm_user live
expect_no_kernel_errors
done_testing
