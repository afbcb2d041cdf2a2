#!/bin/bash
# Install what the qemu suite needs on the host, idempotently: when every
# package is already installed, apt is not touched at all.
set -eu -o pipefail

PACKAGES=(
	qemu-system-x86     # qemu-system-x86_64
	linux-image-amd64   # the guest kernel and its modules
	linux-headers-amd64 # kbuild tree for the KLIPS stand-in
	busybox-static      # the guest userland
	kmod                # modprobe/insmod/rmmod/depmod for host and guest
	cpio                # initramfs archives
	iproute2            # ip, copied into the guest
	gcc                 # the stand-in module and pfkey-hold
	make
	libc6-dev # static libc for pfkey-hold
	binutils   # readelf: finds the PVH entry of the extracted vmlinux
	xz-utils   # unpacks the vmlinux from Debian's xz bzImage
	coreutils
	util-linux # flock
)

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	case $status in
	ii*) ;;
	*) missing+=("$p") ;;
	esac
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "setup-host: all ${#PACKAGES[@]} packages already installed"
	exit 0
fi

echo "setup-host: installing: ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
	echo "setup-host: FAIL: need root to install ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
timeout 900 apt-get update
timeout 1800 apt-get install -y --no-install-recommends "${missing[@]}"
