#!/bin/sh
# The chaos run on the real kernel (tests/vm/chaos.sh starts it and says how to replay it).
# For CHAOS_SECONDS, in rounds of at most CHAOS_ROUND seconds, actors run at once, each drawing
# its moves from its own stream of a generator seeded with CHAOS_SEED:
#   switcher1..3 `stackmgr switch native|klips` (direct, or through the supervisor when one runs)
#   supervisor  `stackmgr start --daemon`, `stackmgr stop`, or kill -9 of the supervisor
#   killer      kill -9 of a running `stackmgr switch`
#   admin       behind stackmgr's back: rmmod of esp4, ah4, af_key or xfrm_user at any moment;
#               modprobe --ignore-install of them (the guard does not stop that) under
#               stackmgr's change lock, and esp4, ah4 and af_key only while KLIPS is not loaded
#   pfkey       opens a PF_KEY socket (pfkey-hold) and holds it for a while
#   ipsec0      brings ipsec0 up whenever it exists
#   monitor     reads /proc/modules ten times a second: KLIPS and a native core module must
#               never be live together; the kernel log must never show a load in the unsafe
#               order (KLIPS over af_key/esp4/ah4, esp4/ah4 over KLIPS)
# After each round everything stops; then `stackmgr start --daemon` must bring the host to
# exactly one stack, `detect` must agree, and the daemon must run on it.
#
# What the admin does not do, and why: a real admin cannot load esp4 or ah4 over a live KLIPS
# without corrupting the kernel (the handler they fail to add stays in the xfrm4 protocol list:
# README.md), and stackmgr cannot prevent it, since no lock of stackmgr's stops a modprobe. A
# test that did it would test the kernel, not stackmgr. So every load goes under the lock that
# every module change of stackmgr holds, after checking that KLIPS is not loaded; unloads need
# no lock (the kernel refuses what is in use). Each move and its result go to the op log.
set -u
# shellcheck source=../guest/lib.sh
. "$VM_LIB"
# shellcheck source=lib/stackmgr.sh
. /scenario/stackmgr.sh

SEED0=${CHAOS_SEED:?CHAOS_SEED is not set}
TOTAL=${CHAOS_SECONDS:-180}
ROUND=${CHAOS_ROUND:-60}
D=/tmp/chaos
LOCK=/run/stackmgr/lock
PIDFILE=/run/stackmgr/stackmgr.pid
UNSAFE="sock_register\\(PF_KEY\\) failed|can't add protocol|stand-in: cannot register the PF_KEY socket family|stand-in: cannot claim IPv4 protocol"
mkdir -p "$D"
: >"$D/ops"
install_standin_daemon

uptime_s() { cut -d. -f1 /proc/uptime; }
# rand N: RAND = the next number of this actor's stream, in 0..N-1 (R is the actor's state).
rand() {
	R=$(((R * 1103515245 + 12345) % 2147483648))
	RAND=$((R / 65536 % $1))
}
# pause_upto MS: sleep a drawn 0..MS-1 milliseconds.
pause_upto() {
	rand "$1"
	sleep "$((RAND / 1000)).$(printf '%03d' $((RAND % 1000)))"
}
going() { [ "$(uptime_s)" -lt "$DEADLINE" ]; }
log() { echo "$(cut -d' ' -f1 /proc/uptime) $*" >>"$D/ops"; }
supervisor_pid() { cat "$PIDFILE" 2>/dev/null; }
# expect_status WHAT RC OUTPUT ALLOWED...: an RC not among ALLOWED goes to $D/unexpected, with OUTPUT.
expect_status() {
	_what=$1 _status=$2 _output=$3
	shift 3
	for _allowed in "$@"; do [ "$_status" = "$_allowed" ] && return 0; done
	{
		echo "$_what exited $_status:"
		cat "$_output"
	} >>"$D/unexpected"
}
# shellcheck disable=SC2317 # called through check
one_stack() { [ "$1" = native ] || [ "$1" = klips ]; }
# shellcheck disable=SC2317 # called through check
did_something() { [ "$OPS" -ge 20 ] && [ "$KILLS" -ge 1 ]; }

switcher() {
	R=$((SEED * 16 + $1))
	while going; do
		pause_upto 1500
		rand 2
		_t=native
		[ "$RAND" = 1 ] && _t=klips
		_rc=0
		/usr/sbin/stackmgr switch "$_t" --yes --timeout 20 >"$D/switcher$1.out" 2>&1 || _rc=$?
		log "switcher$1 switch $_t rc=$_rc"
		# 16: a stop or kill of the supervisor cut a switch through it short (the journal is kept).
		expect_status "switcher$1: switch $_t" "$_rc" "$D/switcher$1.out" 0 3 4 5 6 16 137
	done
}

supervisor() {
	R=$((SEED * 16 + 8))
	while going; do
		pause_upto 6000
		_pid=$(supervisor_pid)
		if [ -n "$_pid" ] && kill -0 "$_pid" 2>/dev/null; then
			rand 2
			if [ "$RAND" = 0 ]; then
				_rc=0
				/usr/sbin/stackmgr stop >"$D/stop.out" 2>&1 || _rc=$?
				log "supervisor stop rc=$_rc"
			else
				kill -KILL "$_pid" 2>/dev/null && log "supervisor kill -9 $_pid"
			fi
		else
			_rc=0
			/usr/sbin/stackmgr start --daemon >"$D/start.out" 2>&1 || _rc=$?
			log "supervisor start rc=$_rc"
			# 10: the admin loaded a native module under KLIPS behind its back (--ignore-install)
			# while it started; its module watch calls that a conflict and stops.
			expect_status "supervisor: start --daemon" "$_rc" "$D/start.out" 0 3 4 5 6 8 10
		fi
	done
}

killer() {
	R=$((SEED * 16 + 9))
	while going; do
		pause_upto 3000
		_victims=
		for _c in /proc/[0-9]*/cmdline; do
			case "$(tr '\0' ' ' <"$_c" 2>/dev/null)" in
			"/usr/sbin/stackmgr switch "*)
				_p=${_c#/proc/}
				_victims="$_victims ${_p%/cmdline}"
				;;
			esac
		done
		# shellcheck disable=SC2086 # the pids
		set -- $_victims
		[ $# -gt 0 ] || continue
		rand $#
		shift "$RAND"
		kill -KILL "$1" 2>/dev/null && log "killer kill -9 switch $1"
	done
}

admin() {
	R=$((SEED * 16 + 10))
	while going; do
		pause_upto 3000
		rand 4
		case $RAND in 0) _m=esp4 ;; 1) _m=ah4 ;; 2) _m=af_key ;; *) _m=xfrm_user ;; esac
		rand 2
		if [ "$RAND" = 0 ]; then
			_rc=0
			/sbin/rmmod "$_m" >/dev/null 2>&1 || _rc=$?
			log "admin rmmod $_m rc=$_rc"
		elif [ ! -e "$LOCK" ]; then
			log "admin modprobe $_m skipped: stackmgr has not made its lock yet"
		else
			_rc=0
			# Exit 10: KLIPS is loaded, so loading esp4, ah4 or af_key is what no admin may do.
			flock -x "$LOCK" -c "if [ $_m != xfrm_user ] && grep -q '^ipsec ' /proc/modules; then exit 10; fi
				exec /sbin/modprobe --ignore-install $_m" >/dev/null 2>&1 || _rc=$?
			if [ "$_rc" = 10 ]; then
				log "admin modprobe $_m skipped: KLIPS is loaded"
			else
				log "admin modprobe --ignore-install $_m rc=$_rc"
			fi
		fi
	done
}

pfkey() {
	R=$((SEED * 16 + 11))
	while going; do
		pause_upto 4000
		/usr/sbin/pfkey-hold hold >"$D/pfkey.out" 2>&1 &
		_p=$!
		pause_upto 5000
		kill -TERM "$_p" 2>/dev/null
		_rc=0
		wait "$_p" || _rc=$?
		log "pfkey hold rc=$_rc: $(head -n 1 "$D/pfkey.out")"
	done
}

ipsec0() {
	R=$((SEED * 16 + 12))
	while going; do
		pause_upto 2000
		if [ -d /sys/class/net/ipsec0 ]; then
			_rc=0
			ip link set ipsec0 up >/dev/null 2>&1 || _rc=$?
			log "ipsec0 up rc=$_rc"
		fi
	done
}

monitor() {
	_n=0
	while going; do
		_mods=$(cat /proc/modules)
		if echo "$_mods" | grep -q '^ipsec .* Live ' &&
			echo "$_mods" | grep -qE '^(af_key|esp4|ah4) .* Live '; then
			{
				echo "$(cut -d' ' -f1 /proc/uptime): KLIPS and a native core module live together:"
				echo "$_mods" | grep -E '^(ipsec|af_key|esp4|ah4) '
			} >>"$D/both-live"
		fi
		_n=$((_n + 1))
		if [ $((_n % 20)) = 0 ] && dmesg | grep -qE "$UNSAFE"; then
			dmesg | grep -E "$UNSAFE" >"$D/unsafe-dmesg"
		fi
		sleep 0.1
	done
}

# quiesce N: after round N, with every actor stopped: start brings one stack, detect agrees.
quiesce() {
	note "=== round $1: quiesced; stackmgr start must bring the host to exactly one stack"
	# The daemons of supervisors killed with -9 are still running (orphans): count, then end them.
	_orphans=0
	for _c in /proc/[0-9]*/cmdline; do
		case "$(tr '\0' ' ' <"$_c" 2>/dev/null)" in "/bin/sh $STANDIN_DAEMON "* | "$STANDIN_DAEMON "*)
			_p=${_c#/proc/}
			_p=${_p%/cmdline}
			if [ "$(awk '{ print $4 }' "/proc/$_p/stat" 2>/dev/null)" = 1 ]; then
				_orphans=$((_orphans + 1))
				kill -TERM "$_p" 2>/dev/null
			fi
			;;
		esac
	done
	ORPHANS=$((ORPHANS + _orphans))
	[ "$_orphans" = 0 ] || note "$_orphans keying daemon(s) outlived their supervisor (kill -9)"
	_pid=$(supervisor_pid)
	if [ -n "$_pid" ] && kill -0 "$_pid" 2>/dev/null; then
		run /usr/sbin/stackmgr stop
	fi
	_bad=0
	expect_rc 0 "round $1: stackmgr start --daemon" /usr/sbin/stackmgr start --daemon
	[ "$VM_RC" = 0 ] || _bad=1
	if module_is ipsec live && none_loaded "$NATIVE_CORE"; then
		_on=klips
	elif all_live "$NATIVE_CORE" && none_loaded ipsec; then
		_on=native
	else
		_on="neither ($(loaded_modules | tr '\n' ' '))"
		_bad=1
	fi
	check "round $1: the kernel has exactly one stack: $_on" one_stack "$_on"
	stackmgr_json detect detect
	_detect=$(json_get /tmp/detect.json overall 2>/dev/null || echo unknown)
	[ "$_detect" = "$_on" ] || _bad=1
	check "round $1: detect agrees ($_detect)" [ "$_detect" = "$_on" ]
	daemon_stack_is "$_on" || _bad=1
	check "round $1: the daemon runs on $_on" daemon_stack_is "$_on"
	run /usr/sbin/stackmgr stop
	INCONSISTENT=$((INCONSISTENT + _bad))
}

note "chaos: seed $SEED0, $TOTAL s in rounds of at most $ROUND s"
INCONSISTENT=0
ORPHANS=0
ROUNDS=0
LEFT=$TOTAL
while [ "$LEFT" -gt 0 ]; do
	ROUNDS=$((ROUNDS + 1))
	THIS=$ROUND
	[ "$LEFT" -lt "$THIS" ] && THIS=$LEFT
	LEFT=$((LEFT - THIS))
	DEADLINE=$(($(uptime_s) + THIS))
	SEED=$((SEED0 + ROUNDS * 1000003))
	note "=== round $ROUNDS: $THIS s"
	switcher 1 &
	switcher 2 &
	switcher 3 &
	supervisor &
	killer &
	admin &
	pfkey &
	ipsec0 &
	monitor &
	wait
	pkill -TERM pfkey-hold 2>/dev/null
	quiesce "$ROUNDS"
done

count() { grep -cE "$1" "$D/ops"; }
OPS=$(wc -l <"$D/ops")
KILLS=$(count ' kill -9 ')
REFUSALS=$(count ' rc=3$')
ROLLED_BACK=$(count ' rc=4$')
FAILED_ROLLBACK=$(count ' rc=5$')
BUSY=$(count ' rc=6$')
BOTH_LIVE=$(grep -c 'live together' "$D/both-live" 2>/dev/null || true)
dmesg | grep -E "$UNSAFE" >"$D/unsafe-dmesg" || true
UNSAFE_LINES=$(wc -l <"$D/unsafe-dmesg")
UNSAFE_ATTEMPTS=$((${BOTH_LIVE:-0} + UNSAFE_LINES))

note "op log (last 40 of $OPS):"
tail -n 40 "$D/ops" | sed 's/^/#   | /'
note "by kind: $(awk '{ print $2 " " $3 }' "$D/ops" | sort | uniq -c | awk '{ printf "%s %s %s; ", $1, $2, $3 }')"
check "the monitor never saw KLIPS and a native core module live together" [ "${BOTH_LIVE:-0}" = 0 ]
[ -s "$D/both-live" ] && _vm_indent "$D/both-live"
check "the kernel log never shows a load in the unsafe order" [ "$UNSAFE_LINES" = 0 ]
[ -s "$D/unsafe-dmesg" ] && _vm_indent "$D/unsafe-dmesg"
check "no stackmgr command exited with an unexpected status" [ ! -s "$D/unexpected" ]
[ -s "$D/unexpected" ] && _vm_indent "$D/unexpected"
check "every quiesced round ended on exactly one stack that detect agrees with" [ "$INCONSISTENT" = 0 ]
check "the run did something: at least 20 operations and one kill" did_something
expect_no_kernel_errors
note "seed $SEED0 replays the same moves of each actor (not their timing): STACKMGR_CHAOS_SEED=$SEED0 STACKMGR_CHAOS_SECONDS=$TOTAL"
fact chaos "ops=$OPS kills=$KILLS refusals=$REFUSALS unsafe_attempts=$UNSAFE_ATTEMPTS inconsistent=$INCONSISTENT seed=$SEED0 seconds=$TOTAL rounds=$ROUNDS rolled_back=$ROLLED_BACK rollback_failed=$FAILED_ROLLBACK busy=$BUSY orphaned_daemons=$ORPHANS"
done_testing
