#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The listener's log and the control socket's permissions on THIS machine
# (issue 16 B, C, D): two "hosts" a and b are two run directories and two
# credential sets on loopback.
#
#   tests/host/listener_test.sh       (as root: /dev/kvm; TAP on stdout)
#   KM=path/to/kmigrate PORT_BASE=49400 tests/host/listener_test.sh
#
# Ports PORT_BASE+10 (b's listener) on 127.0.0.1.  Checks:
#   B  the receiving process killed (kill -9) mid-round: the source reports
#      it and keeps its guest, the listener logs one line naming the VM, the
#      peer, the pid and the signal; the next migration completes; a
#      migrated guest's process killed later: one line too; a migrated
#      guest stopped normally: no such line
#   C  a source that gives up (not converging) aborts with its whole reason:
#      the listener's line carries it uncut (or cut after a word with
#      "..."), then "(refused by the receiver); the VM is discarded"
#   D  as nobody: every command that talks to a VM's control socket (stop,
#      pause, resume, vmctl, status, set, cancel, start, check, vms NAME)
#      exits 4 saying "permission denied"; the guest is untouched; a
#      missing VM is still exit 1; a run directory nobody may enter: 4
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KM=${KM:-$ROOT/build/bin/kmigrate}
PORT_BASE=${PORT_BASE:-49400}
N=0
FAILED=0
PIDS=()
T=

ok() {	# ok COND-RC DESC
	N=$((N + 1))
	if [ "$1" = 0 ]; then
		echo "ok $N - $2"
	else
		echo "not ok $N - $2"
		FAILED=$((FAILED + 1))
	fi
}

. "$(dirname "$0")/lib.sh"	# km_stop_guests

cleanup() {
	trap - EXIT INT TERM
	if [ -n "$T" ]; then
		chmod 0755 "$T/a" 2>/dev/null
		km_stop_guests "$T/a" "$T/b"
	fi
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	[ -n "$T" ] && rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! { [ -c /dev/kvm ] && exec 3<>/dev/kvm; } 2>/dev/null; then
	echo "# SKIP no usable /dev/kvm"
	echo "1..0"
	exit 0
fi
exec 3>&-
if [ ! -x "$KM" ]; then
	echo "# $KM not built (make tools vmm)"
	echo "1..1"
	echo "not ok 1 - kmigrate binary"
	exit 1
fi
if ! command -v openssl >/dev/null; then
	echo "# SKIP no openssl (tests/lab-migrate/tls_certs.sh needs it)"
	echo "1..0"
	exit 0
fi

T=$(mktemp -d /tmp/km_listener_test.XXXXXX)
chmod 0755 "$T"		# nobody may reach $T/a (D), not its socket
mkdir -p "$T/a" "$T/b"
: >"$T/empty.conf"
export KMIGRATE_CONFIG=$T/empty.conf KMIGRATE_INSECURE=0 KMIGRATE_VERIFY=0
sh "$ROOT/tests/lab-migrate/tls_certs.sh" "$T/tls" >"$T/certs.log" 2>&1 ||
	{ sed 's/^/# /' "$T/certs.log"; exit 1; }

A() { KMIGRATE_RUN_DIR=$T/a KMIGRATE_TLS_DIR=$T/tls/a "$KM" "$@"; }
B() { KMIGRATE_RUN_DIR=$T/b KMIGRATE_TLS_DIR=$T/tls/b "$KM" "$@"; }
jstr() { grep -o "\"$1\":\"[^\"]*\"" | head -1 | sed "s/^\"$1\":\"//; s/\"\$//"; }
jnum() { grep -o "\"$1\":[0-9]*" | head -1 | sed "s/^\"$1\"://"; }
state() { KMIGRATE_RUN_DIR=$1 "$KM" -j vms "$2" 2>/dev/null | jstr state; }
pid_of() { KMIGRATE_RUN_DIR=$1 "$KM" -j vms "$2" 2>/dev/null | jnum pid; }
# waitfor FILE PATTERN [TENTHS]: until grep finds it
waitfor() {
	local i
	for i in $(seq "${3:-100}"); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

P=$((PORT_BASE + 10))
L=$T/listen.log
KMIGRATE_RUN_DIR=$T/b KMIGRATE_TLS_DIR=$T/tls/b "$KM" listen --address 127.0.0.1 --port $P \
	--verify --dirty-log bitmap 2>"$L" &
LP=$!	# the listener itself: its children are the connections
PIDS+=($LP)
waitfor "$L" "peers must present"; ok $? "listener up on port $P"

A run vm1 --memory 128M --vcpus 2 --dirty-log bitmap --detach >/dev/null 2>&1
[ "$(state "$T/a" vm1)" = running ]; ok $? "vm1 runs on a"
# a few MiB populated (never-touched memory goes as HOLE ranges, in no time)
sleep 3

# --- B: the receiving process killed mid-round ----------------------------
A start vm1 --to 127.0.0.1:$P --tls-name lab-b --bandwidth 64KiB >"$T/b1.out" 2>"$T/b1.err" &
SP=$!
waitfor "$L" "vm1: incoming from"
child=
for i in $(seq 50); do
	child=$(ps -o pid= --ppid $LP 2>/dev/null | head -1 | tr -d ' ')
	[ -n "$child" ] && break
	sleep 0.1
done
sleep 0.5	# mid-round: a few MiB at 64 KiB/s
[ -n "$child" ] && kill -9 "$child"
ok $? "killed the receiving process (pid ${child:-none}) mid-round"
wait $SP
rc=$?
[ $rc = 1 ] && grep -q "the guest keeps running here" "$T/b1.err"
ok $? "the source reports the failure (exit $rc): $(tail -1 "$T/b1.err" | cut -c1-120)"
[ "$(state "$T/a" vm1)" = running ]; ok $? "vm1 keeps running on a"
waitfor "$L" "vm1: the process receiving it from 127.0.0.1:[0-9]* (pid $child) was killed by signal 9 (Killed)" 30
ok $? "the listener logs the dead child: VM, peer, pid, signal"
[ "$(grep -c "pid $child" "$L")" = 1 ]; ok $? "... in one line"
grep "pid $child" "$L" | sed 's/^/# /'
A -j start vm1 --to 127.0.0.1:$P --tls-name lab-b >"$T/b2.json" 2>"$T/b2.err"
ok $? "the next migration of vm1 completes"
[ "$(jnum verify_bad <"$T/b2.json")" = 0 ] && [ "$(jnum pages_verified <"$T/b2.json")" -gt 30000 ]
ok $? "... every page verified"
gp=$(pid_of "$T/b" vm1)
[ -n "$gp" ] && kill -9 "$gp"
ok $? "killed the migrated guest's process on b (pid ${gp:-none})"
waitfor "$L" "vm1: its process (migrated in from 127.0.0.1:[0-9]*, pid $gp) was killed by signal 9" 30
ok $? "the listener logs the migrated guest's death"

A run vm2 --memory 64M --vcpus 1 --dirty-log bitmap --detach >/dev/null 2>&1
A start vm2 --to 127.0.0.1:$P --tls-name lab-b >/dev/null 2>&1 &&
	gp=$(pid_of "$T/b" vm2) && B stop vm2 >/dev/null 2>&1
ok $? "vm2 migrated to b and stopped there (pid ${gp:-?})"
sleep 1
! grep -q "vm2: its process" "$L"; ok $? "a normal stop: no line about its end"

# --- C: the source's abort, its whole reason -------------------------------
A run vm3 --memory 64M --vcpus 1 --dirty-log bitmap --rate 0 --detach >/dev/null 2>&1
A start vm3 --to 127.0.0.1:$P --tls-name lab-b --downtime-limit 1 --max-rounds 2 \
	--bandwidth 1MiB >"$T/c.out" 2>"$T/c.err"
rc=$?
[ $rc = 1 ] && grep -q "not converging" "$T/c.err"
ok $? "vm3 aborted: not converging (exit $rc)"
[ "$(state "$T/a" vm3)" = running ]; ok $? "vm3 keeps running on a"
waitfor "$L" "incoming vm3 from .* failed: the source aborted" 30
line=$(grep "incoming vm3 from .* failed: the source aborted" "$L" | tail -1)
echo "# $line"
case "$line" in
*"write rate (refused by the receiver); the VM is discarded") r=0 ;;
*"... (refused by the receiver); the VM is discarded") r=0 ;;
*) r=1 ;;
esac
ok $r "the listener's line has the whole reason (or a clean cut with ...) and the code"

# --- D: the control socket as nobody ---------------------------------------
if setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
	NOBODY() { setpriv --reuid=65534 --regid=65534 --clear-groups env "$@"; }
elif su -s /bin/sh nobody -c true 2>/dev/null; then
	NOBODY() { su -s /bin/sh nobody -c "$(printf '%q ' env "$@")"; }
else
	NOBODY=
fi
if [ "$(type -t NOBODY)" = function ]; then
	AN() { NOBODY KMIGRATE_CONFIG=$T/empty.conf KMIGRATE_RUN_DIR=$T/a \
		KMIGRATE_TLS_DIR=$T/tls/a "$KM" "$@"; }
	while read -r cmd; do
		# shellcheck disable=SC2086
		AN $cmd >"$T/d.out" 2>"$T/d.err"
		rc=$?
		[ $rc = 4 ] && grep -q "permission denied" "$T/d.err"
		ok $? "as nobody: kmigrate $cmd: exit 4 (got $rc), 'permission denied'"
	done <<EOF
stop vm3
pause vm3
resume vm3
vmctl vm3 info
status vm3
set vm3 --bandwidth 10MiB
cancel vm3
start vm3 --to 127.0.0.1:$P --tls-name lab-b
check vm3 --to 127.0.0.1:$P --tls-name lab-b
vms vm3
EOF
	sed 's/^/# /' "$T/d.err"
	[ "$(state "$T/a" vm3)" = running ]; ok $? "vm3 still runs on a, untouched"
	AN stop nosuch >/dev/null 2>&1
	rc=$?
	[ $rc = 1 ]; ok $? "as nobody: stop of a VM that does not exist: exit 1 (got $rc)"
	chmod 0700 "$T/a"
	AN stop vm3 >/dev/null 2>"$T/d.err"
	rc=$?
	[ $rc = 4 ] && grep -q "run directory" "$T/d.err"
	ok $? "as nobody, run directory 0700: exit 4 (got $rc), naming the directory"
	AN vms >/dev/null 2>"$T/d.err"
	rc=$?
	[ $rc = 4 ]; ok $? "as nobody, run directory 0700: vms exits 4 (got $rc)"
	chmod 0755 "$T/a"
else
	echo "# SKIP the permission checks: neither setpriv nor su can run as nobody"
fi

if [ $FAILED != 0 ]; then
	for f in "$L" "$T"/*.err; do
		echo "# --- $f"
		sed 's/^/#   /' "$f" | tail -15
	done
fi
echo "1..$N"
echo "# $FAILED of $N failed"
[ $FAILED = 0 ]
