#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# tls_certs.sh DIR: the lab's migration credentials, made on the build host
# with openssl (the lab hosts have no certificate tool); every lab payload
# that migrates carries them (mk/check.mk) and tests/lib/labtest.sh points
# KMIGRATE_TLS_DIR at DIR/$LAB_HOST:
#   DIR/a, DIR/b      ca.pem (the cluster CA), cert.pem, key.pem of lab hosts
#                     a and b; subjectAltName: the host's migration-network
#                     addresses (tests/lab/init: fd00:6b6d:2::a and 198.18.2.1
#                     for a, fd00:6b6d:2::b and 198.18.2.2 for b), its
#                     management addresses (fd00:6b6d:1::X, 198.18.1.N: the
#                     same host; net_test.sh sends --via mig0 to one) and DNS
#                     names lab-a / lab-b and lab-a.mig / lab-b.mig
#   DIR/wrongname     a certificate of the cluster CA for another host
#                     (DNS:elsewhere.kmigrate.test, IP:fd00:6b6d:2::99): a
#                     source refuses it unless --tls-name elsewhere.kmigrate.test
#   DIR/rogue         a host whose certificate another CA signed (ca.pem is
#                     the cluster's: it trusts the destination, but is not
#                     trusted)
#   DIR/other         a whole other cluster (its own CA, cert, key)
# ECDSA P-256 keys, valid for a day.
set -eu
D=$1
mkdir -p "$D/a" "$D/b" "$D/wrongname" "$D/rogue" "$D/other" "$D/tmp"
T=$D/tmp
ssl() { openssl "$@" 2>"$T/err" || { cat "$T/err" >&2; exit 1; }; }

ca() {	# ca NAME: $T/NAME-ca.pem, $T/NAME-ca.key
	ssl ecparam -name prime256v1 -genkey -noout -out "$T/$1-ca.key"
	ssl req -x509 -new -key "$T/$1-ca.key" -days 1 -subj "/O=kmigrate test/CN=$1 cluster CA" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		-out "$T/$1-ca.pem"
}

host() {	# host DIR CN CA SAN: DIR/cert.pem, DIR/key.pem signed by CA
	ssl ecparam -name prime256v1 -genkey -noout -out "$1/key.pem"
	ssl req -new -key "$1/key.pem" -subj "/O=kmigrate test/CN=$2" -out "$T/req.pem"
	printf '%s\n' 'basicConstraints=critical,CA:FALSE' \
		'keyUsage=critical,digitalSignature' 'extendedKeyUsage=serverAuth,clientAuth' \
		"subjectAltName=$4" >"$T/ext"
	ssl x509 -req -in "$T/req.pem" -CA "$T/$3-ca.pem" -CAkey "$T/$3-ca.key" -CAcreateserial \
		-days 1 -extfile "$T/ext" -out "$1/cert.pem"
}

SAN_A=IP:fd00:6b6d:2::a,IP:198.18.2.1,IP:fd00:6b6d:1::a,IP:198.18.1.1,DNS:lab-a,DNS:lab-a.mig
SAN_B=IP:fd00:6b6d:2::b,IP:198.18.2.2,IP:fd00:6b6d:1::b,IP:198.18.1.2,DNS:lab-b,DNS:lab-b.mig
ca cluster
ca other
host "$D/a" "host a" cluster "$SAN_A"
host "$D/b" "host b" cluster "$SAN_B"
host "$D/wrongname" "wrong-name host" cluster "DNS:elsewhere.kmigrate.test,IP:fd00:6b6d:2::99"
host "$D/rogue" "rogue host" other "$SAN_A"
host "$D/other" "other host" other "$SAN_A"
cp "$T/cluster-ca.pem" "$D/a/ca.pem"
cp "$T/cluster-ca.pem" "$D/b/ca.pem"
cp "$T/cluster-ca.pem" "$D/wrongname/ca.pem"
cp "$T/cluster-ca.pem" "$D/rogue/ca.pem"
cp "$T/other-ca.pem" "$D/other/ca.pem"
rm -rf "$T"
