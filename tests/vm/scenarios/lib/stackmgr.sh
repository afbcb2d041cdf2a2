# shellcheck shell=sh
# Helpers for the scenarios that drive stackmgr in the guest. Each such scenario
# gets this file as /scenario/stackmgr.sh (add_vm_scenario ... FILES) and
# sources it after guest/lib.sh:
#     . "$VM_LIB"
#     . /scenario/stackmgr.sh
#
#   S                          /usr/sbin/stackmgr
#   GUARD                      stackmgr's autoload guard file
#   NATIVE_CORE, NATIVE_ALL    the native stack's module names (catalog defaults)
#   json_flat FILE             every scalar of a JSON document as PATH<TAB>VALUE
#                              (strings unquoted), e.g. "stacks.native.verdict<TAB>loadable"
#   json_get FILE PATH         the value at PATH (exit 1 when absent)
#   json_module FILE NAME KEY  KEY of the "modules" entry named NAME
#   expect_json DESC FILE PATH VALUE
#                              pass when json_get FILE PATH prints VALUE
#   expect_json_module DESC FILE NAME KEY VALUE
#   loaded_modules             the names in /proc/modules, sorted, one a line
#   live_count NAMES...        how many of NAMES are live
#   all_live NAMES... / none_loaded NAMES...
#                              exit 0 when every NAME is live / no NAME is loaded;
#                              an argument may hold several names ("$NATIVE_ALL")
#   standin_lines              kernel log lines (since dmesg_mark) of the KLIPS
#                              stand-in's init or its failure; empty when it never ran
#   line_of FILE TEXT          number of the first line of FILE containing TEXT (0: none)
#   before N M                 exit 0 when line N exists (> 0) and comes before line M
#   stackmgr_json NAME ARGS... run stackmgr ARGS... --json into /tmp/NAME.json
#                              (VM_RC = its exit status; nothing is judged)
#   install_standin_daemon [LINE...]
#                              write STANDIN_DAEMON (a busybox sh keying daemon that
#                              says which stack it runs on and sleeps until SIGTERM)
#                              and /etc/stackmgr/stackmgr.toml running it on either
#                              stack; each LINE is a top-level config line before it
#   install_standin_daemon_program
#                              write only STANDIN_DAEMON (the config is already there)
#   daemon_stack_is STACK      a stand-in daemon runs with STACK as its argument

# shellcheck disable=SC2034 # used by the scenarios that source this file
S=/usr/sbin/stackmgr
# shellcheck disable=SC2034
GUARD=/run/modprobe.d/stackmgr-guard.conf
# shellcheck disable=SC2034
NATIVE_CORE="af_key esp4 ah4"
# shellcheck disable=SC2034
NATIVE_ALL="af_key esp4 ah4 xfrm_user xfrm4_tunnel esp6 ah6 xfrm6_tunnel ipcomp ipcomp6"

# A small JSON reader for busybox awk: no jq in the guest.
_SM_JSON_AWK='
function ws() { while (pos <= len && index(" \t\r\n", substr(s, pos, 1)) > 0) pos++ }
function str(   out, c, e) {
	out = ""
	pos++
	while (pos <= len) {
		c = substr(s, pos, 1)
		if (c == "\"") { pos++; return out }
		if (c == "\\") {
			e = substr(s, pos + 1, 1)
			if (e == "n") out = out "\\n"
			else if (e == "t") out = out "\\t"
			else if (e == "u") { out = out "\\u" substr(s, pos + 2, 4); pos += 4 }
			else out = out e
			pos += 2
			continue
		}
		out = out c
		pos++
	}
	bad = 1
	return out
}
function val(path,   c, k, i, start) {
	ws()
	c = substr(s, pos, 1)
	if (c == "{") {
		pos++; ws()
		if (substr(s, pos, 1) == "}") { pos++; print path "\t{}"; return }
		while (pos <= len) {
			ws()
			if (substr(s, pos, 1) != "\"") { bad = 1; return }
			k = str()
			ws()
			if (substr(s, pos, 1) != ":") { bad = 1; return }
			pos++
			val(path == "" ? k : path "." k)
			if (bad) return
			ws()
			c = substr(s, pos, 1)
			pos++
			if (c == "}") return
			if (c != ",") { bad = 1; return }
		}
		bad = 1; return
	}
	if (c == "[") {
		pos++; ws()
		if (substr(s, pos, 1) == "]") { pos++; print path "\t[]"; return }
		i = 0
		while (pos <= len) {
			val(path "[" i "]")
			if (bad) return
			i++
			ws()
			c = substr(s, pos, 1)
			pos++
			if (c == "]") return
			if (c != ",") { bad = 1; return }
		}
		bad = 1; return
	}
	if (c == "\"") { k = str(); print path "\t" k; return }
	start = pos
	while (pos <= len && index(",]} \t\r\n", substr(s, pos, 1)) == 0) pos++
	if (pos == start) { bad = 1; return }
	print path "\t" substr(s, start, pos - start)
}
{ s = s $0 "\n" }
END {
	len = length(s); pos = 1; bad = 0
	val("")
	ws()
	if (bad || pos <= len) { print "json: malformed input near offset " pos > "/dev/stderr"; exit 1 }
}'

json_flat() { awk "$_SM_JSON_AWK" "$1"; }

json_get() {
	json_flat "$1" | awk -F '\t' -v p="$2" '$1 == p { sub(/^[^\t]*\t/, ""); print; found = 1; exit } END { exit !found }'
}

json_module() {
	json_flat "$1" | awk -F '\t' -v n="$2" -v k="$3" '
		match($1, /^modules\[[0-9]+\]\.name$/) && $2 == n { idx = substr($1, 1, length($1) - 5) }
		{ v[$1] = $0 }
		END {
			if (idx == "" || !((idx "." k) in v)) exit 1
			line = v[idx "." k]; sub(/^[^\t]*\t/, "", line); print line
		}'
}

expect_json() {
	_got=$(json_get "$2" "$3" 2>&1) || _got="(absent)"
	if [ "$_got" = "$4" ]; then
		_vm_report 0 "$1"
	else
		_vm_report 1 "$1"
		printf '#   %s: got "%s", expected "%s"\n' "$3" "$_got" "$4"
	fi
}

expect_json_module() {
	_got=$(json_module "$2" "$3" "$4" 2>&1) || _got="(absent)"
	if [ "$_got" = "$5" ]; then
		_vm_report 0 "$1"
	else
		_vm_report 1 "$1"
		printf '#   modules[%s].%s: got "%s", expected "%s"\n' "$3" "$4" "$_got" "$5"
	fi
}

loaded_modules() { cut -d' ' -f1 /proc/modules | LC_ALL=C sort; }

live_count() {
	_n=0
	# shellcheck disable=SC2048,SC2086 # split "$NATIVE_ALL" into names
	for _m in $*; do
		module_is "$_m" live && _n=$((_n + 1))
	done
	echo "$_n"
}

all_live() {
	# shellcheck disable=SC2048,SC2086
	set -- $*
	[ "$(live_count "$@")" = "$#" ]
}

none_loaded() {
	# shellcheck disable=SC2048,SC2086
	for _m in $*; do
		grep -q "^$_m " /proc/modules && return 1
	done
	return 0
}

standin_lines() { dmesg_since | grep -E 'ipsec: (stackmgr KLIPS test stand-in|stand-in)'; }

line_of() {
	_n=$(grep -nF -- "$2" "$1" | head -n 1 | cut -d: -f1)
	echo "${_n:-0}"
}

before() { [ "$1" -gt 0 ] && [ "$1" -lt "$2" ]; }

stackmgr_json() {
	_name=$1
	shift
	VM_RC=0
	"$S" "$@" --json >"/tmp/$_name.json" 2>"/tmp/$_name.err" || VM_RC=$?
	printf '#   $ stackmgr %s --json  -> rc=%d\n' "$*" "$VM_RC"
	_vm_indent "/tmp/$_name.json"
	[ -s "/tmp/$_name.err" ] && _vm_indent "/tmp/$_name.err"
	return 0
}

# shellcheck disable=SC2034
STANDIN_DAEMON=/usr/local/sbin/standin-daemon

install_standin_daemon() {
	install_standin_daemon_program
	mkdir -p /etc/stackmgr
	{
		for _line; do printf '%s\n' "$_line"; done
		printf '[daemon]\nargv.native = ["%s", "{stack}"]\nargv.klips = ["%s", "{stack}"]\n' \
			"$STANDIN_DAEMON" "$STANDIN_DAEMON"
		printf 'expect_notify = false\nstop_timeout = "5s"\n'
	} >/etc/stackmgr/stackmgr.toml
	chmod 0644 /etc/stackmgr/stackmgr.toml
}

install_standin_daemon_program() {
	mkdir -p /usr/local/sbin
	cat >"$STANDIN_DAEMON" <<'SCRIPT'
#!/bin/sh
# A stand-in keying daemon: says which stack it runs on, then sleeps until SIGTERM.
echo "stand-in daemon on $1, pid $$"
trap 'exit 0' TERM
while :; do
	sleep 3600 &
	wait $!
done
SCRIPT
	chmod 0755 "$STANDIN_DAEMON"
}

daemon_stack_is() {
	for _c in /proc/[0-9]*/cmdline; do
		case "$(tr '\0' ' ' <"$_c" 2>/dev/null)" in
		*"standin-daemon $1"*) return 0 ;;
		esac
	done
	return 1
}
