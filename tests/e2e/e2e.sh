#!/usr/bin/env bash
# The e2e system test: a real Debian 12 system under qemu (systemd as PID 1, the Debian kernel)
# gets stackmgr's .deb with apt-get and runs an IPsec tunnel to a second guest through every
# step of docs/e2e.md; tests/e2e/driver.py drives both guests. Needs the image of
# build-image.sh (CTest fixture e2e.image) and the .debs of packaging.deb_build.
# Environment: as build-image.sh; E2E_BOUND (default 1200) kills the guests at that bound.
# Fails, saying why, when anything is missing: it is never skipped.
PKG_LOG_PREFIX=e2e
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/../packaging/lib.sh"
# shellcheck source=tests/vm/common.sh
. "$(dirname "$0")/../vm/common.sh"
: "${E2E_WORK_DIR:?set by CTest: the work dir of the e2e test}"
: "${STACKMGR_VM_BUILD_DIR:?set by CTest: the build dir of the qemu suite}"

t0=$(date +%s.%N)
bound=${E2E_BOUND:-1200}
[ "$(id -u)" -eq 0 ] || pkg_fail "the e2e test needs root (qemu's disk images, mke2fs)"
pkg_need_cmd qemu-system-x86_64 qemu-system-x86
pkg_need_cmd qemu-img qemu-utils
pkg_need_cmd mke2fs e2fsprogs
[ -x /usr/bin/python3 ] || pkg_fail "/usr/bin/python3 is missing (package python3)"
vm_kernel_init || pkg_fail "no guest kernel (tests/vm/kernel.sh said why above)"
img=$E2E_WORK_DIR/image
for f in disk.img initrd.gz; do
	[ -f "$img/$f" ] || pkg_fail "$img/$f is missing: the e2e.image test (tests/e2e/build-image.sh) builds it"
done
v1=$(pkg_deb v1)
v2=$(pkg_deb v2)

# The kernel: the PVH vmlinux tests/vm extracts (under its lock), the accelerator its probe chose.
vm_lock "$STACKMGR_VM_BUILD_DIR"
kernel=$(vm_guest_kernel "$STACKMGR_VM_BUILD_DIR")
accel=${STACKMGR_VM_ACCEL:-tcg}
if [ "$accel" = auto ] || [ -f "$STACKMGR_VM_BUILD_DIR/kvm-probe" ]; then
	accel=$(sed -n 2p "$STACKMGR_VM_BUILD_DIR/kvm-probe" 2>/dev/null || echo tcg)
fi
exec 9>&-

mkdir -p "$E2E_WORK_DIR/runs"
run=$(mktemp -d "$E2E_WORK_DIR/runs/e2e.XXXXXX")
# The packages reach the guest on a small second disk, as an admin's copy would.
mkdir -p "$run/debs/v1" "$run/debs/v2"
cp "$v1" "$run/debs/v1/"
cp "$v2" "$run/debs/v2/"
mke2fs -q -F -t ext4 -L e2e-debs -d "$run/debs" "$run/debs.img" 64M >/dev/null || pkg_fail "mke2fs -d $run/debs failed"

# TCG guests slow down with the host's load (the cores are shared): the timings need it.
pkg_log "guests boot $(basename "$kernel") with -accel $accel; run dir $run; guests killed after $bound s"
pkg_log "host load average at the start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
rc=0
timeout --kill-after=10 "$((bound + 60))" /usr/bin/python3 -B "$(dirname "$0")/driver.py" \
	--kernel "$kernel" --initrd "$img/initrd.gz" --disk "$img/disk.img" --debs "$run/debs.img" \
	--deb-v1 "$v1" --deb-v2 "$v2" --v2-version "$(dpkg-deb -f "$v2" Version)" \
	--run-dir "$run" --accel "$accel" --guest-bound "$bound" || rc=$?
elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
pkg_log "host load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$rc" -eq 0 ]; then
	rm -rf "$run"
	pkg_log "passed in $elapsed s"
else
	pkg_log "FAILED (driver exit $rc) after $elapsed s; logs kept in $run"
fi
exit "$rc"
