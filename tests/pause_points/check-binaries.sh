#!/usr/bin/env bash
# The pause points of the power-cut test exist only in the test binary: every binary given with
# --without (the stackmgr a build installs, the one in the .deb) holds none of their names, their
# environment variables or their function, and every binary given with --with
# (stackmgr-pause-points) holds all of them, which shows that the search would find them.
# Usage: check-binaries.sh [--without BINARY]... [--with BINARY]...
set -euo pipefail

# What pause_point.hpp and its callers put into a program: the environment variables, the
# report's prefix and one name of each kind of point.
markers=(STACKMGR_PAUSE_AT STACKMGR_PAUSE_TRACE STACKMGR_PAUSE_REPORT '# PAUSED ' write.dir-synced
	remove.unlinked switch.step-started switch.planned)
symbol='stackmgr::base::pause_point'

without=()
with=()
while [ $# -gt 0 ]; do
	case $1 in
	--without) without+=("$2"); shift 2 ;;
	--with) with+=("$2"); shift 2 ;;
	*) echo "usage: $0 [--without BINARY]... [--with BINARY]..." >&2; exit 2 ;;
	esac
done
[ $((${#without[@]} + ${#with[@]})) -gt 0 ] || { echo "check-binaries: no binary given" >&2; exit 2; }

status=0
# found BINARY: print every marker BINARY holds, and the symbol when its symbol table has it.
found() {
	local marker
	for marker in "${markers[@]}"; do
		if grep -qaF -- "$marker" "$1"; then printf '%s\n' "$marker"; fi
	done
	# Not `nm | grep -q`: grep's early exit would fail nm with SIGPIPE under pipefail.
	if nm -C "$1" 2>/dev/null | grep -F -- "$symbol" >/dev/null; then printf '%s\n' "$symbol"; fi
}

for binary in "${without[@]}"; do
	[ -f "$binary" ] || { echo "check-binaries: FAIL: $binary does not exist" >&2; status=1; continue; }
	hits=$(found "$binary")
	if [ -n "$hits" ]; then
		echo "check-binaries: FAIL: $binary carries test-only pause points: $(echo "$hits" | paste -sd, -)" >&2
		status=1
	else
		echo "check-binaries: $binary: no pause point (${#markers[@]} markers and the symbol searched)"
	fi
done
for binary in "${with[@]}"; do
	[ -f "$binary" ] || { echo "check-binaries: FAIL: $binary does not exist" >&2; status=1; continue; }
	hits=$(found "$binary")
	missing=()
	for marker in "${markers[@]}" "$symbol"; do
		grep -qxF -- "$marker" <<<"$hits" || missing+=("$marker")
	done
	if [ "${#missing[@]}" -ne 0 ]; then
		echo "check-binaries: FAIL: $binary should carry the pause points but lacks: ${missing[*]}" >&2
		status=1
	else
		echo "check-binaries: $binary: all pause-point markers found (the search works)"
	fi
done
exit "$status"
