#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Pre-flight checks and CPU models between two lab hosts, `make
# lab-migrate-preflight`:
#   tests/lab/lab.sh run --kernel 6.1 --hosts 2 --payload DIR --timeout 600 \
#       -- sh bin/preflight_test.sh
# with DIR/bin/kmigrate, DIR/bin/badstream (gates), DIR/bin/labtest.sh.
#
# Host b runs two listeners for the whole test: port 49152 with
# `--cpu-max x86-64-v1` (b offers guests at most the x86-64-v1 baseline,
# as a cluster of older hosts would) and port 49155 unrestricted.  Host a:
#   - a baseline its KVM cannot offer is refused at `run` with the missing
#     features by name (x86-64-v2 needs popcnt, ssse3, sse4_1, sse4_2: the
#     lab's qemu64 CPU lacks them; if a's CPU has them, it must start);
#   - `check` and `start` of a qemu64-model guest toward the v1-limited
#     listener: exit 10, one "cpu:" line naming cx16 and lahf_lm; start
#     refuses with nothing sent, the guest still runs on a;
#   - a guest larger than b's MemAvailable (1536 MiB; the lab hosts have
#     about 1 GiB): check exit 11 "memory: ..."; start refused, nothing sent;
#   - a source claiming protocol version 2 (KMIGRATE_TEST_HELLO_VERSION, a
#     test-only knob read by the VM's process): check exit 12 "version: ...";
#   - no listener on the port: check exit 13 "listener: ...";
#   - an x86-64-v1 guest passes both checks (-j: passed) and migrates to the
#     v1-limited listener; b then runs it and none of the refused guests.
# The concurrency limit (exit 14) is not exercised here.

KM=${KMIGRATE:-kmigrate}
BS=${BADSTREAM:-badstream}
export KMIGRATE_RUN_DIR=${KMIGRATE_RUN_DIR:-/run/kmigrate/vms}
PORT=49152		# b: --cpu-max x86-64-v1
PORT2=49155		# b: no limit
DEAD=49159		# nobody listens
GPORT=49154
N=0
FAILED=0
OUT=/tmp/preflight_test.$$
mkdir -p "$OUT"

. "$(dirname "$0")/labtest.sh"	# ok, jfield, info, km_module_load

finish() {
	rm -rf "$OUT"
	echo "1..$N"
	echo "# host $LAB_HOST: $FAILED of $N failed"
	[ "$FAILED" -eq 0 ]
	exit $?
}

runs_here() {	# NAME: state running and progressing
	p1=$(jfield "$(info "$1")" progress)
	sleep 1
	j=$(info "$1")
	p2=$(jfield "$j" progress)
	[ "$(jfield "$j" state)" = running ] && [ -n "$p1" ] && [ -n "$p2" ] && [ "$p2" -gt "$p1" ]
}

# chk NAME PORT OUTFILE [ARGS]: kmigrate check toward b; its status
chk() {
	n=$1
	p=$2
	f=$3
	shift 3
	"$KM" check "$n" --to "[$LAB_PEER_MIG_ADDR]:$p" "$@" >"$f" 2>"$f.err"
	st=$?
	sed 's/^/# check: /' "$f" "$f.err"
	return $st
}

# refused_start NAME PORT WHAT: start fails with one clear line, nothing sent,
# the guest still runs here
refused_start() {
	"$KM" start "$1" --to "[$LAB_PEER_MIG_ADDR]:$2" --connect-timeout 30 --datapath user \
		--json >"$OUT/start.$1" 2>"$OUT/start.$1.err"
	st=$?
	sed 's/^/# start: /' "$OUT/start.$1.err"
	r=$(cat "$OUT/start.$1")
	echo "# result: $r"
	[ $st -ne 0 ] && [ "$(jfield "$r" result)" = failed ] && grep -q "$3" "$OUT/start.$1"
	ok $? "start $1: refused ($3), exit $st"
	[ "$(jfield "$r" pages_sent)" = 0 ] && [ "$(jfield "$r" zero_pages)" = 0 ]
	ok $? "start $1: no guest page moved ($(jfield "$r" pages_sent) pages, $(jfield "$r" zero_pages) zero)"
	runs_here "$1"
	ok $? "start $1: the guest still runs on $LAB_HOST"
}

echo "# host $LAB_HOST, kernel $(uname -r), migration address $LAB_MIG_ADDR, peer $LAB_PEER_MIG_ADDR"

if [ "$LAB_HOST" = b ]; then
	grep MemAvailable /proc/meminfo | sed 's/^/# /'
	"$KM" listen --address "$LAB_MIG_ADDR" --port $PORT --cpu-max x86-64-v1 >"$OUT/l1" 2>&1 &
	l1=$!
	"$KM" listen --address "$LAB_MIG_ADDR" --port $PORT2 >"$OUT/l2" 2>&1 &
	l2=$!
	m=$("$BS" gate-wait "$LAB_MIG_ADDR" $GPORT 500)
	st=$?
	echo "# gate: $m"
	[ $st -eq 0 ] && [ "$m" = done ]
	ok $? "gate done from $LAB_PEER"
	sed 's/^/# listen v1: /' "$OUT/l1"
	sed 's/^/# listen: /' "$OUT/l2"
	grep -q "cpu: guest (model qemu64)" "$OUT/l1"
	ok $? "the v1-limited listener logged the refused qemu64 guest"
	"$KM" vms >"$OUT/vms" 2>&1
	sed 's/^/# /' "$OUT/vms"
	grep -q "^v1g .* running " "$OUT/vms" && runs_here v1g
	ok $? "the x86-64-v1 guest runs on $LAB_HOST"
	! grep -q "^q64 \|^big \|^vv " "$OUT/vms"
	ok $? "none of the refused guests runs on $LAB_HOST"
	"$KM" stop v1g >/dev/null 2>&1
	kill $l1 $l2 2>/dev/null
	finish
fi

# ---- host a: the source
# 1. CPU models at run
if grep -qw popcnt /proc/cpuinfo && grep -qw sse4_2 /proc/cpuinfo; then
	"$KM" run v2 --cpu x86-64-v2 --memory 16M --detach >"$OUT/run.v2" 2>&1
	ok $? "run --cpu x86-64-v2: this CPU has the v2 features: starts"
	"$KM" stop v2 >/dev/null 2>&1
else
	"$KM" run v2 --cpu x86-64-v2 --memory 16M --detach >"$OUT/run.v2" 2>&1
	st=$?
	sed 's/^/# run: /' "$OUT/run.v2"
	[ $st -ne 0 ] && grep -q "x86-64-v2: this host's KVM lacks: .*popcnt" "$OUT/run.v2"
	ok $? "run --cpu x86-64-v2 where KVM lacks it: refused, missing features listed (exit $st)"
fi
"$KM" run bad --cpu pentium3 --memory 16M --detach >"$OUT/run.bad" 2>&1
[ $? -eq 2 ] && grep -q "invalid --cpu 'pentium3'" "$OUT/run.bad"
ok $? "run --cpu with an unknown model: usage error"
"$KM" run q64 --cpu qemu64 --memory 64M --detach >/dev/null 2>&1 && runs_here q64
ok $? "run q64 --cpu qemu64: runs"

# 2. cpu: b's 49152 offers at most x86-64-v1
chk q64 $PORT "$OUT/c.q64" --connect-timeout 120
st=$?
[ $st -eq 10 ] && grep -q "^cpu: .*lacks: .*cx16" "$OUT/c.q64" && grep -q lahf_lm "$OUT/c.q64"
ok $? "check q64 -> v1-limited host: exit $st (10), the missing features by name"
chk q64 $PORT "$OUT/cj.q64" -j
st=$?
[ $st -eq 10 ] && grep -q '"passed":false' "$OUT/cj.q64" && grep -q '"check":"cpu"' "$OUT/cj.q64"
ok $? "check -j: passed false, a cpu failure (exit $st)"
refused_start q64 $PORT "cpu: guest (model qemu64)"

# 3. memory: larger than b's MemAvailable
"$KM" run big --memory 1536M --working-set 1M --detach >/dev/null 2>&1 && runs_here big
ok $? "run big (1536 MiB, 1 MiB working set)"
chk big $PORT2 "$OUT/c.big"
st=$?
[ $st -eq 11 ] && grep -q "^memory: destination has [0-9]* MiB available, guest needs 1536 MiB" "$OUT/c.big"
ok $? "check big: exit $st (11), one memory line"
refused_start big $PORT2 "memory"
"$KM" stop big >/dev/null 2>&1

# 4. version: the VM's process claims protocol version 2 (test knob)
KMIGRATE_TEST_HELLO_VERSION=2 "$KM" run vv --memory 16M --detach >/dev/null 2>&1
chk vv $PORT2 "$OUT/c.vv"
st=$?
[ $st -eq 12 ] && grep -q "^version: .*protocol version 2" "$OUT/c.vv" && runs_here vv
ok $? "check from a version-2 source: exit $st (12), version line, guest still runs"
"$KM" stop vv >/dev/null 2>&1

# 5. nobody listens
chk q64 $DEAD "$OUT/c.dead" --connect-timeout 1
st=$?
[ $st -eq 13 ] && grep -q "^listener: " "$OUT/c.dead" && runs_here q64
ok $? "check toward a port without a listener: exit $st (13), listener line"
"$KM" stop q64 >/dev/null 2>&1

# 6. an x86-64-v1 guest: passes and migrates to the v1-limited host
"$KM" run v1g --cpu x86-64-v1 --memory 64M --rate 50 --detach >/dev/null 2>&1 && runs_here v1g
ok $? "run v1g --cpu x86-64-v1: runs"
chk v1g $PORT2 "$OUT/c.v1g"
st=$?
[ $st -eq 0 ] && grep -q "every pre-flight check passes" "$OUT/c.v1g"
ok $? "check v1g -> unrestricted host: passes (exit $st)"
chk v1g $PORT "$OUT/cj.v1g" -j
st=$?
[ $st -eq 0 ] && grep -q '"passed":true' "$OUT/cj.v1g" && runs_here v1g
ok $? "check -j v1g -> v1-limited host: passed (exit $st), the guest still runs here"
"$KM" start v1g --to "[$LAB_PEER_MIG_ADDR]:$PORT" --connect-timeout 30 --datapath user --verify \
	--downtime-limit 3000 \
	--json >"$OUT/start.v1g" 2>"$OUT/start.v1g.err"
st=$?
sed 's/^/# start: /' "$OUT/start.v1g.err"
r=$(cat "$OUT/start.v1g")
echo "# result: $r"
[ $st -eq 0 ] && [ "$(jfield "$r" result)" = completed ] && [ "$(jfield "$r" verify_bad)" = 0 ]
ok $? "start v1g -> v1-limited host: completed, verified ($(jfield "$r" pages_verified) pages, $(jfield "$r" verify_bad) bad)"
"$BS" gate-open "$LAB_PEER_MIG_ADDR" $GPORT 400 done
finish
