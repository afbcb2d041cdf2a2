#!/bin/sh
# The silent-success trap on the real kernel (tests/modules/real-kernel-scenarios.md, scenario 6): a conflicting load
# that modprobe reports as success must be reported by stackmgr as a failure.
#
# How the conflict gets past stackmgr's rules: ip_vti (VTI tunnels, what Libreswan's
# vti-interface= uses) registers the IPv4 ESP and AH handlers through xfrm4_protocol,
# exactly as esp4 does, but it is not in stackmgr's native module list (the catalog).
# With ip_vti loaded, no catalog module is live and /proc/net/pfkey is absent, so every
# rule allows the KLIPS insert; the kernel then refuses it: the stand-in's init cannot
# claim protocol 50 and fails with -EEXIST, which plain `modprobe ipsec` reports as
# success (exit 0, nothing loaded). stackmgr must see that ipsec is not live, fail the
# switch and roll back to the stack it started from.
#
# Also here: xfrm_interface pulls in xfrm6_tunnel (a native helper) and holds it, so
# the plan to KLIPS is refused at once (rule busy_module), naming xfrm_interface.
set -u
# shellcheck source=../guest/lib.sh
. "$VM_LIB"
# shellcheck source=lib/stackmgr.sh
. /scenario/stackmgr.sh

M=/sbin/modprobe

note "=== baseline: what plain modprobe does"
expect_rc 0 "modprobe ip_vti" "$M" ip_vti
check "ip_vti is live" module_is ip_vti live
dmesg_mark
expect_rc 0 "modprobe ipsec exits 0 (!)" "$M" ipsec
fact "modprobe ipsec with ip_vti loaded" "exit $VM_RC, ipsec $(module_state ipsec)"
check "... yet ipsec is not loaded" module_is ipsec absent
expect_out_contains "dmesg: the kernel refused it: ESP (50) is taken" "cannot claim IPv4 protocol 50 (ESP)" dmesg_since
expect_rc 0 "modprobe -r ip_vti" "$M" -r ip_vti

note "=== stackmgr: native first, then ip_vti behind its back, then switch klips"
expect_rc 0 "switch native exits 0" "$S" switch native
check "af_key, esp4, ah4 are live" all_live "$NATIVE_CORE"
expect_rc 0 "modprobe ip_vti (out of band)" "$M" ip_vti
start_state=$(loaded_modules)
stackmgr_json detect-vti detect
check "precondition: ip_vti is not in stackmgr's module list (else the rules would see it)" \
	sh -c '! grep -q "\"ip_vti\"" /tmp/detect-vti.json'
expect_rc 0 "plan klips: the rules allow it (exit 0)" "$S" plan klips
expect_last_out_contains "... the plan ends by loading ipsec" "load ipsec"
dmesg_mark
expect_rc 4 "switch klips exits 4 (failed, rolled back)" "$S" switch klips
cp "$VM_OUT" /tmp/silent.out
check "it reports the ipsec load as failed, not ok" grep -Eq 'load ipsec +failed' /tmp/silent.out
check "it never claims success" sh -c '! grep -q "done: switched" /tmp/silent.out'
check "it says it rolled back" grep -q 'rolled back: the host is back where it was' /tmp/silent.out
check "ipsec is not loaded" module_is ipsec absent
expect_no_file /sys/class/net/ipsec0 "no ipsec0"
expect_out_contains "dmesg: the kernel refused the stand-in (-EEXIST on ESP)" \
	"ipsec: stand-in: init failed with error -17" dmesg_since
check "rolled back: af_key, esp4, ah4 are live" all_live "$NATIVE_CORE"
check "rolled back: the same modules as before" [ "$(loaded_modules)" = "$start_state" ]
expect_no_file "$GUARD" "rolled back: no guard"
expect_file /proc/net/pfkey "/proc/net/pfkey is back"
expect_rc 0 "the native stack works: PF_KEY opens" /usr/sbin/pfkey-hold open

note "--- the same through --json"
stackmgr_json silent switch klips
check "switch klips --json exits 4" [ "$VM_RC" = 4 ]
expect_json "json: outcome rolled_back" /tmp/silent.json outcome rolled_back
expect_json "json: exit_code 4" /tmp/silent.json exit_code 4
check "json: a failure message is given" json_get /tmp/silent.json failure.message
json_flat /tmp/silent.json >/tmp/silent.flat
check "json: the insert of ipsec is recorded as failed" awk -F '\t' '
	$1 ~ /^records\[[0-9]+\]\.module$/ && $2 == "ipsec" { r = substr($1, 1, length($1) - 7) }
	{ v[$1] = $2 }
	END { exit !(r != "" && v[r ".kind"] == "insert" && v[r ".status"] == "failed") }' /tmp/silent.flat
expect_json "json: the final state is native" /tmp/silent.json final.overall native
check "still native after the second attempt" all_live "$NATIVE_CORE"
expect_rc 0 "modprobe -r ip_vti" "$M" -r ip_vti

note "=== xfrm_interface holds the native helper xfrm6_tunnel"
expect_rc 0 "modprobe xfrm_interface (out of band)" "$M" xfrm_interface
fact "xfrm_interface's dependencies" "$(grep -E '^(xfrm6_tunnel|tunnel6|tunnel4) ' /proc/modules | cut -d' ' -f1,4 | tr '\n' ' ')"
state=$(loaded_modules)
expect_rc 3 "switch klips exits 3 (refused)" "$S" switch klips
expect_last_out_contains "... rule busy_module" "rule busy_module"
expect_last_out_contains "... naming xfrm_interface as the user" "xfrm_interface"
check "nothing changed" [ "$(loaded_modules)" = "$state" ]
check "ipsec is not loaded" module_is ipsec absent

expect_no_kernel_errors
done_testing
