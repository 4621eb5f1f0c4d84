#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Issue 17's table: one migration per configured size over loopback on this
# host (bitmap dirty logging, user data path, --insecure), the guest writing
# USED in total (2 vCPUs, its working set filled before the migration):
#   sh tests/host/sparse_bench.sh [SIZE...]      (default 256M 1G 4G)
# Environment: KM (default build/bin/kmigrate), PORT_BASE (default 49340),
# USED (default 252M: all of a 256 MiB guest's work area).  The migrations
# run with --no-verify (the destination's check is not part of the move).
# Prints one line per size: total ms (start to the destination's RESUMED:
# it includes ~0.2 s of waiting for the guest to run there), round 0's ms
# (the source's log), rounds, bytes sent, RssShmem of the guest's
# process on a before the migration and its largest value while it ran
# (sampled every 0.1 s until the process ends with the migration), and of
# the guest's process on b after it.
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KM=${KM:-$ROOT/build/bin/kmigrate}
PORT=${PORT_BASE:-49340}
USED=${USED:-252M}
T=$(mktemp -d "${TMPDIR:-/tmp}/sparse_bench.XXXXXX") || exit 1
LPID=""
cleanup() {
	for d in a b; do
		for s in "$T/$d"/*.sock; do
			[ -e "$s" ] && KMIGRATE_RUN_DIR=$T/$d "$KM" stop "$(basename "$s" .sock)" \
				>/dev/null 2>&1
		done
	done
	[ -n "$LPID" ] && kill "$LPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
jnum() { tr -d '\n' <"$2" | grep -o "\"$1\": *[0-9][0-9.]*" | head -n 1 | sed 's/.*: *//'; }
rss() { awk '/^RssShmem:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
mkdir -p "$T/a" "$T/b"
sh "$ROOT/tests/lab-migrate/tls_certs.sh" "$T/tls" >/dev/null 2>&1 || exit 1
(KMIGRATE_RUN_DIR=$T/b KMIGRATE_TLS_DIR=$T/tls/b exec "$KM" listen --address 127.0.0.1 \
	--port "$PORT" --insecure --dirty-log bitmap >"$T/listen.log" 2>&1) &
LPID=$!
ws_mib=$(( $(echo "$USED" | sed 's/[Mm]$//') / 2 ))
printf '%-8s %-8s %10s %10s %7s %12s %12s %12s %12s\n' config used total_ms round0_ms \
	rounds bytes_sent "a_before" "a_max" "b_after"
i=0
for size in ${*:-256M 1G 4G}; do
	i=$((i + 1))
	n=g$i
	KMIGRATE_RUN_DIR=$T/a "$KM" run $n --memory "$size" --vcpus 2 --working-set \
		"${ws_mib}M" --rate 0 --dirty-log bitmap --detach >/dev/null 2>&1 || exit 1
	# every vCPU has written its whole working set (seq): the first
	# "progress" is the total, the others each vCPU's
	want=$((ws_mib * 256 + 64))
	while :; do
		KMIGRATE_RUN_DIR=$T/a "$KM" -j vmctl $n info >"$T/i.json" 2>/dev/null || exit 1
		tr -d '\n' <"$T/i.json" | grep -o '"progress": *[0-9]*' | sed 's/.*: *//' |
			awk -v w="$want" 'NR > 1 { n++; if ($1 < w) low = 1 } END { exit !(n && !low) }' &&
			break
		sleep 2
	done
	pid=$(jnum pid "$T/i.json")
	before=$(rss "$pid")
	(max=0; while [ -r "/proc/$pid/status" ]; do
		v=$(rss "$pid"); [ -n "$v" ] && [ "$v" -gt "$max" ] && max=$v
		echo "$max" >"$T/max"; sleep 0.1; done) &
	spid=$!
	KMIGRATE_RUN_DIR=$T/a KMIGRATE_TLS_DIR=$T/tls/a "$KM" -j start $n \
		--to "127.0.0.1:$PORT" --insecure --tls-name lab-b --datapath user \
		--downtime-limit 1000 --no-verify >"$T/r.json" 2>"$T/r.err" || { cat "$T/r.err"; exit 1; }
	sleep 1
	KMIGRATE_RUN_DIR=$T/b "$KM" -j vmctl $n info >"$T/i.json" 2>/dev/null
	after_b=$(rss "$(jnum pid "$T/i.json")")
	wait $spid
	r0=$(grep -o "round 0: .* in [0-9]* ms" "$T/a/$n.log" | sed 's/.* in \([0-9]*\) ms/\1/')
	printf '%-8s %-8s %10s %10s %7s %12s %10s kB %10s kB %10s kB\n' "$size" "$USED" \
		"$(jnum total_ms "$T/r.json")" "${r0:--}" "$(jnum rounds "$T/r.json")" \
		"$(jnum bytes_sent "$T/r.json")" "$before" "$(cat "$T/max")" "$after_b"
	[ -n "${BENCH_LOGS:-}" ] && cp "$T/a/$n.log" "$BENCH_LOGS/$n-$size.log" 2>/dev/null
	KMIGRATE_RUN_DIR=$T/b "$KM" stop $n >/dev/null 2>&1
done
