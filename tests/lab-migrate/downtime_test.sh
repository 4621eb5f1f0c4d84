#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The downtime limit holds (two lab hosts, nested KVM, userspace path):
#   tests/lab/lab.sh run --kernel 6.1 --hosts 2 --payload DIR --timeout 400 \
#       -- sh bin/downtime_test.sh
# with DIR/bin/kmigrate and DIR/bin/downtime_test.sh.  Prints TAP on each
# host (the plan comes last).
#
# b runs one `kmigrate listen` (no --once) for the whole test and stops each
# guest that arrives.  a runs guests of 64 MiB, 2 vCPUs writing DT_RATE pages
# a second each (default 200), and migrates each with --downtime-limit L for
# L in DT_LIMITS (default "300 100 50 20"), in ring and in bitmap mode.  Each
# migration must either
#   * complete with downtime_ms <= L (never a completed migration that
#     overshot the limit the operator set), or
#   * fail clearly ("not converging": the fixed costs exceed the limit, or
#     the guest dirties faster than the link) with the guest still running
#     and intact on a.
# The predicted and measured downtimes (and the measured breakdown) are
# printed as TAP comments.  A last tiny guest, dtdone, tells b that a is done.
#
# With kmigrate.ko in the payload both hosts load it and the migrations run
# with --datapath kernel (ring mode: the module harvests and sends; bitmap
# mode: libvmm harvests, the module sends); each result must say so.
# MIG_DATAPATH overrides (labtest.sh, km_module_load).

KM=${KMIGRATE:-kmigrate}
export KMIGRATE_RUN_DIR=${KMIGRATE_RUN_DIR:-/run/kmigrate/vms}
RATE=${DT_RATE:-200}
LIMITS=${DT_LIMITS:-"300 100 50 20"}
MODES=${DT_MODES:-"ring bitmap"}
PORT=49152
MEM_MIB=64
N=0
FAILED=0
OUT=/tmp/downtime_test.$$
mkdir -p "$OUT"

. "$(dirname "$0")/labtest.sh"	# ok, jfield, info, km_module_load, dp_result
km_module_load

echo "# host $LAB_HOST, kernel $(uname -r), migration address $LAB_MIG_ADDR, peer $LAB_PEER_MIG_ADDR"

if [ "$LAB_HOST" = b ]; then
	"$KM" listen --address "$LAB_MIG_ADDR" --port $PORT >"$OUT/listen" 2>&1 &
	lpid=$!
	got=0
	seen=" "
	i=0
	# stop every guest that arrives; a's dtdone ends the test (500 s at most)
	while [ $i -lt 5000 ]; do
		"$KM" vms >"$OUT/vms" 2>/dev/null
		for n in $(awk '$0 ~ / running / { print $1 }' "$OUT/vms"); do
			case "$seen" in *" $n "*) continue ;; esac
			seen="$seen$n "
			[ "$n" = dtdone ] && continue
			got=$((got + 1))
			"$KM" stop "$n" >/dev/null 2>&1
		done
		case "$seen" in *" dtdone "*) break ;; esac
		sleep 0.1
		i=$((i + 1))
	done
	case "$seen" in *" dtdone "*) r=0 ;; *) r=1 ;; esac
	ok $r "a's last guest (dtdone) arrived; $got test guests received and stopped"
	kill -0 "$lpid" 2>/dev/null
	ok $? "one listener (no --once) served every migration and still runs"
	kill "$lpid" 2>/dev/null
	wait "$lpid" 2>/dev/null
	sed 's/^/# listen: /' "$OUT/listen"
	"$KM" stop dtdone >/dev/null 2>&1
	finish
fi

# ---------------------------------------------------------------- host a
TO="[$LAB_PEER_MIG_ADDR]:$PORT"
echo "# limit  mode    predicted  measured  result"
for mode in $MODES; do
	for L in $LIMITS; do
		n=dt-$mode-$L
		"$KM" run "$n" --memory ${MEM_MIB}M --vcpus 2 --rate "$RATE" --dirty-log "$mode" \
			--detach >"$OUT/run" 2>&1
		ok $? "run $n --memory ${MEM_MIB}M --vcpus 2 --rate $RATE --dirty-log $mode"
		sleep 2
		# --no-verify: the destination's check of the workload's memory runs
		# in the guest's pause (before its vCPUs start), an instrument the
		# limit is not about (the abort case below verifies)
		"$KM" start "$n" --to "$TO" --downtime-limit "$L" --connect-timeout 120 \
			--no-verify --datapath "$DATAPATH" --json >"$OUT/start" 2>"$OUT/start.err"
		st=$?
		sed 's/^/# start: /' "$OUT/start.err"
		r=$(cat "$OUT/start")
		echo "# result: $r"
		res=$(jfield "$r" result)
		pred=$(jfield "$r" predicted_pause_ms)
		meas=$(jfield "$r" downtime_ms)
		bd=$(printf '%s\n' "$r" | sed -n 's/.*"downtime_breakdown_ms":\({[^}]*}\).*/\1/p')
		echo "# TABLE limit=$L mode=$mode predicted=${pred:-?}ms measured=${meas:-?}ms result=$res pause_to_ready=$(jfield "$r" pause_to_ready_ms)ms can_reach=$(jfield "$r" can_reach_ms)ms aborts=$(jfield "$r" switchover_aborts)"
		echo "#   breakdown: ${bd:-none}"
		dp_result "$r" "$DATAPATH"
		ok $? "$n: on the $DATAPATH data path ($(jfield "$r" datapath))"
		grep 'trial pause:\|round [0-9]*:\|stop-and-copy:\|pause:\|aborted' "$KMIGRATE_RUN_DIR/$n.log" 2>/dev/null |
			sed 's/^/#   log: /'
		if [ "$res" = completed ]; then
			awk -v m="$meas" -v l="$L" 'BEGIN { exit !(m != "" && m != "null" && m + 0 <= l + 0) }'
			ok $? "$n: completed within the limit: downtime $meas ms <= $L ms (predicted $pred ms, $(jfield "$r" rounds) rounds)"
			[ "$st" -eq 0 ]
			ok $? "$n: start exits 0"
			wait_gone "$n"
			ok $? "$n: gone from a"
		else
			err=$(jfield "$r" error)
			err=$(printf '%s\n' "$r" | sed -n 's/.*"error":"\([^"]*\)".*/\1/p')
			[ "$st" -ne 0 ] && [ "$res" = failed ] &&
				printf '%s\n' "$err" | grep -q "not converging" &&
				printf '%s\n' "$err" | grep -q "refused before the pause" &&
				printf '%s\n' "$err" | grep -q "can reach [0-9]* ms here"
			ok $? "$n: refused before the pause, saying what it can reach: $err"
			p1=$(jfield "$(info "$n")" progress)
			sleep 1
			j=$(info "$n")
			p2=$(jfield "$j" progress)
			[ "$(jfield "$j" state)" = running ] && [ -n "$p1" ] && [ -n "$p2" ] &&
				[ "$p2" -gt "$p1" ]
			ok $? "$n: still runs on a ($p1 -> $p2 page writes in 1 s)"
			v=$("$KM" vmctl "$n" verify 2>&1)
			[ "$(jfield "$v" passed)" = true ] && [ "$(jfield "$v" bad)" = 0 ]
			ok $? "$n: memory verifies on a ($(jfield "$v" stamped) stamped, $(jfield "$v" bad) bad)"
			"$KM" stop "$n" >/dev/null 2>&1
			wait_gone "$n"
		fi
	done
done

# An aborted switch-over: the link drops under the stop-and-copy (`set
# --bandwidth 16K` once the source says stop-copy); the source aborts it
# (SWITCHBACK), the guest runs on a again, nothing runs on b; with the cap
# back the retry completes and every page verifies on b.  The bulk goes at
# 2 MiB/s, the live rounds at 256 KiB/s, so that the final round lasts
# seconds (a status call takes a good part of one here).
n=dt-abort
phase() { "$KM" -j status "$n" 2>/dev/null | tr -d ' \n' | sed -n 's/.*"phase":"\([a-z-]*\)".*/\1/p'; }
waitphase() {	# waitphase PHASE SECONDS
	t_end=$(($(date +%s) + $2))
	while [ "$(date +%s)" -lt "$t_end" ]; do
		ph=$(phase)
		[ "$ph" = "$1" ] && return 0
		case "$ph" in done|resumed-report|"") return 1 ;; esac
		sleep 0.05
	done
	return 1
}
"$KM" run "$n" --memory ${MEM_MIB}M --vcpus 2 --working-set 2M --rate 0 --detach >"$OUT/run" 2>&1
ok $? "run $n: 2 vCPUs writing 2 MiB without pause"
sleep 2
"$KM" start "$n" --to "$TO" --downtime-limit 3000 --bandwidth 2M --connect-timeout 120 \
	--datapath "$DATAPATH" --json >"$OUT/start" 2>"$OUT/start.err" &
spid=$!
waitphase live 60 && "$KM" set "$n" --bandwidth 256K >/dev/null 2>&1
waitphase stop-copy 90
ok $? "$n: the switch-over began (phase stop-copy)"
"$KM" set "$n" --bandwidth 16K >"$OUT/set" 2>&1
ok $? "$n: set --bandwidth 16K in the stop-and-copy ($(cat "$OUT/set"))"
t_end=$(($(date +%s) + 30))
ab=
while [ "$(date +%s)" -lt "$t_end" ]; do
	ab=$("$KM" -j status "$n" 2>/dev/null | tr -d ' \n' | sed -n 's/.*"switchover_aborts":\([0-9]*\).*/\1/p')
	[ -n "$ab" ] && [ "$ab" -ge 1 ] && break
	sleep 0.1
done
[ -n "$ab" ] && [ "$ab" -ge 1 ]
ok $? "$n: the switch-over was aborted (switchover_aborts ${ab:-?})"
p1=$(jfield "$(info "$n")" progress)
sleep 1
j=$(info "$n")
p2=$(jfield "$j" progress)
# its state says "migrating" while the rounds go on; its writes advancing
# say it runs
st_a=$(jfield "$j" state)
{ [ "$st_a" = running ] || [ "$st_a" = migrating ]; } && [ -n "$p1" ] && [ -n "$p2" ] &&
	[ "$p2" -gt "$p1" ]
ok $? "$n: runs on a again (state $st_a, $p1 -> $p2 page writes in 1 s)"
"$KM" set "$n" --bandwidth 2M >/dev/null 2>&1
wait $spid
st=$?
sed 's/^/# start: /' "$OUT/start.err"
r=$(cat "$OUT/start")
echo "# result: $r"
grep 'trial pause:\|round [0-9]*:\|stop-and-copy:\|pause:\|aborted' "$KMIGRATE_RUN_DIR/$n.log" 2>/dev/null |
	sed 's/^/#   log: /'
[ "$st" -eq 0 ] && [ "$(jfield "$r" result)" = completed ]
ok $? "$n: the retry completed (exit $st): downtime $(jfield "$r" downtime_ms) ms"
ab=$(jfield "$r" switchover_aborts)
at=$(jfield "$r" switchover_attempts)
[ -n "$ab" ] && [ "$ab" -ge 1 ] && [ "$at" = $((ab + 1)) ] &&
	printf '%s\n' "$r" | grep -q '"kind":"aborted"'
ok $? "$n: the result reports ${ab:-?} aborted of ${at:-?} attempts, the aborted round in round_history"
pv=$(jfield "$r" pages_verified)
[ "$(jfield "$r" verify_bad)" = 0 ] && [ -n "$pv" ] && [ "$pv" != null ] && [ "$pv" -gt 0 ]
ok $? "$n: every page verified on b (${pv:-?} pages, $(jfield "$r" verify_bad) bad)"
wait_gone "$n"
ok $? "$n: gone from a"
"$KM" stop "$n" >/dev/null 2>&1

# tell b that we are done
"$KM" run dtdone --memory 16M --detach >/dev/null 2>&1
"$KM" start dtdone --to "$TO" --downtime-limit 1000 --connect-timeout 120 --json \
	>"$OUT/start" 2>"$OUT/start.err"
st=$?
[ $st -eq 0 ] || sed 's/^/# start dtdone: /' "$OUT/start.err" "$OUT/start"
ok $st "dtdone migrated to b (end of test)"
"$KM" stop dtdone >/dev/null 2>&1
finish
