# shellcheck shell=bash
# Sourced by the packaging tests: messages, the paths CTest passes in, and small checks.
# CTest sets STACKMGR_SOURCE_DIR, STACKMGR_BUILD_DIR, STACKMGR_BINARY and PACKAGING_WORK_DIR.

set -euo pipefail

: "${STACKMGR_SOURCE_DIR:?set by CTest: the source tree}"
: "${STACKMGR_BUILD_DIR:?set by CTest: the build tree}"
: "${PACKAGING_WORK_DIR:?set by CTest: where the packaging tests keep their files}"

# PKG_LOG_PREFIX names the caller in messages (the e2e scripts source this file too).
pkg_log() { printf '%s: %s\n' "${PKG_LOG_PREFIX:-packaging}" "$*" >&2; }
pkg_fail() {
	printf '%s: FAIL: %s\n' "${PKG_LOG_PREFIX:-packaging}" "$*" >&2
	exit 1
}
# CTest counts exit status 77 as "skipped" (SKIP_RETURN_CODE); the reason is printed.
pkg_skip() {
	printf '%s: SKIP: %s\n' "${PKG_LOG_PREFIX:-packaging}" "$*" >&2
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

# pkg_debian_mirror SUITE: the Debian mirror this host's apt uses for SUITE/main
# ($STACKMGR_DEBIAN_MIRROR overrides), so debootstrap reaches what apt-get reaches.
pkg_debian_mirror() {
	local mirror=${STACKMGR_DEBIAN_MIRROR:-$(apt-cache policy 2>/dev/null | awk -v s="$1/main" '$3 == s {print $2; exit}')}
	printf '%s\n' "${mirror:-http://deb.debian.org/debian}"
}

# pkg_real_package NAME: NAME, or for a virtual package (libspdlog1.10-fmt9, provided by
# libspdlog1.10) its first provider in this host's (Debian 12) apt cache: debootstrap --include
# takes real packages only.
pkg_real_package() {
	if [ "$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')" = "(none)" ]; then
		apt-cache showpkg "$1" | awk '/^Reverse Provides:/ {p = 1; next} p && NF {print $1; exit}'
	else
		printf '%s\n' "$1"
	fi
}

# pkg_depends_of DEB...: the Depends of the packages (first alternative, no version
# constraints) as real package names, sorted, one a line.
pkg_depends_of() {
	local deb
	for deb; do dpkg-deb -f "$deb" Depends; done | tr ',' '\n' |
		sed 's/|.*//; s/(.*)//; s/[[:space:]]//g' | grep -v '^$' | sort -u |
		while read -r name; do pkg_real_package "$name"; done | sort -u
}

# pkg_debootstrap_cached CACHE SUITE MIRROR VARIANT INCLUDES: print the path of a debootstrapped
# root (VARIANT, plus the comma-separated INCLUDES) kept in CACHE/<key>, the key being a hash of
# every argument; only a new key runs debootstrap (and drops the roots of other keys). Call with
# a lock held on CACHE.
pkg_debootstrap_cached() {
	local cache=$1 suite=$2 mirror=$3 variant=$4 includes=$5 key base
	key=$(printf '%s\n' "$suite" "$mirror" "$variant" "$includes" | sha256sum | cut -c1-16)
	base=$cache/$key
	if [ ! -d "$base" ]; then
		pkg_log "debootstrap $suite ($variant + $includes) from $mirror into $base (cached for later runs)"
		rm -rf "$cache" && mkdir -p "$cache"
		debootstrap --variant="$variant" --include="$includes" "$suite" "$base.tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
			pkg_fail "debootstrap failed; the end of $cache/debootstrap.log:"$'\n'"$(tail -n 30 "$cache/debootstrap.log")"
		mv "$base.tmp" "$base"
	fi
	printf '%s\n' "$base"
}
