#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Pre-flight checks and CPU models between two lab hosts, `make
# lab-migrate-preflight`:
#   tests/lab/lab.sh run --kernel 6.1 --hosts 2 --payload DIR --timeout 600 \
#       -- sh bin/preflight_test.sh
# with DIR/bin/kmigrate, DIR/bin/badstream (gates), DIR/bin/labtest.sh and
# DIR/kmigrate.ko (loaded on both hosts: the module ABI check).
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
#     about 1 GiB) from a source without the feature SPARSE
#     (KMIGRATE_NO_SPARSE=1, as an older source: its configured size
#     counts): check exit 11 "memory: ..."; start refused, nothing sent;
#     the same guest with SPARSE (it uses a few MiB) passes the check;
#   - a source claiming protocol version 2 (KMIGRATE_TEST_HELLO_VERSION, a
#     test-only knob read by the VM's process): check exit 12 "version: ...";
#   - a host-model guest (`run` without --cpu) sends its CPUID profile in
#     start too: the v1-limited listener refuses it ("cpu: guest (model
#     host)"), nothing sent, the guest still runs on a;
#   - a source whose kmigrate.ko claims ABI 2 (KMIGRATE_TEST_MODULE_ABI, a
#     test-only knob read by the VM's process, see preflight.h), on the
#     kernel data path, both hosts with the payload's kmigrate.ko (ABI 1)
#     loaded: check exit 12 "abi: ... ABI 2, this host's 1"; start refused,
#     nothing sent; the same guest without the knob passes;
#   - no listener on the port: check exit 13 "listener: ...";
#   - the incoming limit: b's port 49156 runs `--max-incoming 1`; while a
#     slowed migration (--bandwidth 50K) holds its slot, check of a second
#     guest exits 14 with exactly one "limit: 1 of 1" line and start is
#     refused ("limit: host at its limit of 1"), nothing sent, the guest
#     still runs on a; the slow one then completes;
#   - `listen --once` (b's port 49157): a failed and a passed check do not
#     use up its one migration; a host-model guest then migrates through it
#     and the listener exits 0;
#   - an x86-64-v1 guest passes both checks (-j: passed) and migrates to the
#     v1-limited listener; b then runs it, the slow one and the --once one,
#     and none of the refused guests.

KM=${KMIGRATE:-kmigrate}
BS=${BADSTREAM:-badstream}
export KMIGRATE_RUN_DIR=${KMIGRATE_RUN_DIR:-/run/kmigrate/vms}
PORT=49152		# b: --cpu-max x86-64-v1
PORT2=49155		# b: no limit
LPORT=49156		# b: --max-incoming 1
OPORT=49157		# b: --once
DEAD=49159		# nobody listens
GPORT=49154
N=0
FAILED=0
OUT=/tmp/preflight_test.$$
mkdir -p "$OUT"

. "$(dirname "$0")/labtest.sh"	# ok, jfield, info, km_module_load
km_module_load	# both hosts: the module ABI check

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

# refused_start NAME PORT WHAT [DATAPATH]: start fails with one clear line,
# nothing sent, the guest still runs here
refused_start() {
	"$KM" start "$1" --to "[$LAB_PEER_MIG_ADDR]:$2" --connect-timeout 30 \
		--datapath "${4:-user}" --json >"$OUT/start.$1" 2>"$OUT/start.$1.err"
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
	"$KM" listen --address "$LAB_MIG_ADDR" --port $LPORT --max-incoming 1 >"$OUT/l3" 2>&1 &
	l3=$!
	("$KM" listen --address "$LAB_MIG_ADDR" --port $OPORT --once >"$OUT/l4" 2>&1
	 echo $? >"$OUT/l4.st") &
	m=$("$BS" gate-wait "$LAB_MIG_ADDR" $GPORT 500)
	st=$?
	echo "# gate: $m"
	[ $st -eq 0 ] && [ "$m" = done ]
	ok $? "gate done from $LAB_PEER"
	sed 's/^/# listen v1: /' "$OUT/l1"
	sed 's/^/# listen: /' "$OUT/l2"
	sed 's/^/# listen max 1: /' "$OUT/l3"
	sed 's/^/# listen once: /' "$OUT/l4"
	grep -q "cpu: guest (model qemu64)" "$OUT/l1"
	ok $? "the v1-limited listener logged the refused qemu64 guest"
	grep -q "hm .*cpu: guest (model host)" "$OUT/l1"
	ok $? "the v1-limited listener logged the refused host-model guest"
	grep -q "lim2: pre-flight check .* failed: limit: 1 of 1" "$OUT/l3" &&
		grep -q "lim2 .*failed: limit: host at its limit of 1" "$OUT/l3"
	ok $? "the max-incoming 1 listener logged the check and the start refused at its limit"
	i=0
	while [ ! -s "$OUT/l4.st" ] && [ $i -lt 50 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	[ "$(cat "$OUT/l4.st" 2>/dev/null)" = 0 ] &&
		[ "$(grep -c "pre-flight check from" "$OUT/l4")" -ge 2 ]
	ok $? "listen --once: served two checks, then one migration, exit $(cat "$OUT/l4.st" 2>/dev/null)"
	"$KM" vms >"$OUT/vms" 2>&1
	sed 's/^/# /' "$OUT/vms"
	grep -q "^v1g .* running " "$OUT/vms" && runs_here v1g
	ok $? "the x86-64-v1 guest runs on $LAB_HOST"
	grep -q "^lim1 .* running " "$OUT/vms" && runs_here lim1
	ok $? "the slowed guest that held the incoming slot runs on $LAB_HOST"
	grep -q "^onc .* running " "$OUT/vms" && runs_here onc
	ok $? "the host-model guest migrated through listen --once runs on $LAB_HOST"
	! grep -q "^q64 \|^big \|^vv \|^hm \|^va \|^lim2 " "$OUT/vms"
	ok $? "none of the refused guests runs on $LAB_HOST"
	for n in v1g lim1 onc; do "$KM" stop $n >/dev/null 2>&1; done
	kill $l1 $l2 $l3 2>/dev/null
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

# 2b. a host-model guest: its profile goes with start too
"$KM" run hm --memory 16M --detach >/dev/null 2>&1 && runs_here hm
ok $? "run hm (model host): runs"
chk hm $PORT "$OUT/c.hm"
st=$?
[ $st -eq 10 ] && grep -q "^cpu: guest (model host) needs .*lacks: .*cx16" "$OUT/c.hm"
ok $? "check hm -> v1-limited host: exit $st (10), the missing features by name"
refused_start hm $PORT "cpu: guest (model host)"
"$KM" stop hm >/dev/null 2>&1

# 3. memory: larger than b's MemAvailable
KMIGRATE_NO_SPARSE=1 "$KM" run big --memory 1536M --working-set 1M --detach >/dev/null 2>&1 &&
	runs_here big
ok $? "run big (1536 MiB, 1 MiB working set, no SPARSE)"
chk big $PORT2 "$OUT/c.big"
st=$?
[ $st -eq 11 ] && grep -q "^memory: destination has [0-9]* MiB available, guest needs 1536 MiB" "$OUT/c.big"
ok $? "check big: exit $st (11), one memory line"
refused_start big $PORT2 "memory"
chk big $OPORT "$OUT/c.bigo" --connect-timeout 60
st=$?
[ $st -eq 11 ]
ok $? "check big -> listen --once: exit $st (11)"
"$KM" stop big >/dev/null 2>&1
"$KM" run bigs --memory 1536M --working-set 1M --detach >/dev/null 2>&1 && runs_here bigs
ok $? "run bigs (1536 MiB, 1 MiB working set, SPARSE)"
chk bigs $PORT2 "$OUT/c.bigs"
st=$?
[ $st -eq 0 ]
ok $? "check bigs: exit $st (0): the memory it uses fits"
"$KM" stop bigs >/dev/null 2>&1

# 4. version: the VM's process claims protocol version 2 (test knob)
KMIGRATE_TEST_HELLO_VERSION=2 "$KM" run vv --memory 16M --detach >/dev/null 2>&1
chk vv $PORT2 "$OUT/c.vv"
st=$?
[ $st -eq 12 ] && grep -q "^version: .*protocol version 2" "$OUT/c.vv" && runs_here vv
ok $? "check from a version-2 source: exit $st (12), version line, guest still runs"
"$KM" stop vv >/dev/null 2>&1

# 4b. module ABI: both hosts load the payload's kmigrate.ko (ABI 1); this
#     source's claims ABI 2 (test knob) on the kernel data path
[ -e /dev/kmigrate ]
ok $? "kmigrate.ko loaded here (ABI $("$KM" version --json 2>/dev/null |
	sed -n 's/.*"module_abi_version":\([0-9]*\).*/\1/p'))"
KMIGRATE_TEST_MODULE_ABI=2 "$KM" run va --memory 16M --detach >/dev/null 2>&1 && runs_here va
ok $? "run va (claims module ABI 2): runs"
chk va $PORT2 "$OUT/c.va" --datapath kernel
st=$?
[ $st -eq 12 ] && [ "$(wc -l <"$OUT/c.va")" -eq 1 ] &&
	grep -q "^abi: source's kmigrate.ko speaks ABI 2, this host's 1" "$OUT/c.va"
ok $? "check va --datapath kernel: exit $st (12), one abi line naming both versions"
chk va $PORT2 "$OUT/c.vau" --datapath user
st=$?
[ $st -eq 0 ]
ok $? "check va --datapath user: the module ABI does not matter, passes (exit $st)"
refused_start va $PORT2 "abi: source's kmigrate.ko speaks ABI 2" kernel
"$KM" stop va >/dev/null 2>&1
"$KM" run vk --memory 16M --detach >/dev/null 2>&1
chk vk $PORT2 "$OUT/c.vk" --datapath kernel
st=$?
[ $st -eq 0 ]
ok $? "check vk --datapath kernel, equal module ABIs: passes (exit $st)"
"$KM" stop vk >/dev/null 2>&1

# 5. nobody listens
chk q64 $DEAD "$OUT/c.dead" --connect-timeout 1
st=$?
[ $st -eq 13 ] && grep -q "^listener: " "$OUT/c.dead" && runs_here q64
ok $? "check toward a port without a listener: exit $st (13), listener line"
"$KM" stop q64 >/dev/null 2>&1

# 5b. the incoming limit: lim1, slowed down, holds b's only slot on LPORT
"$KM" run lim1 --memory 16M --rate 100 --detach >/dev/null 2>&1 &&
	"$KM" run lim2 --memory 16M --detach >/dev/null 2>&1
ok $? "run lim1, lim2"
"$KM" start lim1 --to "[$LAB_PEER_MIG_ADDR]:$LPORT" --connect-timeout 30 --datapath user \
	--bandwidth 50K --downtime-limit 10000 --json >"$OUT/start.lim1" 2>"$OUT/start.lim1.err" &
pl=$!
i=0
while [ $i -lt 150 ]; do	# until its pages flow: b has given it the slot
	s=$(jfield "$("$KM" status lim1 --json 2>/dev/null)" pages_sent)
	[ -n "$s" ] && [ "$s" -gt 0 ] && break
	sleep 0.2
	i=$((i + 1))
done
echo "# lim1: $s pages sent"
chk lim2 $LPORT "$OUT/c.lim2"
st=$?
[ $st -eq 14 ] && [ "$(wc -l <"$OUT/c.lim2")" -eq 1 ] &&
	grep -q "^limit: 1 of 1 incoming migrations already run here" "$OUT/c.lim2"
ok $? "check lim2 while lim1 holds b's only slot: exit $st (14), one limit line"
refused_start lim2 $LPORT "refused: limit: host at its limit of 1 incoming"
"$KM" stop lim2 >/dev/null 2>&1
"$KM" set lim1 --bandwidth 0 >/dev/null 2>&1
wait $pl
st=$?
sed 's/^/# start: /' "$OUT/start.lim1.err"
r=$(cat "$OUT/start.lim1")
echo "# result: $r"
[ $st -eq 0 ] && [ "$(jfield "$r" result)" = completed ]
ok $? "start lim1 (held the slot): completed once its cap was lifted"

# 5c. listen --once: checks (the failed one above, a passed one here) leave
#     its one migration; a host-model guest migrates through it
"$KM" run onc --memory 16M --rate 50 --detach >/dev/null 2>&1 && runs_here onc
ok $? "run onc (model host): runs"
chk onc $OPORT "$OUT/c.onc"
st=$?
[ $st -eq 0 ]
ok $? "check onc -> listen --once: passes (exit $st)"
"$KM" start onc --to "[$LAB_PEER_MIG_ADDR]:$OPORT" --connect-timeout 30 --datapath user \
	--verify --downtime-limit 10000 --json >"$OUT/start.onc" 2>"$OUT/start.onc.err"
st=$?
sed 's/^/# start: /' "$OUT/start.onc.err"
r=$(cat "$OUT/start.onc")
echo "# result: $r"
[ $st -eq 0 ] && [ "$(jfield "$r" result)" = completed ] && [ "$(jfield "$r" verify_bad)" = 0 ]
ok $? "start onc -> listen --once after two checks: completed, verified ($(jfield "$r" pages_verified) pages)"

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
