#!/usr/bin/env bash
# Fails when a folder includes a header of a folder it may not use: the layering of
# docs/ARCHITECTURE.md, checked on every #include "..." of the project's sources. A lower folder
# never includes a higher one, and there are no circles.
# Usage: tests/layering/check.sh [SOURCE_DIR]
set -euo pipefail
top=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top"

# folder -> the folders it may include (besides itself). Keep in step with the CMake targets.
declare -A allowed=(
	[stackmgr/base]=""
	[detect]="stackmgr/base"
	[modules]="stackmgr/base detect"
	[stackmgr/os]="stackmgr/base detect modules"
	[stackmgr/config]="stackmgr/base detect modules stackmgr/os"
	[stackmgr/control]="stackmgr/base detect stackmgr/os"
	[stackmgr/look]="stackmgr/base detect stackmgr/os"
	[stackmgr/doctor]="stackmgr/base detect stackmgr/os"
	[stackmgr/switch]="stackmgr/base detect modules stackmgr/os stackmgr/config"
	[stackmgr/watch]="stackmgr/base detect stackmgr/os stackmgr/config"
	[stackmgr/hook]="stackmgr/base detect modules stackmgr/os stackmgr/config"
	[stackmgr/supervisor]="stackmgr/base detect modules stackmgr/os stackmgr/config stackmgr/control stackmgr/switch stackmgr/watch"
	[stackmgr/cli]="stackmgr/base detect modules stackmgr/os stackmgr/config stackmgr/control stackmgr/look stackmgr/doctor stackmgr/switch stackmgr/watch stackmgr/hook stackmgr/supervisor"
)

status=0
for folder in "${!allowed[@]}"; do
	[ -d "$folder" ] || {
		echo "layering: $folder is missing" >&2
		status=1
		continue
	}
	for file in "$folder"/*.hpp "$folder"/*.cpp; do
		[ -f "$file" ] || continue
		while IFS= read -r included; do
			target=$(dirname "$included")
			[ "$target" = "$folder" ] && continue
			case " ${allowed[$folder]} " in
			*" $target "*) ;;
			*)
				echo "layering: $file includes $included, but $folder may only use: ${allowed[$folder]:-nothing}" >&2
				status=1
				;;
			esac
		done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$file")
	done
done
# Only main.cpp and the CMake file live directly in stackmgr/.
for file in stackmgr/*; do
	[ -d "$file" ] && continue
	case $file in stackmgr/main.cpp | stackmgr/CMakeLists.txt) ;; *)
		echo "layering: $file belongs in a subfolder of stackmgr/" >&2
		status=1
		;;
	esac
done
[ "$status" -eq 0 ] && echo "layering: every include follows docs/ARCHITECTURE.md"
exit "$status"
