#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Live migration of a running Linux guest (no devices) between two lab hosts:
#   tests/lab/lab.sh run --kernel 6.1 --hosts 2 --payload DIR -- sh bin/linux_mig_test.sh
# with DIR/bin/{kmigrate,linux_mig_test.sh,labtest.sh,agentlib.sh}, DIR/vmlinuz (the lab
# kernel), DIR/initrd.cpio (linux_mig_initrd.sh), DIR/tls, DIR/kmigrate.ko.
#
#   a: `kmigrate run lm --kernel --initrd --vcpus 2`; the guest writes 8 MiB
#      of checksummed data into a tmpfs and keeps a counter and a clock loop
#      running; a asks it for a check over `kmigrate console` ("check pre").
#   1. a -> b on the kernel data path (the user path without the module).
#      b: `kmigrate vms` lists lm, info says linux and migrated; over b's
#      `kmigrate console` the guest answers "check b": data intact, the
#      counter moved on from a's check and keeps moving, its clock never
#      went back and agrees with b's clock within MIG_MAX_SKEW s (10): no
#      jump (the longest `sleep 1` it saw is reported: the throttle slows
#      the guest a lot under the lab's TCG); b's console log has it.  a: the
#      migration completed, lm is gone from a.
#   2. b -> a on the user data path over TLS (KMIGRATE_INSECURE=0): the same
#      checks on a ("check back").
#
# MIG_DISK=1 (lab.sh with LAB_SHARED_DISK; DIR/mods from virtio_mods.sh, the
# initrd with its guest modules): the guest also has the shared disk the lab
# hosts see (serial kmshared) as /dev/vda and, while it migrates, appends
# fsynced records to it and reads 4 MiB of it back with O_DIRECT in a loop
# (the VMM's writes into guest memory, resent).  Each check also asserts:
# every fsynced record is on the disk as the guest reads it there, no read
# ever differed, the writer went on after the move.  And: the destination
# holds the disk (another VM there is refused it), the source dropped it
# (another VM there may read it); at the end, a's own read of the disk has
# every record; pre-flight refuses a VM whose disk b cannot open (`check`
# and `start`: no page moves).
# Prints TAP on each host.

KM=${KMIGRATE:-kmigrate}
export KMIGRATE_RUN_DIR=${KMIGRATE_RUN_DIR:-/run/kmigrate/vms}
D=$(cd "$(dirname "$0")/.." && pwd)
PORT=49152
DOWNTIME=${MIG_DOWNTIME:-300}
BOOT_S=${LINUX_BOOT_S:-240}
MAX_SKEW=${MIG_MAX_SKEW:-10}
APPEND="console=ttyS0 panic=-1 reboot=k"
N=0
FAILED=0
OUT=/tmp/linux_mig_test.$$
mkdir -p "$OUT"

. "$(dirname "$0")/labtest.sh"	# ok, jfield, info, wait_gone, km_module_load
. "$(dirname "$0")/agentlib.sh"	# lab_shared_disk

echo "# host $LAB_HOST, kernel $(uname -r), migration address $LAB_MIG_ADDR"

# wait_log FILE PATTERN SECONDS
wait_log() {
	i=0
	while [ $i -lt $(($3 * 10)) ] && ! grep -q "$2" "$1" 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	grep -q "$2" "$1" 2>/dev/null
}

# guest_check TAG: ask over `kmigrate console`, wait for the answer in the
# console log; sets CHECK to the answer's line
guest_check() {
	(sleep 0.5; printf 'check %s\n' "$1"; sleep 4) |
		timeout 6 "$KM" console lm >"$OUT/con.$1" 2>&1
	wait_log "$KMIGRATE_RUN_DIR/lm.console" "KMTEST CHECK $1 " 60
	CHECK=$(grep -a "KMTEST CHECK $1 " "$KMIGRATE_RUN_DIR/lm.console" | tr -d '\r' | tail -n 1)
	echo "# guest: $CHECK"
}

field() { printf '%s\n' "$CHECK" | sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

DISK=
if [ "${MIG_DISK:-0}" = 1 ]; then
	# the host's virtio_blk (the same kernel: the guest's modules), then the
	# shared disk by its serial
	lab_shared_disk "$D/mods"
	ok $? "the lab's shared disk is here: ${DISK:-none}"
fi

# check_disk WHERE: the disk part of the last check
check_disk() {
	[ -n "$DISK" ] || return 0
	f=$(field fsynced) pf=$(field prevf) miss=$(field missing) rn=$(field reads) rb=$(field readbad)
	[ -n "$f" ] && [ "$f" -gt 0 ] && [ "$miss" = 0 ]
	ok $? "$1: all $f fsynced records are on the disk as the guest reads it (O_DIRECT): $miss missing"
	[ -n "$rn" ] && [ "$rn" -gt 0 ] && [ "$rb" = 0 ]
	ok $? "$1: the guest's $rn reads of 4 MiB (O_DIRECT, into pages the VMM writes) all verified: $rb differed"
	[ -n "$pf" ] && [ "$f" -gt "$pf" ]
	ok $? "$1: the guest went on writing and fsyncing records here ($pf -> $f)"
}

# disk_held WHERE RC: another VM here gets the disk read-only (RC 0) or is
# refused it (RC 5: a VM here holds it for writing)
disk_held() {
	[ -n "$DISK" ] || return 0
	"$KM" run dchk -m 16M --disk "$DISK,ro" --detach >"$OUT/dchk" 2>&1
	st=$?
	"$KM" stop dchk >/dev/null 2>&1
	sed 's/^/# /' "$OUT/dchk"
	[ "$st" = "$2" ]
	ok $? "$1: another VM asking this host for the disk read-only: exit $st (want $2)"
}

# check_guest TAG WHERE: the guest's own checks after it arrived here
check_guest() {
	guest_check "$1"
	now=$(date +%s)
	c=$(field counter) p=$(field prev) step=$(field maxstep) t=$(field date)
	c1=${c%,*} c2=${c#*,}
	[ "$(field data)" = ok ]
	ok $? "$2: the guest's 8 MiB in tmpfs are intact (md5sum)"
	[ -n "$c1" ] && [ -n "$p" ] && [ "$c1" -gt "$p" ] && [ "$c2" -gt "$c1" ]
	ok $? "$2: the guest's counter went on from the last check ($p -> $c1) and keeps counting ($c1 -> $c2 in 1 s)"
	[ -n "$step" ] && ! grep -aq "KMTEST clock went back" "$KMIGRATE_RUN_DIR/lm.console"
	ok $? "$2: the guest's clock never went back (its longest 1 s sleep took ${step:-?} s: the throttle under the lab's TCG)"
	[ -n "$t" ] && [ $((now - t)) -le "$MAX_SKEW" ] && [ $((t - now)) -le "$MAX_SKEW" ]
	ok $? "$2: the guest's date agrees with this host's within $MAX_SKEW s (guest $t, host $now)"
}

# check_arrived WHERE: lm runs here, migrated in, a Linux guest with its console
check_arrived() {
	"$KM" vms >"$OUT/vms" 2>&1
	sed 's/^/# /' "$OUT/vms"
	j=$(info lm)
	echo "# info: $j"
	grep -q "^lm .* running " "$OUT/vms" && [ "$(jfield "$j" origin)" = migrated ] &&
		[ "$(jfield "$j" kernel_type)" = linux ] && [ "$(jfield "$j" vcpus)" = 2 ] &&
		[ "$(jfield "$j" console_log)" = "$KMIGRATE_RUN_DIR/lm.console" ]
	ok $? "$1: lm runs here: origin migrated, kernel_type linux, 2 vCPUs, its console log here"
	check_guest "$2" "$1"
	check_disk "$1"
	disk_held "$1: the guest's disk is held here" 5
}

# send WHAT: migrate lm to the peer, check the result and that it is gone
send() {
	"$KM" start lm --to "[$LAB_PEER_MIG_ADDR]:$PORT" --downtime-limit "$DOWNTIME" \
		--connect-timeout 120 --datapath "$DP" --json >"$OUT/start" 2>"$OUT/start.err"
	st=$?
	sed 's/^/# start: /' "$OUT/start.err"
	r=$(cat "$OUT/start")
	echo "# result: $r"
	[ $st -eq 0 ] && [ "$(jfield "$r" result)" = completed ] && [ "$(jfield "$r" datapath)" = "$DP" ]
	ok $? "$1: start lm on the $DP data path: completed: $(jfield "$r" rounds) rounds, downtime $(jfield "$r" downtime_ms) ms, total $(jfield "$r" total_ms) ms, $(jfield "$r" bytes_sent) bytes"
	wait_gone lm
	"$KM" vms >"$OUT/vms" 2>&1
	! grep -q "^lm " "$OUT/vms" &&
		! for c in /proc/[0-9]*/cmdline; do tr '\0' ' ' <"$c"; echo; done 2>/dev/null |
		grep -q "[k]migrate run lm "
	ok $? "$1: lm is gone from $LAB_HOST (no socket, no process)"
	disk_held "$1: the disk was let go here" 0
}

receive() {	# receive WHAT: one incoming migration
	"$KM" listen --address "$LAB_MIG_ADDR" --port $PORT --once >"$OUT/listen" 2>&1 &
	lpid=$!
	( sleep 400; kill "$lpid" 2>/dev/null ) >/dev/null 2>&1 &
	wpid=$!
	wait "$lpid"
	st=$?
	kill "$wpid" 2>/dev/null
	sed 's/^/# listen: /' "$OUT/listen"
	ok $st "$1: listen --once: lm arrives (exit $st)"
}

tls_modules() {	# kTLS and the AES-GCM it needs (not autoloaded in the lab)
	for m in tls gcm ghash_generic ctr; do
		modprobe "$m" 2>/dev/null
	done
}

km_module_load
tls_modules
if [ "$LAB_HOST" = b ]; then
	receive "phase 1"
	check_arrived "phase 1 (on b)" b
	KMIGRATE_INSECURE=0 DP=user send "phase 2 (TLS)"
	if [ -n "$DISK" ]; then	# 3. pre-flight: a's check, then a's start
		timeout 120 "$KM" listen --address "$LAB_MIG_ADDR" --port $PORT --once \
			>"$OUT/listen3" 2>&1
		sed 's/^/# listen: /' "$OUT/listen3"
	fi
	rm -rf "$OUT"
	echo "1..$N"
	echo "# host $LAB_HOST: $FAILED of $N failed"
	[ "$FAILED" -eq 0 ]
	exit $?
fi

# ---------------------------------------------------------------- host a
if [ -n "$DISK" ]; then
	"$KM" run lm --kernel "$D/vmlinuz" --initrd "$D/initrd.cpio" --memory 128M --vcpus 2 \
		--append "$APPEND kmtest_disk" --disk "$DISK" --detach >"$OUT/run" 2>&1
	ok $? "run lm --kernel --initrd --vcpus 2 --memory 128M --disk $DISK --detach"
else
	"$KM" run lm --kernel "$D/vmlinuz" --initrd "$D/initrd.cpio" --memory 128M --vcpus 2 \
		--append "$APPEND" --detach >"$OUT/run" 2>&1
	ok $? "run lm --kernel --initrd --vcpus 2 --memory 128M --detach"
fi
t0=$(date +%s)
wait_log "$KMIGRATE_RUN_DIR/lm.console" "KMTEST MIG-READY" "$BOOT_S"
ok $? "the guest booted and started its loops ($(($(date +%s) - t0)) s): $(grep -ao 'KMTEST nproc=[^ ]* clocksource=[a-z-]*' "$KMIGRATE_RUN_DIR/lm.console")"
sleep 2
guest_check pre
[ "$(field data)" = ok ]
ok $? "a: the guest answers over kmigrate console before the migration"
if [ -n "$DISK" ]; then
	[ "$(field missing)" = 0 ] && [ "$(field readbad)" = 0 ]
	ok $? "a: the guest's disk records and reads check before the migration ($(field fsynced) fsynced)"
fi
DP=$DATAPATH send "phase 1"
KMIGRATE_INSECURE=0 receive "phase 2 (TLS)"
check_arrived "phase 2 (back on a)" back
"$KM" stop lm >/dev/null 2>&1
wait_gone lm
ok $? "stop lm"
if [ -n "$DISK" ]; then
	# this host's own read of the shared disk: every record up to the last check's
	f=$(field fsynced)
	miss=$(dd if="$DISK" bs=4096 skip=1 count="$f" iflag=direct 2>/dev/null | tr -d '\000' |
		awk -v f="$f" '$1 == "KMREC" && $3 == ($2 * 2654435761) % 4294967296 { ok[$2 + 0] = 1 }
		END { m = 0; for (j = 1; j <= f; j++) if (!(j in ok)) m++; print m }')
	[ "$miss" = 0 ]
	ok $? "a reads all $f records from the shared disk itself ($miss missing)"
	# 3. pre-flight: a disk b cannot open
	ln -sf "$DISK" /tmp/only-on-a
	"$KM" run pf -m 32M --disk /tmp/only-on-a --detach >"$OUT/pf" 2>&1
	ok $? "phase 3: run pf with a disk only a has (/tmp/only-on-a)"
	"$KM" check pf --to "[$LAB_PEER_MIG_ADDR]:$PORT" --connect-timeout 120 >"$OUT/check" 2>&1
	st=$?
	sed 's/^/# check: /' "$OUT/check"
	[ $st -ne 0 ] && grep -q "only-on-a.*No such file" "$OUT/check"
	ok $? "phase 3: kmigrate check refuses: b cannot open the disk (exit $st)"
	"$KM" start pf --to "[$LAB_PEER_MIG_ADDR]:$PORT" --connect-timeout 60 --json \
		>"$OUT/start" 2>"$OUT/start.err"
	st=$?
	sed 's/^/# start: /' "$OUT/start.err"
	r=$(cat "$OUT/start")
	[ $st -ne 0 ] && grep -q "No such file" "$OUT/start.err" "$OUT/start" &&
		[ "$(jfield "$r" pages_sent)" = 0 ] && [ "$(jfield "$(info pf)" state)" = running ]
	ok $? "phase 3: start refused before any page moved (exit $st, $(jfield "$r" pages_sent) pages), pf runs on"
	"$KM" stop pf >/dev/null 2>&1
	rm -f /tmp/only-on-a
fi
rm -rf "$OUT"
echo "1..$N"
echo "# host $LAB_HOST: $FAILED of $N failed"
[ "$FAILED" -eq 0 ]
