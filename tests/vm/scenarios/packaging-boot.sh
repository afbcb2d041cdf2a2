#!/bin/sh
# The packaging boot check on the real kernel, in one boot, with the shipped files
# (packaging/stackmgr.init as /etc/init.d/stackmgr, packaging/kernel-postinst.d/stackmgr as
# /etc/kernel/postinst.d/zz-stackmgr):
#   a. sysvinit's boot: every /etc/rc2.d/S* script gets "start", as /etc/init.d/rc does;
#      the LSB script starts stackmgr, which makes the stack live and starts the daemon;
#   b. the LSB actions: status, restart, stop (the modules stay), status after stop;
#   c. the kernel hook: a kernel version without the modules warns and exits 0; the
#      running kernel, which has them, passes quietly.
set -u
# shellcheck source=../guest/lib.sh
. "$VM_LIB"
# shellcheck source=lib/stackmgr.sh
. /scenario/stackmgr.sh

INIT=/etc/init.d/stackmgr
HOOK=/etc/kernel/postinst.d/zz-stackmgr

install_standin_daemon 'default_stack = "native"'
mkdir -p /etc/rc2.d
# What update-rc.d does for Default-Start 2 3 4 5.
ln -s ../init.d/stackmgr /etc/rc2.d/S01stackmgr

# shellcheck disable=SC2317  # called through check
boot_runlevel_2() {
	for _s in /etc/rc2.d/S*; do "$_s" start || return $?; done
}

note "=== a. boot: the rc2.d start scripts"
check "the init script has LSB headers" grep -q '^### BEGIN INIT INFO' "$INIT"
check "nothing of either stack is loaded before boot" none_loaded "$NATIVE_ALL ipsec"
check "runlevel 2's start scripts succeed" boot_runlevel_2
check "the native stack is live" all_live "$NATIVE_CORE"
check "the KLIPS stand-in is not loaded" none_loaded ipsec
expect_rc 0 "stackmgr status: running" "$S" status
check "the stand-in daemon runs on native" daemon_stack_is native

note "=== b. the LSB actions"
expect_rc 0 "init script status: running (0)" "$INIT" status
expect_rc 0 "init script start again: already running (0)" "$INIT" start
expect_rc 0 "init script restart" "$INIT" restart
expect_rc 0 "running after restart" "$S" status
check "the daemon runs on native after restart" daemon_stack_is native
expect_rc 3 "init script reload is not implemented (3)" "$INIT" reload
expect_rc 2 "init script with a bad action: usage (2)" "$INIT" frobnicate
expect_rc 0 "init script stop" "$INIT" stop
expect_rc 3 "init script status after stop: not running (3)" "$INIT" status
check "stop leaves the modules loaded" all_live "$NATIVE_CORE"
expect_rc 0 "init script stop when stopped: still success (0)" "$INIT" stop

note "=== c. the kernel hook"
# A newly installed kernel whose module tree has no IPsec modules (an index, no modules).
NOMODS=6.1.0-999-nomods
mkdir -p "/lib/modules/$NOMODS"
: >"/lib/modules/$NOMODS/modules.order"
: >"/lib/modules/$NOMODS/modules.builtin"
# kmod's depmod by path: busybox sh would run its own applet, which writes no .bin index.
check "depmod indexes the empty kernel $NOMODS" /sbin/depmod "$NOMODS"
expect_rc 0 "the hook exits 0 for a kernel without the modules" "$HOOK" "$NOMODS" /boot/vmlinuz-"$NOMODS"
expect_last_out_contains "it warns loudly that the native stack's modules are missing" \
	"WARNING: kernel $NOMODS has no af_key, esp4, ah4 for the native stack"
expect_rc 0 "the hook exits 0 for the running kernel" "$HOOK" "$(uname -r)"
expect_last_out_contains "which has the native modules" "has the native stack's modules"
expect_out_lacks "and does not warn for it" "WARNING" "$HOOK" "$(uname -r)"

expect_no_kernel_errors
done_testing
