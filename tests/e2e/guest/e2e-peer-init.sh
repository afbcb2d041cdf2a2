#!/bin/bash
# PID 1 of the peer guest (kernel command line init=/usr/local/sbin/e2e-peer-init): the other
# end of the e2e tunnel, on its own kernel. No systemd and no stackmgr: it loads the XFRM
# modules itself, configures 192.0.2.2 and runs libreswan's pluto with its own ipsec.conf,
# secrets and NSS db (/etc/e2e-peer), logging to ttyS2; ttyS1 is the console the test drives.
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/pts /run/pluto /run/lock
mount -t devpts devpts /dev/pts
hostname e2e-peer
say() { echo "e2e-peer: $*" >/dev/ttyS0; }

# The kernel's crypto and XFRM modules for the tunnel (esp=aes128-sha2_256), then the link.
/sbin/modprobe -a virtio_net xfrm_user esp4 authenc cbc aes_generic sha256_generic hmac ||
	say "modprobe failed"
ip link set lo up
ip addr add 192.0.2.2/24 dev eth0
ip link set eth0 up
# ICMP from the managed side is taken only through the tunnel. A ping it sends in the clear (while
# it has no SA: during a switch, a reboot) is dropped here instead of answered: an answer would
# meet the outbound policy libreswan 4.10 leaves behind when a responder's tunnel goes down, and
# the peer would start a negotiation of its own that crosses the managed side's (and can leave it
# holding a stale IKE SA that blocks traffic for a minute).
ip xfrm policy add src 192.0.2.1/32 dst 192.0.2.2/32 proto icmp dir in priority 1 \
	tmpl src 192.0.2.1 dst 192.0.2.2 proto esp mode tunnel level required ||
	say "could not add the ICMP-through-ESP-only policy"
say "eth0 192.0.2.2 up; starting pluto"

/usr/libexec/ipsec/pluto --nofork --stderrlog --config /etc/e2e-peer/ipsec.conf \
	--secretsfile /etc/e2e-peer/ipsec.secrets --nssdir /etc/e2e-peer/nss --rundir /run/pluto \
	>/dev/ttyS2 2>&1 &

/usr/local/sbin/e2e-shell /dev/ttyS1 &
# PID 1 reaps orphans for ever.
while :; do wait; sleep 1; done
