#!/bin/sh
# PID 1 of the qemu test guest (busybox sh), installed as /init.
#
# Mounts the usual file systems, then runs ONE scenario, /scenario/run.sh (from
# the per-run overlay archive), with its stdout and stderr on the second serial
# port (ttyS1, the result channel). Its exit status leaves qemu through
# isa-debug-exit (I/O port 0xf4): qemu then exits with (status << 1) | 1.
# Harness messages go to /dev/console (ttyS0, the kernel console log).

PATH=/usr/sbin:/usr/bin:/sbin:/bin
HOME=/root
export PATH HOME

say() { echo "vm-init: $*" >/dev/console; }

# setup_disk DEVICE: mount the ext4 disk of run-guest.sh --disk on /disk and bind its
# var/lib/stackmgr and etc/stackmgr over /var/lib/stackmgr and /etc/stackmgr, so that
# stackmgr's state and config live on a real file system that survives a power cut. The
# guest never writes back on its own: no periodic writeback, a journal commit only every
# 600 s, and no implicit flush on rename (noauto_da_alloc). A write is on the disk only
# when a program made it so (fsync, or sync), so a cut right after a write that was not
# made durable loses it, every time, instead of depending on a timer.
setup_disk() {
	/sbin/modprobe -a virtio_pci virtio_blk ext4 || return 1
	_i=0
	while [ ! -b "$1" ] && [ "$_i" -lt 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	[ -b "$1" ] || {
		say "no block device $1 after 10 s"
		return 1
	}
	echo 0 >/proc/sys/vm/dirty_writeback_centisecs || return 1
	mkdir -p /disk
	mount -t ext4 -o noauto_da_alloc,commit=600 "$1" /disk || return 1
	for _d in /var/lib/stackmgr /etc/stackmgr; do
		[ -d "/disk$_d" ] || {
			say "the disk has no $_d"
			return 1
		}
		mkdir -p "$_d"
		mount -o bind "/disk$_d" "$_d" || return 1
	done
}

# vm_exit N: end the guest (and qemu) with status N; never returns.
vm_exit() {
	code=$1
	case $code in '' | *[!0-9]*) code=127 ;; esac
	# qemu's status byte is (code << 1) | 1, so only 0..127 survive.
	[ "$code" -gt 127 ] && code=127
	sync
	# shellcheck disable=SC2059 # the format is the octal escape we built
	printf "$(printf '\\%03o' "$code")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
	sleep 2
	say "isa-debug-exit did not stop qemu; powering off (the host will see a failure)"
	poweroff -f
	while :; do sleep 60; done
}

mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount -t devtmpfs -o mode=0755 devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mkdir -p /run/modprobe.d /run/lock /var/lib /var/log /var/tmp /root
ip link set lo up 2>/dev/null || say "could not bring lo up"
hostname stackmgr-vm

RESULT=/dev/ttyS1
if [ ! -c "$RESULT" ]; then
	say "no $RESULT: cannot report results"
	vm_exit 126
fi
# Raw mode: no \n -> \r\n translation, no echo of what the host might send.
stty -F "$RESULT" raw -echo 115200 2>/dev/null || say "stty on $RESULT failed"
# Keep the result channel open until the end; closing the last descriptor
# waits until the UART has sent everything.
exec 3>"$RESULT"

if [ ! -f /scenario/run.sh ]; then
	echo "vm-init: no /scenario/run.sh in the initramfs" >&3
	exec 3>&-
	vm_exit 126
fi

# The per-run overlay: environment (exported variables) and arguments.
set -a
# shellcheck disable=SC1091
. /scenario/env.sh
set +a
KVER=$(uname -r)
VM_LIB=/scenario/lib.sh
VM_SCENARIO=$(cat /scenario/name 2>/dev/null || echo unknown)
STANDIN_KO=/lib/modules/$KVER/extra/ipsec.ko
export KVER VM_LIB VM_SCENARIO STANDIN_KO
# shellcheck disable=SC1091
. /scenario/args.sh

if [ -n "${VM_DISK:-}" ] && ! setup_disk "$VM_DISK"; then
	echo "vm-init: could not mount the disk $VM_DISK on /disk (see the kernel console)" >&3
	exec 3>&-
	vm_exit 126
fi

say "running scenario $VM_SCENARIO"
echo "# vm: scenario $VM_SCENARIO, kernel $KVER, uptime $(cut -d' ' -f1 /proc/uptime) s" >&3
cd /tmp || vm_exit 126
/bin/sh /scenario/run.sh "$@" </dev/null >&3 2>&3
rc=$?
echo "# vm: scenario exit status $rc, uptime $(cut -d' ' -f1 /proc/uptime) s" >&3
exec 3>&-
say "scenario $VM_SCENARIO exited with $rc"
vm_exit "$rc"
