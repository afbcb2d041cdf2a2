#!/bin/sh
# `stackmgr look` on a real kernel, both stacks in turn:
#  1. KLIPS (the stand-in with sample_entries=1): its /proc tables are parsed into exactly the
#     stand-in's sample eroutes and SAs; with sample_entries=0 the state is empty.
#  2. native (af_key esp4 ah4 xfrm_user): real ESP and AH SAs and policies added with `ip xfrm`
#     (the guest kernel has ESP) show exactly in `look --json`, with their algorithms, and the
#     counters of the SA that carried pings.
# KLIPS goes first: the stand-in is unloaded before esp4 loads (a clean switch), never the
# other way round in one boot (standin-esp4-stale).
set -u
# shellcheck source=../guest/lib.sh
. "$VM_LIB"
# shellcheck source=lib/stackmgr.sh
. /scenario/stackmgr.sh

M=/sbin/modprobe
IP=/sbin/ip

# The index of the entry of LIST (e.g. stacks[0].sas) whose KEY is VALUE, or nothing.
index_where() {
	json_flat "$1" | awk -F '\t' -v list="$2" -v key="$3" -v want="$4" '
		index($1, list "[") == 1 && substr($1, length($1) - length(key)) == "." key && $2 == want {
			rest = substr($1, length(list) + 2); sub(/\].*/, "", rest); print rest; exit
		}'
}

# How many entries LIST has (0 for []).
count_of() {
	json_flat "$1" | awk -F '\t' -v list="$2" '
		$1 == list && $2 == "[]" { print 0; found = 1; exit }
		index($1, list "[") == 1 { rest = substr($1, length(list) + 2); sub(/\].*/, "", rest); seen[rest] = 1 }
		END { if (!found) { n = 0; for (k in seen) n++; print n } }'
}

expect_count() { # DESC FILE LIST N
	_got=$(count_of "$2" "$3")
	if [ "$_got" = "$4" ]; then
		_vm_report 0 "$1"
	else
		_vm_report 1 "$1"
		printf '#   %s has %s entries, expected %s\n' "$3" "$_got" "$4"
	fi
}

# expect_entry DESC FILE LIST KEY VALUE FIELD=EXPECTED...: the entry whose KEY is VALUE has
# every FIELD (a path below the entry) at EXPECTED.
expect_entry() {
	_d=$1 _f=$2 _l=$3 _k=$4 _v=$5
	shift 5
	_i=$(index_where "$_f" "$_l" "$_k" "$_v")
	if [ -z "$_i" ]; then
		_vm_report 1 "$_d"
		printf '#   no entry of %s with %s = %s\n' "$_l" "$_k" "$_v"
		return
	fi
	_bad=
	for _pair in "$@"; do
		_field=${_pair%%=*}
		_want=${_pair#*=}
		_got=$(json_get "$_f" "${_l}[${_i}].${_field}" 2>/dev/null) || _got="(absent)"
		[ "$_got" = "$_want" ] || _bad="$_bad $_field=$_got(expected $_want)"
	done
	if [ -z "$_bad" ]; then
		_vm_report 0 "$_d"
	else
		_vm_report 1 "$_d"
		printf '#   %s[%s]:%s\n' "$_l" "$_i" "$_bad"
	fi
}

note "=== KLIPS: the stand-in's sample tables"
check "the stand-in loads with sample_entries=1" "$M" ipsec sample_entries=1
check "ipsec is live" module_is ipsec live
run cat /proc/net/ipsec_eroute /proc/net/ipsec_spi /proc/net/ipsec_spigrp
stackmgr_json klips look
check "look exits 0 on KLIPS (it exited $VM_RC)" test "$VM_RC" = 0
K=/tmp/klips.json
expect_json "detection says klips" "$K" active klips
expect_json "one stack read: klips" "$K" "stacks[0].stack" klips
expect_json "no read error" "$K" "stacks[0].error" null
expect_count "exactly the stand-in's 3 eroutes" "$K" "stacks[0].policies" 3
expect_count "exactly the stand-in's 4 SAs" "$K" "stacks[0].sas" 4
expect_count "no line was skipped" "$K" "stacks[0].problems" 0
expect_entry "eroute 192.168.1.0/24 -> 192.168.2.0/24 uses tun0x1002 then esp0x4a3f1b2c, 10 packets" \
	"$K" "stacks[0].policies" said "tun0x1002@192.0.2.2" \
	source=192.168.1.0/24 destination=192.168.2.0/24 direction=out action=ipsec packets=10 \
	"uses[0].protocol=ipip" "uses[0].spi=4098" "uses[0].source=192.0.2.1" "uses[0].destination=192.0.2.2" \
	"uses[1].protocol=esp" "uses[1].spi=1245649708" "uses[1].mode=tunnel"
expect_entry "eroute to 198.51.100.0/24 traps" "$K" "stacks[0].policies" said "%trap" \
	source=192.0.2.1/32 destination=198.51.100.0/24 action=trap packets=0
expect_entry "eroute to 203.0.113.53/32 passes, 42 packets" "$K" "stacks[0].policies" said "%pass" \
	destination=203.0.113.53/32 action=pass packets=42
expect_entry "outbound ESP SA: 3DES and HMAC-MD5, tunnel mode, 1234 bytes in 10 packets" \
	"$K" "stacks[0].sas" spi 1245649708 \
	protocol=esp mode=tunnel direction=out source=192.0.2.1 destination=192.0.2.2 \
	"algorithms.encryption=cbc(des3_ede)" "algorithms.authentication=hmac(md5)" bytes=1234 packets=10 \
	add_time=60 add_time_clock=boot transform=ESP_3DES_HMAC_MD5
expect_entry "inbound ESP SA" "$K" "stacks[0].sas" spi 2351783537 \
	protocol=esp mode=tunnel direction=in source=192.0.2.2 destination=192.0.2.1 packets=10
expect_entry "outbound IPIP SA" "$K" "stacks[0].sas" said "tun0x1002@192.0.2.2" protocol=ipip mode=tunnel direction=out
expect_entry "inbound IPIP SA" "$K" "stacks[0].sas" said "tun0x1001@192.0.2.1" protocol=ipip direction=in
expect_out_contains "the table shows the ESP SA" "esp    0x4a3f1b2c  tunnel  out" "$S" look

note "--- sample_entries=0: KLIPS with empty tables"
check "sample_entries can be switched off" sh -c 'echo 0 >/sys/module/ipsec/parameters/sample_entries'
stackmgr_json klips-empty look
K0=/tmp/klips-empty.json
expect_json "still klips" "$K0" "stacks[0].stack" klips
expect_count "no eroutes" "$K0" "stacks[0].policies" 0
expect_count "no SAs" "$K0" "stacks[0].sas" 0
expect_out_contains "the table says so" "Policies: none" "$S" look
check "the stand-in unloads" /sbin/rmmod ipsec

note "=== native: real ESP and AH SAs"
check "the native stack loads" "$M" -a af_key esp4 ah4 xfrm_user
check "af_key, esp4, ah4 are live" all_live af_key esp4 ah4
# A dummy link carries the traffic: pings from 10.0.0.1 to 10.0.1.1 match the out policy,
# are encrypted with SA 0x1001 and leave (and vanish) through look0.
check "look0 (a dummy link) is up with 10.0.0.1/24 and 192.0.2.1/24" sh -c "$M dummy &&
	$IP link add look0 type dummy && $IP addr add 10.0.0.1/24 dev look0 && $IP addr add 192.0.2.1/24 dev look0 &&
	$IP link set look0 up && $IP route add 10.0.1.0/24 dev look0 src 10.0.0.1"
# ESP with a cipher needs an IV generator (echainiv), which needs the kernel's default RNG
# (drbg, jitterentropy_rng). Without those modules in the image only the null cipher works.
if "$M" -a jitterentropy_rng drbg >/dev/null 2>&1; then
	ENC1='cbc(aes)' KEY1=0x000102030405060708090a0b0c0d0e0f
	ENC2='cbc(des3_ede)' KEY2=0x000102030405060708090a0b0c0d0e0f1011121314151617
else
	fact "ESP ciphers in the guest" "unavailable: no drbg module for echainiv's RNG; using ecb(cipher_null)"
	ENC1='ecb(cipher_null)' KEY1=''
	ENC2='ecb(cipher_null)' KEY2=''
fi
check "ESP SA 0x1001 out: $ENC1, hmac(sha256) truncated to 128 bits" \
	"$IP" xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x1001 reqid 1 mode tunnel \
	enc "$ENC1" "$KEY1" \
	auth-trunc 'hmac(sha256)' 0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f 128
check "ESP SA 0x1002 in: $ENC2, hmac(md5)" \
	"$IP" xfrm state add src 192.0.2.2 dst 192.0.2.1 proto esp spi 0x1002 reqid 2 mode tunnel \
	enc "$ENC2" "$KEY2" \
	auth 'hmac(md5)' 0x000102030405060708090a0b0c0d0e0f
check "AH SA 0x2001: hmac(sha1), transport mode" \
	"$IP" xfrm state add src 192.0.2.1 dst 198.51.100.7 proto ah spi 0x2001 mode transport \
	auth 'hmac(sha1)' 0x000102030405060708090a0b0c0d0e0f10111213
check "policy out 10.0.0.0/24 -> 10.0.1.0/24 via ESP tunnel reqid 1" \
	"$IP" xfrm policy add src 10.0.0.0/24 dst 10.0.1.0/24 dir out priority 2000 \
	tmpl src 192.0.2.1 dst 192.0.2.2 proto esp reqid 1 mode tunnel
check "policy in 10.0.1.0/24 -> 10.0.0.0/24 via ESP tunnel reqid 2" \
	"$IP" xfrm policy add src 10.0.1.0/24 dst 10.0.0.0/24 dir in priority 2000 \
	tmpl src 192.0.2.2 dst 192.0.2.1 proto esp reqid 2 mode tunnel
check "sub policy: block tcp to 198.51.100.7 port 23" \
	"$IP" xfrm policy add src 0.0.0.0/0 dst 198.51.100.7/32 proto 6 dport 23 dir out action block ptype sub
run ping -c 3 -W 1 10.0.1.1
run "$IP" -s xfrm state list
stackmgr_json native look
N=/tmp/native.json
check "look exits 0 on the native stack (it exited $VM_RC)" test "$VM_RC" = 0
expect_json "detection says native" "$N" active native
expect_json "one stack read: native" "$N" "stacks[0].stack" native
expect_json "no read error" "$N" "stacks[0].error" null
expect_count "exactly the 3 SAs added" "$N" "stacks[0].sas" 3
expect_count "exactly the 3 policies added" "$N" "stacks[0].policies" 3
expect_count "no message was skipped" "$N" "stacks[0].problems" 0
expect_entry "ESP 0x1001: tunnel, reqid 1, $ENC1 and hmac(sha256), carried the 3 pings" \
	"$N" "stacks[0].sas" spi 4097 \
	protocol=esp mode=tunnel source=192.0.2.1 destination=192.0.2.2 reqid=1 \
	"algorithms.encryption=$ENC1" "algorithms.authentication=hmac(sha256)" packets=3 add_time_clock=unix
_bytes=$(json_get "$N" "stacks[0].sas[$(index_where "$N" "stacks[0].sas" spi 4097)].bytes" 2>/dev/null || echo 0)
check "ESP 0x1001 counted bytes ($_bytes)" test "$_bytes" -gt 0
expect_entry "ESP 0x1002: tunnel, reqid 2, $ENC2 and hmac(md5), unused" \
	"$N" "stacks[0].sas" spi 4098 \
	protocol=esp mode=tunnel source=192.0.2.2 destination=192.0.2.1 reqid=2 \
	"algorithms.encryption=$ENC2" "algorithms.authentication=hmac(md5)" bytes=0 packets=0
expect_entry "AH 0x2001: transport, hmac(sha1)" "$N" "stacks[0].sas" spi 8193 \
	protocol=ah mode=transport destination=198.51.100.7 "algorithms.authentication=hmac(sha1)" \
	algorithms.encryption=null
expect_entry "out policy uses ESP tunnel 192.0.2.1->192.0.2.2 reqid 1" "$N" "stacks[0].policies" destination \
	10.0.1.0/24 source=10.0.0.0/24 direction=out action=ipsec priority=2000 type=main \
	"uses[0].protocol=esp" "uses[0].source=192.0.2.1" "uses[0].destination=192.0.2.2" "uses[0].reqid=1" \
	"uses[0].mode=tunnel" "uses[0].spi=null"
expect_entry "in policy uses ESP tunnel 192.0.2.2->192.0.2.1 reqid 2" "$N" "stacks[0].policies" destination \
	10.0.0.0/24 source=10.0.1.0/24 direction=in action=ipsec "uses[0].reqid=2"
expect_entry "the sub policy drops tcp to port 23" "$N" "stacks[0].policies" type sub \
	source=0.0.0.0/0 destination=198.51.100.7/32 protocol=6 destination_port=23 action=drop
expect_out_contains "the table shows ESP 0x1001 with its algorithms" "$ENC1 hmac(sha256)" "$S" look

# Without CAP_NET_ADMIN: covered on the host (test_cmd_look); busybox has no way to drop to nobody.
expect_no_kernel_errors
done_testing
