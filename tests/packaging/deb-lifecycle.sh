#!/usr/bin/env bash
# The package's life in a throwaway Debian 12 root (debootstrap minbase plus exactly the
# package's Depends): apt install, kernel hook, upgrade to the rebuilt higher version, remove,
# purge. No init system runs there: a policy-rc.d logs every invoke-rc.d request and allows or
# denies it, which is how the test sees what the maintainer scripts asked for.
# The base root is cached in PACKAGING_WORK_DIR/debootstrap/<key>, keyed by suite, mirror and
# the package list, so only the first run downloads anything.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
pkg_need_cmd debootstrap debootstrap
[ "$(id -u)" -eq 0 ] || pkg_skip "needs root (debootstrap, chroot, mount)"

v1=$(pkg_deb v1)
v2=$(pkg_deb v2)
v1_version=$(dpkg-deb -f "$v1" Version)
v2_version=$(dpkg-deb -f "$v2" Version)

# --- the cached base root ---------------------------------------------------------------
suite=bookworm
mirror=$(pkg_debian_mirror "$suite")
# The Depends of both versions.
includes=$(pkg_depends_of "$v1" "$v2" | paste -sd, -)
[ -n "$includes" ] || pkg_fail "no Depends found in $v1"
pkg_lock debootstrap
base=$(pkg_debootstrap_cached "$PACKAGING_WORK_DIR/debootstrap" "$suite" "$mirror" minbase "$includes")

# --- a fresh copy for this run --------------------------------------------------------------
root=$PACKAGING_WORK_DIR/lifecycle-root
cleanup() {
	local mount
	# Unmount everything under the root before anything is deleted.
	while read -r mount; do umount -l "$mount" 2>/dev/null || true; done < <(awk -v r="$root/" 'index($2, r) == 1 {print $2}' /proc/self/mounts | sort -r)
	if awk -v r="$root/" 'index($2, r) == 1 {found=1} END {exit !found}' /proc/self/mounts; then
		pkg_log "not removing $root: something is still mounted under it"
		return
	fi
	[ -n "${STACKMGR_KEEP_ROOT:-}" ] || rm -rf "$root"
}
trap cleanup EXIT
cleanup
cp -a "$base" "$root"
mount -t proc proc "$root/proc"
mkdir -p "$root/run/lock"

# policy-rc.d: log each request; the verdict file says 0 (allow) or 101 (deny).
cat >"$root/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh
echo "$*" >>/var/log/policy-rc.d.calls
exit "$(cat /etc/policy-rc.d.verdict)"
EOF
chmod 0755 "$root/usr/sbin/policy-rc.d"
policy() { echo "$1" >"$root/etc/policy-rc.d.verdict"; : >"$root/var/log/policy-rc.d.calls"; }
policy_calls() { cat "$root/var/log/policy-rc.d.calls"; }

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
# step NAME CMD...: run CMD in the root, keep its output in $out, fail the test if it fails.
step() {
	local name=$1
	shift
	pkg_log "$name"
	if ! out=$(in_root "$@" 2>&1); then
		pkg_fail "$name failed:"$'\n'"$out"
	fi
	printf '%s\n' "$out" | sed 's/^/    | /' >&2
}
# shellcheck disable=SC2016 # dpkg-query's own ${field} syntax
status_of() { in_root dpkg-query -W -f='${db:Status-Abbrev}${Version}' stackmgr 2>/dev/null || true; }
cp "$v1" "$v2" "$root/tmp/"

# --- install ----------------------------------------------------------------------------
policy 101
step "apt install ./$(basename "$v1")" apt-get install -y --no-install-recommends "/tmp/$(basename "$v1")"
pkg_expect_in "$out" "installed and enabled at boot, but not started now" "postinst on a fresh install"
[ "$(status_of)" = "ii $v1_version" ] || pkg_fail "after install dpkg says '$(status_of)'"
[ -z "$(policy_calls)" ] || pkg_fail "a fresh install asked invoke-rc.d for: $(policy_calls)"
ls "$root"/etc/rc2.d/S??stackmgr >/dev/null 2>&1 || pkg_fail "update-rc.d did not enable /etc/init.d/stackmgr at boot"
[ -L "$root/etc/systemd/system/multi-user.target.wants/stackmgr.service" ] ||
	pkg_fail "deb-systemd-helper did not enable stackmgr.service"
step "the installed binary runs (its libraries came with Depends)" stackmgr --version
# shellcheck disable=SC2016 # dpkg-query's own ${field} syntax
conffiles=$(in_root dpkg-query -W -f='${Conffiles}\n' stackmgr)
for path in /etc/init.d/stackmgr /etc/kernel/postinst.d/zz-stackmgr /etc/stackmgr/stackmgr.toml; do
	pkg_expect_in "$conffiles" " $path " "conffiles after install"
done
step "the init script's status action (LSB: 3 = not running)" sh -c '/etc/init.d/stackmgr status; [ $? -eq 3 ]'

# --- the kernel hook --------------------------------------------------------------------
# A kernel whose module index lacks the stack's modules: depmod of an empty modules dir.
release=6.1.0-99-nomodules
mkdir -p "$root/lib/modules/$release"
: >"$root/lib/modules/$release/modules.builtin"
: >"$root/lib/modules/$release/modules.order"
depmod -b "$root" "$release" || pkg_fail "depmod -b $root $release failed"
step "kernel hook for $release (no IPsec modules)" /etc/kernel/postinst.d/zz-stackmgr "$release" "/boot/vmlinuz-$release"
pkg_expect_in "$out" "WARNING: kernel $release has no af_key, esp4, ah4 for the native stack" "kernel hook warning"
step "kernel hook for a kernel that is not installed" /etc/kernel/postinst.d/zz-stackmgr 6.1.0-98-absent
pkg_expect_in "$out" "WARNING: cannot check kernel 6.1.0-98-absent" "kernel hook without a module index"
step "kernel hook with a release that is not a name" /etc/kernel/postinst.d/zz-stackmgr "../../etc"
pkg_expect_in "$out" "not a kernel release name" "kernel hook refusing a path"

# --- upgrade while stopped ----------------------------------------------------------------
policy 0
step "apt install ./$(basename "$v2") (upgrade; supervisor stopped)" \
	apt-get install -y --no-install-recommends "/tmp/$(basename "$v2")"
pkg_expect_in "$out" "the supervisor was not running; it stays stopped" "postinst on an upgrade of a stopped supervisor"
[ "$(status_of)" = "ii $v2_version" ] || pkg_fail "after the upgrade dpkg says '$(status_of)'"
[ -z "$(policy_calls)" ] || pkg_fail "upgrading a stopped supervisor asked invoke-rc.d for: $(policy_calls)"

# --- remove -----------------------------------------------------------------------------
mkdir -p "$root/var/lib/stackmgr" "$root/run/stackmgr"
echo native >"$root/var/lib/stackmgr/stack"
echo '{}' >"$root/var/lib/stackmgr/journal"
step "apt remove stackmgr" apt-get remove -y stackmgr
pkg_expect_in "$out" "the supervisor is not running" "prerm remove"
# What it says depends on this kernel: modules loaded (they stay), none loaded, or no module
# support at all (this build host's kernel); each is a statement that nothing is unloaded.
case $out in
*"removing stackmgr unloads nothing"* | *"nothing is left in the kernel"* | *"there is nothing to unload"*) ;;
*) pkg_fail "prerm remove did not say what happens to the kernel's modules:"$'\n'"$out" ;;
esac
case $(status_of) in rc*) ;; *) pkg_fail "after remove dpkg says '$(status_of)', expected rc (config files left)" ;; esac
[ -f "$root/etc/stackmgr/stackmgr.toml" ] || pkg_fail "remove deleted the conffile /etc/stackmgr/stackmgr.toml"
[ ! -x "$root/etc/init.d/stackmgr" ] || pkg_fail "/etc/init.d/stackmgr is still executable after remove"
[ ! -e "$root/usr/sbin/stackmgr" ] || pkg_fail "/usr/sbin/stackmgr is still there after remove"
[ -f "$root/var/lib/stackmgr/journal" ] || pkg_fail "remove deleted the state in /var/lib/stackmgr (purge's job)"
step "the kernel hook of a removed package does nothing" /etc/kernel/postinst.d/zz-stackmgr "$release"
[ -z "$out" ] || pkg_fail "the leftover kernel hook printed: $out"

# --- purge ------------------------------------------------------------------------------
step "apt purge stackmgr" apt-get purge -y stackmgr
[ -z "$(status_of)" ] || case $(status_of) in pn*) ;; *) pkg_fail "after purge dpkg says '$(status_of)'" ;; esac
for path in /var/lib/stackmgr /run/stackmgr /etc/stackmgr /etc/init.d/stackmgr /etc/kernel/postinst.d/zz-stackmgr \
	/etc/systemd/system/multi-user.target.wants/stackmgr.service /usr/share/doc/stackmgr; do
	if [ -e "$root$path" ] || [ -L "$root$path" ]; then pkg_fail "$path is left after purge"; fi
done
leftover_links=$(find "$root"/etc/rc?.d -name '*stackmgr' 2>/dev/null)
[ -z "$leftover_links" ] || pkg_fail "rc.d links left after purge: $leftover_links"
leftover_state=$(find "$root/var/lib/systemd/deb-systemd-helper-enabled" -name '*stackmgr*' 2>/dev/null)
[ -z "$leftover_state" ] || pkg_fail "deb-systemd-helper state left after purge: $leftover_state"
# Every file either version shipped is gone.
for deb in "$v1" "$v2"; do
	while read -r path; do
		[ ! -e "$root$path" ] || pkg_fail "$path (from $(basename "$deb")) is left after purge"
	done < <(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $6}' | sed 's,^\.,,')
done
pkg_log "install, kernel hook, upgrade, remove and purge behaved; nothing is left"
