#!/bin/sh
# The conflicts between the KLIPS stand-in and the native stack, measured on the
# real kernel, and the guard stackmgr relies on:
#   A. the PF_KEY autoload hazard: opening PF_KEY on a clean boot loads af_key;
#   B. the silent-success trap: `modprobe ipsec` over af_key exits 0 and loads
#      nothing (init fails with -EEXIST, which modprobe takes for "already
#      loaded"); insmod of the .ko path does report "File exists";
#   C. a PF_KEY socket keeps af_key busy;
#   D. the guard: "install af_key /bin/false" in /run/modprobe.d stops the
#      kernel's request_module("net-pf-15") from loading af_key;
#   E. esp4 or ah4 loaded first: `modprobe ipsec` again exits 0, loads nothing;
#   F. the other order: `modprobe af_key` over the stand-in exits 0, loads nothing.
# The "# FACT" lines record what was observed, for the rest of the project.
# (esp4/ah4 loaded OVER the stand-in corrupts the kernel's xfrm4 protocol list:
# that is scenarios/standin-esp4-stale.sh, in a boot of its own.)
set -u
# shellcheck source=../guest/lib.sh
. "$VM_LIB"

M=/sbin/modprobe
PH=/usr/sbin/pfkey-hold
GUARD=/run/modprobe.d/stackmgr-test-guard.conf
AF_KEY_KO=/lib/modules/$KVER/kernel/net/key/af_key.ko

# dmesg_fact KEY: record the kernel log lines since the mark, timestamps cut.
dmesg_fact() {
	dmesg_since | sed 's/^\[[ 0-9.]*\] //' | while IFS= read -r line; do
		fact "$1" "$line"
	done
}

note "--- A. autoload hazard (clean boot)"
check "clean boot: af_key is not loaded" module_is af_key absent
check "clean boot: ipsec is not loaded" module_is ipsec absent
check "the kernel's modprobe helper is /sbin/modprobe" sh -c '[ "$(cat /proc/sys/kernel/modprobe)" = /sbin/modprobe ]'
expect_out_contains "modprobe resolves net-pf-15 to af_key" "af_key.ko" "$M" --show-depends net-pf-15
expect_rc 0 "pfkey-hold open succeeds with nothing loaded" "$PH" open
check "... because it autoloaded af_key (live)" module_is af_key live
check "af_key is now in /proc/modules" grep -q '^af_key ' /proc/modules
fact "autoload" "socket(PF_KEY) on a clean boot loads af_key via net-pf-15: $(module_state af_key)"

note "--- B. modprobe ipsec while af_key is loaded: the silent-success trap"
dmesg_mark
expect_rc 0 "modprobe ipsec exits 0 (!)" "$M" ipsec
fact "modprobe ipsec over af_key" "exit $VM_RC"
check "... yet ipsec is NOT loaded (/sys/module/ipsec absent)" module_is ipsec absent
expect_no_file /proc/net/ipsec "... and there is no /proc/net/ipsec"
expect_out_contains "dmesg: the stand-in's init failed with -EEXIST (-17)" "ipsec: stand-in: cannot register the PF_KEY socket family: error -17" dmesg_since
expect_last_out_contains "dmesg: 'Registered PF_KEY' is printed although registration failed" "NET: Registered PF_KEY protocol family"
dmesg_fact "dmesg, modprobe ipsec over af_key"
expect_out_contains "modprobe -v ipsec shows it did try insmod" "insmod $STANDIN_KO" "$M" -v ipsec
fact "modprobe -v ipsec over af_key" "exit $VM_RC"
expect_rc 1 "insmod of the .ko path fails (exit 1)" /sbin/insmod "$STANDIN_KO"
expect_last_out_contains "... naming EEXIST: 'File exists'" "File exists"
fact "insmod ipsec.ko over af_key" "exit $VM_RC: $(cat "$VM_OUT")"
check "af_key is still live" module_is af_key live
expect_rc 0 "af_key still serves PF_KEY" "$PH" open

note "--- C. a PF_KEY socket keeps af_key busy"
"$PH" hold >/tmp/hold.out 2>&1 &
holder=$!
check "pfkey-hold hold is holding" wait_for_text /tmp/hold.out holding 10
expect_rc 1 "rmmod af_key fails while the socket is open" /sbin/rmmod af_key
expect_last_out_contains "... 'Module af_key is in use'" "Module af_key is in use"
expect_rc 1 "modprobe -r af_key fails too" "$M" -r af_key
fact "modprobe -r af_key with a PF_KEY socket open" "exit $VM_RC: $(cat "$VM_OUT")"
kill "$holder"
wait "$holder"
expect_rc 0 "modprobe -r af_key once the socket is closed" "$M" -r af_key
check "af_key is gone" module_is af_key absent
check "its dependency xfrm_algo went with it" module_is xfrm_algo absent

note "--- D. the guard: install af_key /bin/false"
echo 'install af_key /bin/false' >"$GUARD"
dmesg_mark
expect_rc 2 "pfkey-hold open fails under the guard" "$PH" open
expect_last_out_contains "... with EAFNOSUPPORT" "EAFNOSUPPORT"
check "the guard kept af_key out (request_module path)" module_is af_key absent
fact "guard" "with 'install af_key /bin/false' in /run/modprobe.d, socket(PF_KEY) fails EAFNOSUPPORT and af_key stays $(module_state af_key)"
fact "guard side effect" "xfrm_algo (af_key's dependency) is $(module_state xfrm_algo) after the blocked autoload"
dmesg_fact "dmesg, blocked autoload"
expect_rc 1 "modprobe af_key under the guard exits 1" "$M" af_key
expect_last_out_contains "... naming the install command" "install command '/bin/false'"
fact "modprobe af_key under the guard" "exit $VM_RC"
expect_rc 0 "modprobe --ignore-install af_key bypasses the guard" "$M" --ignore-install af_key
check "af_key is live" module_is af_key live
expect_rc 0 "modprobe -r af_key" "$M" -r af_key
rm -f "$GUARD"
run "$M" -r xfrm_algo
check "clean again: no af_key" module_is af_key absent
check "clean again: no xfrm_algo" module_is xfrm_algo absent

note "--- E. esp4 / ah4 loaded first"
expect_rc 0 "modprobe esp4" "$M" esp4
dmesg_mark
expect_rc 0 "modprobe ipsec exits 0 (!)" "$M" ipsec
fact "modprobe ipsec over esp4" "exit $VM_RC"
check "... yet ipsec is NOT loaded" module_is ipsec absent
expect_out_contains "dmesg: cannot claim IPv4 protocol 50 (ESP)" "ipsec: stand-in: cannot claim IPv4 protocol 50 (ESP): the handler is taken (esp4 loaded?): error -17" dmesg_since
expect_last_out_contains "dmesg: the PF_KEY family was unregistered on the way out" "NET: Unregistered PF_KEY protocol family"
dmesg_fact "dmesg, modprobe ipsec over esp4"
expect_rc 1 "insmod of the .ko path fails" /sbin/insmod "$STANDIN_KO"
expect_last_out_contains "... 'File exists'" "File exists"
check "esp4 is still live" module_is esp4 live
echo 'install af_key /bin/false' >"$GUARD"
expect_rc 2 "no PF_KEY family left behind by the failed init" "$PH" open
rm -f "$GUARD"
expect_rc 0 "modprobe ipsec claim_protocols=0 loads next to esp4" "$M" ipsec claim_protocols=0
check "ipsec (PF_KEY only) is live" module_is ipsec live
expect_rc 0 "rmmod ipsec" /sbin/rmmod ipsec
expect_rc 0 "modprobe -r esp4" "$M" -r esp4

expect_rc 0 "modprobe ah4" "$M" ah4
dmesg_mark
expect_rc 0 "modprobe ipsec exits 0 (!)" "$M" ipsec
fact "modprobe ipsec over ah4" "exit $VM_RC"
check "... yet ipsec is NOT loaded" module_is ipsec absent
expect_out_contains "dmesg: cannot claim IPv4 protocol 51 (AH)" "ipsec: stand-in: cannot claim IPv4 protocol 51 (AH): the handler is taken (ah4 loaded?): error -17" dmesg_since
dmesg_fact "dmesg, modprobe ipsec over ah4"
expect_rc 0 "modprobe -r ah4" "$M" -r ah4

note "--- F. af_key over a live stand-in"
expect_rc 0 "modprobe ipsec on a clean stack" "$M" ipsec
check "ipsec is live" module_is ipsec live
dmesg_mark
expect_rc 0 "modprobe af_key exits 0 (!)" "$M" af_key
fact "modprobe af_key over ipsec" "exit $VM_RC"
check "... yet af_key is NOT loaded" module_is af_key absent
expect_out_contains "dmesg: only 'Registered PF_KEY', printed although it failed" "NET: Registered PF_KEY protocol family" dmesg_since
dmesg_fact "dmesg, modprobe af_key over ipsec"
expect_rc 1 "insmod af_key.ko fails" /sbin/insmod "$AF_KEY_KO"
expect_last_out_contains "... 'File exists'" "File exists"
fact "insmod af_key.ko over ipsec" "exit $VM_RC: $(cat "$VM_OUT")"
fact "af_key dependency after the failed load" "xfrm_algo is $(module_state xfrm_algo)"
expect_rc 0 "PF_KEY is still the stand-in's" "$PH" open
check "ipsec is still live" module_is ipsec live
expect_rc 0 "rmmod ipsec" /sbin/rmmod ipsec
run "$M" -r xfrm_algo

note "--- modprobe with several names needs -a"
dmesg_mark
run "$M" af_key esp4 ah4
fact "modprobe af_key esp4 ah4 (no -a)" "exit $VM_RC; af_key $(module_state af_key), esp4 $(module_state esp4), ah4 $(module_state ah4)"
dmesg_fact "dmesg, modprobe af_key esp4 ah4"
check "without -a, esp4 was not loaded (taken as a parameter of af_key)" module_is esp4 absent
run "$M" -r af_key
expect_rc 0 "modprobe -a af_key esp4 ah4" "$M" -a af_key esp4 ah4
check "with -a all three are live" sh -c '[ "$(cat /sys/module/af_key/initstate /sys/module/esp4/initstate /sys/module/ah4/initstate | tr "\n" " ")" = "live live live " ]'
expect_rc 0 "modprobe -r -a af_key esp4 ah4" "$M" -r -a af_key esp4 ah4

expect_no_kernel_errors
done_testing
