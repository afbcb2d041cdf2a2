#!/bin/bash
# The chaos run on the real kernel: one guest boot running scenarios/chaos.sh (what it does and
# what it checks is written there), bounded in time.
#
# Usage: chaos.sh [--build-dir DIR] [--seconds N] [--seed S]
#   --seconds  how long the actors run (default $STACKMGR_CHAOS_SECONDS, else 180: CI's run)
#   --seed     the random seed (default $STACKMGR_CHAOS_SEED, else a new one, printed)
# Replaying a failure: the run prints its seed; STACKMGR_CHAOS_SEED=S (and the same seconds)
# makes every actor draw the same moves again. Their timing is the scheduler's, so a replay
# repeats the moves, not the exact interleaving.
set -eu -o pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"

build=$(vm_default_build_dir)
seconds=${STACKMGR_CHAOS_SECONDS:-180}
seed=${STACKMGR_CHAOS_SEED:-}
while [ $# -gt 0 ]; do
	case $1 in
	--build-dir)
		build=$2
		shift 2
		;;
	--seconds)
		seconds=$2
		shift 2
		;;
	--seed)
		seed=$2
		shift 2
		;;
	*) vm_die "chaos.sh: unknown argument $1" ;;
	esac
done
case $seconds in '' | *[!0-9]*) vm_die "--seconds must be a whole number" ;; esac
[ "$seconds" -ge 10 ] || vm_die "--seconds must be at least 10"
if [ -z "$seed" ]; then
	seed=$(($(od -An -N4 -tu4 /dev/urandom) % 1000000000))
fi
case $seed in *[!0-9]*) vm_die "--seed must be a whole number" ;; esac
# Rounds of a minute at most, each followed by a quiesce (start, checks, stop: about 15 s under
# TCG), plus the boot.
rounds=$(((seconds + 59) / 60))
timeout=$((seconds + rounds * 60 + 120))
echo "# chaos: seed $seed, $seconds s (replay: STACKMGR_CHAOS_SEED=$seed STACKMGR_CHAOS_SECONDS=$seconds $0)"
rc=0
"$here/run-guest.sh" --build-dir "$build" --timeout "$timeout" \
	--file "$here/scenarios/lib/stackmgr.sh=/scenario/stackmgr.sh" \
	--env "CHAOS_SEED=$seed" --env "CHAOS_SECONDS=$seconds" "$here/scenarios/chaos.sh" || rc=$?
[ "$rc" = 0 ] || echo "# chaos: FAILED with seed $seed; replay: STACKMGR_CHAOS_SEED=$seed STACKMGR_CHAOS_SECONDS=$seconds $0"
exit "$rc"
