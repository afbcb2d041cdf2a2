# shellcheck shell=bash
# Sourced by the host-side scripts of the qemu suite: paths, messages, the
# build-dir lock, the guest boot itself and the cached KVM probe.

VM_SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_REPO_DIR=$(cd "$VM_SRC_DIR/../.." && pwd)
# shellcheck source=kernel.sh
. "$VM_SRC_DIR/kernel.sh"

vm_log() { printf 'vm: %s\n' "$*" >&2; }
vm_die() {
	printf 'vm: FAIL: %s\n' "$*" >&2
	exit 1
}

# The build dir holds everything generated (stand-in, initramfs, probe cache,
# per-run dirs). Default: <repo>/build/vm (ignored by git).
vm_default_build_dir() { printf '%s\n' "${STACKMGR_VM_BUILD_DIR:-$VM_REPO_DIR/build/vm}"; }

# vm_lock DIR: serialise builders of DIR (ctest -j runs several scripts at once).
# The lock lives on fd 9 until the calling script exits.
vm_lock() {
	mkdir -p "$1"
	exec 9>"$1/.lock"
	if ! flock -w 900 9; then
		vm_die "could not lock $1/.lock within 900 s"
	fi
}

# vm_need_cmd CMD PACKAGE: fail, naming the package, when CMD is missing.
vm_need_cmd() {
	command -v "$1" >/dev/null 2>&1 || vm_die "'$1' not found (package $2; run tests/vm/setup-host.sh)"
}

# vm_shell_quote ARG: print ARG single-quoted for a POSIX shell.
vm_shell_quote() {
	local s=$1
	printf "'%s'" "${s//\'/\'\\\'\'}"
}

# vm_first_whole_line PREFIX FILE: print the first line of FILE that starts with PREFIX and
# already ends in a newline (a file still being written may end in half a line); fail if none.
vm_first_whole_line() {
	local line
	while IFS= read -r line; do
		case $line in "$1"*)
			printf '%s\n' "$line"
			return 0
			;;
		esac
	done <"$2"
	return 1
}

# vm_make_overlay DIR SCENARIO ARGS_FILE ENV_FILE [SRC=DEST ...]: write DIR/overlay.cpio.gz,
# a small gzipped cpio appended after the cached base image. It holds
# /scenario/run.sh, /scenario/lib.sh, /scenario/args.sh, /scenario/env.sh and
# the extra files. The kernel unpacks concatenated archives in order, so later
# files win.
vm_make_overlay() {
	local dir=$1 scenario=$2 args=$3 envf=$4
	shift 4
	local stage=$dir/overlay
	rm -rf "$stage"
	mkdir -p "$stage/scenario"
	install -m 0755 "$scenario" "$stage/scenario/run.sh"
	install -m 0644 "$VM_SRC_DIR/guest/lib.sh" "$stage/scenario/lib.sh"
	install -m 0644 "$args" "$stage/scenario/args.sh"
	install -m 0644 "$envf" "$stage/scenario/env.sh"
	printf '%s\n' "$(basename "$scenario" .sh)" >"$stage/scenario/name"
	local spec src dest
	for spec in "$@"; do
		src=${spec%%=*}
		dest=${spec#*=}
		[ -e "$src" ] || vm_die "--file $spec: $src does not exist"
		case $dest in /*) ;; *) vm_die "--file $spec: destination must be absolute" ;; esac
		mkdir -p "$stage$(dirname "$dest")"
		cp -a "$src" "$stage$dest"
	done
	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -n -1 >"$dir/overlay.cpio.gz"
}

# vm_guest_kernel BUILD_DIR: print the kernel file qemu should boot. The Debian
# bzImage is xz-compressed, and decompressing it under TCG costs about 6 s per
# boot, so the uncompressed ELF vmlinux inside it is extracted once (cached in
# BUILD_DIR/kernel) and booted through its PVH entry point. Falls back to the
# bzImage when the extraction fails or the ELF has no PVH note;
# STACKMGR_VM_KERNEL=bzimage forces the bzImage. Call with the build lock held.
vm_guest_kernel() {
	local build=$1 dir out key magic fmt off
	if [ "${STACKMGR_VM_KERNEL:-}" = bzimage ]; then
		printf '%s\n' "$KIMAGE"
		return 0
	fi
	dir=$build/kernel
	out=$dir/vmlinux-$KVER
	key=$(sha256sum "$KIMAGE" | cut -d' ' -f1)
	if [ -f "$out" ] && [ "$(cat "$out.key" 2>/dev/null)" = "$key" ]; then
		printf '%s\n' "$out"
		return 0
	fi
	mkdir -p "$dir"
	rm -f "$out" "$out.key"
	for fmt in xz zstd gzip; do
		case $fmt in
		xz) magic=$'\xfd7zXZ\x00' ;;
		zstd) magic=$'\x28\xb5\x2f\xfd' ;;
		gzip) magic=$'\x1f\x8b\x08' ;;
		esac
		off=$(LC_ALL=C grep -aboF -- "$magic" "$KIMAGE" 2>/dev/null | head -n1 | cut -d: -f1) || true
		[ -n "$off" ] || continue
		command -v "$fmt" >/dev/null 2>&1 || continue
		case $fmt in
		xz) tail -c "+$((off + 1))" "$KIMAGE" | xz -dc --single-stream >"$out.tmp" 2>/dev/null || true ;;
		zstd) tail -c "+$((off + 1))" "$KIMAGE" | zstd -dcq >"$out.tmp" 2>/dev/null || true ;;
		gzip) tail -c "+$((off + 1))" "$KIMAGE" | gzip -dcq >"$out.tmp" 2>/dev/null || true ;;
		esac
		# An ELF whose notes include XEN_ELFNOTE_PHYS32_ENTRY (type 0x12) boots via PVH.
		if [ "$(head -c 4 "$out.tmp" 2>/dev/null)" = $'\x7fELF' ] &&
			readelf -n "$out.tmp" 2>/dev/null | grep -q 'Xen.*(0x00000012)'; then
			mv "$out.tmp" "$out"
			printf '%s\n' "$key" >"$out.key"
			vm_log "extracted the uncompressed kernel ($fmt) for PVH boot: $out"
			printf '%s\n' "$out"
			return 0
		fi
		rm -f "$out.tmp"
	done
	vm_log "could not extract a PVH-bootable vmlinux from $KIMAGE; booting the bzImage (slower)"
	printf '%s\n' "$KIMAGE"
}

# vm_qemu ACCEL KERNEL INITRD RUNDIR TIMEOUT APPEND MEM [QEMU-ARG...]: boot the
# guest once. The kernel console goes to RUNDIR/console.log, the scenario's
# output (guest ttyS1) to RUNDIR/result.log, qemu's pid to RUNDIR/qemu.pid.
# Extra arguments go to qemu (a disk, say). Prints nothing; returns qemu's exit
# status (124 = timeout). isa-debug-exit makes qemu exit with (rc << 1) | 1, so
# an odd status is the scenario's verdict and an even one (0) means the guest
# ended otherwise (panic with panic=-1 and -no-reboot, triple fault...).
# no_timer_check: on a busy host TCG runs the guest so slowly that the kernel's early check of
# the IO-APIC timer fails and it panics ("IO-APIC + timer doesn't work!") before /init.
vm_qemu() {
	local accel=$1 kernel=$2 initrd=$3 rundir=$4 tmo=$5 append=$6 mem=$7
	shift 7
	local cpu=()
	[ "$accel" = kvm ] && cpu=(-cpu host)
	local rc=0
	timeout --kill-after=5 "$tmo" qemu-system-x86_64 \
		-accel "$accel" "${cpu[@]}" -m "$mem" -smp 1 \
		-nodefaults -no-user-config -display none -no-reboot -nic none \
		-kernel "$kernel" -initrd "$initrd" \
		-append "console=ttyS0,115200 panic=-1 no_timer_check rdinit=/init $append" \
		-serial "file:$rundir/console.log" -serial "file:$rundir/result.log" \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 -pidfile "$rundir/qemu.pid" "$@" \
		</dev/null >"$rundir/qemu.out" 2>&1 || rc=$?
	return "$rc"
}

# vm_accel BUILD_DIR: print tcg or kvm. KVM is used only when a probe boot with
# a timeout has shown that it works on this machine (on the development
# machines guests hang under KVM after the decompressor). The probe result is
# cached in BUILD_DIR/kvm-probe, keyed by qemu version and KVER.
# STACKMGR_VM_ACCEL=tcg|kvm overrides. Needs the base initramfs.
vm_accel() {
	local build=$1
	case ${STACKMGR_VM_ACCEL:-auto} in
	tcg | kvm)
		printf '%s\n' "$STACKMGR_VM_ACCEL"
		return 0
		;;
	auto) ;;
	*) vm_die "STACKMGR_VM_ACCEL must be tcg, kvm or auto" ;;
	esac
	if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		printf 'tcg\n'
		return 0
	fi
	local cache=$build/kvm-probe key
	key="$(qemu-system-x86_64 --version | head -n1)|$KVER"
	if [ -f "$cache" ] && [ "$(sed -n 1p "$cache")" = "$key" ]; then
		sed -n 2p "$cache"
		return 0
	fi
	local dir result=tcg rc=0 t0
	dir=$(mktemp -d "$build/kvm-probe.XXXXXX")
	printf '#!/bin/sh\necho kvm-probe-ok\nexit 0\n' >"$dir/probe.sh"
	printf 'set --\n' >"$dir/args.sh"
	: >"$dir/env.sh"
	vm_make_overlay "$dir" "$dir/probe.sh" "$dir/args.sh" "$dir/env.sh"
	cat "$build/initramfs/base.cpio.gz" "$dir/overlay.cpio.gz" >"$dir/initrd"
	vm_log "probing KVM (one boot, at most 20 s; the result is cached in $cache)"
	t0=$SECONDS
	vm_qemu kvm "$(vm_guest_kernel "$build")" "$dir/initrd" "$dir" 20 "quiet" 256M || rc=$?
	if [ "$rc" = 1 ] && grep -q kvm-probe-ok "$dir/result.log" 2>/dev/null; then
		result=kvm
	fi
	vm_log "KVM probe: qemu status $rc after $((SECONDS - t0)) s: using $result"
	if [ "$result" = tcg ] && [ -s "$dir/qemu.out" ]; then
		vm_log "KVM probe: qemu said: $(tail -n 1 "$dir/qemu.out")"
	fi
	printf '%s\n%s\n' "$key" "$result" >"$cache"
	rm -rf "$dir"
	printf '%s\n' "$result"
}

# vm_make_disk IMAGE [SIZE_MB]: a fresh raw ext4 image (default 32 MB) for run-guest.sh --disk,
# holding the empty directories /var/lib/stackmgr and /etc/stackmgr (root's, mode 0755) that
# the guest's /init mounts over its own. Inode tables and the journal are written now, so the
# guest's kernel has no lazy initialisation to do in the background.
vm_make_disk() {
	local image=$1 size=${2:-32} stage
	vm_need_cmd mkfs.ext4 e2fsprogs
	stage=$(mktemp -d "${TMPDIR:-/tmp}/vm-disk.XXXXXX")
	mkdir -p "$stage/var/lib/stackmgr" "$stage/etc/stackmgr"
	chmod 0755 "$stage/var" "$stage/var/lib" "$stage/var/lib/stackmgr" "$stage/etc" "$stage/etc/stackmgr"
	rm -f "$image"
	truncate -s "${size}M" "$image"
	if ! mkfs.ext4 -q -F -L stackmgr-vm -E lazy_itable_init=0,lazy_journal_init=0,root_owner=0:0 \
		-d "$stage" "$image"; then
		rm -rf "$stage"
		vm_die "mkfs.ext4 could not make $image"
	fi
	rm -rf "$stage"
}
