#!/bin/bash
# Everything the qemu scenarios need, once: host packages, the KLIPS stand-in,
# pfkey-hold, the base initramfs and the cached KVM probe. Each step is cached,
# so a second run takes about a second. CTest runs this as the fixture setup.
#
# Usage: prepare.sh [--build-dir DIR] [--no-install] [--stackmgr PATH] [--bin SRC[=DEST]]...
#   --no-install     do not run setup-host.sh (fail instead if something is missing)
#   --stackmgr PATH  put PATH into the guest as /usr/sbin/stackmgr (also taken
#                    from $STACKMGR_BIN); an empty PATH means none
#   --bin SRC[=DEST] any other program for the guest (see build-initramfs.sh); an
#                    empty argument means none
# The guest always gets /usr/sbin/pfkey-hold, /usr/sbin/uevent-pause, /usr/sbin/notify-watchdog,
# /usr/sbin/modload-probe, iproute2's ip as /sbin/ip and util-linux's flock as /usr/bin/flock
# (busybox has none: the chaos run takes stackmgr's lock with it).
set -eu -o pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"

build=$(vm_default_build_dir)
install=1
stackmgr=${STACKMGR_BIN:-}
bins=()
while [ $# -gt 0 ]; do
	case $1 in
	--build-dir)
		build=$2
		shift 2
		;;
	--no-install)
		install=0
		shift
		;;
	--stackmgr)
		stackmgr=$2
		shift 2
		;;
	--bin)
		bins+=("$2")
		shift 2
		;;
	*) vm_die "prepare.sh: unknown argument $1" ;;
	esac
done
mkdir -p "$build"
build=$(cd "$build" && pwd)
t0=$SECONDS

if [ "$install" = 1 ]; then
	"$here/setup-host.sh"
fi
vm_need_cmd qemu-system-x86_64 qemu-system-x86
vm_kernel_init --need-headers || vm_die "no usable kernel (see above)"
vm_log "kernel $KVER ($KIMAGE)"

"$here/build-standin.sh" --build-dir "$build"

ip_bin=$(command -v ip) || vm_die "ip not found (package iproute2)"
flock_bin=$(command -v flock) || vm_die "flock not found (package util-linux)"
args=(--build-dir "$build" --bin "$build/bin/pfkey-hold=/usr/sbin/pfkey-hold"
	--bin "$build/bin/uevent-pause=/usr/sbin/uevent-pause" --bin "$build/bin/notify-watchdog=/usr/sbin/notify-watchdog"
	--bin "$build/bin/modload-probe=/usr/sbin/modload-probe"
	--bin "$ip_bin=/sbin/ip" --bin "$flock_bin=/usr/bin/flock")
if [ -n "$stackmgr" ]; then
	[ -x "$stackmgr" ] || vm_die "stackmgr binary $stackmgr does not exist (build the stackmgr target first)"
	args+=(--bin "$stackmgr=/usr/sbin/stackmgr")
fi
for b in "${bins[@]}"; do [ -z "$b" ] || args+=(--bin "$b"); done
"$here/build-initramfs.sh" "${args[@]}"

vm_lock "$build"
kernel=$(vm_guest_kernel "$build")
accel=$(vm_accel "$build")
vm_log "prepared in $((SECONDS - t0)) s; guests will boot $kernel with -accel $accel"
