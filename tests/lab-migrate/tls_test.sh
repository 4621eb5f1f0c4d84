#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The authenticated migration channel between two lab hosts (TLS 1.3,
# mutual X.509, the destination's name checked, records in kernel TLS or,
# --insecure on both ends, authenticated plaintext; docs/PROTOCOL.md,
# Security):
#   tests/lab/lab.sh run --kernel 6.1 --hosts 2 --payload DIR --timeout 600 \
#       -- sh bin/tls_test.sh
# DIR/bin: kmigrate, this script, labtest.sh, openssl (s_client, for a peer
# without a certificate); DIR/tls/{a,b,wrongname,rogue,other}: credentials
# from tls_certs.sh; DIR/kmigrate.ko: the kernel data path (km_module_load).
#
# b runs three listeners for the whole test, all --verify: PORT encrypted
# (credentials b), PORT+1 --insecure (credentials b), PORT+2 encrypted with
# the "wrong-name" certificate (the cluster CA's, naming another host).  It
# waits for a's refused connections and four migrations, then checks the
# listeners' logs and the received guests.  a, with tmig1..tmig4 running:
#   0. no credentials (KMIGRATE_TLS_DIR empty dir): exit 2, with and
#      without --insecure; nothing connects
#   1. other cluster (its CA does not know b): refused, tmig1 runs on a
#   2. rogue (trusts b, its certificate from another CA): b refuses it
#   3. no certificate (openssl s_client): b refuses it
#   4. --insecure against the encrypting listener, an encrypting source
#      against the --insecure listener: both ends refuse the mode; a rogue
#      certificate with --insecure: refused
#   5. b's certificate does not name the --to address (PORT+2): a refuses
#      it before sending anything
#   6. tmig1 encrypted on $DATAPATH (kernel with the module) sent --via
#      mig0, tmig2 on the user path: completed, "tls" in the result, every
#      page verified on b
#   7. tmig3 --insecure to the --insecure listener: completed, the result
#      says "TLS1.3 authenticated plaintext", every page verified
#   8. tmig4 to the wrong-name listener with --tls-name naming its
#      certificate: completed, encrypted, every page verified
#   9. /proc/net/tls_stat: the kernel did the records (TlsTxSw, TlsRxSw)

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
	for n in tmig1 tmig2 tmig3 tmig4; do
		"$KM" stop $n >/dev/null 2>&1
	done
	[ -n "${lpid:-}" ] && kill $lpid 2>/dev/null
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

PPORT=$((PORT + 1))	# --insecure listener
WPORT=$((PORT + 2))	# the wrong-name certificate
SMALL=16		# MiB of tmig3, tmig4
SWORK=$(((SMALL - 4) * 256))
KTLS="TLS1.3 AES-128-GCM kTLS"
PLAIN="TLS1.3 authenticated plaintext"

if [ "$LAB_HOST" = b ]; then
	"$KM" listen --address "$LAB_MIG_ADDR" --port $PORT --verify --tls-dir "$TLS/b" \
		>"$OUT/listen" 2>&1 &
	lpid=$!
	"$KM" listen --address "$LAB_MIG_ADDR" --port $PPORT --verify --tls-dir "$TLS/b" \
		--insecure >"$OUT/listen_p" 2>&1 &
	lpid="$lpid $!"
	"$KM" listen --address "$LAB_MIG_ADDR" --port $WPORT --verify --tls-dir "$TLS/wrongname" \
		>"$OUT/listen_w" 2>&1 &
	lpid="$lpid $!"
	i=0
	while [ $i -lt 4000 ]; do
		[ "$(grep -c 'refused' "$OUT/listen")" -ge 4 ] &&
			[ "$(grep -c 'refused' "$OUT/listen_p")" -ge 2 ] &&
			[ "$(grep -c 'refused' "$OUT/listen_w")" -ge 1 ] &&
			[ "$("$KM" vms 2>/dev/null | grep -c '^tmig[1-4] .* running ')" -ge 4 ] && break
		sleep 0.1
		i=$((i + 1))
	done
	sleep 1
	sed 's/^/# listen: /' "$OUT/listen"
	sed 's/^/# listen --insecure: /' "$OUT/listen_p"
	sed 's/^/# listen wrong-name: /' "$OUT/listen_w"
	grep -q "refused .*other host.*not trusted\|refused .*Unknown CA" "$OUT/listen"
	ok $? "1: the other cluster's source is refused"
	grep -q "refused .*rogue host.* is not trusted: .*issuer is unknown" "$OUT/listen"
	ok $? "2: the rogue certificate is refused: issuer unknown"
	grep -q "refused .*: TLS handshake: Certificate is required" "$OUT/listen"
	ok $? "3: the peer without a certificate is refused: certificate required"
	grep -q "refused .*: the source asks for plaintext (--insecure); this listener requires encryption" \
		"$OUT/listen"
	ok $? "4: the encrypting listener refuses an --insecure source, and says so"
	grep -q "refused .*: the source asks for an encrypted channel; this listener runs --insecure" \
		"$OUT/listen_p"
	ok $? "4: the --insecure listener refuses an encrypting source, and says so"
	grep -q "refused .*rogue host.* is not trusted: .*issuer is unknown" "$OUT/listen_p"
	ok $? "4: the --insecure listener refuses the rogue certificate: issuer unknown"
	grep -q "refused .*: the source refused this destination: TLS alert" "$OUT/listen_w"
	ok $? "5: the source refused the wrong-name certificate (logged on b)"
	[ "$(grep -c "$KTLS, authenticated as O=kmigrate test,CN=host a\|$KTLS, authenticated as CN=host a,O=kmigrate test" \
		"$OUT/listen")" -eq 2 ]
	ok $? "6: two encrypted migrations authenticated as host a"
	grep -q "$PLAIN, authenticated as .*host a" "$OUT/listen_p"
	ok $? "7: the --insecure listener authenticated host a: $PLAIN"
	grep -q "$KTLS, authenticated as .*host a" "$OUT/listen_w"
	ok $? "8: the wrong-name listener authenticated host a (its name overridden by a)"
	for n in tmig1 tmig2 tmig3 tmig4; do
		j=$(info $n)
		echo "# info $n: $j"
		w=$WORK
		case $n in tmig3 | tmig4) w=$SWORK ;; esac
		pv=$(jfield "$j" pages_verified)
		[ "$(jfield "$j" state)" = running ] && [ "$(jfield "$j" origin)" = migrated ] &&
			[ "$pv" = "$w" ] && [ "$(jfield "$j" verify_bad)" = 0 ]
		ok $? "6-8: $n runs on b, every page verified before resuming ($pv of $w, $(jfield "$j" verify_bad) bad)"
		v=$("$KM" vmctl $n verify 2>&1)
		[ "$(jfield "$v" passed)" = true ] && [ "$(jfield "$v" bad)" = 0 ]
		ok $? "6-8: vmctl $n verify on b: passed"
	done
	cat /proc/net/tls_stat 2>/dev/null | sed 's/^/# tls_stat: /'
	[ "$(tls_stat TlsRxSw)" -ge $((rx0 + 3)) ] && [ "$(tls_stat TlsTxSw)" -ge $((tx0 + 3)) ]
	ok $? "9: kernel TLS did the records on b (TlsRxSw $rx0 -> $(tls_stat TlsRxSw), TlsTxSw $tx0 -> $(tls_stat TlsTxSw))"
	finish
fi

"$KM" run tmig1 --memory ${MEM_MIB}M --rate 200 --detach >"$OUT/run" 2>&1 &&
	"$KM" run tmig2 --memory ${MEM_MIB}M --rate 200 --detach >>"$OUT/run" 2>&1 &&
	"$KM" run tmig3 --memory ${SMALL}M --rate 200 --detach >>"$OUT/run" 2>&1 &&
	"$KM" run tmig4 --memory ${SMALL}M --rate 200 --detach >>"$OUT/run" 2>&1
ok $? "run tmig1, tmig2 ($MEM_MIB MiB), tmig3, tmig4 ($SMALL MiB) workload guests"

# 0. no credentials: neither mode goes without them
mkdir -p "$OUT/empty"
(export KMIGRATE_TLS_DIR="$OUT/empty"; try tmig1 "$OUT/s0")
st=$?
[ $st -eq 2 ] && grep -q "TLS credentials: .*ca.pem: No such file" "$OUT/s0.err"
ok $? "0: no credentials: exit $st (2), names the missing file"
(export KMIGRATE_TLS_DIR="$OUT/empty"; try tmig1 "$OUT/s0b" --insecure)
st=$?
[ $st -eq 2 ] && grep -q "TLS credentials: .*ca.pem: No such file" "$OUT/s0b.err"
ok $? "0: no credentials with --insecure: exit $st (2), names the missing file"

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

# 4. the modes must agree; --insecure needs a trusted certificate too
try tmig1 "$OUT/s4" --tls-dir "$TLS/a" --insecure
st=$?
[ $st -eq 1 ] && [ "$(jfield "$(cat "$OUT/s4")" pages_sent)" = 0 ] &&
	grep -q "the destination refused plaintext: it requires encryption" "$OUT/s4"
ok $? "4: --insecure source, encrypting listener: exit $st (1), no page sent: $(jfield "$(cat "$OUT/s4")" error)"
stays tmig1 "4"
try tmig1 "$OUT/s4b" --tls-dir "$TLS/a" --to "[$LAB_PEER_MIG_ADDR]:$PPORT"
st=$?
[ $st -eq 1 ] && [ "$(jfield "$(cat "$OUT/s4b")" pages_sent)" = 0 ] &&
	grep -q "the destination refused encryption: its listener runs --insecure" "$OUT/s4b"
ok $? "4: encrypting source, --insecure listener: exit $st (1), no page sent: $(jfield "$(cat "$OUT/s4b")" error)"
try tmig1 "$OUT/s4c" --tls-dir "$TLS/rogue" --insecure --to "[$LAB_PEER_MIG_ADDR]:$PPORT"
st=$?
[ $st -eq 1 ] && [ "$(jfield "$(cat "$OUT/s4c")" pages_sent)" = 0 ] &&
	grep -q "refused this host" "$OUT/s4c"
ok $? "4: --insecure with a rogue certificate: exit $st (1), refused, no page sent"
stays tmig1 "4"

# 5. the destination's certificate names another host
try tmig1 "$OUT/s5" --tls-dir "$TLS/a" --to "[$LAB_PEER_MIG_ADDR]:$WPORT"
st=$?
[ $st -eq 1 ] && [ "$(jfield "$(cat "$OUT/s5")" pages_sent)" = 0 ] &&
	grep -q "does not name $LAB_PEER_MIG_ADDR" "$OUT/s5" && grep -q "CN=wrong-name host" "$OUT/s5"
ok $? "5: wrong-name certificate: exit $st (1), refused by the source, no page sent: $(jfield "$(cat "$OUT/s5")" error)"
stays tmig1 "5"

# 6. encrypted migrations, both data paths, the first --via the migration NIC
DPT=$DATAPATH
tx1=$(tls_stat TlsTxSw)
try tmig1 "$OUT/s6" --tls-dir "$TLS/a" --datapath "$DPT" --verify --via "$LAB_MIG_IF"
st=$?
r=$(cat "$OUT/s6")
[ $st -eq 0 ] && [ "$(jfield "$r" result)" = completed ] &&
	[ "$(jfield "$r" tls)" = "$KTLS" ] && dp_result "$r" "$DPT"
ok $? "6: tmig1 encrypted on the $DPT data path --via $LAB_MIG_IF: completed, tls $(jfield "$r" tls), peer $(jfield "$r" tls_peer)"
[ "$(jfield "$r" pages_verified)" = "$WORK" ]
ok $? "6: the destination verified every page of tmig1 ($(jfield "$r" pages_verified) of $WORK)"
try tmig2 "$OUT/s6b" --tls-dir "$TLS/a" --datapath user --verify
st=$?
r=$(cat "$OUT/s6b")
[ $st -eq 0 ] && [ "$(jfield "$r" result)" = completed ] &&
	[ "$(jfield "$r" tls)" = "$KTLS" ] && dp_result "$r" user &&
	[ "$(jfield "$r" pages_verified)" = "$WORK" ]
ok $? "6: tmig2 encrypted on the user data path: completed, tls, $(jfield "$r" pages_verified) pages verified"

# 7. authenticated plaintext, both ends --insecure
try tmig3 "$OUT/s7" --tls-dir "$TLS/a" --insecure --datapath "$DPT" --verify \
	--to "[$LAB_PEER_MIG_ADDR]:$PPORT"
st=$?
r=$(cat "$OUT/s7")
[ $st -eq 0 ] && [ "$(jfield "$r" result)" = completed ] && [ "$(jfield "$r" tls)" = "$PLAIN" ] &&
	printf '%s' "$(jfield "$r" tls_peer)" | grep -q "CN=host b" &&
	[ "$(jfield "$r" pages_verified)" = "$SWORK" ]
ok $? "7: tmig3 --insecure: completed, tls '$(jfield "$r" tls)', peer $(jfield "$r" tls_peer), $(jfield "$r" pages_verified) of $SWORK pages verified"

# 8. --tls-name: the wrong-name certificate accepted under its own name
try tmig4 "$OUT/s8" --tls-dir "$TLS/a" --tls-name elsewhere.kmigrate.test --datapath user \
	--verify --to "[$LAB_PEER_MIG_ADDR]:$WPORT"
st=$?
r=$(cat "$OUT/s8")
[ $st -eq 0 ] && [ "$(jfield "$r" result)" = completed ] && [ "$(jfield "$r" tls)" = "$KTLS" ] &&
	printf '%s' "$(jfield "$r" tls_peer)" | grep -q "CN=wrong-name host" &&
	[ "$(jfield "$r" pages_verified)" = "$SWORK" ]
ok $? "8: tmig4 --tls-name elsewhere.kmigrate.test: completed, peer $(jfield "$r" tls_peer), $(jfield "$r" pages_verified) of $SWORK pages verified"
cat /proc/net/tls_stat 2>/dev/null | sed 's/^/# tls_stat: /'
[ "$(tls_stat TlsTxSw)" -ge $((tx1 + 3)) ] && [ "$(tls_stat TlsRxSw)" -ge $((rx0 + 3)) ]
ok $? "9: kernel TLS did the records on a (TlsTxSw $tx0 -> $(tls_stat TlsTxSw), TlsRxSw $rx0 -> $(tls_stat TlsRxSw))"
finish
