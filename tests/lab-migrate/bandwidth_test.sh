#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The bandwidth cap holds and changes live, on both data paths, between two
# lab hosts, `make lab-migrate-bw`:
#   tests/lab/lab.sh run --kernel 6.1 --hosts 2 --mem 1536 --payload DIR \
#       --timeout 600 -- sh bin/bandwidth_test.sh
# Host a sends, host b listens (`listen --once`, once per data path).
#
# For each data path (kernel when kmigrate.ko loads, then user): a guest of
# MEM_MIB whose workload (--rate 0: as fast as it can) has written all its
# memory (no zero page: the bulk round alone outlasts both phases, so the
# stream never runs dry) is migrated with --bandwidth CAP1; after PHASE1
# seconds `kmigrate set --bandwidth CAP2` changes the cap live; PHASE2
# seconds later the migration is cancelled, and the guest runs on a.
# During the bulk round the workload fills its dirty ring and then waits
# for the round's harvest (KVM_EXIT_DIRTY_RING_FULL), so it leaves the
# emulated host's one CPU to the sender.  A workload that keeps running
# (e.g. BW_WRATE=2000 on a lab CPU shared with other labs) starves the
# sender under TCG: windows then fall below the cap (never above it), and
# this test reports them as failures, with every window and the raw
# 100 ms samples in the output.
# bw_sampler (tests/lab-migrate/bw_sampler.c) reads a's mig0 tx_bytes every
# 100 ms against CLOCK_BOOTTIME, the clock of /proc/uptime with which the
# script stamps the change.
#
# What the cap counts: the bytes of the migration stream (what kmigrate
# writes into the TCP connection; in TLS mode the plaintext), not TCP/IP/
# Ethernet headers.  The NIC counts frames, so every window's NIC bytes are
# divided by the migration's own ratio of NIC bytes to its bytes_sent
# (start --json), measured over the whole run and checked to be a header
# overhead (1.00-1.10).
#
# Checked, with consecutive one-second windows interpolated between samples:
#   - under CAP1: every full window from one second after the stream's first
#     byte up to the change is within +-10 % of CAP1 (at least 3 windows);
#   - under CAP2: every full window from one second after the change up to
#     the cancel is within +-10 % of CAP2 (at least 3 windows).
# Every window is printed (as a comment), so noise from TCG scheduling on a
# shared CPU shows as the distribution it is.

KM=${KMIGRATE:-kmigrate}
export KMIGRATE_RUN_DIR=${KMIGRATE_RUN_DIR:-/run/kmigrate/vms}
PORT=49152
MEM_MIB=${BW_MEM_MIB:-96}
WRATE=${BW_WRATE:-0}	# page writes/s of the workload (0: as fast as it can)
CAP1=${BW_CAP1:-4}		# MiB/s
CAP2=${BW_CAP2:-8}
PHASE1=${BW_PHASE1:-6}		# seconds under CAP1, then under CAP2
PHASE2=${BW_PHASE2:-5}
TOL=10				# percent
N=0
FAILED=0
OUT=/tmp/bandwidth_test.$$
mkdir -p "$OUT"
BIN=$(dirname "$0")

. "$BIN/labtest.sh"	# ok, jfield, info, km_module_load, dp_result, wait_gone
km_module_load

now() { cut -d' ' -f1 /proc/uptime; }	# CLOCK_BOOTTIME, centiseconds

wait_stamped() {	# NAME: the workload has written every work page once (60 s)
	i=0
	while [ $i -lt 300 ]; do
		p=$(jfield "$(info "$1")" progress)
		[ -n "$p" ] && [ "$p" -ge $(((MEM_MIB - 4) * 256)) ] && return 0
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

# windows SAMPLES FROM TO RATIO: the consecutive one-second windows
# [FROM+k, FROM+k+1] that end by TO, as "START MIB_PER_S" lines: NIC bytes
# (linearly interpolated between samples) divided by RATIO.
windows() {
	awk -v from="$2" -v to="$3" -v ratio="$4" '
		{ t[n] = $1; b[n] = $2; n++ }
		function at(x,   i) {
			if (x <= t[0]) return b[0]
			for (i = 1; i < n; i++)
				if (t[i] >= x)
					return b[i - 1] + (b[i] - b[i - 1]) * (x - t[i - 1]) / (t[i] - t[i - 1])
			return -1
		}
		END {
			for (w = from; w + 1 <= to; w += 1) {
				e = at(w + 1)
				if (e < 0) break
				printf "%.2f %.3f\n", w, (e - at(w)) / ratio / 1048576
			}
		}' "$1"
}

# check_windows FILE CAP WHAT: every window within TOL % of CAP, at least 3
check_windows() {
	awk -v what="$3" '{ printf "# %s: window at %s: %s MiB/s\n", what, $1, $2 }' "$1"
	res=$(awk -v cap="$2" -v tol="$TOL" '
		{ n++; r = $2 / cap; if (n == 1 || r < lo) lo = r; if (n == 1 || r > hi) hi = r
		  if (r < 1 - tol / 100 || r > 1 + tol / 100) bad++ }
		END { printf "%d %d %.3f %.3f\n", n, bad, lo, hi }' "$1")
	set -- $res "$2" "$3"
	[ "$1" -ge 3 ] && [ "$2" -eq 0 ]
	ok $? "$6: $1 one-second windows, $2 outside +-$TOL % of $5 MiB/s (from $3 to $4 of the cap)"
}

# bw_run DP: one capped migration on data path DP, changed live, cancelled
bw_run() {
	dp=$1
	vm=bw$dp
	"$KM" run $vm --memory ${MEM_MIB}M --rate "$WRATE" --detach >"$OUT/run" 2>&1
	ok $? "$dp: run $vm --memory ${MEM_MIB}M --rate $WRATE"
	wait_stamped $vm
	ok $? "$dp: the workload wrote all of $vm's memory ($(jfield "$(info $vm)" progress) page writes)"

	"$BIN/bw_sampler" "/sys/class/net/${LAB_MIG_IF:-mig0}/statistics/tx_bytes" 100 \
		>"$OUT/samples" 2>"$OUT/sampler.err" &
	spid=$!
	sleep 0.5
	"$KM" start $vm --to "[$LAB_PEER_MIG_ADDR]:$PORT" --bandwidth ${CAP1}MiB \
		--connect-timeout 120 --max-rounds 1000 --datapath "$dp" --json \
		>"$OUT/start" 2>"$OUT/start.err" &
	mpid=$!
	# the stream's first bytes: more than 1 MiB beyond the idle counter
	base=$(head -n 1 "$OUT/samples" | cut -d' ' -f2)
	i=0
	while [ $i -lt 600 ] && kill -0 $mpid 2>/dev/null; do
		t_first=$(awk -v base="$base" '$2 > base + 1048576 { print $1; exit }' "$OUT/samples")
		[ -n "$t_first" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	[ -n "$t_first" ]
	ok $? "$dp: the migration started sending (at ${t_first:-never})"
	if [ -z "$t_first" ]; then
		kill $mpid $spid 2>/dev/null
		wait $mpid
		sed 's/^/# start: /' "$OUT/start.err" "$OUT/sampler.err"
		"$KM" stop $vm >/dev/null 2>&1
		return
	fi

	sleep "$PHASE1"
	t_set=$(now)
	v=$("$KM" set $vm --bandwidth ${CAP2}MiB 2>&1)
	ok $? "$dp: set $vm --bandwidth ${CAP2}MiB at $t_set: $v"
	sleep "$PHASE2"
	t_end=$(now)
	"$KM" cancel $vm >/dev/null 2>&1
	wait $mpid
	st=$?
	sleep 0.3
	kill $spid
	wait $spid 2>/dev/null
	sed 's/^/# start: /' "$OUT/start.err" | grep -v "round [0-9]*:" | head -n 20
	r=$(cat "$OUT/start")
	echo "# result: $(printf '%s\n' "$r" | cut -c1-600)"
	dp_result "$r" "$dp"
	ok $? "$dp: the migration ran on the $dp data path (datapath $(jfield "$r" datapath), exit $st, result $(jfield "$r" result))"

	# the stream's end: the last sample that grew by more than 64 KiB
	t_last=$(awk 'NR > 1 && $2 - prev > 65536 { last = $1 } { prev = $2 } END { print last }' "$OUT/samples")
	t_stop=$(awk -v a="$t_end" -v b="$t_last" 'BEGIN { print (a < b ? a : b) }')
	nic=$(awk 'NR == 1 { f = $2 } { l = $2 } END { print l - f }' "$OUT/samples")
	sent=$(jfield "$r" bytes_sent)
	ratio=$(awk -v n="$nic" -v s="${sent:-0}" 'BEGIN { if (s > 0) printf "%.4f", n / s; else print 0 }')
	awk -v r="$ratio" 'BEGIN { exit !(r >= 1.0 && r <= 1.10) }'
	ok $? "$dp: mig0 sent $nic bytes for the migration's $sent: header overhead ratio $ratio (1.00-1.10)"
	awk -v r="$ratio" 'BEGIN { exit !(r > 0) }' || ratio=1

	# the raw samples, ten to a line: KiB sent in each 100 ms
	awk -v a="$t_first" -v b="$t_stop" 'NR > 1 && $1 >= a - 1 && $1 <= b + 0.2 {
			l = l sprintf(" %d", ($2 - prev) / 1024); if (++k % 10 == 0) { print "# " dp " KiB/100ms from " t0 ":" l; l = "" }
			if (k % 10 == 1) t0 = $1 }
		{ prev = $2 } END { if (l != "") print "# " dp " KiB/100ms from " t0 ":" l }' dp="$dp" "$OUT/samples"
	windows "$OUT/samples" "$(awk -v t="$t_first" 'BEGIN { print t + 1 }')" "$t_set" "$ratio" >"$OUT/w1"
	check_windows "$OUT/w1" "$CAP1" "$dp: cap $CAP1 MiB/s"
	windows "$OUT/samples" "$(awk -v t="$t_set" 'BEGIN { print t + 1 }')" "$t_stop" "$ratio" >"$OUT/w2"
	check_windows "$OUT/w2" "$CAP2" "$dp: cap $CAP2 MiB/s set live"

	"$KM" vms 2>/dev/null | grep -q "^$vm .* running "
	ok $? "$dp: after the cancel $vm runs on $LAB_HOST"
	"$KM" stop $vm >/dev/null 2>&1
	wait_gone $vm
}

echo "# host $LAB_HOST, kernel $(uname -r), migration address $LAB_MIG_ADDR, peer $LAB_PEER_MIG_ADDR"
DPS=user
[ "$DATAPATH" = kernel ] && DPS="kernel user"
[ -n "${MIG_DATAPATH:-}" ] && DPS=$MIG_DATAPATH

if [ "$LAB_HOST" = b ]; then
	for dp in $DPS; do
		timeout 300 "$KM" listen --address "$LAB_MIG_ADDR" --port $PORT --once \
			>"$OUT/listen" 2>&1
		st=$?
		sed 's/^/# listen: /' "$OUT/listen" | tail -n 5
		# a cancelled migration: the listener reports it and keeps nothing
		[ $st -ne 0 ] && [ $st -ne 124 ] && ! "$KM" vms 2>/dev/null | grep -q "^bw$dp .* running "
		ok $? "$dp: listen --once: the cancelled migration ended (exit $st), no guest kept on b"
	done
	finish
fi

for dp in $DPS; do
	bw_run "$dp"
done
finish
