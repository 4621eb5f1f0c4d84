#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Sparse guests (issue 17), on this machine's /dev/kvm over loopback:
#   sh tests/host/sparse_test.sh          (TAP; exit 1 on any failure)
# Environment: KM (default build/bin/kmigrate of this checkout), PORT_BASE
# (default 49300: this test listens on PORT_BASE and PORT_BASE + 1 of
# 127.0.0.1), SPARSE_MEM (default 2G), SPARSE_WS (per vCPU, default 32M;
# two vCPUs).  Without a usable /dev/kvm: "# SKIP ..." and "1..0", exit 0.
#
# What it asserts (bitmap dirty logging on both sides):
#   1. a guest of 2 GiB that writes 64 MiB (its working set filled first)
#      migrates a -> b with every work page verified by b (0 bad), most of
#      its memory sent as HOLE ranges; b's VM process then holds (RssShmem)
#      within 10 % of what a's held before the migration, and a's grew by
#      at most 5 % during it (also its result's source_memory, SEEK_DATA),
#      and the result's dest_memory (b's RESUMED) says the same of b;
#   2. the same guest back b -> a (a migrated-in guest is sparse too):
#      verified, a's new process within 10 % of b's;
#   3. a source without SPARSE (KMIGRATE_NO_SPARSE=1: holes as ZERO gfns,
#      as an older source) still migrates, verified, and b stays sparse
#      (ZERO pages land on holes without allocating them);
#   3b. with OLD_KM (a kmigrate built before SPARSE, e.g. from the parent
#      commit): its listener refuses SPARSE; the source connects again
#      without it and the guest migrates, verified (skipped without OLD_KM);
#   4. pre-flight: a guest configured larger than this host's MemAvailable
#      (48 GiB, when MemAvailable is below that) but using a few MiB
#      passes `kmigrate check`; without SPARSE it is refused with exit 11
#      and one "memory:" line.
#   3c. a guest that zeroes pages it wrote (--zero-every 3) migrates,
#      verified by exact replay (a zeroing is a write the verifier replays),
#      with zero pages sent and b holding less than a (zeroed pages punched).
# tests/unit/test_sparse.c checks the punch itself on a memfd.

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KM=${KM:-$ROOT/build/bin/kmigrate}
case $KM in /*) ;; *) KM=$ROOT/$KM ;; esac
PORT_BASE=${PORT_BASE:-49300}
P1=$PORT_BASE
P2=$((PORT_BASE + 1))
MEM=${SPARSE_MEM:-2G}
WS=${SPARSE_WS:-32M}

T=$(mktemp -d "${TMPDIR:-/tmp}/sparse_test.XXXXXX") || exit 1
A=$T/a
B=$T/b
mkdir -p "$A" "$B"
LPIDS=""
n=0
failed=0

. "$HERE/lib.sh"	# km_stop_guests
. "$HERE/tap.sh"	# ok, jnum, on, cleanup

trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# rss PID: RssShmem of the process in kB (0 if unknown)
rss() {
	awk '/^RssShmem:/ { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$1/status" 2>/dev/null
}


vm_pid() {	# vm_pid SIDE NAME
	on "$1" -j vmctl "$2" info >"$T/info.json" 2>/dev/null || { echo 0; return; }
	jnum pid "$T/info.json"
}

# wait_progress SIDE NAME PAGES SECONDS: every vCPU of the guest has written
# PAGES pages (info's first "progress" is the total, then one per vCPU)
wait_progress() {
	i=0
	while [ "$i" -lt "$4" ]; do
		on "$1" -j vmctl "$2" info >"$T/info.json" 2>/dev/null
		tr -d '\n' <"$T/info.json" | grep -o '"progress": *[0-9]*' | sed 's/.*: *//' |
			awk -v w="$3" 'NR > 1 { n++; if ($1 < w) low = 1 }
				END { exit !(n && !low) }' && return 0
		sleep 1
		i=$((i + 1))
	done
	return 1
}

# wait_gone SIDE NAME: the VM's process there has ended (a source's ends
# once start has read its result)
wait_gone() {
	i=0
	while [ "$i" -lt 30 ] && on "$1" vmctl "$2" info >/dev/null 2>&1; do
		sleep 0.5
		i=$((i + 1))
	done
}

# within A B PCT: |A - B| <= PCT % of B
within() {
	awk -v a="$1" -v b="$2" -v p="$3" 'BEGIN { d = a - b; if (d < 0) d = -d;
		exit !(b > 0 && d * 100 <= p * b) }'
}

listen() {	# listen SIDE PORT [KM] (exec: $! is the listener itself)
	(KMIGRATE_RUN_DIR=$T/$1 KMIGRATE_TLS_DIR=$T/tls/$1 exec "${3:-$KM}" listen \
		--address 127.0.0.1 --port "$2" --insecure --verify --dirty-log bitmap \
		>>"$T/listen-$1.log" 2>&1) &
	LPIDS="$LPIDS $!"
}

# migrate FROM TO PORT NAME OUT: start -j, the result in OUT
migrate() {
	on "$1" -j start "$4" --to "127.0.0.1:$3" --insecure --tls-name "lab-$2" \
		--downtime-limit 1000 >"$5" 2>"$5.err"
	st=$?
	grep -q '"result": *"completed"' "$5" || { sed 's/^/# /' "$5.err" | tail -n 5; return 1; }
	return $st
}

# ---------------------------------------------------------------- setup --

if [ ! -x "$KM" ]; then
	echo "# SKIP $KM not built (make tools vmm)"
	echo "1..0"
	exit 0
fi
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ] ||
   ! KMIGRATE_RUN_DIR=$A "$KM" run probe --memory 16M --dirty-log bitmap --detach \
	>"$T/probe.log" 2>&1; then
	echo "# SKIP /dev/kvm is not usable here: $(tail -n 1 "$T/probe.log" 2>/dev/null)"
	echo "1..0"
	exit 0
fi
KMIGRATE_RUN_DIR=$A "$KM" stop probe >/dev/null 2>&1
sh "$ROOT/tests/lab-migrate/tls_certs.sh" "$T/tls" >/dev/null 2>&1
ok $? "credentials for a and b (tests/lab-migrate/tls_certs.sh)"

listen b "$P1"
listen a "$P2"

# ---------------------------------- 1. a sparse guest a -> b, verified --

ws_pages=$(( $(echo "$WS" | sed 's/[Mm]$//') * 256 ))
on a run sp --memory "$MEM" --vcpus 2 --working-set "$WS" --rate 0 \
	--dirty-log bitmap --detach >/dev/null 2>&1
ok $? "run sp: $MEM, 2 vCPUs writing $WS each"
# every vCPU has written its whole working set (seq): the guest holds it
wait_progress a sp $((ws_pages + 64)) 300
ok $? "sp wrote its working set ($ws_pages pages on each vCPU)"
spid=$(vm_pid a sp)
src_before=$(rss "$spid")
echo "# a: sp (pid $spid) holds $src_before kB (RssShmem) of $MEM"
[ "$src_before" -gt 0 ] && [ "$src_before" -lt $((2 * ws_pages * 4 * 2)) ]
ok $? "a holds about its working set, not its configured memory ($src_before kB)"

migrate a b "$P1" sp "$T/r1.json"
ok $? "sp a -> b: completed"
v=$(jnum pages_verified "$T/r1.json")
bad=$(jnum verify_bad "$T/r1.json")
[ -n "$v" ] && [ "$v" -gt 0 ] && [ "$bad" = 0 ]
ok $? "b verified every work page before resuming: $v pages, ${bad:-?} bad"
holes=$(jnum hole_pages "$T/r1.json")
sent=$(jnum bytes_sent "$T/r1.json")
echo "# sent $sent bytes; $(jnum pages_sent "$T/r1.json") pages, $(jnum zero_pages \
	"$T/r1.json") zero, $holes in HOLE ranges; total $(jnum total_ms "$T/r1.json") ms"
[ -n "$holes" ] && [ "$holes" -gt $((2 * ws_pages)) ] &&
	[ "$sent" -lt $((src_before * 1024 * 2)) ]
ok $? "never-touched memory went as HOLE ranges; bytes sent ($sent) < 2 x what a holds"
# a's process ends with the migration: its own numbers (source_memory), taken
# at HELLO and at READY (the guest paused, every page sent)
pb=$(jnum populated_before "$T/r1.json")
pa=$(jnum populated_after "$T/r1.json")
rb=$(jnum rss_shmem_before "$T/r1.json")
ra=$(jnum rss_shmem_after "$T/r1.json")
[ -n "$pa" ] && [ -n "$ra" ] && [ "$pa" -le $((pb + pb / 20)) ] &&
	[ "$ra" -le $((src_before * 1024 + src_before * 1024 / 20)) ]
ok $? "a grew <= 5 %: populated $pb -> $pa bytes, RssShmem $rb -> $ra bytes"
dpid=$(vm_pid b sp)
sleep 1
dst=$(rss "$dpid")
echo "# b: sp (pid $dpid) holds $dst kB (RssShmem)"
within "$dst" "$src_before" 10
ok $? "b holds within 10 % of what a held before: $dst kB vs $src_before kB"
# the source's result says the same, from b's RESUMED (KMP_FO_MEMORY)
dm=$(tr -d '\n' <"$T/r1.json" | grep -o '"dest_memory": *{[^}]*}')
echo "# $dm"
drb=$(echo "$dm" | grep -o '"rss_shmem_created": *[0-9]*' | sed 's/.*: *//')
dra=$(echo "$dm" | grep -o '"rss_shmem_resumed": *[0-9]*' | sed 's/.*: *//')
dpa=$(echo "$dm" | grep -o '"populated_resumed": *[0-9]*' | sed 's/.*: *//')
[ -n "$dra" ] && [ -n "$dpa" ] && [ "${drb:-1}" -lt $((1 << 20)) ] &&
	within "$dra" $((src_before * 1024)) 10 && within "$dpa" "$pb" 10
ok $? "a's result reports b's memory: RssShmem ${drb:-?} -> ${dra:-?} bytes, populated ${dpa:-?}"
grep "sp: memory:" "$T/listen-b.log" | sed 's/^/# /'

# -------------------------------------------------- 2. back b -> a --

wait_gone a sp
migrate b a "$P2" sp "$T/r2.json"
ok $? "sp b -> a: completed"
v=$(jnum pages_verified "$T/r2.json")
bad=$(jnum verify_bad "$T/r2.json")
[ -n "$v" ] && [ "$v" -gt 0 ] && [ "$bad" = 0 ]
ok $? "a verified the guest back: $v pages, ${bad:-?} bad"
apid=$(vm_pid a sp)
sleep 1
back=$(rss "$apid")
within "$back" "$dst" 10
ok $? "a's new process holds within 10 % of b's: $back kB vs $dst kB"
on a stop sp >/dev/null 2>&1

# ------------------------------- 3. a source without SPARSE (older) --

KMIGRATE_NO_SPARSE=1 KMIGRATE_RUN_DIR=$A "$KM" run old --memory 512M --vcpus 1 \
	--working-set 2M --rate 0 --dirty-log bitmap --detach >/dev/null 2>&1 &&
	wait_progress a old 600 120
ok $? "run old (512M, 2 MiB written, KMIGRATE_NO_SPARSE=1)"
opid=$(vm_pid a old)
obefore=$(rss "$opid")
migrate a b "$P1" old "$T/r3.json"
ok $? "old a -> b: completed"
v=$(jnum pages_verified "$T/r3.json")
bad=$(jnum verify_bad "$T/r3.json")
holes=$(jnum hole_pages "$T/r3.json")
zero=$(jnum zero_pages "$T/r3.json")
[ -n "$v" ] && [ "$v" -gt 0 ] && [ "$bad" = 0 ] && [ "$holes" = 0 ] &&
	[ "$zero" -gt 100000 ]
ok $? "verified ($v pages, ${bad:-?} bad); holes went as $zero ZERO gfns, no HOLE"
dpid=$(vm_pid b old)
sleep 1
dst=$(rss "$dpid")
within "$dst" "$obefore" 10 || [ "$dst" -le $((obefore + 2048)) ]
ok $? "b stays sparse: $dst kB vs $obefore kB on a"
on b stop old >/dev/null 2>&1

# ------------------------- 3c. a guest that frees memory (zeroes pages) --

# every third write zeroes its page: pages sent stamped in one round are
# zero in a later one, so they go as ZERO and b punches them out
on a run fr --memory 256M --vcpus 1 --workload random --working-set 4M --zero-every 3 \
	--rate 0 --dirty-log bitmap --detach >/dev/null 2>&1 && wait_progress a fr 4000 180
ok $? "run fr (256M, random writes over 4 MiB, every third one zeroes its page)"
migrate a b "$P1" fr "$T/r5.json"
ok $? "fr a -> b: completed"
v=$(jnum pages_verified "$T/r5.json")
bad=$(jnum verify_bad "$T/r5.json")
zero=$(jnum zero_pages "$T/r5.json")
[ -n "$v" ] && [ "$v" -gt 0 ] && [ "$bad" = 0 ] && [ "${zero:-0}" -gt 0 ]
ok $? "b verified it, zeroed pages as zeros ($v pages, ${bad:-?} bad; $zero sent as ZERO)"
dm=$(tr -d '\n' <"$T/r5.json" | grep -o '"dest_memory": *{[^}]*}')
spop=$(jnum populated_before "$T/r5.json")
dpop=$(echo "$dm" | grep -o '"populated_resumed": *[0-9]*' | sed 's/.*: *//')
echo "# a held $spop bytes (zeroed pages stay allocated there), b holds ${dpop:-?}"
[ -n "$dpop" ] && [ "$dpop" -lt "$spop" ]
ok $? "b does not hold the zeroed pages: $dpop < $spop bytes"
on b stop fr >/dev/null 2>&1

# ------------------------------------- 3b. an older destination (OLD_KM) --

if [ -n "${OLD_KM:-}" ] && [ -x "$OLD_KM" ]; then
	listen b $((PORT_BASE + 2)) "$OLD_KM"
	on a run new --memory 256M --working-set 1M --dirty-log bitmap --detach >/dev/null 2>&1
	sleep 1
	migrate a b $((PORT_BASE + 2)) new "$T/r4.json"
	ok $? "new a -> older listener b: completed"
	v=$(jnum pages_verified "$T/r4.json")
	bad=$(jnum verify_bad "$T/r4.json")
	[ -n "$v" ] && [ "$v" -gt 0 ] && [ "$bad" = 0 ] &&
		grep -q '"sparse": *false' "$T/r4.json" &&
		grep -q "unknown required features 0x4" "$T/listen-b.log"
	ok $? "it refused SPARSE, the second HELLO went without: verified ($v pages, ${bad:-?} bad)"
	on b stop new >/dev/null 2>&1
else
	echo "# skip the older destination: set OLD_KM to a kmigrate built before SPARSE"
fi

# ---------------------------------------------------- 4. pre-flight --

avail=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
if [ "$avail" -lt $((46 * 1024 * 1024)) ]; then
	on a run huge --memory 48G --working-set 1M --dirty-log bitmap --detach \
		>/dev/null 2>&1
	on a check huge --to "127.0.0.1:$P1" --insecure --tls-name lab-b >"$T/c1" 2>&1
	ok $? "check of a 48 GiB guest using a few MiB passes ($((avail >> 20)) GiB available)"
	on a stop huge >/dev/null 2>&1
	KMIGRATE_NO_SPARSE=1 KMIGRATE_RUN_DIR=$A "$KM" run huge --memory 48G \
		--working-set 1M --dirty-log bitmap --detach >/dev/null 2>&1
	on a check huge --to "127.0.0.1:$P1" --insecure --tls-name lab-b >"$T/c2" 2>&1
	st=$?
	sed 's/^/# /' "$T/c2"
	[ $st -eq 11 ] && [ "$(grep -c '^memory: ' "$T/c2")" -eq 1 ] &&
		grep -q "guest needs 49152 MiB" "$T/c2"
	ok $? "without SPARSE the same guest is refused: exit $st (11), one memory line"
	on a stop huge >/dev/null 2>&1
else
	echo "# skip pre-flight: MemAvailable $((avail >> 20)) GiB is not below 46 GiB"
fi

echo "1..$n"
exit $failed
