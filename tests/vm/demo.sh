#!/usr/bin/env bash
# The README's main job: stackmgr on a real Debian kernel in qemu, narrated.
#
# From a fresh clone on a fresh Debian 12 machine, as root, this does all of its own set-up:
#   1. tests/install-deps.sh   (apt-get: compilers, libraries, qemu, the Debian kernel ...)
#   2. cmake configure + build of the stackmgr binary into build/demo
#   3. tests/vm/prepare.sh      (the KLIPS test stand-in, the guest image, the kernel)
# then boots the guest once and runs scenarios/demo.sh in it: detect, switch native,
# switch klips, an unsafe load refused, back to native. It prints stackmgr's real output
# under short headings, and exits non-zero if any step did not happen as shown.
#
# Usage: tests/vm/demo.sh [--build-dir DIR]   (default <repo>/build/demo)
# The boot runs under TCG (no KVM needed); it takes a minute or two on a busy 2-core machine.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
build=$top/build/demo
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir)
      build=$2
      shift 2
      ;;
    -h | --help)
      sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "demo: unknown argument $1 (see --help)" >&2
      exit 2
      ;;
  esac
done

step() { printf '\n### demo: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: must run as root: it installs packages with apt-get" >&2
  exit 1
fi

step "installing what the build and the guest need (tests/install-deps.sh)"
"$top/tests/install-deps.sh"

step "building stackmgr into $build"
cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTACKMGR_TESTS=OFF >/dev/null
cmake --build "$build" --target stackmgr -j "$(nproc)"

step "preparing the guest: KLIPS test stand-in, image, kernel (tests/vm/prepare.sh)"
"$top/tests/vm/prepare.sh" --build-dir "$build/vm" --stackmgr "$build/stackmgr/stackmgr"

step "booting Debian's kernel in qemu and running the demo in it"
"$top/tests/vm/run-guest.sh" --build-dir "$build/vm" --timeout 600 \
  --file "$top/tests/vm/scenarios/lib/stackmgr.sh=/scenario/stackmgr.sh" \
  "$top/tests/vm/scenarios/demo.sh"
