#!/usr/bin/env bash
# lintian on the built package: no errors, and every warning that remains is explained in
# docs/packaging.md (so a new one cannot slip in unexplained). Also checks the Debian layout
# and the package metadata a user relies on.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
pkg_need_cmd lintian lintian

deb=$(pkg_deb v1)

# Where Debian 12 wants each file, and nothing elsewhere.
contents=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's,^\.,,')
for path in /usr/sbin/stackmgr /lib/systemd/system/stackmgr.service /etc/init.d/stackmgr \
	/etc/kernel/postinst.d/zz-stackmgr /etc/stackmgr/stackmgr.toml /usr/share/man/man8/stackmgr.8.gz \
	/usr/share/bash-completion/completions/stackmgr /usr/share/doc/stackmgr/copyright \
	/usr/share/doc/stackmgr/changelog.gz; do
	grep -qx "$path" <<<"$contents" || pkg_fail "$deb does not contain $path; it contains:"$'\n'"$contents"
done
unexpected=$(grep -v -E '/$|^/(usr/sbin|lib/systemd/system|etc/init.d|etc/kernel/postinst.d|etc/stackmgr|usr/share/man/man8|usr/share/bash-completion/completions|usr/share/doc/stackmgr)/' <<<"$contents" || true)
[ -z "$unexpected" ] || pkg_fail "$deb contains files outside the expected places:"$'\n'"$unexpected"

conffiles=$(dpkg-deb -I "$deb" conffiles)
for path in /etc/init.d/stackmgr /etc/kernel/postinst.d/zz-stackmgr /etc/stackmgr/stackmgr.toml; do
	grep -qx "$path" <<<"$conffiles" || pkg_fail "$path is not a conffile; conffiles: $conffiles"
done
depends=$(dpkg-deb -f "$deb" Depends)
for library in libkmod2 libudev1 libcap2 libc6 libstdc++6; do
	pkg_expect_in "$depends" "$library" "Depends (from shlibs)"
done

# --fail-on error: errors fail; warnings are listed and must be explained.
out=$(lintian --fail-on error --display-level '>=warning' --tag-display-limit 0 "$deb" 2>&1) ||
	pkg_fail "lintian found errors:"$'\n'"$out"
printf '%s\n' "$out"
docs=$STACKMGR_SOURCE_DIR/docs/packaging.md
while read -r tag; do
	[ -n "$tag" ] || continue
	grep -q -- "$tag" "$docs" || pkg_fail "lintian warning '$tag' is not explained in docs/packaging.md"
done < <(sed -n 's/^W: [^:]*: \([a-z0-9-]*\).*/\1/p' <<<"$out" | sort -u)
pkg_log "lintian: no errors; $(grep -c '^W:' <<<"$out" || true) warning(s), each explained in docs/packaging.md"
