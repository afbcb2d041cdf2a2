#!/usr/bin/env bash
# `stackmgr hook kernel-installed` on this host, with the real libkmod index of the installed
# Debian kernel: a stack whose modules that kernel lacks (KLIPS is out of tree) gets the loud
# warning, one it has gets a one-line confirmation, and every run exits 0.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
: "${STACKMGR_BINARY:?set by CTest: the stackmgr binary}"
[ "$(id -u)" -eq 0 ] || pkg_skip "needs root: stackmgr accepts only root-owned config files"

release=
for dir in /lib/modules/*/; do
	[ -f "$dir/modules.dep.bin" ] && release=$(basename "$dir") && break
done
[ -n "$release" ] || pkg_skip "no kernel with a module index in /lib/modules (package linux-image-amd64)"

dir=$(mktemp -d /tmp/stackmgr-kernel-hook.XXXXXX)
trap 'rm -rf "$dir"' EXIT
config() { # config NAME STACK: a config choosing STACK, with its state and run dirs in $dir
	printf 'stack = "%s"\n[paths]\nstate_dir = "%s/state"\nrun_dir = "%s/run"\nipsec_conf = "%s/ipsec.conf"\n' \
		"$2" "$dir" "$dir" "$dir" >"$dir/$1.toml"
	chmod 0644 "$dir/$1.toml"
}
hook() { # hook CONFIG RELEASE: run the hook, keep its output in $out, fail unless it exits 0
	local rc=0
	out=$("$STACKMGR_BINARY" --config "$dir/$1.toml" hook kernel-installed "$2" 2>&1) || rc=$?
	[ "$rc" -eq 0 ] || pkg_fail "the kernel hook exited $rc (it must always exit 0):"$'\n'"$out"
	printf '%s\n' "$out" | sed 's/^/    | /' >&2
}

config klips klips
hook klips "$release"
pkg_expect_in "$out" "WARNING: kernel $release has no ipsec for the klips stack" "KLIPS missing from $release"
pkg_expect_in "$out" "dkms autoinstall -k $release" "advice to rebuild KLIPS"

config native native
hook native "$release"
pkg_expect_in "$out" "kernel $release has the native stack's modules: af_key" "native modules of $release"
pkg_expect_not_in "$out" "WARNING" "native modules of $release"

hook native 6.1.0-0-not-installed
pkg_expect_in "$out" "WARNING: cannot check kernel 6.1.0-0-not-installed" "a kernel without a module index"

# The installed hook script passes its arguments on, and never fails the kernel install.
"$STACKMGR_SOURCE_DIR/packaging/kernel-postinst.d/stackmgr" "$release" /boot/vmlinuz-"$release" ||
	pkg_fail "packaging/kernel-postinst.d/stackmgr exited non-zero"
pkg_log "kernel hook: warns for klips on $release, confirms native, always exits 0"
