#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The dedicated migration network and the concurrency limits between two
# lab hosts, `make lab-migrate-net`:
#   tests/lab/lab.sh run --kernel 6.1 --hosts 2 --payload DIR --timeout 600 \
#       -- sh bin/net_test.sh
# Each host has a management NIC (mgmt0) and a migration NIC (mig0).  Host a
# sends, host b listens.
#
#   1. a 64 MiB guest migrated to b's migration address: on a, mig0 sent at
#      least the migration's bytes_sent (>= 512 KiB) and mgmt0 (sent +
#      received) under 1% of them; on b (phases 1 and 2 together) mgmt0
#      carried under 1% of what mig0 received.
#   2. `start --via mig0` to b's *management* address (IPv4; b listens on
#      all addresses): the socket is bound to mig0, so the bytes still go
#      over mig0, not mgmt0 where the routing table would send them.
#   3. --via errors: an interface that does not exist (usage error), a
#      destination not reachable through the interface (clear error, the
#      guest keeps running); `listen` without an address is refused.
#   4. three migrations against a limit of two outgoing (config file via
#      KMIGRATE_CONFIG, with a host bandwidth cap shared among them): the
#      third waits, says so, then completes; all verify on b.
#   5. --no-wait: a third one is refused with the limit message, its guest
#      keeps running on a.
#   6. three incoming against b's --max-incoming 2: one is refused with
#      "host at its limit of 2 incoming migrations", two complete and verify.
#   7. incoming_policy queue (--max-incoming 1): the second waits for the
#      first, then completes.

KM=${KMIGRATE:-kmigrate}
export KMIGRATE_RUN_DIR=${KMIGRATE_RUN_DIR:-/run/kmigrate/vms}
PORT=49152	# b's migration address, --max-incoming 2
APORT=49153	# b's every address ('*')
LPORT=49154	# b's migration address, --max-incoming 3
QPORT=49155	# b's migration address, --max-incoming 1 --incoming-policy queue
MEM_MIB=64
MIN_BYTES=$((512 << 10))	# a migration sends more (zero pages go as 8-byte gfns)
N=0
FAILED=0
OUT=/tmp/net_test.$$
mkdir -p "$OUT"

. "$(dirname "$0")/labtest.sh"	# ok, jfield, info, km_module_load, dp_result
km_module_load

finish() {
	kill $lpids 2>/dev/null
	rm -rf "$OUT"
	echo "1..$N"
	echo "# host $LAB_HOST: $FAILED of $N failed"
	[ "$FAILED" -eq 0 ]
	exit $?
}

ctr() { cat "/sys/class/net/$1/statistics/$2_bytes"; }
snap() {	# snap NAME: NAME_mig_tx, NAME_mig_rx, NAME_mgmt_tx, NAME_mgmt_rx
	eval "$1_mig_tx=$(ctr mig0 tx) $1_mig_rx=$(ctr mig0 rx)"
	eval "$1_mgmt_tx=$(ctr mgmt0 tx) $1_mgmt_rx=$(ctr mgmt0 rx)"
}

wait_running() {	# NAME: until vms lists it running (180 s)
	i=0
	while [ $i -lt 900 ]; do
		"$KM" vms 2>/dev/null | grep -q "^$1 .* running " && return 0
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

verify_here() {	# NAME WHAT: NAME runs here and its memory verifies
	v=$("$KM" vmctl "$1" verify 2>&1)
	[ "$(jfield "$v" passed)" = true ] && [ "$(jfield "$v" bad)" = 0 ]
	ok $? "$2: $1's memory verifies on $LAB_HOST ($(jfield "$v" stamped) stamped, $(jfield "$v" bad) bad)"
}

start_to() {	# NAME OUTFILE TO [ARGS]: kmigrate start --json
	n=$1
	f=$2
	t=$3
	shift 3
	# a generous downtime limit: TCG is slow, and this is not what is tested
	timeout 300 "$KM" start "$n" --to "$t" --connect-timeout 120 --datapath "$DATAPATH" \
		--downtime-limit 10000 --insecure --verify --json "$@" >"$f" 2>"$f.err"
}

show() { sed 's/^/# start: /' "$1.err"; echo "# result: $(cat "$1")"; }

# moving PHASES NAME...: each one's migration is in one of PHASES: started
# (holds its outgoing slot), handshake (HELLO sent, past its TLS handshake,
# which --insecure runs too; not yet admitted), admitted (past the
# destination's admission) (30 s)
moving() {
	case $1 in
	started) pat='connecting|tls|handshake|bulk|live|stop-copy' ;;
	handshake) pat=handshake ;;
	*) pat='bulk|live|stop-copy' ;;
	esac
	shift
	i=0
	while [ $i -lt 300 ]; do
		m=0
		for n in "$@"; do
			ph=$(jfield "$("$KM" vmctl "$n" '{"cmd":"migrate-status","peek":true}' \
				2>/dev/null)" phase)
			printf '%s\n' "$ph" | grep -Eqx "$pat" && m=$((m + 1))
		done
		[ $m -eq $# ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

completed() { [ "$(jfield "$(cat "$1")" result)" = completed ]; }

echo "# host $LAB_HOST, kernel $(uname -r), mig0 $LAB_MIG_ADDR4/$LAB_MIG_ADDR, mgmt0 $LAB_MGMT_ADDR4"

# 3 (both hosts). listen without an address is refused
"$KM" listen --port 49170 --insecure >"$OUT/l0" 2>&1 &
p=$!
sleep 1
kill $p 2>/dev/null
wait $p
st=$?
sed 's/^/# listen: /' "$OUT/l0"
[ $st -eq 2 ] && grep -q "no listening address: give --address ADDR" "$OUT/l0"
ok $? "phase 3: listen with no address and no config refuses (exit $st)"

if [ "$LAB_HOST" = b ]; then
	snap b0
	"$KM" listen --address "$LAB_MIG_ADDR" --port $PORT --insecure --max-incoming 2 \
		>"$OUT/listen" 2>&1 &
	lpids=$!
	"$KM" listen --address '*' --port $APORT --insecure >"$OUT/listen_all" 2>&1 &
	lpids="$lpids $!"
	"$KM" listen --address "$LAB_MIG_ADDR" --port $LPORT --insecure --max-incoming 3 \
		>"$OUT/listen3" 2>&1 &
	lpids="$lpids $!"
	"$KM" listen --address "$LAB_MIG_ADDR" --port $QPORT --insecure --max-incoming 1 \
		--incoming-policy queue >"$OUT/listenq" 2>&1 &
	lpids="$lpids $!"

	# 1 + 2
	wait_running net1
	ok $? "phase 1: net1 runs on b"
	wait_running net2
	ok $? "phase 2: net2 (sent --via mig0 to b's management address) runs on b"
	snap b1
	mig=$((b1_mig_rx - b0_mig_rx))
	mgmt=$((b1_mgmt_rx - b0_mgmt_rx + b1_mgmt_tx - b0_mgmt_tx))
	echo "# b: mig0 rx $mig tx $((b1_mig_tx - b0_mig_tx)); mgmt0 rx+tx $mgmt"
	[ $mig -ge $((2 * MIN_BYTES)) ] && [ $((mgmt * 100)) -lt $mig ]
	ok $? "phases 1-2: b's mig0 received $mig bytes (>= 2 x $MIN_BYTES), mgmt0 carried $mgmt (< 1%)"
	verify_here net1 "phase 1"
	verify_here net2 "phase 2"
	"$KM" stop net1 >/dev/null 2>&1
	"$KM" stop net2 >/dev/null 2>&1

	# 4 and 5
	for n in lim1 lim2 lim3 lim4 lim5; do
		wait_running $n
		ok $? "phases 4-5: $n runs on b"
		verify_here $n "phases 4-5"
		"$KM" stop $n >/dev/null 2>&1
	done
	# 6: two of in1..in3 come in, one is refused
	i=0
	while [ $i -lt 900 ]; do
		c=$("$KM" vms 2>/dev/null | grep -c "^in[123] .* running ")
		[ "$c" -ge 2 ] && break
		sleep 0.2
		i=$((i + 1))
	done
	sleep 2
	"$KM" vms 2>/dev/null | sed 's/^/# vms: /'
	c=$("$KM" vms 2>/dev/null | grep -c "^in[123] ")
	[ "$c" -eq 2 ]
	ok $? "phase 6: two of in1, in2, in3 came in ($c)"
	for n in in1 in2 in3; do
		"$KM" vms 2>/dev/null | grep -q "^$n .* running " && verify_here $n "phase 6"
	done
	sed 's/^/# listen: /' "$OUT/listen"
	grep -q "host at its limit of 2 incoming migrations" "$OUT/listen"
	ok $? "phase 6: the listener logged the refusal at its limit"
	grep -q "incoming in[123] from .* started (slot" "$OUT/listen"
	ok $? "phase 6: the listener logs one line per incoming start"
	for n in in1 in2 in3; do "$KM" stop $n >/dev/null 2>&1; done
	# 7
	wait_running q1
	ok $? "phase 7: q1 runs on b"
	wait_running q2
	ok $? "phase 7: q2 (queued behind q1) runs on b"
	verify_here q2 "phase 7"
	sed 's/^/# listenq: /' "$OUT/listenq"
	grep -q "incoming q2 queued: the host is at its limit of 1 incoming migrations (running: q1 from " "$OUT/listenq"
	ok $? "phase 7: the queueing listener logged that q2 waited for q1"
	finish
fi

# ------------------------------------------------------------------ host a
# run_guest NAME [MiB [WSS]]: the limits phases use 16 MiB guests (3 at once
# under TCG); WSS (a size, 1M) bounds what the workload writes over and over,
# so that a capped migration of it still converges
run_guest() {
	"$KM" run "$1" --memory "${2:-$MEM_MIB}M" --rate 100 ${3:+--working-set $3} \
		--detach >/dev/null 2>&1
}

# 1. to b's migration address
run_guest net1
ok $? "phase 1: run net1 ($MEM_MIB MiB)"
sleep 3	# let the workload write some memory
snap a0
start_to net1 "$OUT/s1" "[$LAB_PEER_MIG_ADDR]:$PORT"
st=$?
snap a1
show "$OUT/s1"
[ $st -eq 0 ] && completed "$OUT/s1"
ok $? "phase 1: net1 migrated to [$LAB_PEER_MIG_ADDR]:$PORT"
sent=$(jfield "$(cat "$OUT/s1")" bytes_sent)
mig=$((a1_mig_tx - a0_mig_tx))
mgmt=$((a1_mgmt_tx - a0_mgmt_tx + a1_mgmt_rx - a0_mgmt_rx))
echo "# a: sent $sent; mig0 tx $mig rx $((a1_mig_rx - a0_mig_rx)); mgmt0 tx+rx $mgmt"
[ -n "$sent" ] && [ "$sent" -ge "$MIN_BYTES" ] && [ $mig -ge "$sent" ] && [ $((mgmt * 100)) -lt "$sent" ]
ok $? "phase 1: mig0 sent $mig bytes >= the migration's $sent; mgmt0 carried $mgmt (< 1%)"

# 2. --via mig0 to b's management address
run_guest net2
sleep 3
snap a0
start_to net2 "$OUT/s2" "$LAB_PEER_MGMT_ADDR4:$APORT" --via mig0
st=$?
snap a1
show "$OUT/s2"
[ $st -eq 0 ] && completed "$OUT/s2"
ok $? "phase 2: net2 migrated --via mig0 to b's management address $LAB_PEER_MGMT_ADDR4:$APORT"
sent=$(jfield "$(cat "$OUT/s2")" bytes_sent)
mig=$((a1_mig_tx - a0_mig_tx))
mgmt=$((a1_mgmt_tx - a0_mgmt_tx + a1_mgmt_rx - a0_mgmt_rx))
echo "# a: sent $sent; mig0 tx $mig; mgmt0 tx+rx $mgmt"
[ -n "$sent" ] && [ "$sent" -ge "$MIN_BYTES" ] && [ $mig -ge "$sent" ] && [ $((mgmt * 100)) -lt "$sent" ]
ok $? "phase 2: with --via mig0 the bytes left on mig0 ($mig >= $sent), not mgmt0 ($mgmt)"

# 3. --via errors
run_guest net3
"$KM" start net3 --to "[$LAB_PEER_MIG_ADDR]:$PORT" --via nosuch0 --insecure >"$OUT/s3" 2>&1
st=$?
sed 's/^/# start: /' "$OUT/s3"
[ $st -eq 2 ] && grep -q "no network interface 'nosuch0'" "$OUT/s3"
ok $? "phase 3: --via nosuch0: usage error (exit $st) naming the interface"
start_to net3 "$OUT/s3b" "[$LAB_PEER_MIG_ADDR]:$PORT" --via mgmt0 --connect-timeout 5
st=$?
show "$OUT/s3b"
[ $st -ne 0 ] && grep -q "not reachable through mgmt0" "$OUT/s3b" "$OUT/s3b.err" &&
	[ "$(jfield "$(info net3)" state)" = running ]
ok $? "phase 3: b's migration address --via mgmt0: 'not reachable through mgmt0', net3 keeps running"
"$KM" stop net3 >/dev/null 2>&1

# 4. three against max_outgoing 2, with a shared host bandwidth cap
#    (400K: lim1 and lim2 get 200K each, and their 1 MiB working sets keep
#    them running for seconds while lim3 comes)
printf '# the test host\nmax_outgoing = 2\nbandwidth = 400K\n' >"$OUT/kmigrate.conf"
export KMIGRATE_CONFIG=$OUT/kmigrate.conf
for n in lim1 lim2 lim3; do run_guest $n 16 1M; done
sleep 3	# each has written its working set
start_to lim1 "$OUT/l1" "[$LAB_PEER_MIG_ADDR]:$LPORT" &
p1=$!
start_to lim2 "$OUT/l2" "[$LAB_PEER_MIG_ADDR]:$LPORT" &
p2=$!
moving started lim1 lim2 || echo "# lim1, lim2 not both started after 30 s"
start_to lim3 "$OUT/l3" "[$LAB_PEER_MIG_ADDR]:$LPORT" &
p3=$!
wait $p1; s1=$?
wait $p2; s2=$?
wait $p3; s3=$?
for n in 1 2 3; do show "$OUT/l$n"; done
[ $s1 -eq 0 ] && [ $s2 -eq 0 ] && [ $s3 -eq 0 ] && completed "$OUT/l1" && completed "$OUT/l2" &&
	completed "$OUT/l3"
ok $? "phase 4: lim1, lim2, lim3 all completed (exit $s1 $s2 $s3)"
grep -q "lim3: waiting for an outgoing migration slot: the host is at its limit of 2 outgoing migrations (running: lim[12] -> " "$OUT/l3.err"
ok $? "phase 4: lim3 said it waited for a slot, naming the running ones"
! grep -q "waiting for an outgoing" "$OUT/l1.err" "$OUT/l2.err"
ok $? "phase 4: lim1 and lim2 did not wait"
b1=$(jfield "$(cat "$OUT/l1")" bandwidth)
b2=$(jfield "$(cat "$OUT/l2")" bandwidth)
# the first of the two to end ran with half the host's cap to its end (the
# other may have been given the whole cap back when it ended)
[ "$b1" = 200000 ] || [ "$b2" = 200000 ]
ok $? "phase 4: the host's 400K cap was shared: lim1 ended with $b1, lim2 with $b2 bytes/s"

# 5. --no-wait
#    (no host cap; lim4 and lim5 capped at 200K each with 1 MiB working sets:
#    they hold both slots for seconds, past lim6's credential loading)
printf '# the test host\nmax_outgoing = 2\n' >"$OUT/kmigrate.conf"
for n in lim4 lim5; do run_guest $n 16 1M; done
run_guest lim6 16
sleep 3
start_to lim4 "$OUT/l4" "[$LAB_PEER_MIG_ADDR]:$LPORT" --bandwidth 200K &
p1=$!
start_to lim5 "$OUT/l5" "[$LAB_PEER_MIG_ADDR]:$LPORT" --bandwidth 200K &
p2=$!
moving started lim4 lim5 || echo "# lim4, lim5 not both started after 30 s"
"$KM" start lim6 --to "[$LAB_PEER_MIG_ADDR]:$LPORT" --insecure --no-wait >"$OUT/l6" 2>&1
s6=$?
sed 's/^/# start lim6: /' "$OUT/l6"
[ $s6 -eq 1 ] && grep -q "host at its limit of 2 outgoing migrations (running: lim[45] -> .*not waiting (--no-wait)" "$OUT/l6"
ok $? "phase 5: lim6 --no-wait refused at the limit (exit $s6)"
wait $p1; s4=$?
wait $p2; s5=$?
show "$OUT/l4"
show "$OUT/l5"
[ $s4 -eq 0 ] && [ $s5 -eq 0 ]
ok $? "phase 5: lim4 and lim5 completed"
[ "$(jfield "$(info lim6)" state)" = running ]
ok $? "phase 5: lim6 keeps running on a"
verify_here lim6 "phase 5"

# 6. three incoming against b's --max-incoming 2 (a allows 3 outgoing):
#    in1 and in2 are slowed down (--bandwidth) so that in3 comes while they
#    run; once in3 is answered, their caps are lifted (kmigrate set) so that
#    they converge
printf 'max_outgoing = 3\n' >"$OUT/kmigrate.conf"
"$KM" stop lim6 >/dev/null 2>&1
for n in in1 in2 in3; do run_guest $n 16; done
start_to in1 "$OUT/i1" "[$LAB_PEER_MIG_ADDR]:$PORT" --bandwidth 50K &
p1=$!
start_to in2 "$OUT/i2" "[$LAB_PEER_MIG_ADDR]:$PORT" --bandwidth 50K &
p2=$!
sleep 1.5
start_to in3 "$OUT/i3" "[$LAB_PEER_MIG_ADDR]:$PORT" &
p3=$!
wait $p3
"$KM" set in1 --bandwidth 0 >/dev/null 2>&1
"$KM" set in2 --bandwidth 0 >/dev/null 2>&1
wait $p1
wait $p2
done_n=0
refused=
for n in 1 2 3; do
	show "$OUT/i$n"
	if completed "$OUT/i$n"; then
		done_n=$((done_n + 1))
	elif grep -q "host at its limit of 2 incoming migrations" "$OUT/i$n" "$OUT/i$n.err"; then
		refused=in$n
	fi
done
[ $done_n -eq 2 ] && [ -n "$refused" ]
ok $? "phase 6: two completed ($done_n), one refused by b with its limit message ($refused)"
[ -n "$refused" ] && [ "$(jfield "$(info "$refused")" state)" = running ]
ok $? "phase 6: the refused $refused keeps running on a"
[ -n "$refused" ] && verify_here "$refused" "phase 6"

# 7. b's queueing listener (--max-incoming 1 --incoming-policy queue): q2
#    comes while q1 runs, waits for it, then completes
for n in q1 q2; do run_guest $n 16; done
start_to q1 "$OUT/q1" "[$LAB_PEER_MIG_ADDR]:$QPORT" --bandwidth 50K &
p1=$!
moving admitted q1 || echo "# q1 not admitted by b after 30 s"
start_to q2 "$OUT/q2" "[$LAB_PEER_MIG_ADDR]:$QPORT" &
p2=$!
# q2's HELLO waits at b (q2 past its TLS handshake, not yet admitted)
moving handshake q2 || echo "# q2 not at its HELLO after 30 s"
sleep 1
"$KM" set q1 --bandwidth 0 >/dev/null 2>&1
wait $p1
s1=$?
wait $p2
s2=$?
show "$OUT/q1"
show "$OUT/q2"
[ $s1 -eq 0 ] && [ $s2 -eq 0 ] && completed "$OUT/q1" && completed "$OUT/q2"
ok $? "phase 7: q1 and q2 both completed against a queueing limit of one (exit $s1 $s2)"
finish
