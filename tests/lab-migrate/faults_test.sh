#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Migration faults between two lab hosts (userspace path), `make
# lab-migrate-faults`:
#   tests/lab/lab.sh run --kernel 6.1 --hosts 2 --payload DIR --timeout 600 \
#       -- sh bin/faults_test.sh
# with DIR/bin/kmigrate, DIR/bin/badstream and DIR/bin/faults_test.sh.  Host b
# runs one `kmigrate listen` (not --once) for the whole test; host a sends.
# The hosts meet over the migration network: badstream and `kmigrate start`
# retry connecting, and `badstream gate-open`/`gate-wait` (port 49154) mark
# the end of a phase.  b's proxy (`badstream proxy`, port 49153) sits between
# a's `kmigrate start` and the listener where a stream must be changed.
#
#   1. bad streams: garbage, truncation mid-PAGES, wrong version, unknown
#      required feature, bad HELLO length, unknown record type, gfn beyond
#      guest memory, COMMIT without END (badstream case ...), then a real
#      source whose FINAL round page is corrupted, and one whose END totals
#      are wrong (proxy): ERROR (DIGEST), never READY, nothing runs on b, the
#      guest keeps running on a; the listener keeps serving: a real
#      migration completes afterwards.
#   2. cancel in the bulk pass and in a live round: the guest stays on a.
#   3. the destination's child is killed at the handoff (END sent, the
#      source's guest paused, waiting for READY): the guest resumes on a;
#      then a cancels at that same point (b holds END): the guest resumes
#      on a and never runs on b.
#   4. an idle guest converges in few rounds; an unlimited random writer
#      completes within the downtime limit or fails as not converging, in
#      bounded time.
#
# With kmigrate.ko in the payload both hosts load it and every `kmigrate
# start` runs with --datapath kernel (the module's records must pass the
# same digest checks: a corrupted FINAL-round page is caught); MIG_DATAPATH
# overrides (labtest.sh, km_module_load).

KM=${KMIGRATE:-kmigrate}
BS=${BADSTREAM:-badstream}
export KMIGRATE_RUN_DIR=${KMIGRATE_RUN_DIR:-/run/kmigrate/vms}
PORT=49152
PPORT=49153
GPORT=49154
DOWNTIME=300
N=0
FAILED=0
OUT=/tmp/faults_test.$$
mkdir -p "$OUT"

. "$(dirname "$0")/labtest.sh"	# ok, jfield, info, km_module_load, dp_result
km_module_load

gate_wait() {	# NAME: a's gate-open NAME
	m=$("$BS" gate-wait "$LAB_MIG_ADDR" $GPORT 400)
	st=$?
	echo "# gate: $m"
	[ $st -eq 0 ] && [ "$m" = "$1" ]
	ok $? "gate $1 from $LAB_PEER"
}
gate_open() { "$BS" gate-open "$LAB_PEER_MIG_ADDR" $GPORT 400 "$1"; }

# migrate_to NAME OUTFILE PORT [ARGS]: kmigrate start --json toward b
migrate_to() {
	n=$1
	f=$2
	p=$3
	shift 3
	timeout 240 "$KM" start "$n" --to "[$LAB_PEER_MIG_ADDR]:$p" --downtime-limit "$DOWNTIME" \
		--connect-timeout 120 --datapath "$DATAPATH" --json "$@" >"$f" 2>"$f.err"
}

show_start() {	# OUTFILE: start's log and result, as comments
	sed 's/^/# start: /' "$1.err"
	echo "# result: $(cat "$1")"
}

# check_stays NAME WHAT: NAME still runs here, progresses, verifies
check_stays() {
	p1=$(jfield "$(info "$1")" progress)
	sleep 1
	j=$(info "$1")
	p2=$(jfield "$j" progress)
	[ "$(jfield "$j" state)" = running ] && [ -n "$p1" ] && [ -n "$p2" ] && [ "$p2" -gt "$p1" ]
	ok $? "$2: $1 runs on here again ($p1 -> $p2 page writes in 1 s)"
	v=$("$KM" vmctl "$1" verify 2>&1)
	[ "$(jfield "$v" passed)" = true ] && [ "$(jfield "$v" bad)" = 0 ]
	ok $? "$2: $1's memory verifies ($(jfield "$v" stamped) stamped, $(jfield "$v" bad) bad)"
}

wait_phase() {	# NAME PHASE: until NAME's migration is in PHASE (60 s); prints the last seen
	i=0
	ph=
	while [ $i -lt 1200 ]; do
		ph=$(jfield "$("$KM" vmctl "$1" migrate-status 2>/dev/null)" phase)
		[ "$ph" = "$2" ] && break
		sleep 0.05
		i=$((i + 1))
	done
	echo "$ph"
}

not_here() {	# NAME WHAT: NAME does not run on this host
	sleep 0.5
	"$KM" vms >"$OUT/vms" 2>&1
	sed 's/^/# vms: /' "$OUT/vms"
	! grep -q "^$1 " "$OUT/vms"
	ok $? "$2: no $1 on $LAB_HOST"
}

listener_alive() {	# WHAT
	kill -0 "$lpid" 2>/dev/null
	ok $? "$1: the listener (pid $lpid) still serves"
}

wait_running() {	# NAME: until vms lists it running (120 s)
	i=0
	while [ $i -lt 600 ]; do
		"$KM" vms 2>/dev/null | grep -q "^$1 .* running " && return 0
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

echo "# host $LAB_HOST, kernel $(uname -r), migration address $LAB_MIG_ADDR, peer $LAB_PEER_MIG_ADDR"

if [ "$LAB_HOST" = b ]; then
	"$KM" listen --address "$LAB_MIG_ADDR" --port $PORT --verify >"$OUT/listen" 2>&1 &
	lpid=$!
	# every VM b ever lists, with its state, 5 times a second
	( while [ ! -e "$OUT/stopmon" ]; do "$KM" vms 2>/dev/null | sed 1d; sleep 0.2; done ) \
		>"$OUT/vmslog" &
	mpid=$!

	# 1. a corrupted page in the FINAL round, wrong END totals (the bad
	#    streams of badstream come meanwhile)
	for mode in corrupt-final-page bad-end-totals; do
		"$BS" proxy "$LAB_MIG_ADDR" $PPORT "$LAB_MIG_ADDR" $PORT $mode >"$OUT/proxy" 2>&1
		st=$?
		cat "$OUT/proxy"
		ok $st "phase 1: $mode: the destination answers ERROR (digest), never READY"
		not_here vmf "phase 1: $mode"
	done
	gate_wait p1
	listener_alive "phase 1"
	wait_running vmf
	ok $? "phase 1: after the bad streams a real migration (vmf) still comes in and runs"
	v=$("$KM" vmctl vmf verify 2>&1)
	[ "$(jfield "$v" passed)" = true ] && [ "$(jfield "$v" bad)" = 0 ]
	ok $? "phase 1: vmf verifies on b ($(jfield "$v" stamped) stamped, $(jfield "$v" bad) bad)"
	"$KM" stop vmf >/dev/null 2>&1
	wait_gone vmf
	sort -u "$OUT/vmslog" | sed 's/^/# seen: /'
	! grep -q '^bad-[a-z]* .* \(running\|handoff\|paused\) ' "$OUT/vmslog"
	ok $? "phase 1: no bad-* VM ever ran on b (only 'incoming' while receiving)"
	"$KM" vms >"$OUT/vms" 2>&1
	! grep -q '^bad-' "$OUT/vms"
	ok $? "phase 1: no bad-* VM is left on b"
	! grep -q 'bad-.*READY sent' "$OUT/listen"
	ok $? "phase 1: the listener never sent READY for a bad stream"
	grep 'failed\|refus' "$OUT/listen" | sed 's/^/# listen: /'

	# 2. a cancels in bulk, then in a live round
	gate_wait p2
	listener_alive "phase 2"
	not_here vmc "phase 2 (after both cancels)"
	! grep -q '^vmc .* \(running\|handoff\) ' "$OUT/vmslog"
	ok $? "phase 2: vmc never ran on b"

	# 3. kill the receiving child when END arrives (the guest is paused on a)
	"$BS" proxy "$LAB_MIG_ADDR" $PPORT "$LAB_MIG_ADDR" $PORT on-end \
		"p=\$(kmigrate vmctl vmk info | sed -n 's/.*\"pid\":\([0-9]*\).*/\1/p'); echo \"# killing vmk's child \$p (\$(kmigrate vmctl vmk info))\"; [ -n \"\$p\" ] && kill -9 \$p" \
		>"$OUT/proxy" 2>&1
	st=$?
	cat "$OUT/proxy"
	ok $st "phase 3: the destination child was killed at the handoff (END held), no READY"
	not_here vmk "phase 3"
	listener_alive "phase 3"

	# 3b. hold END 5 s: a cancels while its guest is paused waiting for
	#     READY; whatever b answers then, the guest must not run here
	"$BS" proxy "$LAB_MIG_ADDR" $PPORT "$LAB_MIG_ADDR" $PORT on-end "sleep 5" \
		>"$OUT/proxy" 2>&1
	cat "$OUT/proxy"
	gate_wait p3b
	not_here vmz "phase 3b"
	! grep -q '^vmz .* running ' "$OUT/vmslog"
	ok $? "phase 3b: vmz never ran on b"
	listener_alive "phase 3b"

	# 4. idle and heavy writers: a's gate says how they ended
	m=$("$BS" gate-wait "$LAB_MIG_ADDR" $GPORT 400)
	echo "# gate: $m"
	case "$m" in p4\ *) st=0 ;; *) st=1 ;; esac
	ok $st "gate p4 from $LAB_PEER"
	"$KM" vms >"$OUT/vms" 2>&1
	sed 's/^/# vms: /' "$OUT/vms"
	for v in vmi vmh; do
		case "$m" in
		*" $v=completed"*)
			grep -q "^$v .* running " "$OUT/vms"
			ok $? "phase 4: $v completed on a and runs on b" ;;
		*)
			! grep -q "^$v " "$OUT/vms"
			ok $? "phase 4: $v did not complete on a and is not on b" ;;
		esac
		"$KM" stop $v >/dev/null 2>&1
	done
	listener_alive "end"
	grep -v 'verified' "$OUT/listen" | sed 's/^/# listen: /'
	touch "$OUT/stopmon"
	wait "$mpid"
	kill "$lpid" 2>/dev/null
	wait "$lpid" 2>/dev/null
	finish
fi

# ---------------------------------------------------------------- host a
# 1. bad streams
for c in garbage truncate version feature length type range order; do
	"$BS" case $c "$LAB_PEER_MIG_ADDR" $PORT 120 >"$OUT/case" 2>&1
	st=$?
	cat "$OUT/case"
	ok $st "phase 1: bad stream '$c': the destination refuses it (ERROR/close), never READY"
done

"$KM" run vmf --memory 16M --rate 1000 --detach >"$OUT/run" 2>&1
ok $? "run vmf --memory 16M --rate 1000 --detach"
sleep 2
for mode in corrupt-final-page bad-end-totals; do
	migrate_to vmf "$OUT/start" $PPORT
	st=$?
	show_start "$OUT/start"
	r=$(cat "$OUT/start")
	[ $st -eq 1 ] && [ "$(jfield "$r" result)" = failed ] &&
		grep -q '"error":"the destination refused: [^"]*digest mismatch' "$OUT/start"
	ok $? "phase 1: $mode: start fails: $(jfield "$r" error)"
	check_stays vmf "phase 1: $mode"
done
migrate_to vmf "$OUT/start" $PORT
st=$?
show_start "$OUT/start"
[ $st -eq 0 ] && [ "$(jfield "$(cat "$OUT/start")" result)" = completed ] &&
	dp_result "$(cat "$OUT/start")" "$DATAPATH"
ok $? "phase 1: the listener still serves: vmf migrates to b after the bad streams ($DATAPATH data path)"
sed 's/^/# vmf.log: /' "$KMIGRATE_RUN_DIR/vmf.log"
wait_gone vmf
gate_open p1

# 2. cancel in the bulk pass and in a live round (the writer outruns the
#    link capped at 1-2 MiB/s; --max-rounds 1000 keeps the source in its rounds)
"$KM" run vmc --memory 16M --rate 1000 --detach >"$OUT/run" 2>&1
ok $? "run vmc --memory 16M --rate 1000 --detach"
sleep 3
for want in bulk live; do
	if [ $want = bulk ]; then
		migrate_to vmc "$OUT/start" $PORT --bandwidth 1MiB &
	else
		migrate_to vmc "$OUT/start" $PORT --bandwidth 2MiB --max-rounds 1000 &
	fi
	spid=$!
	ph=$(wait_phase vmc $want)
	[ $want = bulk ] && sleep 1
	[ $want = live ] && sleep 0.3
	s=$("$KM" vmctl vmc migrate-status 2>/dev/null)
	ph2=$(jfield "$s" phase)
	"$KM" cancel vmc >"$OUT/cancel" 2>&1
	cst=$?
	sed 's/^/# cancel: /' "$OUT/cancel"
	[ "$ph" = $want ] && [ "$ph2" = $want ] && [ $cst -eq 0 ]
	ok $? "phase 2: kmigrate cancel vmc in phase $want (seen '$ph', '$ph2' at the cancel: round $(jfield "$s" round))"
	wait $spid
	st=$?
	show_start "$OUT/start"
	r=$(cat "$OUT/start")
	[ $st -eq 1 ] && [ "$(jfield "$r" result)" = cancelled ]
	ok $? "phase 2 ($want): start exits 1 ($st), result cancelled"
	check_stays vmc "phase 2 ($want)"
done
"$KM" stop vmc >/dev/null 2>&1
wait_gone vmc
gate_open p2

# 3. b kills its child when END arrives
"$KM" run vmk --memory 16M --rate 1000 --detach >"$OUT/run" 2>&1
ok $? "run vmk --memory 16M --rate 1000 --detach"
sleep 2
migrate_to vmk "$OUT/start" $PPORT
st=$?
show_start "$OUT/start"
r=$(cat "$OUT/start")
[ $st -eq 1 ] && [ "$(jfield "$r" result)" = failed ]
ok $? "phase 3: start fails when the destination dies at the handoff: $(jfield "$r" error)"
check_stays vmk "phase 3"
sed 's/^/# vmk.log: /' "$KMIGRATE_RUN_DIR/vmk.log"
"$KM" stop vmk >/dev/null 2>&1
wait_gone vmk

# 3b. cancel at the handoff: b's proxy holds END for 5 s; a sees the
#     handoff phase (guest paused, waiting for READY) and cancels
"$KM" run vmz --memory 16M --rate 200 --detach >"$OUT/run" 2>&1
ok $? "run vmz --memory 16M --rate 200 --detach"
sleep 2
migrate_to vmz "$OUT/start" $PPORT &
spid=$!
ph=$(wait_phase vmz handoff)
"$KM" cancel vmz >"$OUT/cancel" 2>&1
cst=$?
sed 's/^/# cancel: /' "$OUT/cancel"
[ "$ph" = handoff ] && [ $cst -eq 0 ]
ok $? "phase 3b: kmigrate cancel vmz in the handoff phase (seen '$ph')"
wait $spid
st=$?
show_start "$OUT/start"
r=$(cat "$OUT/start")
[ $st -eq 1 ] && [ "$(jfield "$r" result)" = cancelled ]
ok $? "phase 3b: start exits 1 ($st), result cancelled"
check_stays vmz "phase 3b"
"$KM" stop vmz >/dev/null 2>&1
wait_gone vmz
gate_open p3b

# 4. an idle guest (1 page write per second) converges in few rounds
"$KM" run vmi --memory 32M --rate 1 --detach >"$OUT/run" 2>&1
ok $? "run vmi --memory 32M --rate 1 --detach"
sleep 2
migrate_to vmi "$OUT/start" $PORT
st=$?
show_start "$OUT/start"
r=$(cat "$OUT/start")
rounds=$(jfield "$r" rounds)
res_i=$(jfield "$r" result)
[ $st -eq 0 ] && [ "$(jfield "$r" result)" = completed ] && [ -n "$rounds" ] && [ "$rounds" -le 4 ]
ok $? "phase 4: idle guest: completed in $rounds rounds (<= 4), downtime $(jfield "$r" downtime_ms) ms"
sed 's/^/# vmi.log: /' "$KMIGRATE_RUN_DIR/vmi.log"
[ "$res_i" = completed ] || "$KM" stop vmi >/dev/null 2>&1

# an unlimited random writer: completes within the limit or fails clearly
"$KM" run vmh --memory 32M --rate 0 --workload random --detach >"$OUT/run" 2>&1
ok $? "run vmh --memory 32M --rate 0 --workload random --detach"
sleep 2
t0=$(date +%s)
migrate_to vmh "$OUT/start" $PORT
st=$?
t1=$(date +%s)
show_start "$OUT/start"
r=$(cat "$OUT/start")
res=$(jfield "$r" result)
res_h=$res
dt=$(jfield "$r" downtime_ms)
if [ "$res" = completed ]; then
	# downtime_ms has decimals: compared by awk (a throttled heavy writer
	# completes, where it failed as not converging before throttling)
	[ $st -eq 0 ] && [ -n "$dt" ] && awk -v d="$dt" -v l="$DOWNTIME" 'BEGIN { exit !(d <= l) }'
	ok $? "phase 4: heavy writer: completed with downtime $dt ms <= $DOWNTIME ms in $((t1 - t0)) s (guest speed kept $(jfield "$r" guest_speed_pct) %)"
else
	[ $st -eq 1 ] && [ "$res" = failed ] && jfield "$r" error | grep -q 'not converging'
	ok $? "phase 4: heavy writer: fails as not converging in $((t1 - t0)) s (start exit $st): $(jfield "$r" error)"
	check_stays vmh "phase 4 (heavy)"
	sed 's/^/# vmh.log: /' "$KMIGRATE_RUN_DIR/vmh.log"
	"$KM" stop vmh >/dev/null 2>&1
	wait_gone vmh
fi
gate_open "p4 vmi=$res_i vmh=$res_h"
finish
