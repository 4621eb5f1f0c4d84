#!/bin/sh
# Runs on each lab host during `make demo`: load kmigrate.ko, show what the
# operator sees, and prove the dedicated migration network reaches the peer.
set -eu
say() { printf '\n--- %s\n' "$*"; }

say "host $(hostname): kernel $(uname -r)"
insmod ./kmigrate.ko
ls -l /dev/kmigrate /dev/kvm

say "kmigrate version"
kmigrate version

say "kmigrate status"
kmigrate status

say "networks: management $LAB_MGMT_IF, migration $LAB_MIG_IF"
ip -brief address show dev "$LAB_MGMT_IF"
ip -brief address show dev "$LAB_MIG_IF"

say "migration network reaches the peer ($LAB_PEER_MIG_ADDR)"
i=0
until ping -6 -c 1 -W 1 "$LAB_PEER_MIG_ADDR" >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 30 ] || { echo "peer unreachable on the migration network"; exit 1; }
	sleep 1
done
ping -6 -c 3 "$LAB_PEER_MIG_ADDR"

say "kmigrate status -j"
kmigrate -j status
