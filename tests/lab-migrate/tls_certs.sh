#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# tls_certs.sh DIR: the credentials of tests/lab-migrate/tls_test.sh, made on
# the build host with openssl (the lab hosts have no certificate tool):
#   DIR/a, DIR/b      ca.pem (the cluster CA), cert.pem, key.pem of hosts a, b
#   DIR/rogue         a host whose certificate another CA signed (ca.pem is
#                     the cluster's: it trusts the destination, but is not
#                     trusted)
#   DIR/other         a whole other cluster (its own CA, cert, key)
# ECDSA P-256 keys, valid for a day.
set -eu
D=$1
mkdir -p "$D/a" "$D/b" "$D/rogue" "$D/other" "$D/tmp"
T=$D/tmp
ssl() { openssl "$@" 2>"$T/err" || { cat "$T/err" >&2; exit 1; }; }

ca() {	# ca NAME: $T/NAME-ca.pem, $T/NAME-ca.key
	ssl ecparam -name prime256v1 -genkey -noout -out "$T/$1-ca.key"
	ssl req -x509 -new -key "$T/$1-ca.key" -days 1 -subj "/O=kmigrate test/CN=$1 cluster CA" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		-out "$T/$1-ca.pem"
}

host() {	# host DIR CN CA: DIR/cert.pem, DIR/key.pem signed by CA
	ssl ecparam -name prime256v1 -genkey -noout -out "$1/key.pem"
	ssl req -new -key "$1/key.pem" -subj "/O=kmigrate test/CN=$2" -out "$T/req.pem"
	printf '%s\n' 'basicConstraints=critical,CA:FALSE' \
		'keyUsage=critical,digitalSignature' 'extendedKeyUsage=serverAuth,clientAuth' >"$T/ext"
	ssl x509 -req -in "$T/req.pem" -CA "$T/$3-ca.pem" -CAkey "$T/$3-ca.key" -CAcreateserial \
		-days 1 -extfile "$T/ext" -out "$1/cert.pem"
}

ca cluster
ca other
host "$D/a" "host a" cluster
host "$D/b" "host b" cluster
host "$D/rogue" "rogue host" other
host "$D/other" "other host" other
cp "$T/cluster-ca.pem" "$D/a/ca.pem"
cp "$T/cluster-ca.pem" "$D/b/ca.pem"
cp "$T/cluster-ca.pem" "$D/rogue/ca.pem"
cp "$T/other-ca.pem" "$D/other/ca.pem"
rm -rf "$T"
