#!/usr/bin/env bash
# Golden-output tests (README.md): runs one case of cases.txt through the real stackmgr binary
# and compares its exit code, stdout and stderr with expected/<name>.out.
#
#   run_case.sh NAME         compare; on a difference print a unified diff and exit 1
#   run_case.sh --list       check that cases.txt and expected/ name the same cases
#
# STACKMGR (the binary) and GOLDEN_ROOT (the golden_root helper) come from CTest
# (tests/golden/CMakeLists.txt). With STACKMGR_GOLDEN_UPDATE=1 the case's output is written to
# expected/<name>.out instead of compared (update.sh). Exit 77: skipped, with the reason.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cases=$here/cases.txt
expected_dir=$here/expected
look_fixtures=$(cd "$here/../stackmgr/fixtures/look" && pwd)
SKIP=77

skip() {
  echo "SKIP: $*"
  # An update must not keep an old expected output silently.
  [ "${STACKMGR_GOLDEN_UPDATE:-0}" != 1 ] || exit 1
  exit "$SKIP"
}

case_names() { awk '!/^[[:space:]]*(#|$)/ { print $1 }' "$cases"; }

if [ "${1:-}" = --list ]; then
  status=0
  duplicates=$(case_names | sort | uniq -d)
  [ -z "$duplicates" ] || {
    echo "cases.txt names these cases twice: $duplicates"
    status=1
  }
  while read -r name; do
    [ -f "$expected_dir/$name.out" ] || {
      echo "no expected/$name.out: run tests/golden/update.sh BUILD_DIR"
      status=1
    }
  done < <(case_names)
  for file in "$expected_dir"/*.out; do
    name=$(basename "$file" .out)
    case_names | grep -qxF -- "$name" || {
      echo "expected/$name.out belongs to no case of cases.txt: remove it (update.sh does)"
      status=1
    }
  done
  exit "$status"
fi

name=${1:?usage: run_case.sh NAME | --list}
: "${STACKMGR:?the stackmgr binary}" "${GOLDEN_ROOT:?the golden_root helper}"

# cases.txt: NAME ROOT NEEDS ARGS... (the format is described at its top).
line=$(awk -v name="$name" '$1 == name' "$cases")
[ -n "$line" ] || {
  echo "no case $name in $cases"
  exit 1
}
read -r _ root needs args <<<"$line"
read -ra template <<<"$args"

for need in ${needs//,/ }; do
  case $need in
    -) ;;
    root | netns)
      # plan answers an ordinary user differently, and stackmgr trusts only a root-owned config
      # (--config here; under the root for doctor). netns also needs root for `unshare --net`.
      [ "$(id -u)" -eq 0 ] || skip "needs root: the expected output is root's"
      ;;
    stale-pid) ;;
    *)
      echo "cases.txt: case $name: unknown need '$need'"
      exit 1
      ;;
  esac
done

# Always under /tmp, never $TMPDIR: the length of a path is part of the output, as doctor
# word-wraps its text (a fixture root's iptables.rules), so the paths must keep their length.
work=$(mktemp -d /tmp/stackmgr-golden-XXXXXX)
trap 'rm -rf "$work"' EXIT
# A config of our own, so that neither the host's /etc/stackmgr/stackmgr.toml nor its
# /run/stackmgr (a real supervisor's socket and pid file) nor its /var/lib/stackmgr and
# /etc/ipsec.conf can reach the output. Root-owned and 0644, as load_config requires.
mkdir -p "$work/run" "$work/state"
chmod 700 "$work/run"
cat >"$work/stackmgr.toml" <<EOF
[paths]
run_dir = "$work/run"
state_dir = "$work/state"
ipsec_conf = "$work/ipsec.conf"
EOF
chmod 644 "$work/stackmgr.toml"
if [[ ",$needs," == *,stale-pid,* ]]; then
  # A supervisor that died and left its pid file: nobody holds the file's lock.
  echo 4242 >"$work/run/stackmgr.pid"
fi

runner=()
if [[ ",$needs," == *,netns,* ]]; then
  # The command reads XFRM netlink, which --root cannot redirect: give it a network namespace
  # of its own, whose SAD and SPD are empty, instead of the host's.
  unshare --net -- true 2>/dev/null || skip "cannot create a network namespace (unshare --net)"
  runner=(unshare --net --)
fi
look_root=
case $root in
  detect/* | doctor/*) runner+=("$GOLDEN_ROOT" "${root%%/*}" "${root#*/}" --) ;;
  look/*)
    # Used in place, as test_cmd_look does.
    look_root=$look_fixtures/${root#look/}
    [ -d "$look_root" ] || {
      echo "cases.txt: case $name: no fixture $look_root"
      exit 1
    }
    ;;
  *)
    echo "cases.txt: case $name: unknown root '$root'"
    exit 1
    ;;
esac

argv=()
for arg in "${template[@]}"; do
  arg=${arg//"{config}"/$work/stackmgr.toml}
  [ -z "$look_root" ] || arg=${arg//"{root}"/$look_root}
  argv+=("$arg")
done

# golden_root makes its fixture root under $TMPDIR (stackmgr-fixture-XXXXXX): here, in $work.
set +e
TMPDIR=$work "${runner[@]}" "$STACKMGR" "${argv[@]}" >"$work/stdout" 2>"$work/stderr"
exit_code=$?
set -e
if [ "$exit_code" -eq 77 ] && [ -z "$look_root" ]; then skip "$(cat "$work/stderr")"; fi
if [ "$exit_code" -eq 125 ] && [ -z "$look_root" ]; then
  echo "the case could not be set up:"
  cat "$work/stderr"
  exit 1
fi

# Normalisation: only what no input can pin down. Each rule says why.
sed_literal() { printf '%s' "$1" | sed 's/[][\.*^$|/]/\\&/g'; }
release=$(uname -r)
release_pattern=$(printf '%s' "$release" | sed 's/[.+]/\\&/g')
normalise() {
  # 1. The fixture root golden_root made: a fresh mkdtemp name on every run -> <root>.
  # 2. A look fixture, used in place: the checkout's path -> <root>.
  # 3. This run's temp dir (the config's path, run_dir, state_dir, ipsec_conf) -> <work>.
  local rules=(-e "s|$(sed_literal "$work")/stackmgr-fixture-[[:alnum:]]\{6\}|<root>|g")
  [ -z "$look_root" ] || rules+=(-e "s|$(sed_literal "$look_root")|<root>|g")
  rules+=(-e "s|$(sed_literal "$work")|<work>|g")
  # 4. A root without /proc/sys/kernel/osrelease (the look fixtures, proc_unmounted) makes
  #    detect fall back to uname(): the release of the kernel running the tests, which
  #    stackmgr has no option to pin -> <uname -r>. Only as a whole release, never part of one
  #    (a host's "6.1.0" must not touch the fixtures' "6.1.0-fixture").
  local boundary='[^[:alnum:]._+~-]'
  sed "${rules[@]}" "$1" |
    sed -E "s/(^|$boundary)$release_pattern($boundary|\$)/\1<uname -r>\2/g"
}

# The record: exit code, the command as cases.txt writes it, then stdout and stderr.
record() {
  echo "exit: $exit_code"
  echo "command: stackmgr ${template[*]}"
  for stream in stdout stderr; do
    echo "--- $stream"
    normalise "$work/$stream"
    if [ -s "$work/$stream" ] && [ -n "$(tail -c 1 "$work/$stream")" ]; then
      echo
      echo "(no newline at the end of $stream)"
    fi
  done
}
record >"$work/actual"

expected=$expected_dir/$name.out
if [ "${STACKMGR_GOLDEN_UPDATE:-0}" = 1 ]; then
  mkdir -p "$expected_dir"
  cp "$work/actual" "$expected"
  echo "wrote $expected"
  exit 0
fi
[ -f "$expected" ] || {
  echo "no $expected; this run gave:"
  cat "$work/actual"
  exit 1
}
if ! diff -u --label "expected/$name.out" --label "actual" "$expected" "$work/actual"; then
  echo
  echo "golden.$name: the output changed. If the change is intended, it is a behaviour change:"
  echo "run tests/golden/update.sh BUILD_DIR and review the expected/ diff as one."
  exit 1
fi
echo "golden.$name: same output"
