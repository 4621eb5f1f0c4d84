#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The encrypted migration channel on THIS machine (no lab): two "hosts" a
# and b are two run directories and two credential sets on loopback.  Where
# the kernel has no kTLS (no `tls` module, as on this build host) both ends
# encrypt with GnuTLS's own records; with kTLS the same checks run on it.
#
#   tests/host/tls_test.sh            (as root: /dev/kvm; TAP on stdout)
#   KM=path/to/kmigrate PORT_BASE=49400 tests/host/tls_test.sh
#
# Ports PORT_BASE .. PORT_BASE+5 on 127.0.0.1:
#   +0  b: listener, encrypted           +1  b: listener, --insecure
#   +2  b: listener with the 'other' cluster's credentials
#   +3  a: listener, encrypted (the way back)
#   +4  a capture proxy in front of +0 (python3), +5 in front of +1
# Checks:
#   - the listener says which record layer it runs (GnuTLS records without kTLS)
#   - an encrypted migration (no --insecure) completes, every page verified,
#     the result's tls says GnuTLS records / no kTLS (or kTLS), MSG_ZEROCOPY
#     is off with GnuTLS records; the guest runs on b, no longer on a
#   - it migrates back b -> a, encrypted; another guest a -> b (--datapath user)
#   - through a capture proxy the stream carries no plaintext record magic
#     ("KMGR") nor HELLO's "KMIGRATE", while an --insecure stream does
#   - a source with another cluster's CA, and a listener with one: refused,
#     the guest keeps running on a, the listener logs the refusal
#   - one side --insecure, the other not (both ways): refused, saying which
#     side runs which mode; the guest keeps running; then it migrates encrypted
#   - --datapath kernel without the module: exit 3, nothing sent
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

T=$(mktemp -d /tmp/km_tls_test.XXXXXX)
mkdir -p "$T/a" "$T/b"
: >"$T/empty.conf"
export KMIGRATE_CONFIG=$T/empty.conf KMIGRATE_INSECURE=0 KMIGRATE_VERIFY=0
sh "$ROOT/tests/lab-migrate/tls_certs.sh" "$T/tls" >"$T/certs.log" 2>&1 ||
	{ cat "$T/certs.log" | sed 's/^/# /'; exit 1; }

A() { KMIGRATE_RUN_DIR=$T/a KMIGRATE_TLS_DIR=$T/tls/a "$KM" "$@"; }
B() { KMIGRATE_RUN_DIR=$T/b KMIGRATE_TLS_DIR=$T/tls/b "$KM" "$@"; }
jstr() { grep -o "\"$1\":\"[^\"]*\"" | head -1 | sed "s/^\"$1\":\"//; s/\"\$//"; }
jnum() { grep -o "\"$1\":[0-9]*" | head -1 | sed "s/^\"$1\"://"; }
# state NAME: the VM's state in run dir $1 ("" when none runs)
state() { KMIGRATE_RUN_DIR=$1 "$KM" -j vms "$2" 2>/dev/null | jstr state; }

if [ -e /proc/net/tls_stat ]; then
	DESC="TLS1.3 AES-128-GCM kTLS"
else
	DESC="TLS1.3 AES-128-GCM (GnuTLS records, no kTLS)"
fi
echo "# kmigrate $KM; expecting \"$DESC\"; work in $T"

# listen LOG PORT [OPTIONS...] (run dir and credentials of b unless
# KMIGRATE_RUN_DIR/KMIGRATE_TLS_DIR are given); waits for its banner
listen() {
	local log=$1 port=$2 i
	shift 2
	KMIGRATE_RUN_DIR=${LRUN:-$T/b} KMIGRATE_TLS_DIR=${LTLS:-$T/tls/b} \
		"$KM" listen --address 127.0.0.1 --port "$port" --verify --dirty-log bitmap \
		"$@" 2>"$log" &
	PIDS+=($!)
	for i in $(seq 50); do
		grep -q "peers must present" "$log" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# proxy PORT TO OUT: forwards 127.0.0.1:PORT to 127.0.0.1:TO, the
# source's bytes appended to OUT (python3; one connection at a time)
proxy() {
	python3 - "$1" "$2" "$3" <<'EOF' &
import socket, sys, threading
lp, to, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", lp)); ls.listen(4)
def pump(a, b, f):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            if f:
                f.write(d); f.flush()
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
while True:
    c, _ = ls.accept()
    s = socket.create_connection(("127.0.0.1", to))
    f = open(out, "ab")
    threading.Thread(target=pump, args=(c, s, f), daemon=True).start()
    threading.Thread(target=pump, args=(s, c, None), daemon=True).start()
EOF
	PIDS+=($!)
}

P0=$PORT_BASE P1=$((PORT_BASE + 1)) P2=$((PORT_BASE + 2)) P3=$((PORT_BASE + 3))
P4=$((PORT_BASE + 4)) P5=$((PORT_BASE + 5))

listen "$T/l0.log" $P0; ok $? "listener (encrypted) up on port $P0"
listen "$T/l1.log" $P1 --insecure; ok $? "listener (--insecure) up on port $P1"
LTLS=$T/tls/other listen "$T/l2.log" $P2; ok $? "listener with another cluster's credentials up"
LRUN=$T/a LTLS=$T/tls/a listen "$T/l3.log" $P3; ok $? "listener on a (the way back) up"
grep -qF "listen: $DESC," "$T/l0.log"
ok $? "the listener's banner says \"$DESC\""

for vm in vm1 vm2 vm3; do
	A run $vm --memory 128M --vcpus 2 --dirty-log bitmap --detach >/dev/null 2>"$T/run.$vm"
	[ "$(state "$T/a" $vm)" = running ]
	ok $? "$vm runs on a"
done

# --- an encrypted migration, every page verified --------------------------
A -j start vm1 --to 127.0.0.1:$P0 --tls-name lab-b >"$T/m1.json" 2>"$T/m1.err"
rc=$?
ok $rc "vm1 a -> b encrypted: exit 0"
[ "$(jstr result <"$T/m1.json")" = completed ]; ok $? "vm1: result completed"
[ "$(jstr tls <"$T/m1.json")" = "$DESC" ]
ok $? "vm1: tls \"$(jstr tls <"$T/m1.json")\""
pv=$(jnum pages_verified <"$T/m1.json")
[ "${pv:-0}" -gt 30000 ] && [ "$(jnum verify_bad <"$T/m1.json")" = 0 ]
ok $? "vm1: every page verified (${pv:-?} pages, 0 bad)"
if [ "$DESC" != "TLS1.3 AES-128-GCM kTLS" ]; then
	grep -q '"zerocopy":{"enabled":false[^}]*GnuTLS records' "$T/m1.json"
	ok $? "vm1: MSG_ZEROCOPY off with GnuTLS records (the result's zerocopy note)"
fi
[ "$(state "$T/b" vm1)" = running ] && [ -z "$(state "$T/a" vm1)" ]
ok $? "vm1 runs on b, no longer on a"
grep -qF "$DESC, authenticated as CN=host a" "$T/l0.log"
ok $? "the listener logs the source's channel and subject"
[ $rc = 0 ] || sed 's/^/# /' "$T/m1.err"

# --- back, and another guest --------------------------------------------
B -j start vm1 --to 127.0.0.1:$P3 --tls-name lab-a >"$T/m2.json" 2>"$T/m2.err"
ok $? "vm1 b -> a encrypted (the way back): exit 0"
[ "$(jstr tls <"$T/m2.json")" = "$DESC" ] && [ "$(jnum verify_bad <"$T/m2.json")" = 0 ] &&
	[ "$(jnum pages_verified <"$T/m2.json")" -gt 30000 ]
ok $? "vm1 back: $DESC, every page verified"
[ "$(state "$T/a" vm1)" = running ]; ok $? "vm1 runs on a again"
A -j start vm2 --to 127.0.0.1:$P0 --tls-name lab-b --datapath user >"$T/m3.json" 2>"$T/m3.err"
ok $? "vm2 a -> b encrypted, --datapath user: exit 0"
[ "$(jstr tls <"$T/m3.json")" = "$DESC" ] && [ "$(jnum verify_bad <"$T/m3.json")" = 0 ] &&
	[ "$(jnum pages_verified <"$T/m3.json")" -gt 30000 ]
ok $? "vm2: $DESC, every page verified"

# --- the bytes on the wire ------------------------------------------------
if command -v python3 >/dev/null; then
	proxy $P4 $P0 "$T/cap.enc"
	proxy $P5 $P1 "$T/cap.plain"
	sleep 0.5
	A -j start vm1 --to 127.0.0.1:$P4 --tls-name lab-b >"$T/m4.json" 2>"$T/m4.err"
	ok $? "vm1 a -> b encrypted through the capture proxy"
	B stop vm1 >/dev/null 2>&1	# (b gets it back below through the other listener)
	A run vm1 --memory 128M --vcpus 2 --dirty-log bitmap --detach >/dev/null 2>&1
	A -j start vm1 --to 127.0.0.1:$P5 --tls-name lab-b --insecure >"$T/m5.json" 2>"$T/m5.err"
	ok $? "vm1 (again) a -> b --insecure through the capture proxy"
	[ "$(jstr tls <"$T/m5.json")" = "TLS1.3 authenticated plaintext" ]
	ok $? "the --insecure result says \"TLS1.3 authenticated plaintext\""
	enc=$(stat -c %s "$T/cap.enc" 2>/dev/null || echo 0)
	plain=$(stat -c %s "$T/cap.plain" 2>/dev/null || echo 0)
	kenc=$(grep -a -o 'KMGR' "$T/cap.enc" | wc -l)
	kplain=$(grep -a -o 'KMGR' "$T/cap.plain" | wc -l)
	echo "# captured: encrypted $enc bytes, $kenc \"KMGR\"; plaintext $plain bytes, $kplain \"KMGR\""
	[ "$enc" -gt 100000 ] && [ "$kenc" = 0 ] && ! grep -a -q KMIGRATE "$T/cap.enc"
	ok $? "encrypted stream: no record magic, no HELLO magic in $enc bytes"
	[ "$kplain" -gt 5 ] && grep -a -q KMIGRATE "$T/cap.plain"
	ok $? "control: the --insecure stream shows them ($kplain records)"
	B stop vm1 >/dev/null 2>&1
	A run vm1 --memory 128M --vcpus 2 --dirty-log bitmap --detach >/dev/null 2>&1
else
	echo "# SKIP the capture checks: no python3"
fi

# --- refusals: another cluster, a mode mismatch ---------------------------
KMIGRATE_RUN_DIR=$T/a KMIGRATE_TLS_DIR=$T/tls/other "$KM" start vm3 --to 127.0.0.1:$P0 \
	--tls-name lab-b >"$T/r1.out" 2>"$T/r1.err"
rc=$?
[ $rc = 1 ] && grep -q "not trusted" "$T/r1.err"
ok $? "a source with another cluster's CA: refused (exit $rc, 'not trusted')"
[ "$(state "$T/a" vm3)" = running ]; ok $? "vm3 keeps running on a"
sleep 0.3
grep -q "refused 127.0.0.1:.*" "$T/l0.log"; ok $? "the listener logs the refused peer"

A start vm3 --to 127.0.0.1:$P2 --tls-name lab-b >"$T/r2.out" 2>"$T/r2.err"
rc=$?
[ $rc = 1 ] && grep -q "not trusted" "$T/r2.err"
ok $? "a listener with another cluster's certificate: refused by the source (exit $rc)"
[ "$(state "$T/a" vm3)" = running ]; ok $? "vm3 keeps running on a"

A start vm3 --to 127.0.0.1:$P0 --tls-name lab-b --insecure >"$T/r3.out" 2>"$T/r3.err"
rc=$?
[ $rc = 1 ] && grep -q "refused plaintext" "$T/r3.err"
ok $? "--insecure source, encrypting listener: refused (exit $rc, 'refused plaintext')"
A start vm3 --to 127.0.0.1:$P1 --tls-name lab-b >"$T/r4.out" 2>"$T/r4.err"
rc=$?
[ $rc = 1 ] && grep -q "refused encryption" "$T/r4.err"
ok $? "encrypting source, --insecure listener: refused (exit $rc, 'refused encryption')"
sleep 0.3
grep -q "this listener runs --insecure" "$T/l1.log"
ok $? "the --insecure listener logs the mode mismatch"
[ "$(state "$T/a" vm3)" = running ]; ok $? "vm3 still runs on a after four refusals"
A -j start vm3 --to 127.0.0.1:$P0 --tls-name lab-b >"$T/m6.json" 2>"$T/m6.err"
ok $? "vm3 a -> b encrypted after the refusals: exit 0"
[ "$(jstr tls <"$T/m6.json")" = "$DESC" ] && [ "$(jnum verify_bad <"$T/m6.json")" = 0 ]
ok $? "vm3: $DESC, 0 bad pages"

# --- the kernel data path -------------------------------------------------
if [ ! -e /dev/kmigrate ]; then
	A start vm1 --to 127.0.0.1:$P0 --tls-name lab-b --datapath kernel >"$T/k.out" 2>"$T/k.err"
	rc=$?
	[ $rc = 3 ] && grep -q "kernel module not loaded" "$T/k.err"
	ok $? "--datapath kernel without the module: exit 3 (got $rc), the guest stays"
else
	echo "# /dev/kmigrate exists: --datapath kernel needs kTLS, not checked here"
fi

if [ $FAILED != 0 ]; then
	for f in "$T"/l*.log "$T"/*.err; do
		echo "# --- $f"
		sed 's/^/#   /' "$f" | tail -15
	done
fi
echo "1..$N"
echo "# $FAILED of $N failed"
[ $FAILED = 0 ]
