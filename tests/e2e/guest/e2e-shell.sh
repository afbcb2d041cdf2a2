#!/bin/bash
# The console the e2e test drives (tests/e2e/driver.py), on a serial port of its own (ttyS1).
# Protocol, one request a line from the host: "ID TIMEOUT BASE64-SCRIPT". The script runs with
# bash, stdin /dev/null (not a terminal), under timeout(1); the answer is
#   E2E-BEGIN ID
#   BASE64 of its combined stdout and stderr (one line)
#   E2E-END ID EXIT-STATUS
# On start it announces itself: "E2E-READY BOOT-ID UPTIME". Base64 both ways keeps the line
# discipline and any byte of the output out of the way.
set -u
tty=${1:-/dev/ttyS1}
work=/run/e2e-shell
mkdir -p "$work"
# shellcheck disable=SC2094 # a terminal: read from and written to on purpose
exec <"$tty" >"$tty" 2>&1
stty raw -echo
read -r uptime _ </proc/uptime
printf '\nE2E-READY %s %s\n' "$(cat /proc/sys/kernel/random/boot_id)" "$uptime"
while IFS= read -r line; do
	line=${line%$'\r'}
	read -r id tmo b64 <<<"$line"
	[ -n "${b64:-}" ] || continue
	printf '%s' "$b64" | base64 -d >"$work/cmd.sh" 2>/dev/null
	rc=0
	timeout -k 5 "$tmo" bash "$work/cmd.sh" </dev/null >"$work/out" 2>&1 || rc=$?
	printf 'E2E-BEGIN %s\n' "$id"
	base64 -w0 "$work/out"
	printf '\nE2E-END %s %s\n' "$id" "$rc"
done
