# shellcheck shell=bash
# Sourced, not run. The one place that decides which kernel the qemu suite uses.
#
# KVER is what the Debian metapackage linux-image-amd64 currently depends on
# (e.g. "linux-image-6.1.0-56-amd64 (= 6.1.192-2)" gives 6.1.0-56-amd64); no
# ABI number is written down anywhere else. After vm_kernel_init these are set:
#   KVER      kernel release, as `uname -r` prints it inside the guest
#   KIMAGE    /boot/vmlinuz-$KVER
#   KMODDIR   /lib/modules/$KVER
#   KBUILD    kbuild tree for out-of-tree modules (/lib/modules/$KVER/build or
#             /usr/src/linux-headers-$KVER)

# vm_kernel_release: print the release linux-image-amd64 depends on, or fail.
vm_kernel_release() {
	local deps dep name
	if ! deps=$(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null) || [ -z "$deps" ]; then
		echo "kernel.sh: the package linux-image-amd64 is not installed (run tests/vm/setup-host.sh)" >&2
		return 1
	fi
	# Depends is a comma-separated list; take the first linux-image-* entry.
	local IFS=','
	for dep in $deps; do
		name=${dep# }
		name=${name%% *}
		case $name in
		linux-image-*)
			printf '%s\n' "${name#linux-image-}"
			return 0
			;;
		esac
	done
	echo "kernel.sh: linux-image-amd64 depends on no linux-image-* package (Depends: $deps)" >&2
	return 1
}

# vm_kernel_init [--need-headers]: set KVER KIMAGE KMODDIR KBUILD; fail (with a
# message saying what is missing) when the image or the module tree is absent,
# and with --need-headers also when the kbuild tree is absent.
vm_kernel_init() {
	KVER=$(vm_kernel_release) || return 1
	KIMAGE=/boot/vmlinuz-$KVER
	KMODDIR=/lib/modules/$KVER
	KBUILD=
	if [ -f "$KMODDIR/build/Makefile" ]; then
		KBUILD=$KMODDIR/build
	elif [ -f "/usr/src/linux-headers-$KVER/Makefile" ]; then
		KBUILD=/usr/src/linux-headers-$KVER
	fi
	if [ ! -r "$KIMAGE" ]; then
		echo "kernel.sh: kernel image $KIMAGE is missing or unreadable (package linux-image-$KVER)" >&2
		return 1
	fi
	if [ ! -f "$KMODDIR/modules.order" ]; then
		echo "kernel.sh: module tree $KMODDIR is missing (package linux-image-$KVER)" >&2
		return 1
	fi
	if [ "${1:-}" = --need-headers ] && [ -z "$KBUILD" ]; then
		echo "kernel.sh: no kbuild tree for $KVER (install linux-headers-amd64, which must match linux-image-amd64)" >&2
		return 1
	fi
	export KVER KIMAGE KMODDIR KBUILD
}
