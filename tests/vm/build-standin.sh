#!/bin/bash
# Build the KLIPS test stand-in (tests/vm/klips-standin) against the headers of
# KVER and the static helpers pfkey-hold, uevent-pause and modload-probe, into the build dir:
#   BUILD/klips-standin/ipsec.ko    BUILD/bin/pfkey-hold    BUILD/bin/uevent-pause
#   BUILD/bin/modload-probe
# Rebuilds only when the sources or KVER changed.
# Usage: build-standin.sh [--build-dir DIR]
set -eu -o pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

build=$(vm_default_build_dir)
while [ $# -gt 0 ]; do
	case $1 in
	--build-dir)
		build=$2
		shift 2
		;;
	*) vm_die "build-standin.sh: unknown argument $1" ;;
	esac
done
mkdir -p "$build"
build=$(cd "$build" && pwd)
vm_kernel_init --need-headers || vm_die "no usable kernel (see above)"
vm_need_cmd make make
vm_need_cmd gcc gcc

# --- the module ---
src=$VM_SRC_DIR/klips-standin
out=$build/klips-standin
key=$(cat "$src/ipsec.c" "$src/Kbuild" "$src/Makefile" | sha256sum | cut -d' ' -f1)
key="$key $KVER $(sha256sum "$KBUILD/Module.symvers" | cut -d' ' -f1)"
if [ -f "$out/ipsec.ko" ] && [ "$(cat "$out/.key" 2>/dev/null)" = "$key" ]; then
	vm_log "stand-in up to date: $out/ipsec.ko"
else
	vm_log "building the KLIPS stand-in against $KBUILD"
	rm -rf "$out"
	mkdir -p "$out"
	cp "$src/ipsec.c" "$src/Kbuild" "$src/Makefile" "$out/"
	if ! timeout 600 make -s -C "$out" KDIR="$KBUILD" >"$out/build.log" 2>&1; then
		cat "$out/build.log" >&2
		vm_die "stand-in build failed"
	fi
	# Warnings are errors for our own module (kbuild's own notes excluded).
	if grep -E 'warning:' "$out/build.log" >&2; then
		vm_die "stand-in build produced warnings"
	fi
	[ -f "$out/ipsec.ko" ] || vm_die "stand-in build produced no ipsec.ko"
	modinfo -F vermagic "$out/ipsec.ko" | grep -q "^$KVER " ||
		vm_die "ipsec.ko vermagic does not match $KVER"
	printf '%s\n' "$key" >"$out/.key"
	vm_log "built $out/ipsec.ko"
fi

# --- the guest's helper programs (static, so they need nothing in the guest) ---
bin=$build/bin
mkdir -p "$bin"
for tool in pfkey-hold uevent-pause notify-watchdog modload-probe; do
	key=$(sha256sum "$VM_SRC_DIR/$tool.c" | cut -d' ' -f1)
	if [ -x "$bin/$tool" ] && [ "$(cat "$bin/.$tool.key" 2>/dev/null)" = "$key" ]; then
		vm_log "$tool up to date: $bin/$tool"
	else
		timeout 300 gcc -static -O2 -Wall -Wextra -Werror -o "$bin/$tool.tmp" "$VM_SRC_DIR/$tool.c"
		mv "$bin/$tool.tmp" "$bin/$tool"
		printf '%s\n' "$key" >"$bin/.$tool.key"
		vm_log "built $bin/$tool"
	fi
done
