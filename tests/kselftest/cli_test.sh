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
MON=$(mktemp /tmp/kmmon.XXXXXX)
MONERR=$(mktemp /tmp/kmmonerr.XXXXXX)
trap 'rm -f "$OUT" "$MON" "$MONERR"' EXIT

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

echo "1..64"

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

# What an unprivileged user may read: versions and limits, not sessions.
exec 4<>"$DEV"
expect "version as nobody exits 0" 0 as_nobody "$(command -v "$KM")" version
has "version as nobody shows the module version" '^module version: +[0-9]'
expect "limits (read) as nobody exits 0" 0 as_nobody "$(command -v "$KM")" limits
expect "status as nobody exits 4" 4 as_nobody "$(command -v "$KM")" status
has "status as nobody says the session list needs CAP_NET_ADMIN" \
	'^kmigrate: listing sessions: Operation not permitted: the session list needs CAP_NET_ADMIN$'
if grep -q "$$" "$OUT"; then not_ok "status as nobody shows no owner pid"; else ok "status as nobody shows no owner pid"; fi
expect "status -j as nobody exits 4" 4 as_nobody "$(command -v "$KM")" -j status
expect "monitor as nobody exits 4" 4 as_nobody "$(command -v "$KM")" monitor --timeout 1
has "monitor as nobody says the events need CAP_NET_ADMIN" 'the events group needs CAP_NET_ADMIN'
exec 4>&-

expect "a bad rate is a usage error (exit 2)" 2 "$KM" limits --bandwidth 12parsecs
expect "max-sessions 0 is refused before the module is asked (exit 2)" 2 "$KM" limits --max-sessions 0

# ---- kmigrate set --session, kmigrate monitor ----

# monitor_start ARGS...: `kmigrate monitor ARGS` in the background, output in
# $MON; returns once it has subscribed (it says "listening" on stderr).
monitor_start() {
	: >"$MONERR"
	"$KM" monitor "$@" >"$MON" 2>"$MONERR" &
	MONPID=$!
	_i=0
	while ! grep -q listening "$MONERR" && [ $_i -lt 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
}
# monitor_wait DESC RC: the background monitor exits RC; $OUT gets its output.
monitor_wait() {
	wait "$MONPID"
	_rc=$?
	cat "$MON" "$MONERR" >"$OUT"
	if [ "$_rc" -eq "$2" ]; then ok "$1"; else not_ok "$1 (exit $_rc, wanted $2)"; fi
}

exec 4<>"$DEV"
"$KM" -j status >"$OUT" 2>&1
SID=$(sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p' "$OUT")
if [ -n "$SID" ]; then ok "status -j gives the session's id ($SID)"; else not_ok "status -j gives the session's id"; SID=0; fi

monitor_start --count 1 --timeout 60
expect "set --session ID --bandwidth 50M" 0 "$KM" set --session "$SID" --bandwidth 50M
has "set says the new cap" "^session $SID: bandwidth 50 MB/s"
monitor_wait "monitor --count 1 exits 0 after the bandwidth event" 0
has "monitor printed the bandwidth event of the session" " bandwidth session $SID idle bandwidth 50 MB/s"
[ "$(grep -c ' bandwidth session ' "$MON")" -eq 1 ] && ok "monitor --count 1 printed one event" || not_ok "monitor --count 1 printed one event"

expect "status -j after set" 0 "$KM" -j status
has "status -j shows the new cap" '"bandwidth":50000000'

monitor_start -j --count 1 --timeout 60
expect "set --session ID --bandwidth 1G/s" 0 "$KM" set --session "$SID" --bandwidth 1G/s
monitor_wait "monitor -j --count 1 exits 0" 0
has "monitor -j prints the event as JSON" "^\\{\"time\":\"[0-9T:.-]+Z\",\"event\":\"bandwidth\",\"id\":$SID,.*\"bandwidth\":1000000000"

expect "set -j --session ID --bandwidth unlimited" 0 "$KM" -j set --session "$SID" --bandwidth unlimited
has "set -j answers JSON" "^\\{\"session\":$SID,\"bandwidth\":0\\}"

expect "set on an unknown session exits 1" 1 "$KM" set --session 4000000000 --bandwidth 1M
has "the error names the missing session" 'no kernel migration session 4000000000'
expect "set with a bad rate exits 2" 2 "$KM" set --session "$SID" --bandwidth 12parsecs
expect "set without --bandwidth exits 2" 2 "$KM" set --session "$SID"
expect "set with neither NAME nor --session exits 2" 2 "$KM" set --bandwidth 1M
expect "set with both NAME and --session exits 2" 2 "$KM" set vm1 --session "$SID" --bandwidth 1M
expect "set with a bad session id exits 2" 2 "$KM" set --session x1 --bandwidth 1M
expect "set --session as nobody exits 4" 4 as_nobody "$(command -v "$KM")" set --session "$SID" --bandwidth 1M
has "the refusal names CAP_NET_ADMIN" 'CAP_NET_ADMIN'
expect "set for a VM that does not run exits 1" 1 env KMIGRATE_RUN_DIR=/tmp/kmcli-none "$KM" set novm --bandwidth 1M
has "the error says there is no such VM" "no VM 'novm'"
# A VM of `kmigrate run` with no migration: set is refused by the VM.
if [ -c /dev/kvm ]; then
	export KMIGRATE_RUN_DIR=/tmp/kmcli-run.$$
	expect "run clivm --detach" 0 "$KM" run clivm --memory 16M --vcpus 1 --detach
	expect "set VM without a running migration exits 1" 1 "$KM" set clivm --bandwidth 10M
	has "the VM says no migration is running" "clivm: no migration running"
	"$KM" stop clivm >/dev/null 2>&1
	unset KMIGRATE_RUN_DIR
else
	ok "# SKIP run clivm: no /dev/kvm"
	ok "# SKIP set VM without a running migration: no /dev/kvm"
	ok "# SKIP the VM says no migration is running: no /dev/kvm"
fi
expect "set --help exits 0" 0 "$KM" set --help
has "set --help shows the usage" 'Usage: kmigrate set'
exec 4>&-

expect "monitor --timeout 1 with no event exits 1" 1 "$KM" monitor --timeout 1
expect "monitor --count 0 exits 2" 2 "$KM" monitor --count 0
expect "monitor with an argument exits 2" 2 "$KM" monitor extra
expect "monitor --help exits 0" 0 "$KM" monitor --help
has "monitor --help shows the usage" 'Usage: kmigrate monitor'

[ "$FAILED" -eq 0 ]
