#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# host tier: runs without KVM
# The guest agent (tests/lab-vm/agent/, kmagent) and the client probe
# (tests/lab-vm/probe.c, kmprobe) on this machine, between two network
# namespaces joined by a veth pair (198.18.0.0/30, fd00:6b6d::/64):
# the agent's echo answers every request over IPv4 and IPv6; an outage of
# 200 ms injected two ways shows in the probe's longest gap and lost
# count (SIGSTOP of the agent: requests wait, none lost, the ticker's gap
# too; a blackhole qdisc on the agent's link: about 200 lost) while the TCP
# connections survive;
# a killed agent makes the probe report the TCP connection lost (exit 1);
# the agent's disk records verify, and a changed byte is found; bad input
# is refused with exit 2; the guest side (tests/lab-vm/kmguest.sh, what
# agent_initrd.sh's /init runs) starts the services and takes the console
# commands.  Needs root and ip netns (skipped otherwise).
# Env: PORT_BASE.  TAP output; exit 0 when all passed.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
AG=${KMAGENT:-$top/build/lab-vm/kmagent}
PR=${KMPROBE:-$top/build/lab-vm/kmprobe}
P=${PORT_BASE:-49600}
N=0 FAILED=0
T=$(mktemp -d /var/tmp/kmprobe.XXXXXX)
NA=kmpa$$ NC=kmpc$$
APID=

ok() {	# ok STATUS DESCRIPTION
	N=$((N + 1))
	if [ "$1" -eq 0 ]; then echo "ok $N $2"; else echo "not ok $N $2"; FAILED=$((FAILED + 1)); fi
}

cleanup() {
	[ -n "$APID" ] && kill -CONT "$APID" 2>/dev/null
	[ -n "$APID" ] && kill "$APID" 2>/dev/null && wait "$APID" 2>/dev/null
	ip netns del "$NA" 2>/dev/null
	ip netns del "$NC" 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ] || ! ip netns add "$NA" 2>/dev/null; then
	echo "ok 1 probe_test # SKIP needs root and ip netns"
	exit 0
fi
if [ ! -x "$AG" ] || [ ! -x "$PR" ]; then
	echo "not ok 1 kmagent or kmprobe not built (make lab-agent)"
	exit 1
fi

# jget FILE SECTION KEY: the value of "KEY" inside "SECTION":{...} of the JSON line
jget() {
	sed -n "s/.*\"$2\":{\([^}]*\(}[^}]*\)\{0,1\}\)}.*/\1/p" "$1" | grep -o "\"$3\":[^,}]*" |
		head -n 1 | sed 's/^[^:]*://; s/"//g'
}
# in_range V LO HI: LO <= V <= HI (V may have decimals)
in_range() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v != "" && v + 0 >= lo && v + 0 <= hi) }'; }
show() { sed 's/^/#   /' "$@"; }
start_agent() {
	ip netns exec "$NA" "$AG" echo --port "$P" --tick-ms 10 --report-ms 100000 >"$T/agent.log" 2>&1 &
	APID=$!
	for _ in $(seq 50); do grep -q "echo start" "$T/agent.log" && return 0; sleep 0.1; done
	return 1
}
probe() { timeout 60 ip netns exec "$NC" "$PR" "$@"; }

ip netns add "$NC" && ip -n "$NA" link set lo up && ip -n "$NC" link set lo up &&
	ip link add kmpv$$a netns "$NA" type veth peer name kmpv$$c netns "$NC" &&
	ip -n "$NA" addr add 198.18.0.1/30 dev kmpv$$a && ip -n "$NC" addr add 198.18.0.2/30 dev kmpv$$c &&
	ip -n "$NA" addr add fd00:6b6d::1/64 dev kmpv$$a nodad &&
	ip -n "$NC" addr add fd00:6b6d::2/64 dev kmpv$$c nodad &&
	ip -n "$NA" link set kmpv$$a up && ip -n "$NC" link set kmpv$$c up &&
	start_agent
ok $? "setup: agent and client namespaces on a veth pair, the agent's echo on port $P"

# --- every request answered, both families
probe --udp 198.18.0.1:"$P" --tcp 198.18.0.1:"$P" --seconds 2 >"$T/base.json" 2>"$T/base.err"
rc=$?
show "$T/base.json"
[ "$rc" = 0 ] && [ "$(jget "$T/base.json" udp sent)" -ge 1500 ] &&
	[ "$(jget "$T/base.json" udp lost)" = 0 ] && [ "$(jget "$T/base.json" udp duplicates)" = 0 ] &&
	[ "$(jget "$T/base.json" tcp survived)" = true ] &&
	[ "$(jget "$T/base.json" tcp bytes_echoed)" = "$(jget "$T/base.json" tcp bytes_sent)" ]
ok $? "IPv4, 1 ms for 2 s: every UDP request answered, the TCP stream echoed whole (exit $rc)"
probe --udp "[fd00:6b6d::1]:$P" --tcp "[fd00:6b6d::1]:$P" --seconds 1 >"$T/v6.json" 2>"$T/v6.err"
rc=$?
[ "$rc" = 0 ] && [ "$(jget "$T/v6.json" udp lost)" = 0 ] && [ "$(jget "$T/v6.json" tcp survived)" = true ]
ok $? "IPv6 (fd00::/8): the same (exit $rc)"
grep -q "KMAGENT echo tcp-open peer=198.18.0.2:" "$T/agent.log" &&
	grep -q "KMAGENT echo tcp-close peer=\[fd00:6b6d::2\]:[0-9]* bytes=[0-9]* how=eof" "$T/agent.log"
ok $? "the agent's lines name each TCP client and its bytes"

# --- outage 1: the agent stopped for 200 ms
probe --udp 198.18.0.1:"$P" --tcp 198.18.0.1:"$P" --ticker 198.18.0.1:$((P + 1)) --seconds 3 \
	>"$T/stop.json" 2>"$T/stop.err" &
pp=$!
sleep 1
t1=$(date +%s%N)
kill -STOP "$APID"
sleep 0.2
kill -CONT "$APID"
out=$((($(date +%s%N) - t1) / 1000000))	# the outage lasted at most this
wait "$pp"
rc=$?
show "$T/stop.json"
gap=$(jget "$T/stop.json" udp longest_gap_ms)
from=$(jget "$T/stop.json" udp gap_from_s)
in_range "$gap" 195 $((out + 150)) && in_range "$from" 0.8 2.0 && [ "$(jget "$T/stop.json" udp lost)" = 0 ] &&
	[ "$(jget "$T/stop.json" tcp survived)" = true ] && [ "$rc" = 0 ]
ok $? "agent stopped 200 ms (SIGSTOP, $out ms from kill to kill): longest gap $gap ms from ${from}s, none lost, TCP survived"
tgap=$(jget "$T/stop.json" ticker longest_gap_ms)
ticks=$(jget "$T/stop.json" ticker ticks)
moved=$(awk -v a="$(jget "$T/stop.json" ticker first)" -v b="$(jget "$T/stop.json" ticker last)" \
	'BEGIN { d = b - a; print (d < 0 ? -d : d) }')
in_range "$tgap" 195 $((out + 150)) && [ "$(jget "$T/stop.json" ticker missing)" = 0 ] &&
	in_range "$ticks" 150 310 && [ "$(jget "$T/stop.json" ticker survived)" = true ] &&
	in_range "$moved" 0 50
ok $? "the ticker (every 10 ms) across it: $ticks ticks, none missing, longest gap $tgap ms, the agent's clock moved $moved ms against ours"

# --- outage 2: the agent's link drops everything for 200 ms (the
# blackhole qdisc, always built with CONFIG_NET_SCHED; sch_netem may be absent)
probe --udp 198.18.0.1:"$P" --tcp 198.18.0.1:"$P" --seconds 3 >"$T/loss.json" 2>"$T/loss.err" &
pp=$!
sleep 1
t1=$(date +%s%N)
ip netns exec "$NA" tc qdisc replace dev kmpv$$a root blackhole
sleep 0.2
ip netns exec "$NA" tc qdisc del dev kmpv$$a root
out=$((($(date +%s%N) - t1) / 1000000))
wait "$pp"
rc=$?
show "$T/loss.json"
gap=$(jget "$T/loss.json" udp longest_gap_ms)
lost=$(jget "$T/loss.json" udp lost)
# at 1 ms a request, about one lost per ms of the outage
in_range "$gap" 195 $((out + 150)) && in_range "$lost" 170 $((out + 150)) &&
	[ "$(jget "$T/loss.json" tcp survived)" = true ] && [ "$rc" = 0 ]
ok $? "the agent's link drops all for 200 ms ($out ms from tc to tc): longest gap $gap ms, $lost lost, TCP survived (exit $rc)"

# --- a connection that does not survive is reported so
probe --udp 198.18.0.1:"$P" --tcp 198.18.0.1:"$P" --ticker 198.18.0.1:$((P + 1)) --seconds 2 \
	--drain-ms 200 >"$T/kill.json" 2>&1 &
pp=$!
sleep 0.7
kill -KILL "$APID"
wait "$APID" 2>/dev/null
APID=
wait "$pp"
rc=$?
show "$T/kill.json"
[ "$rc" = 1 ] && [ "$(jget "$T/kill.json" tcp survived)" = false ] &&
	[ "$(jget "$T/kill.json" udp lost)" -ge 1000 ] && grep -Eq '"error":"(closed by the server|recv: Connection reset by peer)"' "$T/kill.json" &&
	[ "$(jget "$T/kill.json" ticker survived)" = false ]
ok $? "the agent killed: TCP reported closed or reset, not survived, the ticker lost, the rest lost (exit $rc)"
probe --tcp 198.18.0.1:"$P" --seconds 1 >"$T/refused.out" 2>&1
rc=$?
[ "$rc" = 3 ] && grep -q "connecting to 198.18.0.1:$P: Connection refused" "$T/refused.out"
ok $? "no service: exit 3 ($rc), 'Connection refused'"

# --- bad input
bad=0
for args in "" "--udp 198.18.0.1" "--ticker 198.18.0.1" "--udp [fd00::1:$P" "--udp 198.18.0.1:$P --seconds 0" \
	"--udp 198.18.0.1:$P --interval-us 10" "--udp 198.18.0.1:$P --size 8" "--udp 198.18.0.1:$P extra"; do
	# shellcheck disable=SC2086
	"$PR" $args >"$T/bad.out" 2>&1
	rc=$?
	[ "$rc" = 2 ] && [ -s "$T/bad.out" ] || { bad=1; echo "# kmprobe $args: exit $rc"; show "$T/bad.out"; }
done
for args in "" "frob" "mem --rate x" "mem --mib 0" "echo --port 70000" "disk-write" \
	"disk-check $T/x" "disk-write $T/x --offset 100" "mem extra" "echo --port 65535 --tick-ms 10" \
	"echo --tick-ms 0"; do
	# shellcheck disable=SC2086
	"$AG" $args >"$T/bad.out" 2>&1
	rc=$?
	[ "$rc" = 2 ] && [ -s "$T/bad.out" ] || { bad=1; echo "# kmagent $args: exit $rc"; show "$T/bad.out"; }
done
[ ! -e "$T/x" ]
ok $((bad | $?)) "bad input to kmprobe and kmagent: exit 2 with a message, no file made"

# --- the agent's disk records and memory stamps
"$AG" disk-write /dev/kmagent-absent$$ --count 1 >"$T/nodev.out" 2>&1
rc=$?
[ "$rc" = 3 ] && grep -q "KMAGENT disk error=open path=/dev/kmagent-absent$$: No such file" "$T/nodev.out" &&
	[ ! -e /dev/kmagent-absent$$ ]
ok $? "disk-write to a device that is not there: exit 3 ($rc), no file made in /dev"
"$AG" disk-write "$T/disk.img" --rate 0 --count 200 --payload 1000 >"$T/dw.out" 2>&1
rc=$?
last=$(sed -n 's/^KMAGENT disk done last_fsynced=//p' "$T/dw.out")
[ "$rc" = 0 ] && [ "$last" = 200 ] && [ "$(grep -c '^KMAGENT disk fsynced=' "$T/dw.out")" = 200 ] &&
	[ "$(stat -c %s "$T/disk.img")" = $((1048576 + 200 * 1024)) ]
ok $? "disk-write: 200 records of 1 KiB slots, a line per fsync, last_fsynced=$last"
"$AG" disk-check "$T/disk.img" --payload 1000 --upto 150 >"$T/dc.out" 2>&1
rc=$?
[ "$rc" = 0 ] && grep -q "^KMAGENT disk-check ok records=150 beyond=50" "$T/dc.out"
ok $? "disk-check up to 150: ok, 50 more found beyond"
printf '\377' | dd of="$T/disk.img" bs=1 seek=$((1048576 + 99 * 1024 + 500)) conv=notrunc 2>/dev/null
"$AG" disk-check "$T/disk.img" --payload 1000 --upto 200 >"$T/dc2.out" 2>&1
rc=$?
[ "$rc" = 1 ] && grep -q "^KMAGENT disk-check bad seq=100 reason=crc" "$T/dc2.out" &&
	grep -q "^KMAGENT disk-check failed bad=1 of=200" "$T/dc2.out"
ok $? "a byte changed in record 100: disk-check names it (crc), exit 1 ($rc)"
"$AG" disk-check "$T/disk.img" --payload 1000 --upto 201 >"$T/dc3.out" 2>&1
rc=$?
[ "$rc" = 1 ] && grep -q "bad seq=201 reason=short read" "$T/dc3.out"
ok $? "a record never written (201): missing, exit 1 ($rc)"
"$AG" mem --mib 8 --rate 5000 --seconds 1 --report-ms 300 >"$T/mem.out" 2>&1
rc=$?
show "$T/mem.out"
writes=$(sed -n 's/^KMAGENT mem done writes=\([0-9]*\) .*bad=0 bad_total=0$/\1/p' "$T/mem.out")
[ "$rc" = 0 ] && in_range "$writes" 3000 5100 && [ "$(grep -c '^KMAGENT mem t=.* bad=0$' "$T/mem.out")" -ge 2 ]
ok $? "mem at 5000 pages/s for 1 s: $writes writes, every page verified at each report"
"$AG" mem --mib 8 --rate 1 --report-ms 300 --seconds 2 >"$T/mem2.out" 2>&1 &
mp=$!
sleep 0.5
# the working set: its 8 MiB mapping; 8 bytes of page 100 changed behind its back
range=$(awk '{ split($1, r, "-"); print r[1], r[2] }' /proc/$mp/maps |
	while read -r a b; do [ $((16#$b - 16#$a)) = 8388608 ] && echo "$a" && break; done)
[ -n "$range" ] && printf '\377\377\377\377\377\377\377\377' |
	dd of=/proc/$mp/mem bs=1 seek=$((16#$range + 4096 * 100 + 8)) conv=notrunc 2>/dev/null
wait "$mp"
rc=$?
grep -q "^KMAGENT mem bad page=100 want=" "$T/mem2.out" &&
	grep -q "^KMAGENT mem done writes=[0-9]* pages=2048 bad=1 bad_total=[1-9]" "$T/mem2.out" && [ "$rc" = 1 ]
ok $? "mem: a page changed behind the writer is found (page 100), exit 1 ($rc)"

# --- the guest side: kmguest's services and console commands (as the
# initramfs's /init runs them, with this machine's shell and a file disk)
printf 'status\nstop\nstatus\ncheck\ncheck 3\nfrob\npoweroff\n' >"$T/cmds"
ip netns exec "$NA" env KM_RUN="$T/run" KMAGENT="$AG" KM_PORT=$((P + 2)) KM_MEM=4:2000 \
	KM_DISK="$T/g.img:100" sh -c "sh '$top/tests/lab-vm/kmguest.sh' start &&
		(sleep 2; cat '$T/cmds') | sh '$top/tests/lab-vm/kmguest.sh' serve" >"$T/guest.out" 2>&1 &
gp=$!
# the lab tests' helpers (tests/lab-vm/agentlib.sh), the probe in the client namespace
printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$NC" "$PR" >"$T/kmprobe-ns"
chmod +x "$T/kmprobe-ns"
KMPROBE=$T/kmprobe-ns
. "$top/tests/lab-vm/agentlib.sh"
agent_wait "$T/guest.out" "KMAGENT guest started" 10
ok $? "agent_wait: the guest's services started"
probe_start "$T/g.json" 1 --udp 198.18.0.1:$((P + 2)) --tcp "[fd00:6b6d::1]:$((P + 2))" \
	--ticker 198.18.0.1:$((P + 3))
probe_finish "$T/g.json"
rc=$?
cp "$T/g.json.sum" "$T/g.sum"
[ "$PROBE_LOST" = 0 ] && [ "$PROBE_TCP" = survived ] && [ "$PROBE_SENT" -ge 500 ] &&
	in_range "$PROBE_GAP_MS" 0 500 && [ "$PROBE_GAP_MS" = "$(jget "$T/g.json" udp longest_gap_ms)" ] &&
	[ "$PROBE_TICKER" = survived ] && [ "$PROBE_TICKS_MISSING" = 0 ]
ok $? "probe_start/probe_finish: UDP gap $PROBE_GAP_MS ms, lost $PROBE_LOST of $PROBE_SENT, TCP $PROBE_TCP, the guest's ticker (km.tick default) $PROBE_TICKER, $PROBE_TICKS_MISSING missing"
wait "$gp"
grep -v fsynced= "$T/guest.out" | show
seq=$(sed -n 's/^KMAGENT disk done last_fsynced=\([0-9]*\)$/\1/p' "$T/guest.out")
[ "$rc" = 0 ] && grep -q "^kmprobe: probe longest gap [0-9.]* ms (at [0-9.]* s), lost 0 of [0-9]*, TCP connection survived, ticker [0-9]* ticks, 0 missing, longest gap [0-9.]* ms, guest clock moved [-+][0-9.]* ms against ours$" "$T/g.sum"
ok $? "kmguest start: the echo answers the probe; --summary's line (exit $rc)"
grep -q "^KMAGENT guest status echo=up mem=up disk=up$" "$T/guest.out" &&
	grep -q "^KMAGENT mem done writes=[0-9]* pages=1024 bad=0 bad_total=0$" "$T/guest.out" &&
	grep -q "^KMAGENT guest status echo=up mem=down disk=down$" "$T/guest.out" &&
	[ -n "$seq" ] && [ "$seq" -ge 100 ] &&
	grep -q "^KMAGENT disk-check ok records=$seq beyond=0 " "$T/guest.out" &&
	grep -q "^KMAGENT disk-check ok records=3 beyond=$((seq - 3)) " "$T/guest.out" &&
	grep -q "^KMAGENT guest unknown command 'frob'" "$T/guest.out" &&
	grep -q "^KMAGENT guest cmd=poweroff done$" "$T/guest.out" &&
	grep -q "^KMAGENT echo done udp=" "$T/guest.out"
ok $? "kmguest serve: status, stop (the writers' last lines: $seq fsynced, no bad page), check, check 3, poweroff"
sh "$top/tests/lab-vm/agent_initrd.sh" "$T/i.cpio" "$AG" >"$T/i.err" 2>&1 &&
	(cd "$T" && cpio -t --quiet <i.cpio) >"$T/i.list" &&
	grep -qx "bin/kmagent" "$T/i.list" && grep -qx "bin/kmguest" "$T/i.list" && grep -qx init "$T/i.list" &&
	! sh "$top/tests/lab-vm/agent_initrd.sh" "$T/j.cpio" "$PR" >"$T/j.err" 2>&1 &&
	grep -q "dynamically linked" "$T/j.err" && [ ! -e "$T/j.cpio" ]
ok $? "agent_initrd.sh: an initramfs with kmagent and kmguest; a dynamic agent refused"

echo "1..$N"
exit $((FAILED > 0))
