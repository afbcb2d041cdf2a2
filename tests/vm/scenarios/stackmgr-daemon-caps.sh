#!/bin/sh
# Only stackmgr can load kernel code, on the real kernel: the keying daemon that `stackmgr
# start` runs is started without CAP_SYS_MODULE in its bounding set (daemon.drop_capabilities),
# so finit_module and init_module fail with EPERM in it, while the same program run by root
# directly loads the module, and stackmgr itself still loads the stack.
#   a. modload-probe as root, directly: both calls load dummy.ko;
#   b. modload-probe as the daemon of `stackmgr start` (manage mode, native): both EPERM, no
#      CAP_SYS_MODULE in its bounding set, and stackmgr loaded the native stack meanwhile;
#   c. the same with drop_capabilities = []: the daemon loads it (the drop is what matters).
set -u
# shellcheck source=../guest/lib.sh
. "$VM_LIB"
# shellcheck source=lib/stackmgr.sh
. /scenario/stackmgr.sh

PROBE=/usr/sbin/modload-probe
KO=$(/sbin/modinfo -n dummy)
CAP_SYS_MODULE=16

# probe_config DROP: a config whose daemon (both stacks) is modload-probe, and DROP as
# drop_capabilities when given.
probe_config() {
	mkdir -p /etc/stackmgr
	{
		printf 'stack = "native"\n[daemon]\n'
		printf 'argv.native = ["%s", "--stay", "%s", "dummy", "/tmp/daemon.report"]\n' "$PROBE" "$KO"
		printf 'argv.klips = ["%s", "--stay", "%s", "dummy", "/tmp/daemon.report"]\n' "$PROBE" "$KO"
		printf 'expect_notify = false\nstop_timeout = "5s"\n'
		[ $# -eq 0 ] || printf 'drop_capabilities = %s\n' "$1"
	} >/etc/stackmgr/stackmgr.toml
	chmod 0644 /etc/stackmgr/stackmgr.toml
}

# bounding_has PID BIT: the capability numbered BIT is in PID's bounding set.
# shellcheck disable=SC2317  # these are called through check
bounding_has() {
	_mask=$(sed -n 's/^CapBnd:[[:space:]]*//p' "/proc/$1/status")
	[ $(((0x$_mask >> $2) & 1)) = 1 ]
}
# shellcheck disable=SC2317
report_says() { grep -qx "$1" /tmp/daemon.report; }
# shellcheck disable=SC2317
not_() { ! "$@"; }

note "=== a. the probe as root, directly: it can load a module"
expect_file "$KO" "dummy.ko is in the guest ($KO)"
check "dummy is not loaded yet" not_ module_is dummy live
expect_rc 0 "modload-probe runs as root" "$PROBE" "$KO" dummy /tmp/direct.report
_vm_indent /tmp/direct.report
check "finit_module loads dummy as root" grep -qx "finit_module ok" /tmp/direct.report
check "init_module loads dummy as root" grep -qx "init_module ok" /tmp/direct.report
check "the probe unloaded it again" not_ module_is dummy live

note "=== b. the probe as stackmgr's daemon (default drop_capabilities)"
probe_config
rm -f /tmp/daemon.report
expect_rc 0 "stackmgr start --daemon is ready" "$S" start --daemon
check "the probe reported" wait_for_text /tmp/daemon.report "done" 20
_vm_indent /tmp/daemon.report
check "finit_module in the daemon: EPERM" report_says "finit_module EPERM (errno 1)"
check "init_module in the daemon: EPERM" report_says "init_module EPERM (errno 1)"
check "dummy was not loaded" not_ module_is dummy live
"$S" status --json >/tmp/status.json 2>/dev/null
DAEMON=$(json_get /tmp/status.json daemon.pid)
SUPERVISOR=$(json_get /tmp/status.json supervisor.pid)
note "daemon pid $DAEMON, supervisor pid $SUPERVISOR"
check "the daemon's bounding set lacks CAP_SYS_MODULE" not_ bounding_has "$DAEMON" $CAP_SYS_MODULE
check "the supervisor's bounding set has CAP_SYS_MODULE" bounding_has "$SUPERVISOR" $CAP_SYS_MODULE
check "stackmgr itself loaded the native stack (af_key live)" module_is af_key live
check "esp4 live" module_is esp4 live
fact "daemon CapBnd" "$(sed -n 's/^CapBnd:[[:space:]]*//p' "/proc/$DAEMON/status")"
expect_rc 0 "stackmgr stop" "$S" stop

note "=== c. with drop_capabilities = [] the same daemon can load it: the drop is what stops it"
probe_config '[]'
rm -f /tmp/daemon.report
expect_rc 0 "stackmgr start --daemon is ready" "$S" start --daemon
check "the probe reported" wait_for_text /tmp/daemon.report "done" 20
_vm_indent /tmp/daemon.report
check "finit_module in the daemon: ok" report_says "finit_module ok"
expect_rc 0 "stackmgr stop" "$S" stop
expect_no_kernel_errors
done_testing
