#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# kmigrate profile on this machine's own /dev/kvm (docs/PROFILE.md): a
# workload guest of 2 vCPUs at a known rate and working set, once its
# working set has been written, is profiled and the measured per-vCPU dirty
# rate and working set are checked against the guest's own counters (within
# generous bounds: the machine is shared and its KVM may emulate guest
# stores); dirty logging is off afterwards (a second profile starts, after
# an interrupted and after a killed client too, and kmigrate start works);
# a profile is refused while a migration runs and a migration while a
# profile runs; bad arguments get their exit codes and leave nothing behind.
# Everything runs in a network namespace of its own (loopback only).
# Env: KM (kmigrate), PORT_BASE.  TAP output; exit 0 when all passed.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
KM=${KM:-$top/build/bin/kmigrate}
P=${PORT_BASE:-49500}
N=0 FAILED=0
T=$(mktemp -d /tmp/kmprof.XXXXXX)
NS=kmp$$
VM=pf$$
. "$top/tests/host/lib.sh"

ok() {	# ok STATUS DESCRIPTION
	N=$((N + 1))
	if [ "$1" -eq 0 ]; then echo "ok $N $2"; else echo "not ok $N $2"; FAILED=$((FAILED + 1)); fi
}

cleanup() {
	km_stop_guests "$T/a" "$T/b"
	ip netns pids "$NS" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

# The guests and the listener in the namespace (the migration's link is its
# loopback; the lab's credentials, the destination named as host b); the
# profiles outside it (the control socket is a file), so that a signal to
# "$!" reaches kmigrate itself.
inA() { ip netns exec "$NS" env KMIGRATE_RUN_DIR="$T/a" KMIGRATE_TLS_DIR="$T/tls/a" KMIGRATE_INSECURE=1 "$@"; }
inB() { ip netns exec "$NS" env KMIGRATE_RUN_DIR="$T/b" KMIGRATE_TLS_DIR="$T/tls/b" KMIGRATE_INSECURE=1 "$@"; }
kmA() { KMIGRATE_RUN_DIR="$T/a" "$KM" "$@"; }

# jq-less JSON: py EXPR FILE prints EXPR of the object in FILE (as d)
py() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($1)" "$2"; }
# progress of each vCPU of VM $1 in dir $2, space separated
progress() {
	ip netns exec "$NS" env KMIGRATE_RUN_DIR="$2" "$KM" vmctl "$1" info >"$T/info.json" 2>/dev/null &&
		py '" ".join(str(v["progress"]) for v in d["vcpus_status"])' "$T/info.json"
}
now_ms() { date +%s%3N; }

mkdir -p "$T/a" "$T/b"
sh "$top/tests/lab-migrate/tls_certs.sh" "$T/tls" >/dev/null &&
	ip netns add "$NS" && ip -n "$NS" link set lo up
ok $? "profile: namespace and credentials set up"

# --- bad arguments: usage errors exit 2, a missing VM or plot directory 1
bad() {	# bad WANT ARGS...
	local want=$1 rc
	shift
	kmA profile "$@" >"$T/bad.out" 2>"$T/bad.err"
	rc=$?
	[ "$rc" -eq "$want" ] && [ -s "$T/bad.err" ] && [ ! -s "$T/bad.out" ]
	ok $? "profile: '$*' exits $want with a message (got $rc: $(head -n 1 "$T/bad.err"))"
}
bad 2
bad 2 "$VM" --seconds 0
bad 2 "$VM" --seconds 61
bad 2 "$VM" --interval 10
bad 2 "$VM" --bandwidth 0
bad 2 "$VM" --bandwidth 10Q
bad 2 "$VM" --downtime-limit 50,
bad 2 "$VM" --downtime-limit 0
bad 2 "$VM" extra
bad 2 "bad/name"
bad 1 "$VM"
bad 1 "$VM" --svg "$T/none/p.svg"

# --- a guest with a known rate and working set, written once
inA "$KM" run "$VM" --memory 128M --vcpus 2 --rate 200 --working-set 2M --detach \
	>"$T/run.out" 2>&1
ok $? "profile: guest runs (2 vCPUs, 200 pages/s each, working set 2 MiB each)"
written=1
for _ in $(seq 600); do
	# shellcheck disable=SC2046
	set -- $(progress "$VM" "$T/a")
	if [ $# -eq 2 ] && [ "$1" -ge 600 ] && [ "$2" -ge 600 ]; then written=0; break; fi
	sleep 0.1
done
ok $written "profile: the guest wrote its working set once (progress $*)"

set -- $(progress "$VM" "$T/a"); p0a=$1 p0b=$2 t0=$(now_ms)
kmA -j profile "$VM" --seconds 5 >"$T/p1.json" 2>"$T/p1.err"
rc=$?
t1=$(now_ms); set -- $(progress "$VM" "$T/a"); p1a=$1 p1b=$2
ok $rc "profile: 5 s profile of the guest ($(head -c 200 "$T/p1.err"))"
# the guest's own rate: its page writes over the (slightly longer) window
g0=$(( (p1a - p0a) * 1000 / (t1 - t0) )) g1=$(( (p1b - p0b) * 1000 / (t1 - t0) ))
m0=$(py 'int(d["dirty_rate"]["vcpus"][0]["pages_per_s"])' "$T/p1.json")
m1=$(py 'int(d["dirty_rate"]["vcpus"][1]["pages_per_s"])' "$T/p1.json")
mt=$(py 'int(d["dirty_rate"]["pages_per_s"])' "$T/p1.json")
ws1=$(py '[w["pages"] for w in d["working_set"] if w["window_ms"] == 1000][0]' "$T/p1.json")
wsn=$(py 'd["working_set"][-1]["pages"]' "$T/p1.json")
echo "# guest: vCPU 0 $g0, vCPU 1 $g1 pages/s; measured $m0, $m1 (total $mt) pages/s;" \
	"working set 1 s $ws1, 5 s $wsn pages"
within() {	# within MEASURED EXPECTED: measured in [expected / 2, expected * 2]
	[ "$2" -gt 0 ] && [ $(($1 * 2)) -ge "$2" ] && [ "$1" -le $(($2 * 2)) ]
}
within "$m0" "$g0" && within "$m1" "$g1"
ok $? "profile: per-vCPU dirty rate ($m0, $m1) within 2x of the guest's page writes ($g0, $g1)"
within "$mt" $((g0 + g1))
ok $? "profile: total dirty rate $mt within 2x of the guest's $((g0 + g1))"
# in 1 s each vCPU writes about its rate in distinct pages (< its 512-page set)
exp1=$(( (g0 < 512 ? g0 : 512) + (g1 < 512 ? g1 : 512) ))
within "$ws1" "$exp1"
ok $? "profile: 1 s working set $ws1 within 2x of $exp1"
# over 5 s each vCPU covers its whole 512-page set (plus a few pages of
# its own: stack, status), never more than the sets and those
expn=$(( (g0 * 5 < 512 ? g0 * 5 : 512) + (g1 * 5 < 512 ? g1 * 5 : 512) ))
[ "$wsn" -ge $((expn * 8 / 10)) ] && [ "$wsn" -le $((1024 + 64)) ]
ok $? "profile: 5 s working set $wsn between 0.8 x $expn and 1088"
[ "$(py 'd["per_vcpu"] and d["dirty_mode"] == "ring"' "$T/p1.json")" = True ] &&
	[ "$(py 'len(d["predictions"])' "$T/p1.json")" -eq 9 ] &&
	[ "$(py 'len(d["series"])' "$T/p1.json")" -ge 40 ]
ok $? "profile: JSON has per-vCPU data, 9 predictions (3 bandwidths x 3 limits), the series"
# a guest of ~1 MiB/s converges at 300 ms on 1 GiB/s; not at 1 MiB/s below its rate
kmA -j profile "$VM" --seconds 2 --bandwidth 1GiB,100KiB --downtime-limit 300 \
	>"$T/p2.json" 2>"$T/p2.err"
ok $? "profile: a second profile starts (dirty logging was turned off)"
[ "$(py 'd["predictions"][0]["converges"]' "$T/p2.json")" = True ] &&
	[ "$(py 'd["predictions"][1]["converges"]' "$T/p2.json")" = False ] &&
	py 'd["predictions"][1]["reason"]' "$T/p2.json" | grep -q .
ok $? "profile: predicted: converges on 1 GiB/s, not on 100 KiB/s, with a reason"

# --- text and plot
if command -v gnuplot >/dev/null; then
	kmA profile "$VM" --seconds 1 --svg "$T/p.svg" >"$T/p3.out" 2>"$T/p3.err" &&
		grep -q '<svg' "$T/p.svg" && grep -q 'dirty rate' "$T/p3.out" &&
		[ -z "$(ls "$T"/p.svg.* 2>/dev/null)" ]
	ok $? "profile: table and --svg plot (gnuplot)"
else
	echo "# gnuplot not installed: the plot is left out ('make deps' installs it)"
fi
PATH=/nonexistent-dir kmA profile "$VM" --seconds 1 --svg "$T/q.svg" >/dev/null 2>"$T/p4.err"
[ $? -eq 1 ] && grep -q gnuplot "$T/p4.err" && [ ! -e "$T/q.svg" ]
ok $? "profile: without gnuplot --svg fails before measuring, exit 1"

# --- an interrupted client, a killed client: dirty logging goes off
KMIGRATE_RUN_DIR="$T/a" "$KM" profile "$VM" --seconds 30 >/dev/null 2>"$T/int.err" &
pid=$!
sleep 1.5
kill -INT $pid
wait $pid
rc=$?
[ $rc -eq 1 ] && grep -q interrupted "$T/int.err" &&
	kmA profile "$VM" --seconds 1 >/dev/null 2>"$T/p5.err"
ok $? "profile: SIGINT ends the profile (exit $rc), a new one starts at once"
KMIGRATE_RUN_DIR="$T/a" "$KM" profile "$VM" --seconds 30 >/dev/null 2>&1 &
pid=$!
sleep 1.5
kill -9 $pid
wait $pid 2>/dev/null
t0=$(now_ms) again=1
for _ in $(seq 40); do
	if kmA profile "$VM" --seconds 1 >/dev/null 2>&1; then again=0; break; fi
	sleep 0.25
done
ok $again "profile: after kill -9 of its client the profile ends by itself ($(( $(now_ms) - t0 )) ms)"

# --- no migration while profiling, no profile while migrating; start works
inB "$KM" listen --address 127.0.0.1 --port "$P" >"$T/listen.log" 2>&1 &
for _ in $(seq 50); do grep -q listening "$T/listen.log" && break; sleep 0.1; done
kmA profile "$VM" --seconds 4 >/dev/null 2>&1 &
pid=$!
sleep 1
inA "$KM" start "$VM" --to 127.0.0.1:"$P" --tls-name lab-b >/dev/null 2>"$T/s1.err"
rc=$?
wait $pid
[ $rc -eq 1 ] && grep -q profiled "$T/s1.err"
ok $? "profile: kmigrate start refused while a profile runs (exit $rc: $(head -n 1 "$T/s1.err"))"
inA "$KM" -j start "$VM" --to 127.0.0.1:"$P" --tls-name lab-b --bandwidth 2MiB >"$T/s2.json" 2>"$T/s2.err" &
spid=$!
migrating=1
for _ in $(seq 100); do
	inA "$KM" vmctl "$VM" info 2>/dev/null | grep -q '"state":"migrating"' && { migrating=0; break; }
	sleep 0.1
done
kmA profile "$VM" --seconds 1 >/dev/null 2>"$T/p6.err"
rc=$?
[ $migrating -eq 0 ] && [ $rc -eq 1 ] && grep -q 'migration runs' "$T/p6.err"
ok $? "profile: refused while a migration runs (exit $rc: $(head -n 1 "$T/p6.err"))"
wait $spid
ok $? "profile: kmigrate start after the profiles completes ($(head -c 200 "$T/s2.err"))"
KMIGRATE_RUN_DIR="$T/b" "$KM" profile "$VM" --seconds 1 >/dev/null 2>"$T/p7.err"
ok $? "profile: the migrated guest is profiled on the destination"

# --- bitmap mode: the total only, the vCPUs unknown
inA "$KM" run "$VM"bm --memory 64M --vcpus 2 --rate 200 --working-set 1M --dirty-log bitmap \
	--detach >"$T/runbm.out" 2>&1 && sleep 2 &&
	kmA -j profile "$VM"bm --seconds 2 >"$T/bm.json" 2>"$T/bm.err"
ok $? "profile: a bitmap-mode guest ($(head -c 200 "$T/bm.err"))"
[ "$(py 'd["dirty_mode"] == "bitmap" and not d["per_vcpu"] and d["dirty_rate"]["vcpus"] is None' "$T/bm.json")" = True ] &&
	[ "$(py 'int(d["dirty_rate"]["pages_per_s"] > 0)' "$T/bm.json")" = 1 ]
ok $? "profile: bitmap mode reports the total rate, no per-vCPU rates"

echo "# profile_test: $((N - FAILED)) of $N passed"
[ "$FAILED" -eq 0 ]
