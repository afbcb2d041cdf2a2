# shellcheck shell=bash
# Sourced by the packaging tests: messages, the paths CTest passes in, and small checks.
# CTest sets STACKMGR_SOURCE_DIR, STACKMGR_BUILD_DIR, STACKMGR_BINARY and PACKAGING_WORK_DIR.

set -euo pipefail

: "${STACKMGR_SOURCE_DIR:?set by CTest: the source tree}"
: "${STACKMGR_BUILD_DIR:?set by CTest: the build tree}"
: "${PACKAGING_WORK_DIR:?set by CTest: where the packaging tests keep their files}"

pkg_log() { printf 'packaging: %s\n' "$*" >&2; }
pkg_fail() {
	printf 'packaging: FAIL: %s\n' "$*" >&2
	exit 1
}
# CTest counts exit status 77 as "skipped" (SKIP_RETURN_CODE); the reason is printed.
pkg_skip() {
	printf 'packaging: SKIP: %s\n' "$*" >&2
	exit 77
}

# pkg_need_cmd CMD PACKAGE: fail, naming the package, when CMD is missing.
pkg_need_cmd() {
	command -v "$1" >/dev/null 2>&1 || pkg_fail "'$1' not found (install package $2; tests/install-deps.sh lists it)"
}

# pkg_expect_in TEXT NEEDLE WHAT: fail unless TEXT contains NEEDLE.
pkg_expect_in() {
	case $1 in
	*"$2"*) ;;
	*) pkg_fail "$3: expected to find '$2' in:"$'\n'"$1" ;;
	esac
}

# pkg_expect_not_in TEXT NEEDLE WHAT: fail when TEXT contains NEEDLE.
pkg_expect_not_in() {
	case $1 in
	*"$2"*) pkg_fail "$3: did not expect '$2' in:"$'\n'"$1" ;;
	*) ;;
	esac
}

# pkg_deb WHICH: the package built by packaging.deb_build (WHICH = v1, or v2 the upgrade).
pkg_deb() {
	local deb
	for deb in "$PACKAGING_WORK_DIR/debs/$1"/stackmgr_*.deb; do
		[ -f "$deb" ] && printf '%s\n' "$deb" && return 0
	done
	pkg_fail "no package in $PACKAGING_WORK_DIR/debs/$1: packaging.deb_build must run first"
}

# pkg_lock NAME: serialise the tests that share PACKAGING_WORK_DIR/NAME (ctest -j). The lock
# is held on fd 8 until the calling script exits.
pkg_lock() {
	mkdir -p "$PACKAGING_WORK_DIR"
	exec 8>"$PACKAGING_WORK_DIR/$1.lock"
	flock -w 1800 8 || pkg_fail "could not lock $PACKAGING_WORK_DIR/$1.lock within 30 minutes"
}
