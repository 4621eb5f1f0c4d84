#!/bin/sh
# Runs on each lab host during `make demo`.  Both hosts load kmigrate.ko
# and show what the operator sees; host b listens on its migration
# network; host a runs a workload guest and live-migrates it to b; b
# shows the guest running there and verifies its memory page by page.
# The channel is TLS 1.3 with both hosts' certificates (the payload's
# tls/a and tls/b, from tests/lab-migrate/tls_certs.sh), the records in
# kernel TLS.
set -eu
KM=kmigrate
PORT=49152
say() { printf '\n--- %s\n' "$*"; }

say "host $(hostname): kernel $(uname -r)"
insmod ./kmigrate.ko
ls -l /dev/kmigrate /dev/kvm
say "kmigrate version"
$KM version
say "kmigrate status"
$KM status
say "networks: management $LAB_MGMT_IF, migration $LAB_MIG_IF"
ip -brief address show dev "$LAB_MGMT_IF"
ip -brief address show dev "$LAB_MIG_IF"
say "credentials: the cluster CA and this host's certificate and key"
export KMIGRATE_TLS_DIR=${KMIGRATE_TLS_DIR:-/opt/kmigrate/tls/$LAB_HOST}
ls -l "$KMIGRATE_TLS_DIR"
# kernel TLS and the AES-GCM it needs (the lab's crypto API does not
# autoload it)
for m in tls gcm ghash_generic ctr; do
	modprobe $m 2>/dev/null || true
done

if [ "$LAB_HOST" = b ]; then
	say "listening for migrations on the migration network [$LAB_MIG_ADDR]:$PORT"
	$KM listen --address "$LAB_MIG_ADDR" --port $PORT --once --verify
	say "the guest now runs here"
	$KM vms
	say "its memory, page by page"
	$KM vmctl vm1 verify
	sleep 2
	$KM vms
	$KM stop vm1
	exit 0
fi

say "a 64 MiB, 2-vCPU workload guest on host a"
$KM run vm1 --memory 64M --vcpus 2 --rate 200 --detach
sleep 2
$KM vms
say "kmigrate start vm1 --to [$LAB_PEER_MIG_ADDR]:$PORT"
$KM start vm1 --to "[$LAB_PEER_MIG_ADDR]:$PORT" --connect-timeout 60
say "guests left on host a (none: vm1 now runs on b)"
$KM vms
