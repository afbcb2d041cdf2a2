#!/bin/sh
# stackmgr on the real kernel, the everyday path, in one boot (tests/modules/real-kernel-scenarios.md, scenarios 1, 2, 3,
# 7 and 4, in that order):
#   1. a clean kernel: detect shows both stacks loadable and none active;
#   2. `switch native` loads and verifies af_key/esp4/ah4 and its helpers;
#   3. `switch klips` unloads them first, then loads ipsec, and installs the guard;
#   7. the autoload guard: with KLIPS chosen, opening PF_KEY does not pull af_key
#      in; the control case shows that without the guard it would;
#   4. `switch native` again: the reverse.
# Every step is judged on what stackmgr says (output, exit code, JSON) and on the
# kernel itself (/proc/modules, /sys/module, /proc/net, /sys/class/net, dmesg).
set -u
# shellcheck source=../guest/lib.sh
. "$VM_LIB"
# shellcheck source=lib/stackmgr.sh
. /scenario/stackmgr.sh

PH=/usr/sbin/pfkey-hold

note "=== 1. a clean kernel: both stacks loadable, none active"
check "clean boot: no native module is loaded" none_loaded "$NATIVE_ALL"
check "clean boot: ipsec is not loaded" module_is ipsec absent
expect_rc 0 "stackmgr detect exits 0" "$S" detect
cp "$VM_OUT" /tmp/detect0.txt
check "detect: overall none" grep -q '^Overall: none' /tmp/detect0.txt
check "detect: native is loadable" grep -Eq '^native +loadable' /tmp/detect0.txt
check "detect: klips is loadable" grep -Eq '^klips +loadable' /tmp/detect0.txt
check "detect: af_key is listed as available" grep -Eq '^af_key +native +core +available' /tmp/detect0.txt
check "detect: ipsec is listed as available" grep -Eq '^ipsec +klips +core +available' /tmp/detect0.txt
check "detect: the guard is not installed" grep -Eq 'autoload guard +not installed' /tmp/detect0.txt
stackmgr_json detect0 detect
check "detect --json exits 0" [ "$VM_RC" = 0 ]
expect_json "json: schema stackmgr.detect/1" /tmp/detect0.json schema stackmgr.detect/1
expect_json "json: overall none" /tmp/detect0.json overall none
expect_json "json: native verdict loadable" /tmp/detect0.json stacks.native.verdict loadable
expect_json "json: klips verdict loadable" /tmp/detect0.json stacks.klips.verdict loadable
expect_json "json: modules can be changed" /tmp/detect0.json subsystem.can_change_modules true
expect_json "json: modules_disabled no" /tmp/detect0.json subsystem.modules_disabled no
expect_json "json: kernel release is the booted one" /tmp/detect0.json subsystem.kernel_release "$KVER"
for m in af_key esp4 ah4; do
	expect_json_module "json: $m available" /tmp/detect0.json "$m" state available
done
expect_json_module "json: ipsec available" /tmp/detect0.json ipsec state available
expect_json_module "json: ipsec's path is the stand-in" /tmp/detect0.json ipsec path "$STANDIN_KO"
expect_json "json: no /proc/net/pfkey" /tmp/detect0.json markers.proc_net_pfkey false
expect_json "json: no /proc/net/ipsec/version" /tmp/detect0.json markers.ipsec_version false
expect_json "json: no ipsecN interface" /tmp/detect0.json markers.ipsec_interfaces "[]"
expect_json "json: no guard" /tmp/detect0.json markers.guard_installed false
check "detect changed nothing in the kernel" none_loaded "$NATIVE_ALL" ipsec

note "=== 2. switch native: af_key, esp4, ah4 (and helpers) loaded and verified"
expect_rc 0 "stackmgr plan native exits 0" "$S" plan native
expect_last_out_contains "plan: says it changed nothing" "dry run: nothing was changed"
check "plan loaded nothing" none_loaded "$NATIVE_ALL"
dmesg_mark
expect_rc 0 "stackmgr switch native exits 0" "$S" switch native
cp "$VM_OUT" /tmp/switch-native.out
expect_last_out_contains "switch says done" "done: switched to the native stack"
for m in af_key esp4 ah4; do
	check "switch shows 'load $m ... ok' with its time" grep -Eq "load $m +ok \([0-9.]+ m?s\): live \(verified\)" /tmp/switch-native.out
	check "$m is live (/sys/module/$m/initstate)" module_is "$m" live
	check "$m is in /proc/modules" grep -q "^$m .* Live " /proc/modules
done
for m in xfrm_user xfrm4_tunnel esp6 ah6 xfrm6_tunnel; do
	check "helper $m is live" module_is "$m" live
done
check "ipcomp was left out (insecure on the native stack)" none_loaded ipcomp ipcomp6
expect_file /proc/net/pfkey "/proc/net/pfkey is present"
expect_no_file "$GUARD" "no autoload guard with native chosen"
expect_out_contains "dmesg: af_key registered PF_KEY" "NET: Registered PF_KEY protocol family" dmesg_since
expect_rc 0 "pfkey-hold open: af_key serves PF_KEY" "$PH" open
stackmgr_json detect1 detect
check "detect --json exits 0" [ "$VM_RC" = 0 ]
expect_json "detect agrees: overall native" /tmp/detect1.json overall native
expect_json "detect agrees: native active" /tmp/detect1.json stacks.native.verdict active
expect_json "detect agrees: klips loadable" /tmp/detect1.json stacks.klips.verdict loadable
for m in af_key esp4 ah4; do
	expect_json_module "detect agrees: $m live" /tmp/detect1.json "$m" state live
done
expect_json "detect agrees: /proc/net/pfkey" /tmp/detect1.json markers.proc_net_pfkey true
snapshot_native=$(loaded_modules)
expect_rc 0 "switch native again exits 0" "$S" switch native
expect_last_out_contains "... and says it is already there" "already there"
check "... and changed nothing" [ "$(loaded_modules)" = "$snapshot_native" ]

note "=== 3. switch klips: native unloaded first, in order, then ipsec"
expect_rc 0 "stackmgr plan klips exits 0" "$S" plan klips
cp "$VM_OUT" /tmp/plan-klips.out
first_load=$(line_of /tmp/plan-klips.out "load ipsec")
check "plan: loads ipsec" [ "$first_load" -gt 0 ]
for m in af_key esp4 ah4; do
	n=$(line_of /tmp/plan-klips.out "unload $m ")
	check "plan: unloads $m before it loads ipsec" before "$n" "$first_load"
done
n=$(line_of /tmp/plan-klips.out "set autoload guard")
check "plan: sets the guard before it unloads anything" before "$n" "$(line_of /tmp/plan-klips.out "unload ")"
check "plan changed nothing" [ "$(loaded_modules)" = "$snapshot_native" ]
dmesg_mark
expect_rc 0 "stackmgr switch klips exits 0" "$S" switch klips
cp "$VM_OUT" /tmp/switch-klips.out
expect_last_out_contains "switch says done" "done: switched to KLIPS"
for m in esp4 ah4 af_key; do
	check "switch: 'unload $m' came before 'load ipsec'" \
		before "$(line_of /tmp/switch-klips.out "unload $m ")" "$(line_of /tmp/switch-klips.out "load ipsec ")"
done
check "switch: ipsec was verified live" grep -Eq 'load ipsec +ok \([0-9.]+ m?s\): live \(verified\)' /tmp/switch-klips.out
check "no native module is left loaded" none_loaded "$NATIVE_ALL"
check "ipsec is live" module_is ipsec live
expect_file /sys/class/net/ipsec0 "ipsec0 exists (/sys/class/net/ipsec0)"
check "/proc/net/ipsec/version is FreeS/WAN's" grep -q "FreeS/WAN version" /proc/net/ipsec/version
expect_file /proc/net/ipsec_eroute "/proc/net/ipsec_eroute exists"
expect_no_file /proc/net/pfkey "/proc/net/pfkey is gone (af_key unloaded)"
expect_file "$GUARD" "the autoload guard is in /run/modprobe.d"
check "the guard blocks af_key" grep -q '^install af_key /bin/false' "$GUARD"
check "the guard blocks esp4" grep -q '^install esp4 ' "$GUARD"
check "the guard blocks ah4" grep -q '^install ah4 ' "$GUARD"
dmesg_since >/tmp/dmesg-klips
unreg=$(line_of /tmp/dmesg-klips "NET: Unregistered PF_KEY protocol family")
standin=$(line_of /tmp/dmesg-klips "stackmgr KLIPS test stand-in")
check "dmesg: af_key gave PF_KEY up before the stand-in's init ran" before "$unreg" "$standin"
expect_out_lacks "dmesg: the stand-in never failed to register PF_KEY" "cannot register the PF_KEY" cat /tmp/dmesg-klips
expect_out_lacks "dmesg: the stand-in never failed to claim ESP/AH" "cannot claim IPv4 protocol" cat /tmp/dmesg-klips
stackmgr_json detect2 detect
expect_json "detect agrees: overall klips" /tmp/detect2.json overall klips
expect_json "detect agrees: klips active" /tmp/detect2.json stacks.klips.verdict active
expect_json "detect agrees: ipsec0" /tmp/detect2.json "markers.ipsec_interfaces[0]" ipsec0
expect_json "detect agrees: guard installed" /tmp/detect2.json markers.guard_installed true
expect_json_module "detect: af_key is guarded" /tmp/detect2.json af_key guarded true

note "=== 7. the autoload guard"
snapshot_klips=$(loaded_modules)
expect_rc 0 "KLIPS live: pfkey-hold open gets the stand-in's PF_KEY" "$PH" open
check "... and af_key stays out" module_is af_key absent
check "... /proc/modules unchanged" [ "$(loaded_modules)" = "$snapshot_klips" ]
note "KLIPS chosen but not loaded (ipsec removed by hand): only the guard stands between PF_KEY and af_key"
expect_rc 0 "rmmod ipsec (out of band)" /sbin/rmmod ipsec
expect_file "$GUARD" "the guard is still there"
before=$(loaded_modules)
expect_rc 2 "pfkey-hold open fails (EAFNOSUPPORT): nothing provides PF_KEY" "$PH" open
expect_last_out_contains "... with EAFNOSUPPORT" "EAFNOSUPPORT"
check "the guard kept af_key out" module_is af_key absent
check "no native module was pulled in" none_loaded "$NATIVE_ALL"
after=$(loaded_modules)
added=$(printf '%s\n' "$after" | grep -vxF "$(printf '%s\n' "$before")" | tr '\n' ' ')
fact "modules added by the blocked autoload" "${added:-none}"
check "at most af_key's dependency xfrm_algo came in (kmod loads it before the install command)" \
	sh -c '[ -z "$1" ] || [ "$1" = "xfrm_algo " ]' - "$added"
note "control case: the same without the guard"
rm -f "$GUARD"
expect_rc 0 "without the guard, pfkey-hold open succeeds" "$PH" open
check "... because the kernel autoloaded af_key" module_is af_key live
fact "autoload without the guard" "af_key $(module_state af_key)"
run /sbin/modprobe -r af_key
check "af_key unloaded again" module_is af_key absent
note "back to KLIPS through stackmgr: it puts the guard back"
expect_rc 0 "switch klips exits 0" "$S" switch klips
check "ipsec is live again" module_is ipsec live
expect_file "$GUARD" "the guard is back"
run /sbin/modprobe -r xfrm_algo

note "=== 4. switch native again: the reverse"
dmesg_mark
expect_rc 0 "stackmgr switch native exits 0" "$S" switch native
expect_last_out_contains "switch says done" "done: switched to the native stack"
cp "$VM_OUT" /tmp/switch-native2.out
check "the switch unloaded ipsec before it loaded af_key" \
	before "$(line_of /tmp/switch-native2.out "unload ipsec")" "$(line_of /tmp/switch-native2.out "load af_key")"
check "ipsec is gone" module_is ipsec absent
expect_no_file /sys/class/net/ipsec0 "ipsec0 is gone"
expect_no_file /proc/net/ipsec "/proc/net/ipsec is gone"
expect_no_file /proc/net/ipsec_version "/proc/net/ipsec_version is gone"
expect_no_file "$GUARD" "the guard is removed"
check "af_key, esp4, ah4 are live" all_live af_key esp4 ah4
expect_file /proc/net/pfkey "/proc/net/pfkey is back"
dmesg_since >/tmp/dmesg-native
unreg=$(line_of /tmp/dmesg-native "NET: Unregistered PF_KEY protocol family")
reg=$(line_of /tmp/dmesg-native "NET: Registered PF_KEY protocol family")
check "dmesg: the stand-in gave PF_KEY up before af_key registered it" before "$unreg" "$reg"
expect_out_lacks "dmesg: no esp4/ah4 'can't add protocol' (they were loaded after ipsec left)" "can't add protocol" cat /tmp/dmesg-native
stackmgr_json detect3 detect
expect_json "detect agrees: overall native" /tmp/detect3.json overall native
expect_json "detect agrees: guard gone" /tmp/detect3.json markers.guard_installed false
expect_rc 0 "pfkey-hold open: af_key serves PF_KEY" "$PH" open

expect_no_kernel_errors
done_testing
