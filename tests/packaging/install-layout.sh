#!/usr/bin/env bash
# `DESTDIR=... cmake --install` puts exactly the expected files in FHS places under the build's
# configured prefix, with the right modes, and the unit and init script name the installed
# binary. (The Debian layout, prefix /usr with /lib/systemd/system, is checked on the .deb.)
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"

cache() { sed -n "s/^$1:[A-Z]*=//p" "$STACKMGR_BUILD_DIR/CMakeCache.txt"; }
prefix=$(cache CMAKE_INSTALL_PREFIX)
unit_dir=$(cache STACKMGR_SYSTEMD_UNIT_DIR)
completion_dir=$(cache STACKMGR_BASH_COMPLETION_DIR)
if [ -z "$prefix" ] || [ -z "$unit_dir" ] || [ -z "$completion_dir" ]; then
	pkg_fail "CMAKE_INSTALL_PREFIX, STACKMGR_SYSTEMD_UNIT_DIR or STACKMGR_BASH_COMPLETION_DIR missing from the cache"
fi
under_prefix() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$prefix" "$1" ;; esac; }
# GNUInstallDirs: the prefix /usr keeps its configuration in /etc.
if [ "$prefix" = /usr ]; then sysconf=/etc; else sysconf=$prefix/etc; fi

dest=$PACKAGING_WORK_DIR/install-layout
rm -rf "$dest"
DESTDIR=$dest cmake --install "$STACKMGR_BUILD_DIR" >"$PACKAGING_WORK_DIR/install-layout.log" ||
	pkg_fail "cmake --install failed; see $PACKAGING_WORK_DIR/install-layout.log"

declare -A want=(
	["$prefix/sbin/stackmgr"]=755
	["$(under_prefix "$unit_dir")/stackmgr.service"]=644
	["$sysconf/init.d/stackmgr"]=755
	["$sysconf/kernel/postinst.d/zz-stackmgr"]=755
	["$sysconf/stackmgr/stackmgr.toml"]=644
	["$prefix/share/man/man8/stackmgr.8"]=644
	["$(under_prefix "$completion_dir")/stackmgr"]=644
)
for path in "${!want[@]}"; do
	[ -f "$dest$path" ] || pkg_fail "cmake --install did not install $path"
	mode=$(stat -c %a "$dest$path")
	[ "$mode" = "${want[$path]}" ] || pkg_fail "$path has mode $mode, expected ${want[$path]}"
done
# Nothing else: every installed file is one of the above.
while IFS= read -r -d '' file; do
	path=${file#"$dest"}
	[ -n "${want[$path]+set}" ] || pkg_fail "cmake --install installed an unexpected file: $path"
done < <(find "$dest" -type f -print0)

# The unit and the init script run the binary where it was installed.
unit=$dest$(under_prefix "$unit_dir")/stackmgr.service
grep -qx "ExecStart=$prefix/sbin/stackmgr start" "$unit" || pkg_fail "$unit does not start $prefix/sbin/stackmgr"
grep -qx "ExecStop=$prefix/sbin/stackmgr stop" "$unit" || pkg_fail "$unit does not stop with $prefix/sbin/stackmgr"
grep -qx "DAEMON=$prefix/sbin/stackmgr" "$dest$sysconf/init.d/stackmgr" ||
	pkg_fail "the init script does not run $prefix/sbin/stackmgr"
"$dest$prefix/sbin/stackmgr" --version | grep -q '^stackmgr ' || pkg_fail "the installed binary does not run"
pkg_log "install layout under $prefix: ${#want[@]} files in place"
