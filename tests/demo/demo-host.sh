#!/bin/sh
# Runs on each lab host during `make demo`.  Both hosts load kmigrate.ko
# and show what the operator sees; host b listens on its migration
# network; host a runs a workload guest and live-migrates it to b; b
# shows the guest running there and verifies its memory page by page.
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

if [ "$LAB_HOST" = b ]; then
	say "listening for migrations on the migration network [$LAB_MIG_ADDR]:$PORT"
	$KM listen --address "$LAB_MIG_ADDR" --port $PORT --once --verify --insecure
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
$KM start vm1 --to "[$LAB_PEER_MIG_ADDR]:$PORT" --connect-timeout 60 --insecure
say "guests left on host a (none: vm1 now runs on b)"
$KM vms
