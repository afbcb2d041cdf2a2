#!/usr/bin/env bash
# Builds the Debian package once with dpkg-buildpackage from packaging/debian (the version in
# debian/changelog), then re-packs it with a higher version: the upgrade the life-cycle test
# installs over the first. Leaves PACKAGING_WORK_DIR/debs/{v1,v2}/stackmgr_*.deb.
# It compiles nothing new after tests/run-all.sh's build: see deb-compile-env.sh.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
for cmd in dpkg-buildpackage:dpkg-dev dh:debhelper fakeroot:fakeroot; do pkg_need_cmd "${cmd%%:*}" "${cmd#*:}"; done
pkg_lock deb

version=$(dpkg-parsechangelog -l "$STACKMGR_SOURCE_DIR/packaging/debian/changelog" -S Version)
project_version=$(sed -n 's/^project(stackmgr VERSION \([0-9.]*\).*/\1/p' "$STACKMGR_SOURCE_DIR/CMakeLists.txt")
[ "${version%%[+~-]*}" = "$project_version" ] ||
	pkg_fail "debian/changelog says $version, CMakeLists.txt says $project_version: add a changelog entry"
upgrade_version=$version+upgradetest1

stage=$PACKAGING_WORK_DIR/deb-stage
src=$stage/stackmgr-$project_version
debs=$PACKAGING_WORK_DIR/debs
rm -rf "$stage" "$debs"
mkdir -p "$src" "$debs/v1" "$debs/v2"

# The source: what git knows (tracked and new, not ignored), or the whole tree without build dirs.
if git -C "$STACKMGR_SOURCE_DIR" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git -C "$STACKMGR_SOURCE_DIR" ls-files -z --cached --others --exclude-standard |
		(cd "$STACKMGR_SOURCE_DIR" && while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done) |
		tar -C "$STACKMGR_SOURCE_DIR" --null -T - -cf - | tar -C "$src" -xf -
else
	tar -C "$STACKMGR_SOURCE_DIR" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$src" -xf -
fi
cp -a "$src/packaging/debian" "$src/debian"

DEB_BUILD_OPTIONS="nocheck parallel=2"
export DEB_BUILD_OPTIONS
# debhelper points HOME at a scratch dir; keep ccache's real cache.
CCACHE_DIR=${CCACHE_DIR:-$(ccache -k cache_dir 2>/dev/null || echo "$HOME/.cache/ccache")}
export CCACHE_DIR
# The compiles of tests/run-all.sh's build: every object is a ccache hit when that build ran.
# shellcheck source=tests/packaging/deb-compile-env.sh
. "$(dirname "$0")/deb-compile-env.sh"
deb_compile_env "$src"

build() { # build LOG: binary-only, unsigned, from $src
	(cd "$src" && dpkg-buildpackage -us -uc -b "${@:2}") >"$1" 2>&1 ||
		pkg_fail "dpkg-buildpackage failed; the end of $1:"$'\n'"$(tail -n 40 "$1")"
}

pkg_log "building stackmgr $version"
build "$PACKAGING_WORK_DIR/deb-build-v1.log"
mv "$stage"/stackmgr_"$version"_*.deb "$debs/v1/"

# The upgrade: the same package re-packed with a higher version (dpkg-deb -R, the Version in
# DEBIAN/control and a changelog entry bumped, dpkg-deb -b). A second dpkg-buildpackage would
# compile and install the whole project again; the maintainer scripts and files that the
# upgrade exercises are the same either way (docs/packaging.md, "The upgrade test").
pkg_log "re-packing stackmgr $upgrade_version (the upgrade)"
tree=$stage/upgrade-tree
rm -rf "$tree"
dpkg-deb -R "$debs"/v1/stackmgr_"$version"_*.deb "$tree"
sed -i "s/^Version: .*/Version: $upgrade_version/" "$tree/DEBIAN/control"
changelog=$tree/usr/share/doc/stackmgr/changelog.gz
{
	printf 'stackmgr (%s) unstable; urgency=medium\n\n  * Re-packed by tests/packaging to test upgrades.\n\n' "$upgrade_version"
	printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -l "$src/debian/changelog" -S Maintainer)" "$(date -R)"
	gzip -dc "$changelog"
} | gzip -9n >"$changelog.new"
mv "$changelog.new" "$changelog"
# DEBIAN/md5sums must match the changed changelog.
(cd "$tree" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
arch=$(dpkg-deb -f "$debs"/v1/stackmgr_"$version"_*.deb Architecture)
dpkg-deb --root-owner-group -b "$tree" "$debs/v2/stackmgr_${upgrade_version}_$arch.deb" >/dev/null ||
	pkg_fail "dpkg-deb -b $tree failed"
rm -rf "$tree"

for deb in "$debs"/v1/*.deb "$debs"/v2/*.deb; do
	pkg_log "built $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version): Depends: $(dpkg-deb -f "$deb" Depends)"
done
