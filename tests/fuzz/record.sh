#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Records real migration streams for the fuzzer's seed corpus
# (tests/fuzz/README.md): a listener on 127.0.0.1 with
# KMIGRATE_RECORD_STREAM (dest.c) keeps what each connection received after
# TLS; small workload guests are migrated to it (ring and bitmap, 1 and 2
# vCPUs, the last aborted by a cancel), and one pre-flight check is run.
#
#   tests/fuzz/record.sh OUTDIR      (root, /dev/kvm; make tools first)
#
# OUTDIR gets one file per connection, stream.<pid>.  Needs this machine's
# /dev/kvm; every guest it starts is stopped when it ends.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KM=${KM:-$ROOT/build/bin/kmigrate}
OUT=${1:?usage: record.sh OUTDIR}
P=${PORT:-49990}
T=$(mktemp -d /tmp/km_fuzz_record.XXXXXX)
LP=

. "$ROOT/tests/host/lib.sh"	# km_stop_guests

cleanup() {
	trap - EXIT INT TERM
	km_stop_guests "$T/a" "$T/b"
	[ -n "$LP" ] && kill "$LP" 2>/dev/null && wait "$LP" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$OUT" "$T/a" "$T/b" || exit 1
: >"$T/empty.conf"
export KMIGRATE_CONFIG=$T/empty.conf KMIGRATE_INSECURE=0 KMIGRATE_VERIFY=0
sh "$ROOT/tests/lab-migrate/tls_certs.sh" "$T/tls" >/dev/null 2>&1 || exit 1
A() { KMIGRATE_RUN_DIR=$T/a KMIGRATE_TLS_DIR=$T/tls/a "$KM" "$@"; }

KMIGRATE_RUN_DIR=$T/b KMIGRATE_TLS_DIR=$T/tls/b KMIGRATE_RECORD_STREAM=$(cd "$OUT" && pwd)/stream \
	"$KM" listen --address 127.0.0.1 --port "$P" 2>"$T/listen.log" &
LP=$!
for _ in $(seq 100); do grep -q "peers must present" "$T/listen.log" && break; sleep 0.1; done

rc=0
# NAME RUN-ARGS...: run a guest on a, let it write, migrate it to b
mig() {
	local n=$1
	shift
	A run "$n" --detach "$@" >/dev/null || return 1
	sleep 1
	A start "$n" --to 127.0.0.1:"$P" --tls-name lab-b >"$T/$n.out" 2>&1 ||
		{ cat "$T/$n.out" >&2; return 1; }
}
A run c1 --detach --memory 8M --working-set 64K >/dev/null &&
	A check c1 --to 127.0.0.1:"$P" --tls-name lab-b >/dev/null || rc=1
A stop c1 >/dev/null 2>&1
mig r1 --memory 8M --working-set 128K --rate 2000 || rc=1
mig b2 --memory 8M --vcpus 2 --dirty-log bitmap --working-set 96K --workload random || rc=1
# an aborted one: cancelled in its live rounds (a guest that keeps writing)
A run x1 --detach --memory 8M --working-set 1M --rate 0 >/dev/null || rc=1
A start x1 --to 127.0.0.1:"$P" --tls-name lab-b --downtime-limit 1 --max-rounds 1000 >/dev/null 2>&1 &
sp=$!
sleep 1.5
A cancel x1 >/dev/null 2>&1
wait "$sp"
sleep 0.5
ls -l "$OUT"
exit $rc
