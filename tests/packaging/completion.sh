#!/usr/bin/env bash
# The bash completion completes what the binary knows: commands, a command's subcommands and
# options, and option values. Runs the real completion function under bash-completion.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
bash_completion=/usr/share/bash-completion/bash_completion
[ -r "$bash_completion" ] || pkg_fail "$bash_completion missing (package bash-completion)"

complete_words() { # complete_words CUR [WORD...]: what <TAB> offers for CUR after "stackmgr WORD..."
	bash --norc --noprofile -c '
		. "$1"; . "$2"; cur=$3; shift 3
		COMP_WORDS=(stackmgr "$@" "$cur"); COMP_CWORD=$(($# + 1))
		COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
		_stackmgr; printf "%s\n" "${COMPREPLY[@]}"' \
		completion "$bash_completion" "$STACKMGR_SOURCE_DIR/packaging/stackmgr.bash-completion" "$@" | sort | paste -sd' ' -
}
expect() { # expect WANTED CUR [WORD...]
	local wanted=$1 got
	shift
	got=$(complete_words "$@")
	pkg_expect_in " $got " " $wanted " "completing '$*'"
}
expect detect ""
expect hook h
expect --config --
expect kernel-installed "" hook
expect postinst p hook
expect debug "" --log-level
expect kernel-installed k --config /etc/stackmgr.toml hook
expect --json -- detect
pkg_log "bash completion offers the binary's commands, subcommands, options and values"
