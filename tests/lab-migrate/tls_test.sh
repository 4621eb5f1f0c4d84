#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The authenticated, encrypted migration channel between two lab hosts
# (TLS 1.3, mutual X.509, records in kernel TLS; docs/PROTOCOL.md, Security):
#   tests/lab/lab.sh run --kernel 6.1 --hosts 2 --payload DIR --timeout 300 \
#       -- sh bin/tls_test.sh
# DIR/bin: kmigrate, this script, labtest.sh, openssl (s_client, for a peer
# without a certificate); DIR/tls/{a,b,rogue,other}: credentials from
# tls_certs.sh; DIR/kmigrate.ko: the kernel data path (km_module_load).
#
# b: one TLS listener (credentials b, --verify) for the whole test; it waits
# for a's four refused connections and two migrations, then checks the
# received guests.  a, with tmig1 and tmig2 running:
#   0. no credentials (KMIGRATE_TLS_DIR empty dir), --tls-dir with --insecure:
#      exit 2, nothing connects
#   1. other cluster (its CA does not know b): refused, tmig1 runs on a
#   2. rogue (trusts b, its certificate from another CA): b refuses it
#   3. no certificate (openssl s_client): b refuses it
#   4. plaintext (--insecure) against the TLS listener: b refuses it
#   5. tmig1 encrypted on $DATAPATH (kernel with the module), tmig2 on the
#      user path: completed, "tls" in the result, every page verified on b
#   6. /proc/net/tls_stat: the kernel did the records (TlsTxSw, TlsRxSw)

KM=${KMIGRATE:-kmigrate}
export KMIGRATE_RUN_DIR=${KMIGRATE_RUN_DIR:-/run/kmigrate/vms}
PORT=49160
MEM_MIB=32
WORK=$(((MEM_MIB - 4) * 256))
N=0
FAILED=0
OUT=/tmp/tls_test.$$
mkdir -p "$OUT"
TLS=$(dirname "$0")/../tls
OPENSSL=$(dirname "$0")/openssl

. "$(dirname "$0")/labtest.sh"	# ok, jfield, info, km_module_load, dp_result
export KMIGRATE_INSECURE=0	# this suite is about the TLS channel

finish() {
	"$KM" stop tmig1 >/dev/null 2>&1
	"$KM" stop tmig2 >/dev/null 2>&1
	[ -n "${lpid:-}" ] && kill "$lpid" 2>/dev/null
	rm -rf "$OUT"
	echo "1..$N"
	echo "# host $LAB_HOST: $FAILED of $N failed"
	[ "$FAILED" -eq 0 ]
	exit $?
}

tls_stat() {	# tls_stat NAME: the kernel's counter
	awk -v k="$1" '$1 == k { print $2 }' /proc/net/tls_stat 2>/dev/null
}

# stays NAME WHAT: NAME still runs on a, progresses and verifies
stays() {
	p1=$(jfield "$(info "$1")" progress)
	sleep 1
	j=$(info "$1")
	p2=$(jfield "$j" progress)
	v=$("$KM" vmctl "$1" verify 2>&1)
	[ "$(jfield "$j" state)" = running ] && [ -n "$p1" ] && [ -n "$p2" ] && [ "$p2" -gt "$p1" ] &&
		[ "$(jfield "$v" passed)" = true ] && [ "$(jfield "$v" bad)" = 0 ]
	ok $? "$2: $1 keeps running on a ($p1 -> $p2 writes in 1 s) and verifies ($(jfield "$v" bad) bad)"
}

# try NAME OUTFILE ARGS: kmigrate start --json toward b; its exit status
try() {
	n=$1
	f=$2
	shift 2
	timeout 200 "$KM" start "$n" --to "[$LAB_PEER_MIG_ADDR]:$PORT" --connect-timeout 120 \
		--downtime-limit 500 --json "$@" >"$f" 2>"$f.err"
	st=$?
	sed 's/^/# start: /' "$f.err"
	echo "# result: $(cat "$f")"
	return $st
}

echo "# host $LAB_HOST, kernel $(uname -r), migration address $LAB_MIG_ADDR, peer $LAB_PEER_MIG_ADDR"
# kTLS and the AES-GCM it needs (the lab's crypto API does not autoload it)
for m in tls gcm ghash_generic ctr; do
	modprobe $m 2>&1 | sed "s/^/# modprobe $m: /"
done
[ -e /proc/net/tls_stat ]
ok $? "the kernel's tls module is loaded (/proc/net/tls_stat)"
km_module_load
tx0=$(tls_stat TlsTxSw)
rx0=$(tls_stat TlsRxSw)

if [ "$LAB_HOST" = b ]; then
	"$KM" listen --address "$LAB_MIG_ADDR" --port $PORT --verify --tls-dir "$TLS/b" \
		>"$OUT/listen" 2>&1 &
	lpid=$!
	i=0
	while [ $i -lt 2400 ]; do
		[ "$(grep -c 'refused' "$OUT/listen")" -ge 4 ] &&
			[ "$("$KM" vms 2>/dev/null | grep -c '^tmig[12] .* running ')" -ge 2 ] && break
		sleep 0.1
		i=$((i + 1))
	done
	sleep 1
	sed 's/^/# listen: /' "$OUT/listen"
	grep -q "refused .*other host.*not trusted\|refused .*Unknown CA" "$OUT/listen"
	ok $? "1: the other cluster's source is refused"
	grep -q "refused .*rogue host.* is not trusted: .*issuer is unknown" "$OUT/listen"
	ok $? "2: the rogue certificate is refused: issuer unknown"
	grep -q "refused .*: TLS handshake: Certificate is required" "$OUT/listen"
	ok $? "3: the peer without a certificate is refused: certificate required"
	[ "$(grep -c 'refused' "$OUT/listen")" -ge 4 ] &&
		grep -q "refused .*: TLS handshake: " "$OUT/listen"
	ok $? "4: the plaintext source is refused in the handshake ($(grep -c refused "$OUT/listen") refused)"
	[ "$(grep -c 'authenticated as O=kmigrate test,CN=host a\|authenticated as CN=host a,O=kmigrate test' \
		"$OUT/listen")" -eq 2 ]
	ok $? "5: two migrations authenticated as host a"
	for n in tmig1 tmig2; do
		j=$(info $n)
		echo "# info $n: $j"
		pv=$(jfield "$j" pages_verified)
		[ "$(jfield "$j" state)" = running ] && [ "$(jfield "$j" origin)" = migrated ] &&
			[ "$pv" = "$WORK" ] && [ "$(jfield "$j" verify_bad)" = 0 ]
		ok $? "5: $n runs on b, every page verified before resuming ($pv of $WORK, $(jfield "$j" verify_bad) bad)"
		v=$("$KM" vmctl $n verify 2>&1)
		[ "$(jfield "$v" passed)" = true ] && [ "$(jfield "$v" bad)" = 0 ]
		ok $? "5: vmctl $n verify on b: passed"
	done
	cat /proc/net/tls_stat 2>/dev/null | sed 's/^/# tls_stat: /'
	[ "$(tls_stat TlsRxSw)" -ge $((rx0 + 2)) ] && [ "$(tls_stat TlsTxSw)" -ge $((tx0 + 2)) ]
	ok $? "6: kernel TLS did the records on b (TlsRxSw $rx0 -> $(tls_stat TlsRxSw), TlsTxSw $tx0 -> $(tls_stat TlsTxSw))"
	finish
fi

"$KM" run tmig1 --memory ${MEM_MIB}M --rate 200 --detach >"$OUT/run" 2>&1 &&
	"$KM" run tmig2 --memory ${MEM_MIB}M --rate 200 --detach >>"$OUT/run" 2>&1
ok $? "run tmig1, tmig2 ($MEM_MIB MiB workload guests)"

# 0. no credentials, contradictory options
mkdir -p "$OUT/empty"
(export KMIGRATE_TLS_DIR="$OUT/empty"; try tmig1 "$OUT/s0")
st=$?
[ $st -eq 2 ] && grep -q "TLS credentials: .*ca.pem: No such file" "$OUT/s0.err"
ok $? "0: no credentials: exit $st (2), names the missing file"
try tmig1 "$OUT/s0b" --tls-dir "$TLS/a" --insecure
st=$?
[ $st -eq 2 ]
ok $? "0: --tls-dir with --insecure: exit $st (2)"

# 1. another cluster: a's CA does not know b
try tmig1 "$OUT/s1" --tls-dir "$TLS/other"
st=$?
[ $st -eq 1 ] && [ "$(jfield "$(cat "$OUT/s1")" result)" = failed ] &&
	grep -q "not trusted" "$OUT/s1" && [ "$(jfield "$(cat "$OUT/s1")" pages_sent)" = 0 ]
ok $? "1: other cluster: exit $st (1), b's certificate not trusted, no page sent"
stays tmig1 "1"

# 2. rogue: b does not trust a's certificate
try tmig1 "$OUT/s2" --tls-dir "$TLS/rogue"
st=$?
[ $st -eq 1 ] && grep -q "refused this host" "$OUT/s2" && [ "$(jfield "$(cat "$OUT/s2")" pages_sent)" = 0 ]
ok $? "2: rogue certificate: exit $st (1), the destination refused this host, no page sent"
stays tmig1 "2"

# 3. no certificate
if [ -x "$OPENSSL" ]; then
	echo | timeout 20 "$OPENSSL" s_client -connect "[$LAB_PEER_MIG_ADDR]:$PORT" -tls1_3 \
		-CAfile "$TLS/a/ca.pem" >"$OUT/s3" 2>&1
	grep -i "alert\|verify return code" "$OUT/s3" | sed 's/^/# s_client: /'
	grep -q "Verify return code: 0" "$OUT/s3"
	ok $? "3: openssl s_client without a certificate got through to b's handshake"
else
	ok 1 "3: no openssl in the payload"
fi

# 4. plaintext against the TLS listener
try tmig1 "$OUT/s4" --insecure
st=$?
[ $st -eq 1 ] && [ "$(jfield "$(cat "$OUT/s4")" pages_sent)" = 0 ]
ok $? "4: plaintext source: exit $st (1), no page sent: $(jfield "$(cat "$OUT/s4")" error)"
stays tmig1 "4"

# 5. encrypted migrations, both data paths
DPT=$DATAPATH
tx1=$(tls_stat TlsTxSw)
try tmig1 "$OUT/s5" --tls-dir "$TLS/a" --datapath "$DPT" --verify
st=$?
r=$(cat "$OUT/s5")
[ $st -eq 0 ] && [ "$(jfield "$r" result)" = completed ] &&
	[ "$(jfield "$r" tls)" = "TLS1.3 AES-128-GCM kTLS" ] && dp_result "$r" "$DPT"
ok $? "5: tmig1 encrypted on the $DPT data path: completed, tls $(jfield "$r" tls), peer $(jfield "$r" tls_peer)"
[ "$(jfield "$r" pages_verified)" = "$WORK" ]
ok $? "5: the destination verified every page of tmig1 ($(jfield "$r" pages_verified) of $WORK)"
try tmig2 "$OUT/s6" --tls-dir "$TLS/a" --datapath user --verify
st=$?
r=$(cat "$OUT/s6")
[ $st -eq 0 ] && [ "$(jfield "$r" result)" = completed ] &&
	[ "$(jfield "$r" tls)" = "TLS1.3 AES-128-GCM kTLS" ] && dp_result "$r" user &&
	[ "$(jfield "$r" pages_verified)" = "$WORK" ]
ok $? "5: tmig2 encrypted on the user data path: completed, tls, $(jfield "$r" pages_verified) pages verified"
cat /proc/net/tls_stat 2>/dev/null | sed 's/^/# tls_stat: /'
[ "$(tls_stat TlsTxSw)" -ge $((tx1 + 2)) ] && [ "$(tls_stat TlsRxSw)" -ge $((rx0 + 2)) ]
ok $? "6: kernel TLS did the records on a (TlsTxSw $tx0 -> $(tls_stat TlsTxSw), TlsRxSw $rx0 -> $(tls_stat TlsRxSw))"
finish
