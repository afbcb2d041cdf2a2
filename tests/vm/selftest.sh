#!/bin/bash
# Self-test of the qemu harness: it must report failures, crashes and hangs
# instead of passing. Three boots:
#   selftest/fail-two.sh  two failing assertions -> run-guest.sh exits 2, and
#                         arguments, --env and --file reach the guest
#   selftest/panic.sh     kernel panic           -> exits 125, prints the console
#   selftest/hang.sh      never ends             -> exits 124 at --timeout
#   and, on the host, a half-written pause line is not taken for a whole one
# Usage: selftest.sh [--build-dir DIR]
set -eu -o pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"

build=$(vm_default_build_dir)
if [ "${1:-}" = --build-dir ]; then
	build=$2
fi
mkdir -p "$build"
build=$(cd "$build" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# forget_logs FILE: the failures here are deliberate; drop the run dirs kept.
forget_logs() {
	local d
	d=$(sed -n 's/^# vm: logs kept in //p' "$1")
	case $d in "$build"/runs/*) rm -rf "$d" ;; esac
}

expect() { # expect DESC WANT_RC GOT_RC
	if [ "$2" = "$3" ]; then
		echo "ok - $1 (exit $3)"
	else
		echo "not ok - $1 (exit $3, expected $2)"
		failures=$((failures + 1))
	fi
}
expect_grep() { # expect_grep DESC TEXT FILE
	if grep -qF -- "$2" "$3"; then
		echo "ok - $1"
	else
		echo "not ok - $1: no '$2' in the output"
		failures=$((failures + 1))
	fi
}

echo "selftest: payload" >"$tmp/payload"
rc=0
"$here/run-guest.sh" --build-dir "$build" --timeout 120 \
	--env 'SELFTEST_VALUE=x y' --file "$tmp/payload=/etc/selftest-file" \
	"$here/selftest/fail-two.sh" 'a b' "it's" >"$tmp/fail.out" 2>&1 || rc=$?
sed 's/^/  | /' "$tmp/fail.out"
forget_logs "$tmp/fail.out"
expect "two failed assertions give exit status 2" 2 "$rc"
expect_grep "TAP: a failing check is 'not ok'" "not ok 2 - fails on purpose (1)" "$tmp/fail.out"
expect_grep "TAP: the plan line" "1..8" "$tmp/fail.out"
expect_grep "arguments with spaces and quotes arrive" "ok 5 - arguments arrive intact" "$tmp/fail.out"
expect_grep "--env arrives" "ok 6 - --env arrives" "$tmp/fail.out"
expect_grep "--file arrives" "ok 7 - --file arrives" "$tmp/fail.out"

rc=0
"$here/run-guest.sh" --build-dir "$build" --timeout 120 "$here/selftest/panic.sh" >"$tmp/panic.out" 2>&1 || rc=$?
sed 's/^/  | /' "$tmp/panic.out" | tail -n 15
forget_logs "$tmp/panic.out"
expect "a kernel panic fails the run with 125" 125 "$rc"
expect_grep "the panic is reported from the console" "Kernel panic" "$tmp/panic.out"

rc=0
"$here/run-guest.sh" --build-dir "$build" --timeout 45 "$here/selftest/hang.sh" >"$tmp/hang.out" 2>&1 || rc=$?
sed 's/^/  | /' "$tmp/hang.out" | tail -n 5
forget_logs "$tmp/hang.out"
expect "a hanging scenario fails the run with 124" 124 "$rc"
expect_grep "the timeout is named" "TIMEOUT" "$tmp/hang.out"
expect_grep "partial scenario output is still shown" "about to hang" "$tmp/hang.out"

# The power cut waits for the whole pause line: the serial port delivers it a byte at a time.
printf 'ok 1 - before\r\n# PAUSED switch.ste' >"$tmp/half.log"
rc=0
vm_first_whole_line '# PAUSED ' "$tmp/half.log" >/dev/null || rc=$?
expect "half a pause line is not a pause" 1 "$rc"
printf 'p-started#4 insert esp4\r\n' >>"$tmp/half.log"
rc=0
line=$(vm_first_whole_line '# PAUSED ' "$tmp/half.log") || rc=$?
expect "the whole pause line is one" 0 "$rc"
printf '%s\n' "$line" | tr -d '\r' >"$tmp/half.line"
expect_grep "the pause line arrives whole" "# PAUSED switch.step-started#4 insert esp4" "$tmp/half.line"

echo "selftest: $failures failure(s)"
[ "$failures" = 0 ]
