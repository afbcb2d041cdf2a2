#!/usr/bin/env bash
# The installed systemd unit passes `systemd-analyze verify` (its binary exists in the
# installed tree, its directives parse), keeps the capabilities module loading and XFRM need,
# and is Type=notify with the watchdog, ordered after the network. Its exposure, as
# `systemd-analyze security` rates it offline, is printed and must stay at most 5.5.
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
# CAP_SETPCAP: stackmgr drops daemon.drop_capabilities from the daemon's bounding set.
for cap in CAP_SYS_MODULE CAP_SETPCAP CAP_NET_ADMIN CAP_NET_BIND_SERVICE; do
	pkg_expect_in " $caps " " $cap " "CapabilityBoundingSet= must keep $cap"
done
families=$(value RestrictAddressFamilies)
for family in AF_NETLINK AF_UNIX AF_INET AF_KEY; do
	pkg_expect_in " $families " " $family " "RestrictAddressFamilies= must allow $family"
done
# These would silently take away module loading, /proc/sys/net writes, /proc/modules, or
# (untested against real daemons under systemd) kill or starve the keying daemon.
for directive in ProtectKernelModules ProtectKernelTunables PrivateDevices SystemCallFilter \
	MemoryDenyWriteExecute ProcSubset; do
	[ -z "$(value "$directive")" ] || pkg_fail "$directive= is set; docs/packaging.md explains why it must not be"
done
# With the tree read-only, what stackmgr writes must stay writable: run_dir and the autoload
# guard (/run), the state_dir (/var/lib).
if [ "$(value ProtectSystem)" = strict ]; then
	writable=$(value ReadWritePaths)
	for path in /run /var/lib; do
		pkg_expect_in " $writable " " $path " "ProtectSystem=strict needs ReadWritePaths= $path"
	done
fi
pkg_expect_in " $(value RestartPreventExitStatus) " " 15 " \
	"RestartPreventExitStatus= (a file system that refuses stackmgr's files needs the admin)"

# The exposure score: systemd-analyze security rates the hardening offline ("-> Overall
# exposure level for stackmgr.service: 5.4 MEDIUM"). docs/packaging.md explains what is left.
if ! report=$(systemd-analyze security --offline=true --root="$root" "$unit" 2>&1); then
	pkg_fail "systemd-analyze security failed:"$'\n'"$report"
fi
printf '%s\n' "$report" >&2
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9]*\.[0-9]\).*/\1/p' <<<"$report")
[ -n "$score" ] || pkg_fail "no exposure score in the output of systemd-analyze security"
awk -v score="$score" 'BEGIN { exit !(score <= 5.5) }' ||
	pkg_fail "the unit's exposure is $score, above 5.5: tighten packaging/stackmgr.service (docs/packaging.md)"
pkg_log "systemd unit $unit verified; exposure $score"
