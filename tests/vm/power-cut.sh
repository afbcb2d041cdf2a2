#!/bin/bash
# The power-cut test: a switch in each direction, cut at every step boundary and inside its
# durable writes, on a real ext4 disk, by killing qemu (no shutdown, no sync). After each cut the
# guest boots again from the same disk and `stackmgr start` must finish or roll the switch back
# and say which, find the journal whole (or move it aside saying so) and the chosen-stack file
# whole, and leave the kernel with exactly one stack: the start one before the switch recorded
# its new choice, the target one after, either one at the rename that records it.
#
# Usage: power-cut.sh [--build-dir DIR] [--timeout S] [--points split|boundaries|all] [--jobs N]
#                     [--direction FROM:TO]
#   --points  split (default, $STACKMGR_POWER_CUT_POINTS): every step boundary in both
#             directions, and the durable writes' inner points shared out between the two
#             (the same code writes either way): the first journal write's in native:klips,
#             the journal's removal and the chosen-stack file's write in klips:native;
#             boundaries: the step boundaries and all those inner points in both directions;
#             all: every pause point the switch passes on the disk (every journal write)
#   --jobs    chains at once, one per direction (default 2, $STACKMGR_POWER_CUT_JOBS)
#   --direction  only this chain: native:klips or klips:native (default both)
#
# One chain per direction (native -> klips, klips -> native), each on its own disk: a first
# boot installs the config and traces the switch's pause points; then one boot per cut checks
# the previous cut and arms the next; a last boot checks the last cut. The first chain starts
# with a calibration: a cut after an unsynced write must lose it, or the test proves nothing.
# Prints one "# CUT" line per cut and `FACT power-cut: cuts=N recovered=N lost=N`; exits 0 only
# when every cut was recovered and every check in every boot passed. Needs the guest image of
# prepare.sh with /usr/sbin/stackmgr-pause-points (CMake: -DSTACKMGR_TEST_PAUSE_POINTS=ON).
set -eu -o pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"

build=$(vm_default_build_dir)
tmo=${STACKMGR_VM_TIMEOUT:-150}
points=${STACKMGR_POWER_CUT_POINTS:-split}
jobs=${STACKMGR_POWER_CUT_JOBS:-2}
directions=(native:klips klips:native)
while [ $# -gt 0 ]; do
	case $1 in
	--build-dir)
		build=$2
		shift 2
		;;
	--timeout)
		tmo=$2
		shift 2
		;;
	--points)
		points=$2
		shift 2
		;;
	--jobs)
		jobs=$2
		shift 2
		;;
	--direction)
		case $2 in native:klips | klips:native) directions=("$2") ;; *) vm_die "--direction must be native:klips or klips:native" ;; esac
		shift 2
		;;
	*) vm_die "power-cut.sh: unknown argument $1" ;;
	esac
done
case $points in split | boundaries | all) ;; *) vm_die "--points must be split, boundaries or all" ;; esac
case $jobs in 1 | 2) ;; *) vm_die "--jobs must be 1 or 2" ;; esac
mkdir -p "$build/runs"
build=$(cd "$build" && pwd)
grep -q 'stackmgr-pause-points' "$build/initramfs/image-info" 2>/dev/null ||
	vm_die "the guest image in $build has no /usr/sbin/stackmgr-pause-points: configure with -DSTACKMGR_TEST_PAUSE_POINTS=ON and run vm.prepare (or prepare.sh --bin BUILD/stackmgr/stackmgr-pause-points=/usr/sbin/stackmgr-pause-points)"
work=$(mktemp -d "$build/runs/power-cut-chains.XXXXXX")
started=$SECONDS

# select_cuts TRACE FROM: print "POINT EXPECT" for each cut, in the order the switch passes them.
# EXPECT is start before the rename that records the new choice, either at it, target after.
select_cuts() {
	local inner=both
	[ "$points" != split ] || case $2 in native) inner=journal-write ;; *) inner=files ;; esac
	awk -v mode="$points" -v inner="$inner" -v journal=/var/lib/stackmgr/journal -v stack=/var/lib/stackmgr/stack '
		{ name[NR] = $1; detail[NR] = $2 }
		$1 ~ /^write\.renamed#/ && $2 == stack && !renamed { renamed = NR }
		END {
			if (!renamed) { print "no rename of " stack " in the trace" > "/dev/stderr"; exit 1 }
			first_journal_write = 1
			for (i = 1; i <= NR; i++) {
				n = name[i]; d = detail[i]; keep = 0
				on_disk = d ~ /^\/var\/lib\/stackmgr\// || d ~ /^\/etc\/stackmgr\//
				if (mode == "all") {
					keep = on_disk || n ~ /^switch\./
				} else {
					journal_write = d == journal && first_journal_write && n !~ /^write\.dir-synced#/
					# the rename that records the choice, and its directory fsync, in both directions
					records = d == stack && n ~ /^write\.(renamed|dir-synced)#/
					keep = n ~ /^switch\.(planned|step-started|executed|finished)#/ || records ||
						(inner != "files" && journal_write) ||
						(inner != "journal-write" && ((d == journal && n ~ /^remove\./) || d == stack))
				}
				if (d == journal && n ~ /^write\.dir-synced#/) first_journal_write = 0
				if (!keep) continue
				print n, (i < renamed ? "start" : i == renamed ? "either" : "target")
			}
		}' "$1"
}

# chain FROM TO CALIBRATE: all the boots of one direction on one disk. Writes DIR/summary:
# "CUT ..." lines, "FAIL ..." lines, "PLANNED n".
chain() {
	local from=$1 to=$2 calibrate=$3
	local dir=$work/$from-to-$to
	mkdir -p "$dir"
	local img=$dir/disk.img summary=$dir/summary n=0 log
	: >"$summary"
	vm_make_disk "$img"
	fail() { echo "FAIL $*" >>"$summary"; }
	# boot NAME ENV...: one boot on this disk, its output in DIR/NAME.log; returns run-guest's status.
	boot() {
		local name=$1
		shift
		local args=()
		local e
		for e in "$@"; do args+=(--env "$e"); done
		log=$dir/$name.log
		local rc=0
		"$here/run-guest.sh" --build-dir "$build" --timeout "$tmo" --disk "$img" --cut-on-pause \
			--file "$here/scenarios/lib/stackmgr.sh=/scenario/stackmgr.sh" "${args[@]}" \
			"$here/scenarios/power-cut.sh" >"$log" 2>&1 || rc=$?
		grep -a '^# CUT ' "$log" | sed 's/^# //' >>"$summary" || true
		if grep -aq '^not ok' "$log"; then
			fail "$from->$to boot $name: $(grep -a '^not ok' "$log" | paste -sd';' -) (log: $log)"
		fi
		return "$rc"
	}
	cut_boot() { # cut_boot NAME TRACED ENV...: a boot that must be cut where TRACED says
		local name=$1 traced=$2 said
		shift 2
		boot "$name" "$@" || true
		said=$(sed -n 's/^# vm: power cut: .* the guest said: # PAUSED //p' "$log" | tr -d '\r')
		if [ -z "$said" ]; then
			fail "$from->$to boot $name was not cut (log: $log)"
		elif [ -n "$traced" ] && [ "$said" != "$traced" ]; then
			# Counts are per process: another plan passes other points under the same names.
			fail "$from->$to boot $name: cut at '$said', but the traced switch passed '$traced' there: the switch took another path (log: $log)"
		fi
	}
	local env=("PC_FROM=$from" "PC_TO=$to")
	if [ "$calibrate" = 1 ]; then
		cut_boot 00-calibrate calibration "${env[@]}" PC_CALIBRATE=write
		env+=(PC_CALIBRATE=check)
	fi
	if ! boot 01-trace "${env[@]}" PC_ARM=trace; then
		fail "$from->$to: the first boot (config, traced switch) failed (log: $log)"
		return 0
	fi
	if [ "$calibrate" = 1 ] && ! grep -aq '^# CALIBRATION ok' "$log"; then
		fail "calibration: the cut kept a write that was never synced, or lost one that was: the test would prove nothing (log: $log)"
	fi
	env=("PC_FROM=$from" "PC_TO=$to")
	sed -n 's/^# TRACE //p' "$log" | tr -d '\r' >"$dir/trace"
	if ! select_cuts "$dir/trace" "$from" >"$dir/cuts" || [ ! -s "$dir/cuts" ]; then
		fail "$from->$to: no cut points from the trace (log: $log)"
		return 0
	fi
	echo "PLANNED $(wc -l <"$dir/cuts")" >>"$summary"
	local point expect prev=
	while read -r point expect; do
		n=$((n + 1))
		cut_boot "$(printf '%02d' $((n + 1)))-$point" "$(awk -v p="$point" '$1 == p { print; exit }' "$dir/trace")" \
			"${env[@]}" "PC_ARM=$point" ${prev:+"PC_CHECK=$prev"}
		prev="$point $expect"
	done <"$dir/cuts"
	boot "$(printf '%02d' $((n + 2)))-last" "${env[@]}" "PC_CHECK=$prev" ||
		fail "$from->$to: the last boot failed (log: $log)"
}

vm_log "power-cut: $points points, ${directions[*]}, $jobs at once; logs in $work"
pids=()
calibrate=1
for direction in "${directions[@]}"; do
	if [ "$jobs" = 2 ]; then
		chain "${direction%:*}" "${direction#*:}" "$calibrate" &
		pids+=($!)
	else
		chain "${direction%:*}" "${direction#*:}" "$calibrate"
	fi
	calibrate=0
done
[ "${#pids[@]}" = 0 ] || wait "${pids[@]}"

cuts=0
recovered=0
lost=0
planned=0
failures=()
for summary in "$work"/*/summary; do
	while read -r kind rest; do
		case $kind in
		CUT)
			echo "# CUT $rest"
			cuts=$((cuts + 1))
			case $rest in
			*verdict=recovered*) recovered=$((recovered + 1)) ;;
			*) lost=$((lost + 1)) ;;
			esac
			;;
		PLANNED) planned=$((planned + rest)) ;;
		FAIL) failures+=("$rest") ;;
		esac
	done <"$summary"
done
[ "$cuts" = "$planned" ] || failures+=("$planned cuts were planned but $cuts were checked")
echo "# FACT power-cut: cuts=$cuts recovered=$recovered lost=$lost"
echo "# power-cut: $points points in $((SECONDS - started)) s; logs in $work"
if [ "$lost" != 0 ] || [ "${#failures[@]}" != 0 ]; then
	printf 'power-cut: FAIL: %s\n' "${failures[@]}" "lost=$lost"
	exit 1
fi
rm -rf "$work"
