#!/bin/busybox sh
# shellcheck shell=dash
# /init of the e2e guests' small initramfs (busybox). Debian's kernel builds virtio_pci,
# virtio_blk, ext4 and virtio_net as modules, so this loads them (in the order /modules.order lists, computed
# on the host by modprobe --show-depends), mounts /dev/vda and hands over to the disk's init:
# /sbin/init (systemd) unless the command line says init=PATH (the peer guest's script).
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

fail() {
	echo "e2e initramfs: $*" >/dev/console
	sleep 5
	poweroff -f
}

init=/sbin/init
mode=ro
read -r cmdline </proc/cmdline
for arg in $cmdline; do
	case $arg in
	init=*) init=${arg#init=} ;;
	rw) mode=rw ;;
	esac
done

# A module for hardware the guest lacks fails (crc32c-intel without SSE4.2 under TCG): that is
# only a note; a missing disk or file system fails below.
while read -r ko; do
	insmod "$ko" 2>/dev/null || echo "e2e initramfs: $ko did not load (no such hardware?)" >/dev/console
done </modules.order

i=0
while [ ! -b /dev/vda ]; do
	i=$((i + 1))
	[ "$i" -le 100 ] || fail "no /dev/vda after 10 s"
	sleep 0.1
done
mkdir -p /newroot
mount -t ext4 -o "$mode" /dev/vda /newroot || fail "cannot mount /dev/vda"
[ -x "/newroot$init" ] || [ -L "/newroot$init" ] || fail "$init is not on the root file system"
mount --move /dev /newroot/dev
umount /sys /proc
exec switch_root /newroot "$init"
