#!/usr/bin/env bash
# Builds what the e2e test boots, each part cached by a key of what goes into it:
#   E2E_WORK_DIR/debootstrap/<key>/   a Debian 12 root: minbase + systemd, udev, libreswan,
#                                     iproute2, ping, procps and the .deb's Depends (so that
#                                     `apt-get install ./stackmgr_*.deb` works offline)
#   E2E_WORK_DIR/image/disk.img       that root plus the Debian kernel's modules (the kernel
#                                     tests/vm/kernel.sh picks), the KLIPS stand-in, the e2e
#                                     units, the tunnel config of both ends and their NSS dbs,
#                                     as ext4 made without mounting (mke2fs -d)
#   E2E_WORK_DIR/image/initrd.gz      a busybox initramfs that loads virtio_pci, virtio_blk and
#                                     ext4 (modules in Debian's kernel) and switch_roots
# Prints the cold or warm time. Environment (set by CTest): STACKMGR_SOURCE_DIR,
# STACKMGR_BUILD_DIR, PACKAGING_WORK_DIR (the .debs of packaging.deb_build), E2E_WORK_DIR,
# STACKMGR_VM_BUILD_DIR (tests/vm's build dir: the stand-in and the extracted kernel).
PKG_LOG_PREFIX=e2e
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/../packaging/lib.sh"
# shellcheck source=tests/vm/common.sh
. "$(dirname "$0")/../vm/common.sh"
: "${E2E_WORK_DIR:?set by CTest: the work dir of the e2e test}"
: "${STACKMGR_VM_BUILD_DIR:?set by CTest: the build dir of the qemu suite}"

e2e_src=$(cd "$(dirname "$0")" && pwd)
guest=$e2e_src/guest
t0=$(date +%s.%N)
[ "$(id -u)" -eq 0 ] || pkg_fail "the e2e image needs root (debootstrap, files owned by root in the image)"
for cmd in debootstrap:debootstrap mke2fs:e2fsprogs certutil:libnss3-tools cpio:cpio systemctl:systemd depmod:kmod; do
	pkg_need_cmd "${cmd%%:*}" "${cmd#*:}"
done
if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
	pkg_fail "/bin/busybox must be busybox-static (package busybox-static)"
fi
vm_kernel_init || pkg_fail "no guest kernel (tests/vm/kernel.sh said why above)"
standin=$STACKMGR_VM_BUILD_DIR/klips-standin/ipsec.ko
[ -f "$standin" ] || pkg_fail "$standin is missing: vm.prepare (tests/vm/prepare.sh) builds it"
v1=$(pkg_deb v1)
v2=$(pkg_deb v2)

mkdir -p "$E2E_WORK_DIR"
exec 7>"$E2E_WORK_DIR/image.lock"
flock -w 1800 7 || pkg_fail "could not lock $E2E_WORK_DIR/image.lock within 30 minutes"
built=()

# --- the Debian root -----------------------------------------------------------------------
suite=bookworm
# systemd as PID 1 with udev, ifupdown (Debian's own network configuration), libreswan (pluto,
# ipsec.service, whack), the tools an admin checks with, and everything the .deb depends on.
# libreswan's Depends include the virtual "host" (bind9-host provides it), which debootstrap
# cannot resolve.
packages=(systemd systemd-sysv udev ifupdown libreswan bind9-host libnss3-tools iproute2 kmod iputils-ping procps)
mapfile -t -O "${#packages[@]}" packages < <(pkg_depends_of "$v1" "$v2")
includes=$(printf '%s\n' "${packages[@]}" | sort -u | paste -sd, -)
touch "$E2E_WORK_DIR/.build-started"
root=$(pkg_debootstrap_cached "$E2E_WORK_DIR/debootstrap" "$suite" "$(pkg_debian_mirror "$suite")" minbase "$includes")
[ "$E2E_WORK_DIR/debootstrap/debootstrap.log" -nt "$E2E_WORK_DIR/.build-started" ] && built+=(debootstrap)

# --- the disk image --------------------------------------------------------------------------
img_dir=$E2E_WORK_DIR/image
mkdir -p "$img_dir"
key=$(
	{
		echo "root $root"
		echo "kernel $KVER $(sha256sum "$KMODDIR/modules.dep" | cut -d' ' -f1)"
		sha256sum "$standin" "$0" "$guest"/* | cut -d' ' -f1
	} | sha256sum | cut -d' ' -f1
)
if [ -f "$img_dir/disk.img" ] && [ "$(cat "$img_dir/disk.key" 2>/dev/null)" = "$key" ]; then
	pkg_log "e2e disk image up to date: $img_dir/disk.img"
else
	pkg_log "building the e2e disk image from $root"
	built+=(disk)
	rm -f "$img_dir/disk.img" "$img_dir/disk.key"
	stage=$img_dir/stage
	rm -rf "$stage"
	cp -a --reflink=auto "$root" "$stage"
	trap 'rm -rf "$stage"' EXIT

	# The kernel's modules (the whole tree: udev and Debian's _stackmanager load from it as on
	# any Debian host), the stand-in as an out-of-tree module, depmod.
	mkdir -p "$stage/usr/lib/modules"
	cp -a "$KMODDIR" "$stage/usr/lib/modules/"
	rm -f "$stage/usr/lib/modules/$KVER/build" "$stage/usr/lib/modules/$KVER/source"
	install -D -m 0644 "$standin" "$stage/usr/lib/modules/$KVER/extra/ipsec.ko"
	depmod -b "$stage" "$KVER"
	grep -q '^extra/ipsec.ko:' "$stage/usr/lib/modules/$KVER/modules.dep" || pkg_fail "depmod did not index the stand-in"

	# The test's own programs and units.
	install -m 0755 "$guest/e2e-shell.sh" "$stage/usr/local/sbin/e2e-shell"
	install -m 0755 "$guest/e2e-peer-init.sh" "$stage/usr/local/sbin/e2e-peer-init"
	install -m 0755 "$guest/e2e-klips-daemon" "$stage/usr/local/sbin/e2e-klips-daemon"
	install -m 0644 "$guest/e2e-shell.service" "$guest/e2e-ping.service" "$stage/etc/systemd/system/"
	install -D -m 0644 "$guest/e2e-interfaces" "$stage/etc/network/interfaces.d/eth0"
	install -m 0644 "$guest/e2e-blacklist.conf" "$stage/etc/modprobe.d/e2e-blacklist.conf"

	# The managed side's tunnel, the way an admin adds one to Debian's libreswan: a file in
	# /etc/ipsec.d (Debian's ipsec.conf and ipsec.secrets include them), an NSS db where pluto
	# looks by default. The peer's copy of the same conn, its secrets and NSS db: /etc/e2e-peer.
	install -m 0644 "$guest/e2e.conf" "$stage/etc/ipsec.d/e2e.conf"
	install -m 0600 "$guest/e2e.secrets" "$stage/etc/ipsec.d/e2e.secrets"
	grep -q '^include /etc/ipsec.d/\*.conf' "$stage/etc/ipsec.conf" || pkg_fail "Debian's ipsec.conf no longer includes /etc/ipsec.d/*.conf"
	grep -q '^include /etc/ipsec.d/\*.secrets' "$stage/etc/ipsec.secrets" || pkg_fail "Debian's ipsec.secrets no longer includes /etc/ipsec.d/*.secrets"
	mkdir -p "$stage/etc/e2e-peer"
	{
		printf 'config setup\n\n'
		sed 's/^\tauto=start$/\tauto=add/' "$guest/e2e.conf"
	} >"$stage/etc/e2e-peer/ipsec.conf"
	grep -q '^	auto=add$' "$stage/etc/e2e-peer/ipsec.conf" || pkg_fail "the peer's conn e2e is not auto=add"
	install -m 0600 "$guest/e2e.secrets" "$stage/etc/e2e-peer/ipsec.secrets"
	for nss in "$stage/var/lib/ipsec/nss" "$stage/etc/e2e-peer/nss"; do
		if [ ! -f "$nss/cert9.db" ]; then
			mkdir -p "$nss"
			certutil -N -d "sql:$nss" --empty-password || pkg_fail "certutil -N -d sql:$nss failed"
		fi
		chmod 0700 "$nss"
		chmod 0600 "$nss"/*
	done

	# A host that has booted before: fixed machine-id, /etc and /var up to date (no
	# first-boot or ConditionNeedsUpdate units), a name, the root file system.
	echo 6e9b1c1f2e2e4a7d8d5a2b4c0e2e0001 >"$stage/etc/machine-id"
	touch "$stage/etc/.updated" "$stage/var/.updated"
	echo e2e-managed >"$stage/etc/hostname"
	printf '127.0.0.1 localhost\n127.0.1.1 e2e-managed\n192.0.2.2 e2e-peer\n' >"$stage/etc/hosts"
	# The initramfs mounts /dev/vda read-write; an fstab entry would only make the boot wait
	# for udev's dev-vda.device.
	printf '# / is /dev/vda, mounted read-write by the e2e initramfs\n' >"$stage/etc/fstab"

	# Units: the console, the traffic, and Debian's ipsec.service (libreswan
	# installs it disabled; the admin of a Debian IPsec host enables it, and the first boot runs
	# what Debian ships). Masked: what a qemu guest without a terminal, a clock to sync or a user
	# never needs, to keep TCG boots short.
	systemctl --root="$stage" enable e2e-shell.service e2e-ping.service ipsec.service >/dev/null 2>&1 ||
		pkg_fail "systemctl --root enable failed"
	masked=(getty@.service serial-getty@.service getty-static.service systemd-logind.service
		systemd-timesyncd.service systemd-update-utmp.service systemd-update-utmp-runlevel.service
		apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer
		e2scrub_reap.service fstrim.timer systemd-tmpfiles-clean.timer systemd-journal-flush.service
		dev-hugepages.mount dev-mqueue.mount sys-kernel-debug.mount sys-kernel-tracing.mount
		sys-kernel-config.mount sys-fs-fuse-connections.mount modprobe@configfs.service
		modprobe@dm_mod.service modprobe@efi_pstore.service modprobe@fuse.service
		modprobe@loop.service modprobe@drm.service systemd-pstore.service)
	systemctl --root="$stage" mask "${masked[@]}" >/dev/null 2>&1 || pkg_fail "systemctl --root mask failed"

	size=$(($(du -sm "$stage" | cut -f1) + 1024))
	pkg_log "mke2fs -d: ${size} MiB ext4 image"
	mke2fs -q -F -t ext4 -L e2e-root -d "$stage" "$img_dir/disk.img.tmp" "${size}M" >/dev/null ||
		pkg_fail "mke2fs -d $stage failed"
	mv "$img_dir/disk.img.tmp" "$img_dir/disk.img"
	printf '%s\n' "$key" >"$img_dir/disk.key"
	rm -rf "$stage"
	trap - EXIT
fi

# --- the initramfs ---------------------------------------------------------------------------
# busybox-static and the module closure of virtio_pci, virtio_blk, ext4 and virtio_net (so that
# eth0 is there when ifupdown or the peer's init configures it) in load order.
mods=$(for m in virtio_pci virtio_blk ext4 virtio_net; do modprobe -S "$KVER" --show-depends "$m"; done |
	awk '$1 == "insmod" && !seen[$2]++ {print $2}')
[ -n "$mods" ] || pkg_fail "modprobe --show-depends found no modules for virtio_pci virtio_blk ext4 virtio_net"
ikey=$({
	sha256sum /bin/busybox "$e2e_src/initramfs-init.sh" | cut -d' ' -f1
	for m in $mods; do sha256sum "$m"; done
} | sha256sum | cut -d' ' -f1)
if [ -f "$img_dir/initrd.gz" ] && [ "$(cat "$img_dir/initrd.key" 2>/dev/null)" = "$ikey" ]; then
	pkg_log "e2e initramfs up to date: $img_dir/initrd.gz"
else
	built+=(initramfs)
	istage=$img_dir/initrd-stage
	rm -rf "$istage"
	mkdir -p "$istage"/{bin,proc,sys,dev,newroot,modules}
	install -m 0755 /bin/busybox "$istage/bin/busybox"
	install -m 0755 "$e2e_src/initramfs-init.sh" "$istage/init"
	for m in $mods; do
		cp "$m" "$istage/modules/"
		echo "/modules/$(basename "$m")"
	done >"$istage/modules.order"
	(cd "$istage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -n -1 >"$img_dir/initrd.gz.tmp"
	mv "$img_dir/initrd.gz.tmp" "$img_dir/initrd.gz"
	printf '%s\n' "$ikey" >"$img_dir/initrd.key"
	rm -rf "$istage"
	pkg_log "built the e2e initramfs: $(echo "$mods" | wc -w) modules"
fi

elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
if [ "${#built[@]}" -eq 0 ]; then
	pkg_log "image build: warm (everything cached) in $elapsed s (KVER $KVER)"
else
	pkg_log "image build: built ${built[*]} in $elapsed s (KVER $KVER)"
fi
