#!/bin/sh
# Benchmarks in the guest, one boot (prints ratios; asserts only that both sides did the
# same work, never a time):
#
# 1. `stackmgr switch native` and `switch klips` against a plain script that performs the
#    same module steps with kmod's own tools: to native, rmmod ipsec, remove the guard,
#    one `modprobe -a` of the modules stackmgr loads; to KLIPS, write the guard, one
#    `modprobe -r -a` of those modules (which also drops their unused dependencies, as
#    stackmgr does with the ones it loaded), then `modprobe ipsec`. The script checks
#    nothing; stackmgr re-detects before every insert, verifies every step and records
#    what it loaded. The difference is the cost of those checks. Rounds alternate which
#    side goes first; every switch is verified afterwards on /proc/modules, so neither
#    side can win by failing. Wall time comes from the kernel's clock (/proc/timer_list),
#    CPU time from the shell's `times` (user + system of the finished children).
# 2. `stackmgr detect --json` against `lsmod`, whole processes (tests/bench/bench_detect
#    in host mode when the guest has it, else the same comparison in shell).
# 3. From no stack to native: `stackmgr switch native` and Debian 12's own
#    `_stackmanager start` (libreswan 4.10, what Debian runs before pluto) against one
#    `modprobe -a` of the modules stackmgr loads (the floor). Every run starts from the same
#    module set, restored untimed.
# Ends with one FACT line holding the ratios.
#
# Arguments: [ROUNDS] (default 5) [DETECT_RUNS] (default 30).
set -u
# shellcheck source=../guest/lib.sh
. "$VM_LIB"
# shellcheck source=lib/stackmgr.sh
. /scenario/stackmgr.sh

ROUNDS=${1:-5}
DETECT_RUNS=${2:-30}
M=/sbin/modprobe
# What `stackmgr switch native` loads here (catalog order, ipcomp left out).
NATIVE_LOAD="af_key esp4 ah4 xfrm_user xfrm4_tunnel esp6 ah6 xfrm6_tunnel"
NATIVE_UNLOAD="xfrm6_tunnel xfrm4_tunnel ah6 esp6 xfrm_user ah4 esp4 af_key"

# now_ns: NOW = the kernel's monotonic clock in ns (/proc/timer_list), read without a fork.
now_ns() {
	while read -r _a _b _c _r; do
		if [ "$_a $_b" = "now at" ]; then
			NOW=$_c
			return 0
		fi
	done </proc/timer_list
	NOW=0
}

# _tms 1m2.345s: the ms in one field of `times`.
_tms() {
	_m=${1%%m*}
	_s=${1#*m}
	_s=${_s%s}
	_frac=${_s#*.}
	while [ "${_frac#0}" != "$_frac" ]; do _frac=${_frac#0}; done
	echo $((_m * 60000 + ${_s%.*} * 1000 + ${_frac:-0}))
}

# cpu_ms: CPU = user + system ms of this shell's finished children so far (`times`, second line).
cpu_ms() {
	times >/tmp/times.out
	{
		read -r _x
		read -r _cu _cs
	} </tmp/times.out
	CPU=$(($(_tms "$_cu") + $(_tms "$_cs")))
}

# timed NAME CMD...: run CMD, add its wall ns and CPU ms to NAME_wall / NAME_cpu; fail
# (and say so) when CMD fails.
timed() {
	_name=$1
	shift
	cpu_ms
	_c0=$CPU
	now_ns
	_t0=$NOW
	_rc=0
	"$@" >/tmp/timed.out 2>&1 || _rc=$?
	now_ns
	_t1=$NOW
	cpu_ms
	_c1=$CPU
	eval "${_name}_wall=\$((\${${_name}_wall:-0} + _t1 - _t0))"
	eval "${_name}_cpu=\$((\${${_name}_cpu:-0} + _c1 - _c0))"
	if [ "$_rc" != 0 ]; then
		_vm_report 1 "$_name: $* exited $_rc"
		_vm_indent /tmp/timed.out
		return 1
	fi
	return 0
}

# shellcheck disable=SC2317 # called through timed
script_to_native() {
	/sbin/rmmod ipsec || return 1
	rm -f "$GUARD"
	# shellcheck disable=SC2086 # one name each
	"$M" -a $NATIVE_LOAD
}

# shellcheck disable=SC2317,SC2086 # called through timed; one name each
script_to_klips() {
	printf 'install %s /bin/false\n' $NATIVE_ALL >"$GUARD" || return 1
	"$M" -r -a $NATIVE_UNLOAD || return 1
	"$M" ipsec
}

# The state after a switch, for the check that both sides did the same work.
is_native() { all_live "$NATIVE_LOAD" && module_is ipsec absent && [ ! -e "$GUARD" ]; }
is_klips() { none_loaded "$NATIVE_ALL" && module_is ipsec live && [ -e "$GUARD" ] && none_loaded "xfrm_algo tunnel4 tunnel6"; }

ms() { awk -v n="$1" 'BEGIN { printf "%.1f", n / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

note "=== 1. switch: stackmgr against a plain kmod script, $ROUNDS rounds"
expect_rc 0 "start on KLIPS: stackmgr switch klips" "$S" switch klips
check "start state is KLIPS" is_klips
bad=0
round=1
while [ "$round" -le "$ROUNDS" ]; do
	if [ $((round % 2)) = 1 ]; then order="stackmgr script"; else order="script stackmgr"; fi
	for side in $order; do
		if [ "$side" = stackmgr ]; then
			timed sm_native "$S" switch native || bad=$((bad + 1))
			is_native || { bad=$((bad + 1)); note "round $round: stackmgr's native switch did not reach native"; }
			timed sm_klips "$S" switch klips || bad=$((bad + 1))
			is_klips || { bad=$((bad + 1)); note "round $round: stackmgr's klips switch did not reach KLIPS"; }
		else
			timed sh_native script_to_native || bad=$((bad + 1))
			is_native || { bad=$((bad + 1)); note "round $round: the script's native switch did not reach native"; }
			timed sh_klips script_to_klips || bad=$((bad + 1))
			is_klips || { bad=$((bad + 1)); note "round $round: the script's klips switch did not reach KLIPS"; }
		fi
	done
	round=$((round + 1))
done
check "every switch of both sides reached its target ($((ROUNDS * 4)) switches)" [ "$bad" = 0 ]

# Means per switch.
for v in sm_native sm_klips sh_native sh_klips; do
	eval "${v}_wall=\$((${v}_wall / ROUNDS))"
	eval "${v}_cpu=\$((${v}_cpu / ROUNDS))"
done
# shellcheck disable=SC2154 # set by timed through eval
{
	note "BENCH switch native: stackmgr $(ms "$sm_native_wall") ms wall, ${sm_native_cpu} ms CPU; script $(ms "$sh_native_wall") ms wall, ${sh_native_cpu} ms CPU; wall ratio $(ratio "$sm_native_wall" "$sh_native_wall")"
	note "BENCH switch klips:  stackmgr $(ms "$sm_klips_wall") ms wall, ${sm_klips_cpu} ms CPU; script $(ms "$sh_klips_wall") ms wall, ${sh_klips_cpu} ms CPU; wall ratio $(ratio "$sm_klips_wall" "$sh_klips_wall")"
	total_sm=$((sm_native_wall + sm_klips_wall))
	total_sh=$((sh_native_wall + sh_klips_wall))
	overhead=$(awk -v a="$total_sm" -v b="$total_sh" 'BEGIN { printf "%+.0f", (a / b - 1) * 100 }')
	note "BENCH switch both ways: stackmgr $(ms "$total_sm") ms, script $(ms "$total_sh") ms: ratio $(ratio "$total_sm" "$total_sh") (stackmgr's checks cost ${overhead}% over the kernel's own work; target: under +10%)"
	facts="switch stackmgr/script: native $(ratio "$sm_native_wall" "$sh_native_wall"), klips $(ratio "$sm_klips_wall" "$sh_klips_wall"), both ways $(ratio "$total_sm" "$total_sh") (${overhead}%)"
}

note "=== 2. detect: stackmgr detect --json against lsmod, whole processes"
if [ -x /usr/bin/bench_detect ]; then
	expect_rc 0 "bench_detect --mode host runs" /usr/bin/bench_detect --stackmgr "$S" --lsmod /sbin/lsmod \
		--mode host --runs "$DETECT_RUNS"
	grep -E 'ratio|median|NOT met|met' "$VM_OUT" | while IFS= read -r line; do note "BENCH $line"; done
else
	note "no bench_detect in the guest: the same comparison in shell"
	check "stackmgr detect --json works" sh -c '"$1" detect --json >/dev/null' - "$S"
	check "lsmod works" sh -c '/sbin/lsmod >/dev/null'
	i=0
	while [ "$i" -lt 3 ]; do
		"$S" detect --json >/dev/null
		/sbin/lsmod >/dev/null
		i=$((i + 1))
	done
	i=0
	while [ "$i" -lt "$DETECT_RUNS" ]; do
		timed det "$S" detect --json
		timed lsm /sbin/lsmod
		timed tru /bin/true
		i=$((i + 1))
	done
	# shellcheck disable=SC2154
	{
		note "BENCH detect: stackmgr detect --json $(ms $((det_wall / DETECT_RUNS))) ms wall, $((det_cpu / DETECT_RUNS)) ms CPU per run"
		note "BENCH detect: lsmod $(ms $((lsm_wall / DETECT_RUNS))) ms wall, $((lsm_cpu / DETECT_RUNS)) ms CPU per run"
		note "BENCH detect: /bin/true (process start floor) $(ms $((tru_wall / DETECT_RUNS))) ms wall per run"
		note "BENCH detect: ratio detect/lsmod: wall $(ratio "$det_wall" "$lsm_wall"), CPU $(ratio "$det_cpu" "$lsm_cpu")"
	}
fi

note "=== 3. from no stack to native: stackmgr and Debian's _stackmanager start against one modprobe -a, $ROUNDS rounds"
# Debian's script asks `ipsec addconn` for its config setup and stack; the stub answers as
# libreswan does for a default ipsec.conf. busybox's ip has no xfrm: its flushes of an empty
# SAD and SPD fail at once, and the script goes on, as it does.
DEBIAN_STACKMANAGER=/usr/libexec/ipsec/_stackmanager
mkdir -p /tmp/anchor-bin
# shellcheck disable=SC2016 # the stub's own $*
printf '#!/bin/sh\ncase "$*" in\n*--configsetup*) echo "export xfrmlifetime=30" ;;\n*--liststack*) echo xfrm ;;\n*) exit 1 ;;\nesac\n' >/tmp/anchor-bin/ipsec
chmod 0755 /tmp/anchor-bin/ipsec
/sbin/rmmod ipsec 2>/dev/null
rm -f "$GUARD"
# shellcheck disable=SC2086 # one name each
"$M" -r -a $NATIVE_UNLOAD 2>/dev/null
check "no stack before the baseline" none_loaded "$NATIVE_ALL ipsec"
cut -d' ' -f1 /proc/modules | sort >/tmp/base.mods

# extra_modules: the modules loaded now that the baseline did not have.
extra_modules() { cut -d' ' -f1 /proc/modules | sort | grep -vxF -f /tmp/base.mods; }
# to_none: back to the baseline (no stack, no guard); users go before what they use.
to_none() {
	rm -f "$GUARD"
	_pass=0
	while [ -n "$(extra_modules)" ] && [ "$_pass" -lt 6 ]; do
		for _m in $(extra_modules); do /sbin/rmmod "$_m" 2>/dev/null; done
		_pass=$((_pass + 1))
	done
	[ -z "$(extra_modules)" ]
}
# shellcheck disable=SC2317 # called through timed
floor_to_native() {
	# shellcheck disable=SC2086 # one name each
	"$M" -a $NATIVE_LOAD
}
# shellcheck disable=SC2317 # called through timed
debian_to_native() { PATH=/tmp/anchor-bin:$PATH "$DEBIAN_STACKMANAGER" start; }

bad=0
round=1
while [ "$round" -le "$ROUNDS" ]; do
	case $((round % 3)) in
	1) order="floor stackmgr debian" ;;
	2) order="stackmgr debian floor" ;;
	*) order="debian floor stackmgr" ;;
	esac
	for side in $order; do
		to_none || { bad=$((bad + 1)); note "round $round: could not return to no stack: $(extra_modules | tr '\n' ' ')"; }
		case $side in
		floor) timed fl_none floor_to_native || bad=$((bad + 1)) ;;
		stackmgr) timed sm_none "$S" switch native || bad=$((bad + 1)) ;;
		debian) timed deb_none debian_to_native || bad=$((bad + 1)) ;;
		esac
		# Debian's script loads no af_key (pluto's PF_KEY use would) but the rest of the native stack.
		if [ "$side" = debian ]; then
			all_live "esp4 ah4 xfrm_user esp6 ah6" || { bad=$((bad + 1)); note "round $round: Debian's script did not load the native stack"; }
		else
			all_live "$NATIVE_LOAD" || { bad=$((bad + 1)); note "round $round: $side did not reach native"; }
		fi
	done
	round=$((round + 1))
done
to_none
check "every run of the three reached native ($((ROUNDS * 3)) runs)" [ "$bad" = 0 ]
for v in fl_none sm_none deb_none; do
	eval "${v}_wall=\$((${v}_wall / ROUNDS))"
	eval "${v}_cpu=\$((${v}_cpu / ROUNDS))"
done
# shellcheck disable=SC2154 # set by timed through eval
{
	note "BENCH from none: modprobe -a (floor) $(ms "$fl_none_wall") ms wall, ${fl_none_cpu} ms CPU; stackmgr switch native $(ms "$sm_none_wall") ms wall, ${sm_none_cpu} ms CPU; Debian's _stackmanager start $(ms "$deb_none_wall") ms wall, ${deb_none_cpu} ms CPU"
	note "BENCH from none: stackmgr/floor $(ratio "$sm_none_wall" "$fl_none_wall") (target: at most 1.10), Debian/floor $(ratio "$deb_none_wall" "$fl_none_wall"), Debian/stackmgr $(ratio "$deb_none_wall" "$sm_none_wall") (how many times faster stackmgr is than what Debian ships)"
	facts="$facts; from none: stackmgr/modprobe $(ratio "$sm_none_wall" "$fl_none_wall"), Debian _stackmanager/modprobe $(ratio "$deb_none_wall" "$fl_none_wall"), Debian/stackmgr $(ratio "$deb_none_wall" "$sm_none_wall")"
}
note "=== 4. where stackmgr's time goes (for reading, not a target)"
# One switch each way with --json: its module steps' own times against the whole process.
"$S" switch klips >/dev/null 2>&1
for target in native klips; do
	timed "where_$target" "$S" switch "$target" --json || bad=$((bad + 1))
	steps_ms=$(awk -F'"took_ms": *' 'NF > 1 { split($2, v, /[,}]/); sum += v[1] } END { printf "%.1f", sum }' /tmp/timed.out)
	eval "wall=\$where_${target}_wall"
	# shellcheck disable=SC2154 # set by the eval above
	note "BENCH switch $target: $(ms "$wall") ms wall, of which its module steps took $steps_ms ms; the rest is process start-up, reading the host, planning, the fresh check before each insert, the journal and the module record"
done
# Process start-up alone: what every command pays before it does anything.
i=0
while [ "$i" -lt 20 ]; do
	timed ver_sm "$S" --version
	timed ver_kmod /bin/kmod --version
	timed ver_true /bin/true
	i=$((i + 1))
done
# shellcheck disable=SC2154 # set by timed through eval
note "BENCH start-up: stackmgr --version $(ms $((ver_sm_wall / 20))) ms, kmod --version $(ms $((ver_kmod_wall / 20))) ms, /bin/true $(ms $((ver_true_wall / 20))) ms wall per run: ratio stackmgr/kmod $(ratio "$ver_sm_wall" "$ver_kmod_wall")"

fact "switch benchmark (wall-time ratios, means of $ROUNDS rounds, TCG guest, one boot)" "$facts"

expect_no_kernel_errors
done_testing
