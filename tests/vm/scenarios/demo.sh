#!/bin/sh
# The README's main job, narrated, in one boot of a real Debian kernel (run by
# tests/vm/demo.sh; CTest runs it too as vm.demo). It prints stackmgr's real output
# under short headings:
#   1. what the kernel has: `stackmgr detect`
#   2. `stackmgr switch native`
#   3. `stackmgr switch klips`: the native modules go first, then KLIPS
#      (here the test stand-in module `ipsec`: it leaves KLIPS's footprint, it is not KLIPS)
#   4. an unsafe load, refused: another program loads esp4 while stackmgr is
#      switching to KLIPS; loading KLIPS then would have crashed a 2.6 kernel
#   5. back to native, and the final state
# Each step is also checked on the kernel itself; the exit status is the number of
# checks that failed (0: everything happened as told).
set -u
# shellcheck source=../guest/lib.sh
. "$VM_LIB"
# shellcheck source=lib/stackmgr.sh
. /scenario/stackmgr.sh

FAILED=0
heading() { printf '\n==== %s\n' "$*"; }
say() { printf '%s\n' "$*"; }

# show CMD...: print "$ CMD", run it, print its output; DEMO_RC is its exit status.
show() {
	printf '\n$ %s\n' "$(echo "$*" | sed 's|/usr/sbin/||; s|/sbin/||')"
	DEMO_RC=0
	"$@" >/tmp/demo.out 2>&1 || DEMO_RC=$?
	cat /tmp/demo.out
	[ "$DEMO_RC" = 0 ] || printf '(exit status %d)\n' "$DEMO_RC"
}

# expect DESC CMD...: a check on the kernel; silent when it holds.
expect() {
	_d=$1
	shift
	if ! "$@" >/dev/null 2>&1; then
		printf '!! DEMO CHECK FAILED: %s\n' "$_d"
		FAILED=$((FAILED + 1))
	fi
}
expect_status() { expect "$2: exit status $1 (got $DEMO_RC)" [ "$DEMO_RC" = "$1" ]; }
in_kernel() { loaded_modules | grep -xE 'af_key|esp4|ah4|ipsec' | tr '\n' ' '; }

say "stackmgr demo: Debian's kernel $KVER under qemu; stackmgr is /usr/sbin/stackmgr."
say "The KLIPS module here is a test stand-in named 'ipsec': it registers PF_KEY, claims"
say "the ESP and AH handlers and creates ipsec0 and /proc/net/ipsec/*, as KLIPS did."

heading "1. What does the kernel have?"
show "$S" detect
expect_status 0 "detect"
expect "no IPsec module is loaded yet" none_loaded "$NATIVE_ALL ipsec"

heading "2. Switch to the native stack (af_key, esp4, ah4)"
show "$S" switch native
expect_status 0 "switch native"
expect "af_key, esp4, ah4 are live" all_live "$NATIVE_CORE"
expect "/proc/net/pfkey exists" test -e /proc/net/pfkey
say "In the kernel now: $(in_kernel)"

heading "3. Switch to KLIPS: the native modules are unloaded first"
show "$S" plan klips
expect_status 0 "plan klips"
show "$S" switch klips
expect_status 0 "switch klips"
expect "ipsec is live" module_is ipsec live
expect "no native module is left" none_loaded "$NATIVE_ALL"
expect "ipsec0 exists" test -e /sys/class/net/ipsec0
expect "the autoload guard is installed" test -e "$GUARD"
say "In the kernel now: $(in_kernel); KLIPS's interface: $(cd /sys/class/net && echo ipsec*)"
show cat /proc/net/ipsec/version
say "The autoload guard keeps af_key out while KLIPS is chosen:"
show cat "$GUARD"

heading "4. An unsafe load, refused"
say "Back to native first, then try KLIPS again; this time another program (an old"
say "setup script, say) loads esp4 again while stackmgr is between its unloads and"
say "the KLIPS load. stackmgr re-checks the kernel before every load."
show "$S" switch native
expect_status 0 "switch native"
say ""
"$S" plan klips >/tmp/plan.out 2>&1
# The module the plan unloads right after esp4: stackmgr is stopped inside its unload.
pause_at=$(sed -n 's/^ *[0-9][0-9]*\. unload \([A-Za-z0-9_]*\) .*/\1/p' /tmp/plan.out | grep -A1 -x esp4 | sed -n 2p)
expect "the plan unloads another module after esp4" test -n "$pause_at"
say ""
say "(uevent-pause stops stackmgr just after it unloaded esp4 and then $pause_at; 'modprobe esp4'"
say " runs behind its back, ignoring stackmgr's guard; then stackmgr continues.)"
rm -f /tmp/demo.pid
/usr/sbin/uevent-pause --pid-file /tmp/demo.pid "remove@/module/$pause_at" -- "$S" switch klips \
	>/tmp/race.out 2>/tmp/race.err &
up=$!
i=0
while [ ! -s /tmp/demo.pid ] && [ "$i" -lt 600 ] && kill -0 "$up" 2>/dev/null; do
	sleep 0.1
	i=$((i + 1))
done
expect "stackmgr was stopped mid-switch" test -s /tmp/demo.pid
dmesg_mark
if [ -s /tmp/demo.pid ]; then
	show /sbin/modprobe --ignore-install esp4
	kill -CONT "$(cat /tmp/demo.pid)"
fi
DEMO_RC=0
wait "$up" || DEMO_RC=$?
printf '\n$ stackmgr switch klips   (the one that was stopped)\n'
cat /tmp/race.out
grep -v '^uevent-pause:' /tmp/race.err
printf '(exit status %d)\n' "$DEMO_RC"
expect_status 3 "the racing switch klips is refused"
expect "it names the rule klips_over_native" grep -q 'rule klips_over_native' /tmp/race.out
expect "ipsec was never loaded" module_is ipsec absent
expect "the kernel log shows KLIPS's init never ran" sh -c '! dmesg | tail -n +$(($1 + 1)) | grep -q "KLIPS test stand-in"' - "$VM_DMESG_MARK"
expect "rolled back to a working native stack" all_live "$NATIVE_CORE"
say "(the long 'unload $pause_at' is the time stackmgr stood stopped)"
say ""
say "The kernel log since then: af_key's reload in the rollback, no sign of a KLIPS load:"
printf '\n$ dmesg   (lines since the racing switch was stopped)\n'
dmesg_since

heading "5. Back where we started: the native stack"
show "$S" switch native
expect_status 0 "switch native (already there)"
show "$S" detect
expect_status 0 "detect"
expect "native is active" all_live "$NATIVE_CORE"
expect "ipsec is not loaded" module_is ipsec absent
expect "no kernel errors" sh -c '! dmesg | grep -qE "BUG:|Oops|WARNING:|Call Trace|Kernel panic"'

if [ "$FAILED" = 0 ]; then
	heading "demo finished: every step happened as shown"
else
	heading "demo FAILED: $FAILED check(s) did not hold (see '!!' above)"
fi
exit "$FAILED"
