#!/usr/bin/env bash
# Every shell script the package installs or runs is shellcheck-clean: the init script, the
# kernel hook, the maintainer scripts, the bash completion and these tests.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
pkg_need_cmd shellcheck shellcheck
cd "$STACKMGR_SOURCE_DIR" || pkg_fail "no source tree at $STACKMGR_SOURCE_DIR"
shellcheck -x packaging/stackmgr.init packaging/kernel-postinst.d/stackmgr \
	packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm tests/packaging/*.sh ||
	pkg_fail "shellcheck found problems (above)"
shellcheck -s bash packaging/stackmgr.bash-completion || pkg_fail "shellcheck found problems in the completion"
pkg_log "shellcheck: clean"
