#!/bin/bash
# Boot the test kernel in qemu and run ONE scenario script in it.
#
# Usage: run-guest.sh [options] SCENARIO.sh [ARG...]
#   --build-dir DIR   build dir (default $STACKMGR_VM_BUILD_DIR or <repo>/build/vm)
#   --timeout S       bound on the whole boot (default $STACKMGR_VM_TIMEOUT or 240)
#   --mem SIZE        guest memory (default 512M)
#   --file SRC=DEST   copy SRC into the guest at DEST (repeatable)
#   --env NAME=VALUE  export NAME to the scenario (repeatable)
#   --append TEXT     extra kernel command line
#   --verbose         full kernel log on the console (no "quiet")
#   --keep            keep the run dir (console.log, result.log) even on success
#   --disk IMAGE      attach IMAGE (raw, ext4) as the guest's virtio disk; /init
#                     mounts it and puts /var/lib/stackmgr and /etc/stackmgr on it
#                     (see "A disk" in README.md). Written through: cache=writethrough
#   --cut-on-pause    cut the power when the guest reports a pause point (a line
#                     "# PAUSED ..." on the result channel): SIGKILL qemu at once,
#                     no shutdown, no sync; then print "# vm: power cut: LINE" and
#                     exit 0. Without a pause the run ends as usual
#
# The scenario runs as /scenario/run.sh under busybox sh, as root, with ARGs as
# its arguments; /scenario/lib.sh (guest/lib.sh) is its assertion library. Its
# stdout/stderr come back over the guest's second serial port and are printed
# here; the kernel console (ttyS0) is only saved, never parsed. run-guest.sh
# exits with the scenario's exit status (0..127), or fails with 124 (timeout)
# or 125 (the guest crashed or did not report) after printing the tail of the
# kernel console. Where it cannot run at all (no qemu, no kernel) it fails and
# says why; it never skips.
set -eu -o pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"

build=$(vm_default_build_dir)
tmo=${STACKMGR_VM_TIMEOUT:-240}
mem=512M
files=()
envs=()
append=
quiet=quiet
keep=0
disk=
cut=0
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
	--mem)
		mem=$2
		shift 2
		;;
	--file)
		files+=("$2")
		shift 2
		;;
	--env)
		envs+=("$2")
		shift 2
		;;
	--append)
		append=$2
		shift 2
		;;
	--verbose)
		quiet=
		shift
		;;
	--keep)
		keep=1
		shift
		;;
	--disk)
		disk=$2
		shift 2
		;;
	--cut-on-pause)
		cut=1
		shift
		;;
	--)
		shift
		break
		;;
	-*) vm_die "run-guest.sh: unknown option $1" ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || vm_die "usage: run-guest.sh [options] SCENARIO.sh [ARG...]"
scenario=$1
shift
[ -f "$scenario" ] || vm_die "scenario $scenario does not exist"
case $tmo in '' | *[!0-9]*) vm_die "--timeout must be a number of seconds" ;; esac
name=$(basename "$scenario" .sh)
qemu_extra=()
if [ -n "$disk" ]; then
	if [ ! -f "$disk" ] || [ ! -w "$disk" ]; then vm_die "--disk $disk: not a writable file"; fi
	# writethrough: the guest sees a disk without a volatile write cache, and a write it saw
	# complete is on the host's storage before qemu reports it, so killing qemu loses exactly
	# what the guest had not yet written (its page cache): what a power cut loses on such a
	# disk. README.md, "A disk", says why not writeback, none or unsafe.
	qemu_extra=(-drive "file=$disk,format=raw,if=virtio,cache=writethrough")
	envs+=("VM_DISK=/dev/vda")
fi

command -v qemu-system-x86_64 >/dev/null 2>&1 ||
	vm_die "cannot run $name: qemu-system-x86_64 is not installed (package qemu-system-x86; run tests/vm/setup-host.sh)"
command -v timeout >/dev/null 2>&1 || vm_die "cannot run $name: timeout(1) missing (coreutils)"
vm_kernel_init || vm_die "cannot run $name: no guest kernel (see above)"
mkdir -p "$build"
build=$(cd "$build" && pwd)

if [ ! -f "$build/initramfs/base.cpio.gz" ]; then
	vm_log "no base initramfs in $build yet: running prepare.sh"
	"$here/prepare.sh" --build-dir "$build" --no-install
fi

# The probe (first time only) runs under the build lock; the boots themselves
# share nothing writable, so several can run at once.
vm_lock "$build"
accel=$(vm_accel "$build")
kernel=$(vm_guest_kernel "$build")
exec 9>&-

mkdir -p "$build/runs"
rundir=$(mktemp -d "$build/runs/$name.XXXXXX")

printf 'set --' >"$rundir/args.sh"
for a in "$@"; do printf ' %s' "$(vm_shell_quote "$a")" >>"$rundir/args.sh"; done
printf '\n' >>"$rundir/args.sh"
: >"$rundir/env.sh"
for e in "${envs[@]}"; do
	n=${e%%=*}
	case $n in '' | [0-9]* | *[!A-Za-z0-9_]*) vm_die "--env $e: bad variable name" ;; esac
	[ "$n" != "$e" ] || vm_die "--env $e: expected NAME=VALUE"
	printf '%s=%s\n' "$n" "$(vm_shell_quote "${e#*=}")" >>"$rundir/env.sh"
done

vm_make_overlay "$rundir" "$scenario" "$rundir/args.sh" "$rundir/env.sh" "${files[@]}"
cat "$build/initramfs/base.cpio.gz" "$rundir/overlay.cpio.gz" >"$rundir/initrd"
rm -rf "$rundir/overlay" "$rundir/overlay.cpio.gz"

start=$(date +%s.%N)
qrc=0
cut_line=
if [ "$cut" = 1 ]; then
	# Its stderr is only where bash reports that qemu was killed: expected here.
	vm_qemu "$accel" "$kernel" "$rundir/initrd" "$rundir" "$tmo" "$quiet $append" "$mem" "${qemu_extra[@]}" 2>/dev/null &
	boot=$!
	# Poll the result channel; the guest waits at the pause point until it is killed. The serial
	# port delivers a byte at a time, so only a line that has its newline counts.
	while kill -0 "$boot" 2>/dev/null; do
		if grep -aq '^# PAUSED ' "$rundir/result.log" 2>/dev/null &&
			cut_line=$(vm_first_whole_line '# PAUSED ' "$rundir/result.log"); then
			kill -KILL "$(cat "$rundir/qemu.pid")" 2>/dev/null || true
			break
		fi
		sleep 0.05
	done
	wait "$boot" || qrc=$?
	cut_line=$(printf '%s' "$cut_line" | tr -d '\r')
else
	vm_qemu "$accel" "$kernel" "$rundir/initrd" "$rundir" "$tmo" "$quiet $append" "$mem" "${qemu_extra[@]}" || qrc=$?
fi
elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
rm -f "$rundir/initrd"

result=$rundir/result.log
[ -f "$result" ] || : >"$result"
tr -d '\r' <"$result"

verdict=
rc=0
if [ -n "$cut_line" ]; then
	echo "# vm: power cut: qemu killed with SIGKILL (no shutdown) when the guest said: $cut_line"
elif [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	verdict="TIMEOUT: the guest did not finish within $tmo s"
	rc=124
elif [ $((qrc % 2)) = 1 ]; then
	rc=$((qrc >> 1))
	if ! grep -q '^# vm: scenario exit status' "$result"; then
		verdict="the result channel is incomplete (no final status line) although qemu exited through isa-debug-exit with $rc"
		rc=125
	fi
else
	verdict="the guest ended without reporting (qemu status $qrc): kernel panic, crash or qemu error"
	rc=125
fi

if [ -n "$verdict" ]; then
	{
		echo "vm: FAIL: $name: $verdict"
		if [ -s "$rundir/qemu.out" ]; then
			echo "vm: --- qemu output ---"
			tail -n 20 "$rundir/qemu.out"
		fi
		echo "vm: --- last 60 lines of the kernel console ($rundir/console.log) ---"
		tail -n 60 "$rundir/console.log" 2>/dev/null | tr -d '\r'
		echo "vm: --- end of console ---"
	} >&2
	keep=1
fi
echo "# vm: $name: exit status $rc, ${elapsed} s (qemu -accel $accel, kernel $(basename "$kernel"))"
if [ "$keep" = 1 ]; then
	echo "# vm: logs kept in $rundir"
else
	rm -rf "$rundir"
fi
exit "$rc"
