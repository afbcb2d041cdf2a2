#!/usr/bin/env bash
# Regenerates tests/golden/expected/ from the stackmgr binary in BUILD_DIR (README.md). An
# update records a change of the CLI's behaviour: review `git diff tests/golden/expected` as one.
# Usage (as root: the plan, status and netns cases need it): tests/golden/update.sh BUILD_DIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: tests/golden/update.sh BUILD_DIR}
if [ "$(id -u)" -ne 0 ]; then
  echo "update.sh: run as root: the plan, status and netns cases need it" >&2
  exit 1
fi

cmake --build "$build" --target stackmgr golden_root
# A case taken out of cases.txt takes its expected output with it.
for file in "$here"/expected/*.out; do
  [ -e "$file" ] || continue
  name=$(basename "$file" .out)
  if ! awk -v name="$name" '$1 == name { found = 1 } END { exit !found }' "$here/cases.txt"; then
    echo "removing expected/$name.out: no such case in cases.txt"
    rm -- "$file"
  fi
done
STACKMGR_GOLDEN_UPDATE=1 ctest --test-dir "$build" --output-on-failure --no-tests=error \
  -R '^golden\.' -E '^golden\.cases_match_expected$'
"$here/run_case.sh" --list
echo "updated: review 'git diff $here/expected' as a behaviour change before committing it"
