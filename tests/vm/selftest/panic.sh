#!/bin/sh
# Harness self-test: the kernel panics; run-guest.sh must fail with 125 and
# show the console.
echo "about to panic"
echo 1 >/proc/sys/kernel/sysrq
echo c >/proc/sysrq-trigger
sleep 60
