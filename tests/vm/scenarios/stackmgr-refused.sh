#!/bin/sh
# Hosts where a switch must be refused, in one boot (tests/modules/real-kernel-scenarios.md, scenarios 9 and 10):
#   9. `blacklist esp4` in /etc/modprobe.d: detect reports esp4 as blacklisted, and
#      `switch native` is refused with that reason (exit 3), from no stack and from
#      KLIPS; nothing is force-loaded. Without the line, the same switch works.
#  10. modules_disabled=1 (set last: the kernel cannot undo it before a reboot):
#      every change is refused with that reason (exit 3) and the kernel is left as
#      it was; detect still works and says so.
set -u
# shellcheck source=../guest/lib.sh
. "$VM_LIB"
# shellcheck source=lib/stackmgr.sh
. /scenario/stackmgr.sh

BL=/etc/modprobe.d/blacklist-esp4.conf

note "=== 9. a blacklisted esp4"
echo 'blacklist esp4' >"$BL"
expect_rc 0 "detect exits 0" "$S" detect
cp "$VM_OUT" /tmp/detect-bl.txt
check "detect: esp4's state is blacklisted" grep -Eq '^esp4 +native +core +blacklisted ' /tmp/detect-bl.txt
check "detect: native is not loadable (unavailable)" grep -Eq '^native +unavailable' /tmp/detect-bl.txt
check "detect: the reason names the blacklist" grep -q "esp4 is blacklisted" /tmp/detect-bl.txt
stackmgr_json detect-bl detect
expect_json_module "json: esp4 state blacklisted" /tmp/detect-bl.json esp4 state blacklisted
expect_json_module "json: esp4 blacklisted true" /tmp/detect-bl.json esp4 blacklisted true
expect_json_module "json: af_key still available" /tmp/detect-bl.json af_key state available
expect_json "json: native verdict unavailable" /tmp/detect-bl.json stacks.native.verdict unavailable

expect_rc 3 "plan native exits 3 (refused)" "$S" plan native
expect_last_out_contains "... rule blacklisted" "rule blacklisted"
dmesg_mark
expect_rc 3 "switch native exits 3 (refused)" "$S" switch native
cp "$VM_OUT" /tmp/bl.out
check "it names the rule blacklisted" grep -q 'rule blacklisted' /tmp/bl.out
check "it names esp4" grep -q 'esp4 is blacklisted' /tmp/bl.out
check "it says nothing was changed" grep -q 'nothing was changed' /tmp/bl.out
check "no native module was loaded (nothing force-loaded)" none_loaded "$NATIVE_ALL"
expect_no_file /proc/net/pfkey "no /proc/net/pfkey"
dmesg_since >/tmp/dmesg-bl
check "the kernel log shows no PF_KEY registration" sh -c '! grep -q "Registered PF_KEY" /tmp/dmesg-bl'
stackmgr_json bl switch native
check "switch native --json exits 3" [ "$VM_RC" = 3 ]
expect_json "json: outcome refused" /tmp/bl.json outcome refused
expect_json "json: rule blacklisted" /tmp/bl.json refusal.rule blacklisted
expect_json "json: the refusal names esp4" /tmp/bl.json "refusal.modules[0]" esp4

note "--- from KLIPS: the way back to native is refused too, and KLIPS stays"
expect_rc 0 "switch klips exits 0 (esp4's blacklist does not concern KLIPS)" "$S" switch klips
check "ipsec is live" module_is ipsec live
expect_rc 3 "switch native exits 3 (refused)" "$S" switch native
expect_last_out_contains "... rule blacklisted" "rule blacklisted"
check "ipsec is still live" module_is ipsec live
expect_file "$GUARD" "the guard is still installed"
check "no native module was loaded" none_loaded "$NATIVE_ALL"
check "esp4 was not force-loaded" module_is esp4 absent

note "--- without the blacklist line the same switch works"
rm -f "$BL"
expect_rc 0 "switch native exits 0" "$S" switch native
check "af_key, esp4, ah4 are live" all_live "$NATIVE_CORE"
check "ipsec is gone" module_is ipsec absent

note "=== 10. modules_disabled=1"
state=$(loaded_modules)
check "echo 1 > /proc/sys/kernel/modules_disabled" sh -c 'echo 1 >/proc/sys/kernel/modules_disabled'
check "the kernel says modules_disabled = 1" grep -qx 1 /proc/sys/kernel/modules_disabled
expect_rc 1 "the kernel itself refuses: rmmod esp4 fails" /sbin/rmmod esp4
fact "rmmod esp4 with modules_disabled=1" "$(tr "\n" " " <"$VM_OUT")"
expect_rc 0 "detect still works (exit 0)" "$S" detect
cp "$VM_OUT" /tmp/detect-md.txt
check "detect: says modules_disabled yes" grep -q 'modules_disabled yes' /tmp/detect-md.txt
check "detect: native is still reported active" grep -Eq '^native +active' /tmp/detect-md.txt
stackmgr_json detect-md detect
expect_json "json: modules_disabled yes" /tmp/detect-md.json subsystem.modules_disabled yes
expect_json "json: can_change_modules false" /tmp/detect-md.json subsystem.can_change_modules false
expect_json "json: overall native" /tmp/detect-md.json overall native

expect_rc 3 "switch klips exits 3 (refused)" "$S" switch klips
cp "$VM_OUT" /tmp/md.out
check "it names the rule no_module_operations" grep -q 'rule no_module_operations' /tmp/md.out
check "it says module loading is disabled" grep -q 'modules_disabled' /tmp/md.out
check "nothing changed" [ "$(loaded_modules)" = "$state" ]
expect_no_file "$GUARD" "no guard was installed"
expect_rc 3 "plan klips exits 3 (refused, same reason)" "$S" plan klips
expect_last_out_contains "... rule no_module_operations" "rule no_module_operations"
stackmgr_json md switch klips
check "switch klips --json exits 3" [ "$VM_RC" = 3 ]
expect_json "json: rule no_module_operations" /tmp/md.json refusal.rule no_module_operations
expect_rc 3 "switch native --allow-ipcomp (a change: loads ipcomp) exits 3" "$S" switch native --allow-ipcomp
expect_last_out_contains "... rule no_module_operations" "rule no_module_operations"
expect_rc 0 "switch native, already there, is not a change: exit 0" "$S" switch native
expect_last_out_contains "... already there" "already there"
check "nothing changed" [ "$(loaded_modules)" = "$state" ]
check "the native stack is still live" all_live "$NATIVE_CORE"

expect_no_kernel_errors
done_testing
