#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# An aborted switch-over (issue 12 item 3), on this machine's /dev/kvm over
# loopback:
#   sh tests/host/switchback_test.sh          (TAP; exit 1 on any failure)
# Environment: KM (default build/bin/kmigrate of this checkout), PORT_BASE
# (default 49420).  Without a usable /dev/kvm: "# SKIP ..." and "1..0".
#
# The workload guest (64 MiB, 2 vCPUs writing 2 MiB without pause) is
# migrated under a 2 MiB/s cap (256 KiB/s once the bulk is over) with a
# 3000 ms limit: the final round takes a second or more.  As soon as the source says
# "stop-copy", `kmigrate set NAME --bandwidth 16K` (the operator's knob)
# drops the link under it: the stop-and-copy would now run far past the
# limit, so the source must abort it (SWITCHBACK), resume the guest here
# and go back to live rounds.  Then:
#   * the status shows the abort (switchover_aborts >= 1) while the
#     migration goes on; the guest runs on a (state running, its page
#     writes advance); on b the incoming VM is not running (its info says
#     running false, switchbacks >= 1): one runnable copy;
#   * the cap goes back to 2 MiB/s; the retry completes: the result has
#     switchover_aborts >= 1, switchover_attempts = aborts + 1, an aborted
#     round in round_history, every page verified by b (0 bad), and the
#     guest runs on b.
#   * an older destination (KMIGRATE_NO_SWITCHBACK on the source: it does
#     not offer the feature) says the abort is unavailable.
# No timing is asserted.

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KM=${KM:-$ROOT/build/bin/kmigrate}
case $KM in /*) ;; *) KM=$ROOT/$KM ;; esac
PORT_BASE=${PORT_BASE:-49420}
P1=$PORT_BASE

T=$(mktemp -d "${TMPDIR:-/tmp}/switchback_test.XXXXXX") || exit 1
A=$T/a
B=$T/b
mkdir -p "$A" "$B"
LPIDS=""
n=0
failed=0

. "$HERE/lib.sh"
. "$HERE/tap.sh"	# ok, jnum, on, cleanup

trap cleanup EXIT
trap 'exit 1' INT TERM HUP

listen() {	# listen SIDE PORT
	(KMIGRATE_RUN_DIR=$T/$1 KMIGRATE_TLS_DIR=$T/tls/$1 exec "$KM" listen \
		--address 127.0.0.1 --port "$2" --insecure --verify >>"$T/listen-$1.log" 2>&1) &
	LPIDS="$LPIDS $!"
}

# jstr KEY FILE: the first string value of "KEY"
jstr() {
	tr -d '\n' <"$2" | grep -o "\"$1\": *\"[^\"]*\"" | head -n 1 | sed 's/.*: *"//; s/"$//'
}

progress() {	# progress SIDE NAME
	on "$1" -j vmctl "$2" info 2>/dev/null | tr -d '\n' |
		grep -o '"progress": *[0-9]*' | head -n 1 | sed 's/.*: *//'
}

if [ ! -x "$KM" ]; then
	echo "# SKIP $KM not built (make tools vmm)"
	echo "1..0"
	exit 0
fi
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ] ||
   ! KMIGRATE_RUN_DIR=$A "$KM" run probe --memory 16M --detach >"$T/probe.log" 2>&1; then
	echo "# SKIP /dev/kvm is not usable here: $(tail -n 1 "$T/probe.log" 2>/dev/null)"
	echo "1..0"
	exit 0
fi
KMIGRATE_RUN_DIR=$A "$KM" stop probe >/dev/null 2>&1
sh "$ROOT/tests/lab-migrate/tls_certs.sh" "$T/tls" >/dev/null 2>&1
ok $? "credentials for a and b"
listen b "$P1"
sleep 0.5

on a run sb --memory 64M --vcpus 2 --working-set 2M --rate 0 --detach >"$T/run.log" 2>&1
ok $? "run sb: 64 MiB, 2 vCPUs writing 2 MiB without pause"
sleep 2
on a -j start sb --to "127.0.0.1:$P1" --insecure --tls-name lab-b --bandwidth 2M \
	--downtime-limit 3000 --switchover-retries 3 >"$T/sb.json" 2>"$T/sb.err" &
spid=$!
# live rounds at 256 KiB/s, so the final round lasts a second or more;
# then, in the first switch-over, drop the link under it
phase() { on a -j status sb 2>/dev/null | tr -d ' \n' | sed -n 's/.*"phase":"\([a-z-]*\)".*/\1/p'; }
waitphase() {	# waitphase PHASE SECONDS
	t_end=$(($(date +%s) + $2))
	while [ "$(date +%s)" -lt "$t_end" ]; do
		ph=$(phase)
		[ "$ph" = "$1" ] && return 0
		case "$ph" in done|resumed-report|"") return 1 ;; esac
		sleep 0.02
	done
	return 1
}
waitphase live 60 && on a set sb --bandwidth 256K >/dev/null 2>&1
waitphase stop-copy 90
ok $? "the switch-over began (phase stop-copy)"
on a set sb --bandwidth 16K >"$T/set.out" 2>&1
ok $? "set sb --bandwidth 16K during the stop-and-copy: $(cat "$T/set.out")"
i=0
while [ $i -lt 300 ]; do
	on a -j status sb >"$T/st.json" 2>/dev/null
	ab=$(jnum switchover_aborts "$T/st.json")
	[ -n "$ab" ] && [ "$ab" -ge 1 ] && break
	sleep 0.1
	i=$((i + 1))
done
[ -n "$ab" ] && [ "$ab" -ge 1 ]
ok $? "the switch-over was aborted (switchover_aborts $ab): $(grep -o 'switch-over [0-9]* aborted[^;]*' "$A/sb.log" 2>/dev/null | head -n 1)"
p1=$(progress a sb)
sleep 1
p2=$(progress a sb)
[ -n "$p1" ] && [ -n "$p2" ] && [ "$p2" -gt "$p1" ]
ok $? "the guest runs on a again: its page writes advance ($p1 -> $p2)"
on b -j vmctl sb info >"$T/binfo.json" 2>/dev/null
grep -q '"running": *false' "$T/binfo.json" && [ "$(jnum switchbacks "$T/binfo.json")" -ge 1 ]
ok $? "on b the incoming VM does not run (running false, switchbacks $(jnum switchbacks "$T/binfo.json"))"
on a set sb --bandwidth 2M >/dev/null 2>&1
wait $spid
st=$?
grep -q '"result": *"completed"' "$T/sb.json" && [ "$st" -eq 0 ]
ok $? "the retry completed (exit $st)$(jstr error "$T/sb.json")"
ab=$(jnum switchover_aborts "$T/sb.json")
at=$(jnum switchover_attempts "$T/sb.json")
[ -n "$ab" ] && [ "$ab" -ge 1 ] && [ "$at" = $((ab + 1)) ] &&
	tr -d '\n ' <"$T/sb.json" | grep -q '"kind":"aborted"'
ok $? "the result reports it: $ab aborted of $at attempts, an aborted round in round_history"
pv=$(jnum pages_verified "$T/sb.json")
[ -n "$pv" ] && [ "$pv" -gt 0 ] && [ "$(jnum verify_bad "$T/sb.json")" = 0 ]
ok $? "every page verified by b: $pv pages, $(jnum verify_bad "$T/sb.json") bad"
on b -j vmctl sb info >"$T/binfo2.json" 2>/dev/null
[ "$(jstr state "$T/binfo2.json")" = running ]
ok $? "the guest runs on b"
on b stop sb >/dev/null 2>&1

# an older destination: the abort is not available, and said so
(export KMIGRATE_NO_SWITCHBACK=1	# read by the VM's process, the source
 on a run old --memory 32M --vcpus 1 --working-set 256K --rate 100 --detach >/dev/null 2>&1)
sleep 1
on a -j start old --to "127.0.0.1:$P1" --insecure --tls-name lab-b \
	--downtime-limit 3000 >"$T/old.json" 2>"$T/old.err"
st=$?
[ "$st" -eq 0 ] && grep -q '"switchover_abort": *"unavailable' "$T/old.json"
ok $? "without SWITCHBACK on the wire: completed (exit $st), switchover_abort $(jstr switchover_abort "$T/old.json" | cut -c1-40)..."
on b stop old >/dev/null 2>&1

if [ $failed -ne 0 ]; then
	sed 's/^/# sb.err: /' "$T/sb.err" | tail -n 20
	grep 'round\|switch\|pause' "$A/sb.log" 2>/dev/null | sed 's/^/# log: /' | tail -n 30
fi
echo "1..$n"
exit $failed
