#!/usr/bin/env bash
# The .deb's stackmgr carries none of the power-cut test's pause points: they exist only in the
# test binary stackmgr-pause-points (stackmgr/base/pause_point.hpp). The search is
# tests/pause_points/check-binaries.sh, shown to work on the test binary when the build has one.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
pkg_need_cmd dpkg-deb dpkg

deb=$(pkg_deb v1)
tree=$PACKAGING_WORK_DIR/no-pause-points
rm -rf "$tree"
dpkg-deb -x "$deb" "$tree" || pkg_fail "dpkg-deb -x $deb failed"
args=(--without "$tree/usr/sbin/stackmgr")
control=$STACKMGR_BUILD_DIR/stackmgr/stackmgr-pause-points
[ -x "$control" ] && args+=(--with "$control")
"$STACKMGR_SOURCE_DIR/tests/pause_points/check-binaries.sh" "${args[@]}" ||
	pkg_fail "the package's /usr/sbin/stackmgr and the test binary are not as they must be (above)"
rm -rf "$tree"
pkg_log "$(basename "$deb"): /usr/sbin/stackmgr carries no pause point"
