#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Live migration on this machine's own /dev/kvm, user data path, between
# two network namespaces joined like the lab's hosts: a management link
# (mgmt0: 198.18.1.1 <-> 198.18.1.2) and a dedicated migration link (mig0:
# 198.18.2.1 / fd00:6b6d:2::a <-> 198.18.2.2 / fd00:6b6d:2::b), the lab's
# credentials (tests/lab-migrate/tls_certs.sh name those addresses).  The
# listener in "b" verifies the workload guest page by page before resuming
# it (--verify).  Covers ring and bitmap tracking, 1 to 4 vCPUs, odd sizes,
# cancel, kill -9 of either side, and the dirty-ring regressions: an idle
# guest sends each page about once and its final round is a few pages; a
# ring too small for the guest costs at most one extra pass over memory.
# Env: KM (kmigrate), PORT_BASE.  TAP output; exit 0 when all passed.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
KM=${KM:-$top/build/bin/kmigrate}
P=${PORT_BASE:-49500}
N=0 FAILED=0
T=$(mktemp -d /tmp/kmhost.XXXXXX)
NA=km$$a NB=km$$b

ok() {	# ok STATUS DESCRIPTION
	N=$((N + 1))
	if [ "$1" -eq 0 ]; then echo "ok $N $2"; else echo "not ok $N $2"; FAILED=$((FAILED + 1)); fi
}

cleanup() {
	for ns in $NA $NB; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT

# A and B: the source's and the destination's namespace, own run dirs.
inA() { ip netns exec "$NA" env KMIGRATE_RUN_DIR="$T/a" KMIGRATE_TLS_DIR="$T/tls/a" KMIGRATE_INSECURE=1 "$@"; }
inB() { ip netns exec "$NB" env KMIGRATE_RUN_DIR="$T/b" KMIGRATE_TLS_DIR="$T/tls/b" KMIGRATE_INSECURE=1 "$@"; }

setup() {
	mkdir -p "$T/a" "$T/b" || return 1
	sh "$top/tests/lab-migrate/tls_certs.sh" "$T/tls" >/dev/null || return 1
	ip netns add $NA && ip netns add $NB || return 1
	ip link add mgmt0 netns $NA type veth peer name mgmt0 netns $NB || return 1
	ip link add mig0 netns $NA type veth peer name mig0 netns $NB || return 1
	ip -n $NA addr add 198.18.1.1/24 dev mgmt0 && ip -n $NB addr add 198.18.1.2/24 dev mgmt0 &&
	ip -n $NA addr add 198.18.2.1/24 dev mig0 && ip -n $NB addr add 198.18.2.2/24 dev mig0 &&
	ip -n $NA addr add fd00:6b6d:2::a/64 dev mig0 nodad &&
	ip -n $NB addr add fd00:6b6d:2::b/64 dev mig0 nodad || return 1
	for ns in $NA $NB; do
		for l in lo mgmt0 mig0; do ip -n "$ns" link set "$l" up || return 1; done
	done
	inB "$KM" listen --address 198.18.2.2 --port "$P" --verify >"$T/listen.log" 2>&1 &
	L1=$!
	inB "$KM" listen --address fd00:6b6d:2::b --port $((P + 1)) --verify >"$T/listen6.log" 2>&1 &
	L2=$!
	for _ in $(seq 50); do
		grep -q listening "$T/listen.log" && grep -q listening "$T/listen6.log" && return 0
		sleep 0.1
	done
	return 1
}

# jget FILE KEY: a top-level number or string of a one-line JSON result
# (nested objects are dropped first; null reads as "")
jget() {
	sed -e 's/^{//; s/}$//' -e ':a' -e 's/{[^{}]*}/0/g; ta' "$1" 2>/dev/null |
		tr ',' '\n' | sed -n 's/^"'"$2"'":"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' | sed 's/^null$//' | head -n 1
}

# vm_run NAME ARGS...: a guest in A
vm_run() { local n=$1; shift; inA "$KM" run "$n" "$@" --detach >"$T/run-$n.out" 2>&1; }
vm_stop() { inA "$KM" stop "$1" >/dev/null 2>&1; inB "$KM" stop "$1" >/dev/null 2>&1; }
gone_a() { for _ in $(seq 100); do [ -e "$T/a/$1.sock" ] || return 0; sleep 0.1; done; return 1; }
# none_b NAME: no VM NAME on b (10 s)
none_b() {
	for _ in $(seq 300); do
		inB "$KM" vmctl "$1" info >/dev/null 2>&1 || return 0
		sleep 0.1
	done
	return 1
}
# phase NAME: the source's migration phase
phase() { inA "$KM" vmctl "$1" migrate-status 2>/dev/null | sed -n 's/.*"phase":"\([^"]*\)".*/\1/p'; }
# wait_live NAME: the migration is in its bulk or live rounds (20 s)
wait_live() {
	for _ in $(seq 200); do
		case $(phase "$1") in bulk|live) return 0 ;; esac
		sleep 0.1
	done
	return 1
}
# b_pids: the processes in b but the listeners; new_b BEFORE: one not in BEFORE
b_pids() { ip netns pids $NB | grep -vxE "$L1|$L2" | sort; }
new_b() { b_pids | grep -vxF -f <(printf '%s\n' "$1") | head -n 1; }

# migrate NAME ARGS...: start -j to B over mig0; the result in $T/NAME.json
migrate() {
	local n=$1; shift
	inA "$KM" -j start "$n" --to 198.18.2.2:"$P" --via mig0 "$@" >"$T/$n.json" 2>"$T/$n.err"
}

# check_migrated NAME DESC: completed, every page verified, runs in B only
check_migrated() {
	local n=$1 d=$2 r bad ver
	r=$(jget "$T/$n.json" result); bad=$(jget "$T/$n.json" verify_bad)
	ver=$(jget "$T/$n.json" pages_verified)
	[ "$r" = completed ] && [ "$bad" = 0 ] && [ "${ver:-0}" -gt 0 ] &&
		inB "$KM" vmctl "$n" info >/dev/null 2>&1 && gone_a "$n"
	ok $? "$d: completed, $ver pages verified (${bad:-?} bad), runs on b only"
	[ "$r" = completed ] || { tail -n 5 "$T/$n.err"; sed -n 's/.*"error":\("[^"]*"\).*/# \1/p' "$T/$n.json"; }
}

if ! setup; then
	echo "not ok 1 host migration suite: setting up namespaces and the listener failed"
	cat "$T/listen.log" 2>/dev/null
	exit 1
fi

# 1. ring tracking, 2 vCPUs, over the migration link only (--via)
m0=$(ip netns exec $NA cat /sys/class/net/mgmt0/statistics/tx_bytes)
vm_run r2 --memory 128M --vcpus 2
sleep 3
migrate r2
check_migrated r2 "ring, 2 vCPUs, 128 MiB"
m1=$(ip netns exec $NA cat /sys/class/net/mgmt0/statistics/tx_bytes)
g1=$(ip netns exec $NA cat /sys/class/net/mig0/statistics/tx_bytes)
[ $((m1 - m0)) -lt 65536 ] && [ "$g1" -gt 1000000 ]
ok $? "the migration went over mig0 ($g1 bytes), not mgmt0 ($((m1 - m0)) bytes)"
# the dirty-ring regression: this guest wrote ~10k pages; before the fix a
# ring overflow here resent all 32768 pages in every later round
fr=$(jget "$T/r2.json" full_resends); fin=$(jget "$T/r2.json" final_round_pages)
b=$(jget "$T/r2.json" bytes_sent); mem=$(jget "$T/r2.json" guest_mem_bytes)
[ "$fr" = 0 ] && [ "${fin:-99999}" -lt 2000 ] && [ "$b" -le $((mem * 105 / 100)) ]
ok $? "ring, default size: no full resend ($fr), final round $fin pages, $b bytes for $mem of memory (<= 1.05x)"
vm_stop r2

# 2. bitmap tracking, 1 vCPU, an odd size, over IPv6
vm_run b1 --memory 18M --vcpus 1 --dirty-log bitmap
sleep 1
inA "$KM" -j start b1 --to "[fd00:6b6d:2::b]:$((P + 1))" >"$T/b1.json" 2>"$T/b1.err"
check_migrated b1 "bitmap, 1 vCPU, 18 MiB, IPv6"
vm_stop b1

# 3. ring, 3 vCPUs, odd size, random writes at full speed
vm_run r3 --memory 130M --vcpus 3 --workload random --rate 0 --working-set 2M
sleep 2
migrate r3 --downtime-limit 500
check_migrated r3 "ring, 3 vCPUs, 130 MiB, random writer at full speed"
fr=$(jget "$T/r3.json" full_resends)
[ "$fr" = 0 ]
ok $? "ring, busy writer: the reaper kept every ring from overrunning (full resends: $fr)"
vm_stop r3

# 4. ring, 4 vCPUs, hot/cold
vm_run r4 --memory 256M --vcpus 4 --workload hotcold
sleep 2
migrate r4
check_migrated r4 "ring, 4 vCPUs, 256 MiB, hot/cold"
vm_stop r4

# 5. the old default ring (4096 entries), which overflowed in every round on a
#    KVM that emulates guest stores: at most one extra pass, never one per round
vm_run tiny --memory 64M --vcpus 2 --ring-entries 4096 --rate 20000
sleep 2
migrate tiny
check_migrated tiny "ring of 4096 entries, 2 vCPUs, 20000 pages/s a vCPU"
fr=$(jget "$T/tiny.json" full_resends); ps=$(jget "$T/tiny.json" pages_sent)
zp=$(jget "$T/tiny.json" zero_pages); gp=$(( $(jget "$T/tiny.json" guest_mem_bytes) / 4096 ))
[ "${fr:-9}" -le 1 ] && [ $((ps + zp)) -le $((gp * 205 / 100)) ]
ok $? "ring of 4096 entries: $fr full resend(s), $((ps + zp)) pages for $gp guest pages (<= 2.05x)"
vm_stop tiny

# 6. cancel during the rounds: the guest keeps running on a
vm_run c1 --memory 128M --vcpus 2 --rate 0 --working-set 32M
sleep 3	# a few MiB populated (first writes are slow on an emulating KVM)
migrate c1 --bandwidth 256KiB &
mp=$!
wait_live c1
sleep 1
inA "$KM" cancel c1 >/dev/null 2>&1
wait $mp
r=$(jget "$T/c1.json" result)
[ "$r" != completed ] && inA "$KM" vmctl c1 info 2>/dev/null | grep -q '"state":"running"' && none_b c1
ok $? "cancel in the rounds: result '$r', the guest runs on a, nothing on b"
vm_stop c1

# 7. kill -9 of the destination's receiving process mid-round
vm_run k1 --memory 128M --vcpus 2 --rate 0 --working-set 32M
sleep 3	# a few MiB populated (first writes are slow on an emulating KVM)
before=$(b_pids)
migrate k1 --bandwidth 256KiB &
mp=$!
wait_live k1
sleep 1
kp=$(new_b "$before")
[ -n "$kp" ] && kill -9 "$kp"
wait $mp
r=$(jget "$T/k1.json" result)
[ -n "$kp" ] && [ "$r" != completed ] && inA "$KM" vmctl k1 info 2>/dev/null | grep -q '"state":"running"'
ok $? "kill -9 of the destination's VM process (pid ${kp:-none}): result '$r', the guest keeps running on a"
migrate k1
check_migrated k1 "after the killed destination, the next migration"
vm_stop k1

# 8. kill -9 of the source's VM process mid-round: the destination discards
vm_run k2 --memory 128M --vcpus 2 --rate 0 --working-set 32M
sleep 3	# a few MiB populated (first writes are slow on an emulating KVM)
before=$(b_pids)
migrate k2 --bandwidth 256KiB &
mp=$!
wait_live k2
sleep 1
sp=$(sed -n 's/.*pid \([0-9]*\).*/\1/p' "$T/run-k2.out" | head -n 1)
[ -n "$sp" ] && kill -9 "$sp"
wait $mp
none_b k2 && [ -z "$(new_b "$before")" ]
ok $? "kill -9 of the source's VM process (pid ${sp:-none}): nothing left on b"
rm -f "$T/a/k2.sock"
vm_run k3 --memory 64M --vcpus 1
sleep 1
migrate k3
check_migrated k3 "after the killed source, the listener still takes migrations"
vm_stop k3

grep -q . "$T/listen.log" && sed 's/^/# listen: /' "$T/listen.log" | tail -n 40
echo "1..$N"
echo "# host migration suite: $FAILED of $N failed"
[ "$FAILED" -eq 0 ]
