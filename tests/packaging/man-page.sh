#!/usr/bin/env bash
# stackmgr(8) renders without a single groff or man warning (what lintian checks too), and its
# EXIT STATUS section lists every code in stackmgr/base/exit_codes.hpp.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
pkg_need_cmd man man-db
page=$STACKMGR_SOURCE_DIR/packaging/stackmgr.8

warnings=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null)
[ -z "$warnings" ] || pkg_fail "man --warnings on stackmgr.8:"$'\n'"$warnings"

exit_status=$(sed -n '/^\.SH EXIT STATUS/,/^\.SH /p' "$page")
codes=$(sed -n 's/^ *[a-z_]* = \([0-9]*\),.*/\1/p' "$STACKMGR_SOURCE_DIR/stackmgr/base/exit_codes.hpp" | sort -un)
[ -n "$codes" ] || pkg_fail "no exit codes parsed from stackmgr/base/exit_codes.hpp"
for code in $codes; do
	grep -qx "\.B $code" <<<"$exit_status" || pkg_fail "stackmgr.8 EXIT STATUS does not list exit code $code"
done
pkg_log "stackmgr.8: no warnings; exit codes $(paste -sd' ' - <<<"$codes") documented"
