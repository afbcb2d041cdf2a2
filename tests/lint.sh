#!/usr/bin/env bash
# Lint gate: clang-format (no diff), clang-tidy (.clang-tidy, findings are errors) over the
# project's sources using BUILD_DIR/compile_commands.json, and shellcheck over every script.
# Usage: tests/lint.sh BUILD_DIR
# The clang static analyzer (clang-analyzer-* in .clang-tidy) costs half again the time of every
# other check together; the test command runs without it to stay well under 30 minutes, and
# STACKMGR_LINT_ANALYZER=1 turns it on (do so before a release).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: tests/lint.sh BUILD_DIR}
cd "$top"

mapfile -t cxx_files < <(git ls-files '*.cpp' '*.hpp' | grep -v '^tests/vm/')
mapfile -t sources < <(git ls-files 'detect/*.cpp' 'modules/*.cpp' 'stackmgr/*.cpp')
mapfile -t scripts < <(git ls-files '*.sh' '.ci/run' 'packaging/stackmgr.init' 'packaging/kernel-postinst.d/*' \
  'packaging/debian/postinst' 'packaging/debian/prerm' 'packaging/debian/postrm' 2>/dev/null)

status=0
echo "clang-format: ${#cxx_files[@]} files"
clang-format --dry-run --Werror "${cxx_files[@]}" || status=1

checks=()
[ "${STACKMGR_LINT_ANALYZER:-0}" = 1 ] || checks=(-checks=-clang-analyzer-*)
# A file whose clean result was seen with the same key (tests/tidy_keys.py: the tool, the
# config, the compile command, and the content of the file and of every header it includes) is
# not checked again. Findings are never cached. STACKMGR_LINT_CACHE=0 checks every file.
tidy_cache=${XDG_CACHE_HOME:-$HOME/.cache}/stackmgr/clang-tidy
declare -A key_of=()
if [ "${STACKMGR_LINT_CACHE:-1}" = 1 ]; then
  while read -r key file; do key_of[$file]=$key; done < <(python3 "$top/tests/tidy_keys.py" "$build" "$top" "${checks[*]}" "${sources[@]}")
fi
to_check=()
for file in "${sources[@]}"; do
  [ -n "${key_of[$file]:-}" ] && [ -e "$tidy_cache/${key_of[$file]}" ] || to_check+=("$file")
done
echo "clang-tidy: ${#sources[@]} files, $((${#sources[@]} - ${#to_check[@]})) unchanged since a clean check ($tidy_cache)"
if [ "${#to_check[@]}" -gt 0 ]; then
  if run-clang-tidy -quiet -p "$build" -j "$(nproc)" "${checks[@]}" "${to_check[@]/#/$top/}" >"$build/clang-tidy.log" 2>&1; then
    mkdir -p "$tidy_cache"
    for file in "${to_check[@]}"; do
      [ -z "${key_of[$file]:-}" ] || : >"$tidy_cache/${key_of[$file]}"
    done
  else
    grep -E 'warning:|error:' "$build/clang-tidy.log" | sort -u | head -100
    status=1
  fi
fi

echo "shellcheck: ${#scripts[@]} files"
existing=()
for script in "${scripts[@]}"; do [ -f "$script" ] && existing+=("$script"); done
shellcheck -x "${existing[@]}" || status=1

exit "$status"
