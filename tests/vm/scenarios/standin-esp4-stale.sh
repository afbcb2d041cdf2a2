#!/bin/sh
# The modern "sudden death": esp4 or ah4 loaded OVER a live KLIPS stand-in.
# Their init fails with EAGAIN ("can't add protocol"), but the kernel's xfrm4
# protocol list keeps the failed module's handler: after the stand-in is
# unloaded cleanly, esp4 still cannot load until reboot. The reload fails with
# EAGAIN or, in some boots (it depends on when the freed module memory is
# unmapped or reused), oopses in xfrm4_protocol_register while holding
# xfrm4_protocol_mutex: the seed's "sudden death", reproduced on 6.1. This boot
# is spent on proving that; never provoke it in a boot other scenarios share.
set -u
# shellcheck source=../guest/lib.sh
. "$VM_LIB"

M=/sbin/modprobe

dmesg_fact() {
	dmesg_since | sed 's/^\[[ 0-9.]*\] //' | while IFS= read -r line; do
		fact "$1" "$line"
	done
}

expect_rc 0 "modprobe ipsec" "$M" ipsec
check "ipsec is live" module_is ipsec live

note "--- esp4 over the stand-in"
dmesg_mark
expect_rc 1 "modprobe esp4 fails (exit 1)" "$M" esp4
expect_last_out_contains "... with EAGAIN: 'Resource temporarily unavailable'" "could not insert 'esp4': Resource temporarily unavailable"
fact "modprobe esp4 over ipsec" "exit $VM_RC: $(cat "$VM_OUT")"
check "esp4 is not loaded" module_is esp4 absent
expect_out_contains "dmesg: xfrm4_protocol_register: can't add protocol" "xfrm4_protocol_register: can't add protocol" dmesg_since
expect_last_out_contains "dmesg: esp4_init: can't add protocol" "IPsec: esp4_init: can't add protocol"
dmesg_fact "dmesg, modprobe esp4 over ipsec"

note "--- ah4 over the stand-in"
dmesg_mark
expect_rc 1 "modprobe ah4 fails (exit 1)" "$M" ah4
expect_last_out_contains "... with EAGAIN" "Resource temporarily unavailable"
check "ah4 is not loaded" module_is ah4 absent
expect_out_contains "dmesg: ah4_init: can't add protocol" "IPsec: ah4_init: can't add protocol" dmesg_since
dmesg_fact "dmesg, modprobe ah4 over ipsec"

note "--- the stand-in unloads cleanly, but the damage stays"
expect_rc 0 "rmmod ipsec" /sbin/rmmod ipsec
check "ipsec is gone" module_is ipsec absent
check "no PF_KEY, no ESP/AH handler of the stand-in left: /proc/net/ipsec is gone" test ! -e /proc/net/ipsec
dmesg_mark
# The reload walks the xfrm4 ESP handler list, which still holds the failed
# esp4's handler. Seen here: EAGAIN again, or (depending on where the freed
# module's memory now is) an oops in xfrm4_protocol_register that kills
# modprobe while it holds xfrm4_protocol_mutex. Either way esp4 cannot load.
run timeout 30 "$M" esp4
reload_rc=$VM_RC
reload_out=$(cat "$VM_OUT")
check "esp4 still cannot load after the stand-in is gone" sh -c '! grep -q "^esp4 .* Live" /proc/modules'
if dmesg_since | grep -q 'BUG: unable to handle page fault'; then
	fact "esp4 reload after rmmod ipsec" "exit $reload_rc ($reload_out): kernel oops in xfrm4_protocol_register, reading the freed esp4 module (the seed's 'sudden death')"
	dmesg_since | grep -E 'BUG:|RIP:|Oops' | sed 's/^\[[ 0-9.]*\] //' | head -n 4 | while IFS= read -r l; do fact "dmesg, esp4 reload" "$l"; done
	note "xfrm4_protocol_mutex is now held by a dead task: no further ESP/AH/IPcomp load can finish in this boot"
	check "the oops hit esp4's init (xfrm4_protocol_register)" sh -c 'dmesg | grep -q "RIP: 0010:xfrm4_protocol_register"'
else
	fact "esp4 reload after rmmod ipsec" "exit $reload_rc ($reload_out), no oops"
	check "the reload failed with EAGAIN" sh -c 'case $1 in *"Resource temporarily unavailable"*) exit 0 ;; esac; exit 1' sh "$reload_out"
	dmesg_fact "dmesg, esp4 reload"
	expect_rc 0 "the stand-in itself loads again (its protocol slots are free)" "$M" ipsec
	expect_rc 0 "rmmod ipsec" /sbin/rmmod ipsec
fi
done_testing
