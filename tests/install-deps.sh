#!/usr/bin/env bash
# Installs every Debian package that building and testing stackmgr needs. Idempotent: when all
# are installed it does nothing (no apt-get update), so repeated runs cost a dpkg-query.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config ccache git
  libkmod-dev libudev-dev libmnl-dev libcap-dev
  libcli11-dev libspdlog-dev nlohmann-json3-dev libtomlplusplus-dev
  googletest libgtest-dev libgmock-dev
  # lint and sanitizers
  clang clang-format clang-tidy libclang-rt-14-dev shellcheck
  # the real-kernel suite (qemu)
  qemu-system-x86 linux-image-amd64 linux-headers-amd64 busybox-static kmod cpio
  # the keying daemon and kernel state tools
  libreswan libnss3-tools iproute2
  # the real-daemon tests (tests/stackmgr/pluto): JSON checks, unshare/setpriv, pgrep
  jq util-linux procps
  # packaging: the .deb, lintian, the debootstrapped root, the unit, man page and completion
  debhelper dpkg-dev fakeroot lintian debootstrap systemd man-db bash-completion python3
  # the e2e system test: the disk image (mke2fs -d), NSS dbs, the driver, qcow2 overlays
  e2fsprogs libnss3-tools python3 qemu-utils
  # doctor: iptables-save for the ipsecN firewall-rule check on the real host
  iptables
)

missing=()
for package in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$package")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root to install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
