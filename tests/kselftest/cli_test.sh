#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The kmigrate tool against the real kmigrate.ko, inside a lab host: what
# an operator types, checked for output, JSON and exit codes.  Run by
# run.sh with the module freshly loaded; prints TAP.
#
# Exit codes under test (tools/lib/exitcode.h): 0 ok, 2 usage, 3 module
# not loaded, 4 permission denied.

KM=${KMIGRATE:-kmigrate}
DEV=/dev/kmigrate
N=0
FAILED=0
OUT=$(mktemp /tmp/kmcli.XXXXXX)
trap 'rm -f "$OUT"' EXIT

ok()     { N=$((N + 1)); echo "ok $N $*"; }
not_ok() { N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N $*"; sed 's/^/# /' "$OUT"; }

# expect DESC RC COMMAND...: COMMAND exits RC; its output is kept in $OUT.
expect() {
	_d=$1 _want=$2
	shift 2
	"$@" >"$OUT" 2>&1
	_rc=$?
	if [ "$_rc" -eq "$_want" ]; then ok "$_d"; else not_ok "$_d (exit $_rc, wanted $_want)"; fi
}
# has DESC PATTERN: the last command's output matches the extended regex.
has() {
	if grep -Eq -- "$2" "$OUT"; then ok "$1"; else not_ok "$1 (no /$2/)"; fi
}
# as_nobody COMMAND...: run COMMAND as uid/gid 65534 (as_nobody.c).
as_nobody() { "$(dirname "$0")/as_nobody" "$@"; }

echo "1..21"

expect "version exits 0 with the module loaded" 0 "$KM" version
has "version shows the module version" '^module version: +[0-9]'
has "version shows module ABI 1" '^module ABI version: +1$'

expect "status exits 0" 0 "$KM" status
has "status shows no sessions" 'no migration sessions'

exec 4<>"$DEV" 5<>"$DEV"
expect "status with two sessions open" 0 "$KM" -j status
has "status -j counts two sessions" '"session_count":2'
has "status -j lists our pid as owner" "\"owner_pid\":$$"
has "status -j shows the IDLE state" '"state":"idle"'
exec 4>&- 5>&-

expect "limits --max-sessions 4 --bandwidth 100MiB as root" 0 "$KM" limits --max-sessions 4 --bandwidth 100MiB
expect "limits -j after the change" 0 "$KM" -j limits
has "max_sessions is 4" '"max_sessions":4'
has "default bandwidth is 100 MiB/s in bytes" '"default_bandwidth":104857600'

exec 4<>"$DEV" 5<>"$DEV" 6<>"$DEV" 7<>"$DEV"
if (exec 8<>"$DEV") 2>/dev/null; then
	not_ok "a fifth session is refused at max-sessions 4"
else
	ok "a fifth session is refused at max-sessions 4"
fi
exec 4>&- 5>&- 6>&- 7>&-

expect "limits --reset" 0 "$KM" limits --reset
expect "limits after reset" 0 "$KM" -j limits
has "reset restored 16 sessions and no cap" '"max_sessions":16.*"default_bandwidth":0|"default_bandwidth":0.*"max_sessions":16'

expect "limits as nobody exits 4" 4 as_nobody "$(command -v "$KM")" limits --max-sessions 2
has "the refusal names CAP_NET_ADMIN" 'CAP_NET_ADMIN'

expect "a bad rate is a usage error (exit 2)" 2 "$KM" limits --bandwidth 12parsecs
expect "max-sessions 0 is refused before the module is asked (exit 2)" 2 "$KM" limits --max-sessions 0

[ "$FAILED" -eq 0 ]
