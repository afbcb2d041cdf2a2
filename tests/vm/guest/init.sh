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

say "running scenario $VM_SCENARIO"
echo "# vm: scenario $VM_SCENARIO, kernel $KVER, uptime $(cut -d' ' -f1 /proc/uptime) s" >&3
cd /tmp || vm_exit 126
/bin/sh /scenario/run.sh "$@" </dev/null >&3 2>&3
rc=$?
echo "# vm: scenario exit status $rc, uptime $(cut -d' ' -f1 /proc/uptime) s" >&3
exec 3>&-
say "scenario $VM_SCENARIO exited with $rc"
vm_exit "$rc"
