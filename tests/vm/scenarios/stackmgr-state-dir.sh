#!/bin/sh
# stackmgr's own directories on the real kernel, and what it says when the host refuses them:
#   a. a root without /var/lib (a minimal image, early boot): a switch makes state_dir and its
#      parents (it exited 1, "a bug", before);
#   b. state_dir on a read-only file system, c. on a full one, d. under a file: exit 15 (not 1),
#      the path and the errno in the message, and the kernel untouched;
#   e. run_dir = "/run", a shared directory: switch and start refuse it (exit 7) and never
#      chmod it (start used to make /run 0700, locking every non-root process out).
set -u
# shellcheck source=../guest/lib.sh
. "$VM_LIB"
# shellcheck source=lib/stackmgr.sh
. /scenario/stackmgr.sh

CONFIG=/etc/stackmgr/stackmgr.toml
# write_config LINE...: the config, one line each ("" for none: all defaults).
write_config() {
	mkdir -p /etc/stackmgr
	printf '%s\n' "$@" >"$CONFIG"
	chmod 0644 "$CONFIG"
}
mode_of() { stat -c %a "$1"; }
# shellcheck disable=SC2317  # called through check
not_() { ! "$@"; }

note "=== a. no /var/lib at all: switch native makes the state dir with its parents"
write_config ""
rm -rf /var/lib
expect_no_file /var/lib "the root has no /var/lib"
expect_rc 0 "stackmgr switch native" "$S" switch native --yes
check "the choice is recorded in /var/lib/stackmgr/stack" grep -qx native /var/lib/stackmgr/stack
check "/var/lib was made 0755" [ "$(mode_of /var/lib)" = 755 ]
check "/var/lib/stackmgr was made 0755" [ "$(mode_of /var/lib/stackmgr)" = 755 ]
check "/run/stackmgr was made 0700" [ "$(mode_of /run/stackmgr)" = 700 ]
check "af_key is live" module_is af_key live

note "=== b. state_dir on a read-only file system: exit 15, the path and EROFS"
mount -t tmpfs -o ro,mode=0755 tmpfs /var/lib
expect_rc 15 "stackmgr switch klips with /var/lib read-only" "$S" switch klips --yes
expect_last_out_contains "it names the directory" "/var/lib/stackmgr"
expect_last_out_contains "it says the errno" "Read-only file system (EROFS: the host's file system refused it"
expect_last_out_contains "it says nothing was changed" "nothing was changed"
check "the kernel is untouched: af_key live" module_is af_key live
check "ipsec is not loaded" not_ module_is ipsec live
umount /var/lib

note "=== c. state_dir on a full file system: exit 15 and ENOSPC"
mount -t tmpfs -o size=16k,mode=0755 tmpfs /var/lib
mkdir -m 0755 /var/lib/stackmgr
dd if=/dev/zero of=/var/lib/filler bs=4k count=64 2>/dev/null
expect_rc 15 "stackmgr switch klips with /var/lib full" "$S" switch klips --yes
expect_last_out_contains "it names the journal's directory" "/var/lib/stackmgr"
expect_last_out_contains "it says the errno" "No space left on device (ENOSPC"
check "the kernel is untouched: af_key live" module_is af_key live
umount /var/lib

note "=== d. state_dir under a file: its parent can never be made"
: >/run/blocker
write_config '[paths]' 'state_dir = "/run/blocker/stackmgr"'
expect_rc 15 "stackmgr switch klips" "$S" switch klips --yes
expect_last_out_contains "it names the path" "/run/blocker/stackmgr"
expect_last_out_contains "it says the errno" "Not a directory (ENOTDIR"
check "the kernel is untouched: af_key live" module_is af_key live

note "=== e. run_dir = /run: refused, never chmod'ed"
RUN_MODE=$(mode_of /run)
write_config '[paths]' 'run_dir = "/run"' '[daemon]' 'argv.native = []' 'argv.klips = []'
expect_rc 7 "stackmgr switch klips with run_dir = /run" "$S" switch klips --yes
expect_last_out_contains "it says why" "refusing to use /run as stackmgr's own directory (paths.run_dir): it exists with mode 0$RUN_MODE"
expect_rc 7 "stackmgr start with run_dir = /run" "$S" start
expect_last_out_contains "start says why" "Set paths.run_dir to a directory of its own, such as /run/stackmgr"
check "/run keeps its mode $RUN_MODE" [ "$(mode_of /run)" = "$RUN_MODE" ]
expect_no_file /run/stackmgr.pid "no pid file in /run"
check "the kernel is untouched: af_key live" module_is af_key live
expect_no_kernel_errors
done_testing
