#!/bin/sh
# The KLIPS test stand-in on a clean boot: it loads, leaves KLIPS's footprint
# (/proc/net/ipsec*, /proc/sys/net/ipsec, ipsec0, the PF_KEY family), serves
# PF_KEY without af_key, cannot be unloaded while a PF_KEY socket is open, shows
# its sample table lines in FreeS/WAN's formats, and unloads without leaving
# anything behind.
set -u
# shellcheck source=../guest/lib.sh
. "$VM_LIB"

M=/sbin/modprobe
PH=/usr/sbin/pfkey-hold

note "--- the guest image"
check "/sbin/modprobe is kmod, not busybox" sh -c 'readlink /sbin/modprobe | grep -qx /bin/kmod'
check "/sbin/insmod and /sbin/rmmod are kmod" sh -c '[ "$(readlink /sbin/insmod)" = /bin/kmod ] && [ "$(readlink /sbin/rmmod)" = /bin/kmod ]'
expect_file "$STANDIN_KO" "the stand-in is installed at /lib/modules/\$KVER/extra/ipsec.ko"
expect_out_contains "modinfo calls it a TEST STAND-IN" "TEST STAND-IN" /sbin/modinfo -F description ipsec
check "clean boot: ipsec is not loaded" module_is ipsec absent
check "clean boot: af_key is not loaded" module_is af_key absent
expect_no_file /proc/net/ipsec "clean boot: no /proc/net/ipsec"

note "--- load"
dmesg_mark
expect_rc 0 "modprobe ipsec exits 0" "$M" ipsec
check "ipsec is live (/sys/module/ipsec/initstate)" module_is ipsec live
expect_out_contains "the kernel log says the stand-in is live" "ipsec: stand-in live: PF_KEY family, IPv4 protocols 50 (ESP) and 51 (AH)" dmesg_since
fact "dmesg on load" "$(dmesg_since | grep -F 'ipsec: stand-in live' | sed 's/^\[[ 0-9.]*\] //')"

note "--- KLIPS's footprint"
for f in /proc/net/ipsec/version /proc/net/ipsec/eroute/all /proc/net/ipsec/spi/all \
	/proc/net/ipsec/spigrp/all /proc/net/ipsec/tncfg \
	/proc/net/ipsec_version /proc/net/ipsec_eroute /proc/net/ipsec_spi \
	/proc/net/ipsec_spigrp /proc/net/ipsec_tncfg \
	/proc/sys/net/ipsec/debug_verbose /proc/sys/net/ipsec/icmp \
	/proc/sys/net/ipsec/inbound_policy_check /proc/sys/net/ipsec/tos \
	/sys/class/net/ipsec0; do
	expect_file "$f"
done
check "/proc/net/ipsec_eroute is a symlink to ipsec/eroute/all" sh -c '[ "$(readlink /proc/net/ipsec_eroute)" = ipsec/eroute/all ]'
expect_out_contains "version file in FreeS/WAN's format" "FreeS/WAN version: 2.06 (stackmgr test stand-in)" cat /proc/net/ipsec/version
check "/proc/net/ipsec_eroute is empty by default" sh -c '[ ! -s /proc/net/ipsec_eroute ] && [ -z "$(cat /proc/net/ipsec_eroute)" ]'
check "/proc/net/ipsec_spi is empty by default" sh -c '[ -z "$(cat /proc/net/ipsec_spi)" ]'
check "/proc/net/ipsec_spigrp is empty by default" sh -c '[ -z "$(cat /proc/net/ipsec_spigrp)" ]'
expect_out_contains "tncfg shows an unattached ipsec0" "ipsec0 -> NULL mtu=0(0) -> 0" cat /proc/net/ipsec_tncfg
check "the /proc/net/ipsec files are mode 0400, as in KLIPS 2.x" sh -c '[ "$(stat -c %a /proc/net/ipsec/version)" = 400 ]'
check "sysctl debug_verbose reads 0" sh -c '[ "$(cat /proc/sys/net/ipsec/debug_verbose)" = 0 ]'
check "sysctl debug_verbose is writable" sh -c 'echo 3 >/proc/sys/net/ipsec/debug_verbose && [ "$(cat /proc/sys/net/ipsec/debug_verbose)" = 3 ]'
check "ipsec0 has type ARPHRD_VOID (65535)" sh -c '[ "$(cat /sys/class/net/ipsec0/type)" = 65535 ]'
expect_out_contains "ip link knows ipsec0" "ipsec0" ip link show ipsec0

note "--- ipsec0 drops what it is given"
check "ipsec0 takes an mtu and comes up" ip link set ipsec0 mtu 1400 up
check "an address on ipsec0" ip addr add 192.0.2.1/24 dev ipsec0
before=$(cat /sys/class/net/ipsec0/statistics/tx_dropped)
run ping -c 2 -W 1 192.0.2.2
after=$(cat /sys/class/net/ipsec0/statistics/tx_dropped)
check "tx_dropped grew ($before -> $after)" test "$after" -gt "$before"
check "ipsec0 goes down" ip link set ipsec0 down

note "--- PF_KEY is the stand-in's"
expect_rc 0 "pfkey-hold open succeeds on the stand-in" "$PH" open
check "opening PF_KEY did not autoload af_key" module_is af_key absent
check "af_key is not in /proc/modules" sh -c '! grep -q "^af_key " /proc/modules'

"$PH" hold >/tmp/hold.out 2>&1 &
holder=$!
check "pfkey-hold hold is holding a socket" wait_for_text /tmp/hold.out holding 10
run cat /proc/modules
expect_rc 1 "rmmod ipsec fails while a PF_KEY socket is open" /sbin/rmmod ipsec
expect_last_out_contains "... saying it is in use" "Module ipsec is in use"
check "ipsec is still live" module_is ipsec live
kill "$holder"
wait "$holder"
check "pfkey-hold released its socket" wait_for_text /tmp/hold.out released 10

note "--- sample entries (FreeS/WAN 2.x formats)"
check "sample_entries can be switched on at run time" sh -c 'echo 1 >/sys/module/ipsec/parameters/sample_entries'
run cat /proc/net/ipsec_eroute
check "eroute: tunnel line" grep -qxF "10         192.168.1.0/24     -> 192.168.2.0/24     => tun0x1002@192.0.2.2" /proc/net/ipsec_eroute
check "eroute: %trap line" grep -qxF "0          192.0.2.1/32       -> 198.51.100.0/24    => %trap" /proc/net/ipsec_eroute
check "eroute: 3 lines" sh -c '[ "$(wc -l </proc/net/ipsec_eroute)" = 3 ]'
run cat /proc/net/ipsec_spi
check "spi: outbound ESP line" grep -qxF "esp0x4a3f1b2c@192.0.2.2 ESP_3DES_HMAC_MD5: dir=out src=192.0.2.1 iv_bits=64bits iv=0x0123456789abcdef ooowin=64 alen=128 aklen=128 eklen=192 life(c,s,h)=bytes(1234,0,0)addtime(60,0,0)packets(10,0,0)" /proc/net/ipsec_spi
check "spi: inbound tunnel line" grep -qxF "tun0x1001@192.0.2.1 IPIP: dir=in  src=192.0.2.2 policy=192.168.2.0/24->192.168.1.0/24 flags=0x8<> life(c,s,h)=addtime(60,0,0)" /proc/net/ipsec_spi
check "spi: 4 lines" sh -c '[ "$(wc -l </proc/net/ipsec_spi)" = 4 ]'
run cat /proc/net/ipsec_spigrp
check "sample_entries can be switched off again" sh -c 'echo 0 >/sys/module/ipsec/parameters/sample_entries && [ -z "$(cat /proc/net/ipsec_eroute)" ]'

note "--- unload"
dmesg_mark
expect_rc 0 "rmmod ipsec exits 0" /sbin/rmmod ipsec
check "ipsec is gone (/sys/module/ipsec)" module_is ipsec absent
for f in /proc/net/ipsec /proc/net/ipsec_version /proc/net/ipsec_eroute /proc/net/ipsec_spi \
	/proc/net/ipsec_spigrp /proc/net/ipsec_tncfg /proc/sys/net/ipsec /sys/class/net/ipsec0; do
	expect_no_file "$f" "after rmmod: no $f"
done
expect_out_contains "the kernel log says it unloaded" "ipsec: stackmgr KLIPS test stand-in unloaded" dmesg_since

note "--- load with the parameter, on the command line"
expect_rc 0 "insmod ipsec.ko sample_entries=1" /sbin/insmod "$STANDIN_KO" sample_entries=1
check "ipsec is live again" module_is ipsec live
check "eroute has the sample lines" grep -qF "tun0x1002@192.0.2.2" /proc/net/ipsec_eroute
expect_rc 0 "modprobe -r ipsec" "$M" -r ipsec
check "ipsec is gone" module_is ipsec absent

note "--- nothing left behind"
# With af_key blocked, opening PF_KEY must now find no family at all.
echo 'install af_key /bin/false' >/run/modprobe.d/stackmgr-test-guard.conf
expect_out_contains "PF_KEY family unregistered: socket() gives EAFNOSUPPORT" "EAFNOSUPPORT" "$PH" open
rm -f /run/modprobe.d/stackmgr-test-guard.conf
expect_rc 0 "esp4 loads after the stand-in's clean unload (ESP handler freed)" "$M" esp4
expect_rc 0 "ah4 loads too (AH handler freed)" "$M" ah4
check "esp4 is live" module_is esp4 live
check "ah4 is live" module_is ah4 live
expect_rc 0 "modprobe -r esp4 ah4 (-a)" "$M" -r -a esp4 ah4
expect_no_kernel_errors
done_testing
