#!/bin/sh
# One boot of the power-cut test; tests/vm/power-cut.sh drives it, one boot per cut, all on the
# same disk (run-guest.sh --disk: /var/lib/stackmgr and /etc/stackmgr are on ext4 there). The
# stackmgr here is stackmgr-pause-points, which can stop at a named point and say so; the host
# then kills qemu (run-guest.sh --cut-on-pause). The boot does, in order:
#   PC_CALIBRATE=write  (instead of the rest) writes one file with sync and one without, and an
#                       unsynced rename, then pauses: the cut must lose exactly the unsynced
#   PC_CALIBRATE=check  checks that it did (a cut that kept unsynced writes would prove nothing)
#   PC_CHECK="POINT EXPECT"
#                       the previous boot was cut at POINT: checks the files as the cut left
#                       them, runs `stackmgr start --daemon`, checks that it finished or rolled
#                       back and said which, and that the kernel has exactly one stack, the one
#                       EXPECT allows (start: PC_FROM; target: PC_TO; either), then stops it
#   PC_ARM=trace        first boot of a disk: installs the config, switches to PC_FROM, then
#                       switches to PC_TO once with every pause point traced ("# TRACE" lines)
#   PC_ARM=POINT        makes sure the kernel is on PC_FROM, then switches to PC_TO pausing at
#                       POINT (NAME#N); the host cuts the power there. Returning is a failure.
# Each check prints a "# CUT ..." line the driver counts. Nothing here syncs the disk after
# the first boot: what is on it after a cut is what stackmgr made durable.
set -u
# shellcheck source=../guest/lib.sh
. "$VM_LIB"
# shellcheck source=lib/stackmgr.sh
. /scenario/stackmgr.sh

S=/usr/sbin/stackmgr-pause-points
STATE=/var/lib/stackmgr
CHOSEN=$STATE/stack
JOURNAL=$STATE/journal
FROM=${PC_FROM:-native}
TO=${PC_TO:-klips}

# kernel_stack: klips or native when exactly that stack is live and nothing of the other's
# core is loaded; none, both, or partial (some of one stack, none of the other) otherwise.
kernel_stack() {
	if module_is ipsec live && none_loaded "$NATIVE_CORE"; then
		echo klips
	elif none_loaded ipsec && all_live "$NATIVE_CORE"; then
		echo native
	elif none_loaded ipsec && none_loaded "$NATIVE_CORE"; then
		echo none
	elif ! none_loaded ipsec && ! none_loaded "$NATIVE_CORE"; then
		echo both
	else
		echo partial
	fi
}

# stack_file_state: absent, native, klips, or torn:WHY. stackmgr writes exactly two comment
# lines and the stack's name, each ending in a newline; anything else is torn.
stack_file_state() {
	[ -e "$CHOSEN" ] || {
		echo absent
		return
	}
	[ -s "$CHOSEN" ] || {
		echo torn:empty
		return
	}
	_lines=$(wc -l <"$CHOSEN")
	_last=$(sed -n '3p' "$CHOSEN")
	if [ "$_lines" != 3 ] || [ "$(grep -c '^# ' "$CHOSEN")" != 2 ] || [ "$(tail -c 1 "$CHOSEN" | od -An -c | tr -d ' ')" != '\n' ]; then
		echo "torn:$(wc -c <"$CHOSEN")-bytes-$_lines-lines"
		return
	fi
	case $_last in native | klips) echo "$_last" ;; *) echo "torn:last-line" ;; esac
}

# journal_state: absent, valid, or torn:WHY (not JSON, or not this switch's journal).
journal_state() {
	[ -e "$JOURNAL" ] || {
		echo absent
		return
	}
	json_flat "$JOURNAL" >/tmp/journal.flat 2>/dev/null || {
		echo "torn:not-json-$(wc -c <"$JOURNAL")-bytes"
		return
	}
	_schema=$(json_get "$JOURNAL" schema 2>/dev/null)
	_from=$(json_get "$JOURNAL" from 2>/dev/null)
	_to=$(json_get "$JOURNAL" to 2>/dev/null)
	if [ "$_schema" != stackmgr.switch-journal/1 ] || [ "$_to" != "$TO" ] ||
		{ [ "$_from" != "$FROM" ] && [ "$_from" != null ]; }; then
		echo "torn:schema=$_schema,from=$_from,to=$_to"
		return
	fi
	echo valid
}

# shellcheck disable=SC2317 # called through check
one_stack() { [ "$1" = native ] || [ "$1" = klips ]; }

show_state() {
	# shellcheck disable=SC2012 # a listing for people, names included as they are
	ls -la "$STATE" | sed 's/^/#   | /'
}

allowed() { # allowed END EXPECT
	case $2 in
	start) [ "$1" = "$FROM" ] ;;
	target) [ "$1" = "$TO" ] ;;
	either) [ "$1" = "$FROM" ] || [ "$1" = "$TO" ] ;;
	*) return 1 ;;
	esac
}

check_cut() { # check_cut POINT EXPECT
	_point=$1
	_expect=$2
	note "=== the power was cut at $_point; $FROM -> $TO; allowed end: $_expect"
	_stack_file=$(stack_file_state)
	_journal=$(journal_state)
	_tmp=$(find "$STATE" -maxdepth 1 -name '.*.tmp.*' | wc -l)
	note "as the cut left the disk: stack file $_stack_file, journal $_journal, $_tmp temporary file(s)"
	show_state
	# The write the cut interrupted may leave its temporary file; the next write into the
	# directory removes those of dead writers, so they never pile up.
	check "at most one temporary file is left ($_tmp)" [ "$_tmp" -le 1 ]
	[ -e "$JOURNAL" ] && _vm_indent "$JOURNAL"
	case $_stack_file in
	torn:*) _vm_report 1 "the chosen-stack file is neither empty nor torn ($_stack_file)" ;;
	*) _vm_report 0 "the chosen-stack file is neither empty nor torn ($_stack_file)" ;;
	esac
	case $_journal in
	torn:*) _vm_report 1 "the journal is absent or a whole one of this switch ($_journal)" ;;
	*) _vm_report 0 "the journal is absent or a whole one of this switch ($_journal)" ;;
	esac

	expect_rc 0 "stackmgr start --daemon" "$S" start --daemon
	cp "$VM_OUT" /tmp/start.out
	_recovery=none
	if grep -q 'found an interrupted switch' /tmp/start.out; then
		if grep -q 'rolling back to .*: rolled back' /tmp/start.out; then
			_recovery=rolled-back
		elif grep -q ': completed, the kernel is on' /tmp/start.out; then
			_recovery=completed
		else
			_recovery=unclear
		fi
	elif grep -q 'is unusable: .*moved it aside' /tmp/start.out; then
		_recovery=moved-aside
	fi
	case $_journal in
	valid) check "start found the interrupted switch and said whether it finished or rolled back ($_recovery)" \
		[ "$_recovery" = rolled-back ] || [ "$_recovery" = completed ] ;;
	absent) check "start found no interrupted switch" [ "$_recovery" = none ] ;;
	*) check "start moved the unusable journal aside and said so" [ "$_recovery" = moved-aside ] ;;
	esac
	expect_no_file "$JOURNAL" "no journal is left after start"
	if [ "$_recovery" != none ]; then
		check "the recovery's own writes removed the temporary files of the cut" \
			[ "$(find "$STATE" -maxdepth 1 -name '.*.tmp.*' | wc -l)" = 0 ]
	fi

	_end=$(kernel_stack)
	stackmgr_json detect detect
	_detect=$(json_get /tmp/detect.json overall 2>/dev/null || echo unknown)
	check "the kernel has exactly one stack ($_end)" one_stack "$_end"
	check "detect agrees (overall $_detect)" [ "$_detect" = "$_end" ]
	_after=$(stack_file_state)
	check "the chosen-stack file names the stack the kernel is on ($_after)" [ "$_after" = "$_end" ]
	check "the daemon runs on $_end" daemon_stack_is "$_end"

	_verdict=recovered
	_why=
	if ! allowed "$_end" "$_expect"; then
		_verdict=lost
		_why="end $_end is not what $_expect allows"
	fi
	case $_stack_file$_journal in *torn:*)
		_verdict=lost
		_why="$_why a state file was torn"
		;;
	esac
	check "the end state ($_end) is what a cut here allows ($_expect: from $FROM, to $TO)" [ "$_verdict" = recovered ]
	echo "# CUT point=$_point expect=$_expect stack_file=$_stack_file journal=$_journal tmp=$_tmp recovery=$_recovery end=$_end detect=$_detect verdict=$_verdict${_why:+ why=$_why}"
	expect_rc 0 "stackmgr stop" "$S" stop
	END=$_end
}

calibrate_write() {
	note "=== calibration: a synced write, an unsynced write and an unsynced rename, then the cut"
	echo old >"$STATE/calibration-renamed"
	echo durable >"$STATE/calibration-synced"
	sync
	echo lost >"$STATE/calibration-unsynced"
	echo new >"$STATE/calibration-renamed.new"
	mv "$STATE/calibration-renamed.new" "$STATE/calibration-renamed"
	echo "# PAUSED calibration"
	while :; do sleep 60; done
}

calibrate_check() {
	note "=== calibration: what survived the cut"
	show_state
	_ok=1
	[ "$(cat "$STATE/calibration-synced" 2>/dev/null)" = durable ] || _ok=0
	[ ! -e "$STATE/calibration-unsynced" ] || _ok=0
	[ "$(cat "$STATE/calibration-renamed" 2>/dev/null)" = old ] || _ok=0
	check "the synced file survived the cut" [ "$(cat "$STATE/calibration-synced" 2>/dev/null)" = durable ]
	check "the unsynced file did not" [ ! -e "$STATE/calibration-unsynced" ]
	check "the unsynced rename did not: the old content is in place" \
		[ "$(cat "$STATE/calibration-renamed" 2>/dev/null)" = old ]
	echo "# CALIBRATION $([ "$_ok" = 1 ] && echo ok || echo broken)"
	rm -f "$STATE"/calibration-*
	sync
}

install_standin_daemon_program
END=
if [ "${PC_CALIBRATE:-}" = write ]; then
	calibrate_write
elif [ "${PC_CALIBRATE:-}" = check ]; then
	calibrate_check
fi
if [ -n "${PC_CHECK:-}" ]; then
	# shellcheck disable=SC2086 # "POINT EXPECT"
	check_cut $PC_CHECK
fi

case ${PC_ARM:-} in
'') ;;
trace)
	note "=== first boot of this disk: the config, then one traced switch $FROM -> $TO"
	# The test's own file, made durable before any cut: stackmgr only reads it.
	install_standin_daemon '[modules]' 'load_helpers = false'
	sync
	expect_rc 0 "switch $FROM" "$S" switch "$FROM" --yes
	rm -f /tmp/trace
	VM_RC=0
	STACKMGR_PAUSE_TRACE=/tmp/trace "$S" switch "$TO" --yes >/tmp/traced.out 2>&1 || VM_RC=$?
	check "the traced switch to $TO exits 0 (rc $VM_RC)" [ "$VM_RC" = 0 ]
	_vm_indent /tmp/traced.out
	sed 's/^/# TRACE /' /tmp/trace
	check "it is on $TO" [ "$(kernel_stack)" = "$TO" ]
	;;
*)
	if [ "$END" != "$FROM" ]; then
		expect_rc 0 "switch $FROM before the next cut" "$S" switch "$FROM" --yes
	fi
	# `stop` flushes the native SAD and SPD over XFRM netlink, which autoloads xfrm_user; the
	# traced switch had none, and the same plan must pass the same points.
	if grep -q '^xfrm_user ' /proc/modules; then
		run /sbin/rmmod xfrm_user
	fi
	check "the kernel is on $FROM before the cut" [ "$(kernel_stack)" = "$FROM" ]
	note "=== armed: switch $FROM -> $TO, pausing at $PC_ARM"
	STACKMGR_PAUSE_AT=$PC_ARM STACKMGR_PAUSE_REPORT=/dev/ttyS1 "$S" switch "$TO" --yes >/tmp/armed.out 2>&1
	_vm_report 1 "the switch reached the pause point $PC_ARM (it ended with status $? instead)"
	_vm_indent /tmp/armed.out
	;;
esac
expect_no_kernel_errors
done_testing
