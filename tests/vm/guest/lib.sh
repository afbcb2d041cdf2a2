# shellcheck shell=sh
# Assertions for busybox-sh scenarios in the qemu guest. Source it first:
#     . "$VM_LIB"
# Everything prints TAP-like lines to stdout, which the guest's /init has put
# on the result channel:
#     ok 3 - af_key is live
#     not ok 4 - ipsec is absent
#     #   diagnostics (commands, exit codes, output)
# and done_testing ends the scenario with exit status = number of failures.
#
#   check DESC CMD...                  pass when CMD exits 0
#   expect_rc N DESC CMD...            pass when CMD exits N; logs rc and output
#   expect_out_contains DESC TEXT CMD...
#                                      pass when CMD's stdout+stderr contains TEXT
#   expect_out_lacks DESC TEXT CMD...  pass when it does not
#   expect_last_out_contains DESC TEXT pass when the output of the previous
#                                      check/expect_*/run contains TEXT
#   expect_file PATH [DESC]            pass when PATH exists (file, dir or link)
#   expect_no_file PATH [DESC]         pass when it does not
#   run CMD...                         run and log CMD, its exit code and output;
#                                      returns CMD's exit code (never fails)
#   note TEXT                          a "# TEXT" line
#   fact KEY VALUE                     a "# FACT KEY: VALUE" line: an observed
#                                      behaviour that others rely on
#   dmesg_mark / dmesg_since           kernel log lines printed after the mark
#   module_state NAME                  live|coming|going|builtin|absent
#   module_is NAME STATE               exit 0 when module_state NAME is STATE
#   wait_for_text FILE TEXT [SECONDS]  wait (default 10 s) until FILE contains TEXT
#   expect_no_kernel_errors [DESC]     pass when dmesg has no BUG/Oops/WARNING/
#                                      Call Trace/panic line
#   done_testing                       print the plan and summary, exit
# After check/expect_*/run: VM_RC holds the exit code, VM_OUT the file that
# holds the output.

VM_T_N=0
VM_T_FAILED=0
VM_OUT=/tmp/vm-lib.out
VM_DMESG_MARK=0

note() { printf '# %s\n' "$*"; }

fact() {
	_k=$1
	shift
	printf '# FACT %s: %s\n' "$_k" "$*"
}

# _vm_indent FILE: print FILE as diagnostics.
_vm_indent() { sed 's/^/#   | /' "$1"; }

_vm_report() { # _vm_report OK(0|1) DESC
	VM_T_N=$((VM_T_N + 1))
	if [ "$1" = 0 ]; then
		printf 'ok %d - %s\n' "$VM_T_N" "$2"
	else
		VM_T_FAILED=$((VM_T_FAILED + 1))
		printf 'not ok %d - %s\n' "$VM_T_N" "$2"
	fi
}

# _vm_exec CMD...: run CMD with output to $VM_OUT, set VM_RC.
_vm_exec() {
	VM_RC=0
	"$@" >"$VM_OUT" 2>&1 || VM_RC=$?
}

run() {
	_vm_exec "$@"
	printf '#   $ %s  -> rc=%d\n' "$*" "$VM_RC"
	_vm_indent "$VM_OUT"
	return "$VM_RC"
}

check() {
	_d=$1
	shift
	_vm_exec "$@"
	if [ "$VM_RC" = 0 ]; then
		_vm_report 0 "$_d"
	else
		_vm_report 1 "$_d"
		printf '#   $ %s  -> rc=%d (expected 0)\n' "$*" "$VM_RC"
		_vm_indent "$VM_OUT"
	fi
}

expect_rc() {
	_want=$1
	_d=$2
	shift 2
	_vm_exec "$@"
	if [ "$VM_RC" = "$_want" ]; then
		_vm_report 0 "$_d"
	else
		_vm_report 1 "$_d"
	fi
	printf '#   $ %s  -> rc=%d (expected %s)\n' "$*" "$VM_RC" "$_want"
	_vm_indent "$VM_OUT"
}

expect_out_contains() {
	_d=$1
	_needle=$2
	shift 2
	_vm_exec "$@"
	if grep -qF -- "$_needle" "$VM_OUT"; then
		_vm_report 0 "$_d"
	else
		_vm_report 1 "$_d"
		printf '#   expected the output to contain: %s\n' "$_needle"
	fi
	printf '#   $ %s  -> rc=%d\n' "$*" "$VM_RC"
	_vm_indent "$VM_OUT"
}

expect_out_lacks() {
	_d=$1
	_needle=$2
	shift 2
	_vm_exec "$@"
	if grep -qF -- "$_needle" "$VM_OUT"; then
		_vm_report 1 "$_d"
		printf '#   expected the output NOT to contain: %s\n' "$_needle"
		_vm_indent "$VM_OUT"
	else
		_vm_report 0 "$_d"
	fi
}

expect_last_out_contains() {
	if grep -qF -- "$2" "$VM_OUT"; then
		_vm_report 0 "$1"
	else
		_vm_report 1 "$1"
		printf '#   expected the previous output to contain: %s\n' "$2"
	fi
}

expect_file() {
	if [ -e "$1" ] || [ -L "$1" ]; then
		_vm_report 0 "${2:-$1 exists}"
	else
		_vm_report 1 "${2:-$1 exists}"
		printf '#   %s does not exist\n' "$1"
	fi
}

expect_no_file() {
	if [ -e "$1" ] || [ -L "$1" ]; then
		_vm_report 1 "${2:-$1 does not exist}"
		printf '#   %s exists\n' "$1"
	else
		_vm_report 0 "${2:-$1 does not exist}"
	fi
}

dmesg_mark() { VM_DMESG_MARK=$(dmesg | wc -l); }

dmesg_since() { dmesg | sed -n "$((VM_DMESG_MARK + 1)),\$p"; }

module_state() {
	if [ -r "/sys/module/$1/initstate" ]; then
		cat "/sys/module/$1/initstate"
	elif [ -d "/sys/module/$1" ]; then
		echo builtin
	else
		echo absent
	fi
}

# module_is NAME STATE: exit 0 when module_state NAME prints STATE.
module_is() { [ "$(module_state "$1")" = "$2" ]; }

wait_for_text() {
	_i=0
	_limit=$((${3:-10} * 10))
	while [ "$_i" -lt "$_limit" ]; do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		_i=$((_i + 1))
	done
	return 1
}

expect_no_kernel_errors() {
	_d=${1:-the kernel log has no BUG, Oops, WARNING, Call Trace or panic}
	if dmesg | grep -E 'BUG:|Oops|WARNING:|Call Trace|Kernel panic|general protection' >"$VM_OUT"; then
		_vm_report 1 "$_d"
		_vm_indent "$VM_OUT"
	else
		_vm_report 0 "$_d"
	fi
}

done_testing() {
	printf '1..%d\n' "$VM_T_N"
	printf '# %d passed, %d failed\n' "$((VM_T_N - VM_T_FAILED))" "$VM_T_FAILED"
	[ "$VM_T_FAILED" -gt 127 ] && VM_T_FAILED=127
	exit "$VM_T_FAILED"
}
