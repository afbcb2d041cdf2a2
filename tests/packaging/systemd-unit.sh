#!/usr/bin/env bash
# The installed systemd unit passes `systemd-analyze verify` (its binary exists in the
# installed tree, its directives parse), keeps the capabilities module loading and XFRM need,
# and is Type=notify with the watchdog, ordered after the network.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
pkg_need_cmd systemd-analyze systemd

cache() { sed -n "s/^$1:[A-Z]*=//p" "$STACKMGR_BUILD_DIR/CMakeCache.txt"; }
prefix=$(cache CMAKE_INSTALL_PREFIX)
unit_dir=$(cache STACKMGR_SYSTEMD_UNIT_DIR)
case $unit_dir in /*) ;; *) unit_dir=$prefix/$unit_dir ;; esac

root=$PACKAGING_WORK_DIR/systemd-unit-root
rm -rf "$root"
DESTDIR=$root cmake --install "$STACKMGR_BUILD_DIR" >/dev/null || pkg_fail "cmake --install failed"
unit=$root$unit_dir/stackmgr.service
# The units it names (network-online.target, sysinit.target...) come from the host's systemd.
mkdir -p "$root/usr/lib/systemd"
cp -a /lib/systemd/system "$root/usr/lib/systemd/"

# --root resolves ExecStart= inside the installed tree; the man page is checked on its own
# (packaging.man_page), since systemd-analyze would look for it on the host.
if ! out=$(systemd-analyze verify --man=no --root="$root" "$unit" 2>&1); then
	pkg_fail "systemd-analyze verify $unit:"$'\n'"$out"
fi
[ -z "$out" ] || pkg_fail "systemd-analyze verify printed warnings:"$'\n'"$out"

value() { sed -n "s/^$1=//p" "$unit"; }
[ "$(value Type)" = notify ] || pkg_fail "Type= is not notify"
[ "$(value NotifyAccess)" = main ] || pkg_fail "NotifyAccess= is not main"
[ -n "$(value WatchdogSec)" ] || pkg_fail "no WatchdogSec="
pkg_expect_in "$(value After)" network-online.target "After="
pkg_expect_in "$(value Wants)" network-online.target "Wants="
caps=$(value CapabilityBoundingSet)
for cap in CAP_SYS_MODULE CAP_NET_ADMIN CAP_NET_BIND_SERVICE; do
	pkg_expect_in " $caps " " $cap " "CapabilityBoundingSet= must keep $cap"
done
families=$(value RestrictAddressFamilies)
for family in AF_NETLINK AF_UNIX AF_INET AF_KEY; do
	pkg_expect_in " $families " " $family " "RestrictAddressFamilies= must allow $family"
done
# These would silently take away module loading or /proc/sys/net writes.
for directive in ProtectKernelModules ProtectKernelTunables PrivateDevices SystemCallFilter; do
	[ -z "$(value "$directive")" ] || pkg_fail "$directive= is set; docs/packaging.md explains why it must not be"
done

# The exposure score, for the log (systemd-analyze security rates hardening offline).
systemd-analyze security --offline=true --root="$root" "$unit" 2>/dev/null | tail -n 1 || true
pkg_log "systemd unit $unit verified"
