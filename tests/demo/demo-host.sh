#!/bin/sh
# Runs on each lab host during `make demo`.  Both hosts load kmigrate.ko
# and show what the operator sees; host b listens on its migration
# network; host a runs a workload guest and live-migrates it to b; b
# shows the guest running there and verifies its memory page by page.
# Then the main job: a stock Debian Linux guest (this host's kernel,
# DIR/vmlinuz) with 2 vCPUs, the kmagent initramfs (DIR/initrd.cpio from
# agent_initrd.sh, with the virtio modules of DIR/mods) and the lab's
# shared disk (LAB_SHARED_DISK), its memory writer and fsynced disk writer
# running, moves from a to b; on b the guest checks itself over `kmigrate
# console` (agentlib.sh's agent_check: no bad page, every fsynced record
# on the disk); a shows it gone.
# The channel is TLS 1.3 with both hosts' certificates (the payload's
# tls/a and tls/b, from tests/lab-migrate/tls_certs.sh), the records in
# kernel TLS.
set -eu
KM=kmigrate
PORT=49152
D=$(cd "$(dirname "$0")/.." && pwd)
export KMIGRATE_RUN_DIR="${KMIGRATE_RUN_DIR:-/run/kmigrate/vms}"
LOG=$KMIGRATE_RUN_DIR/lm.console
BOOT_S=${LINUX_BOOT_S:-240}
. "$D/bin/agentlib.sh"	# lab_shared_disk, agent_wait, agent_check
say() { printf '\n--- %s\n' "$*"; }
# show CMD ARGS...: the command as an operator types it, then run it;
# show_within SECONDS CMD ARGS...: the same, ended after SECONDS
show_line() {
	_l='$'
	for _a in "$@"; do
		case $_a in
		*" "* | *"["*) _l="$_l '$_a'" ;;
		*) _l="$_l $_a" ;;
		esac
	done
	printf '%s\n' "$_l"
}
show() { show_line "$@"; "$@"; }
show_within() { _t=$1; shift; show_line "$@"; timeout "$_t" "$@"; }

say "host $(hostname): kernel $(uname -r)"
insmod ./kmigrate.ko
ls -l /dev/kmigrate /dev/kvm
say "the tool and the module"
show $KM version
show $KM status
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
say "shared storage: the lab's shared disk, seen by both hosts"
if ! lab_shared_disk "$D/mods"; then
	echo "no shared disk (serial kmshared): run with LAB_SHARED_DISK (make demo does)" >&2
	exit 1
fi
ls -l "$DISK"

if [ "$LAB_HOST" = b ]; then
	say "listening for migrations on the migration network [$LAB_MIG_ADDR]:$PORT"
	show $KM listen --address "$LAB_MIG_ADDR" --port $PORT --once --verify
	say "the guest now runs here"
	show $KM vms
	say "its memory, page by page"
	show $KM vmctl vm1 verify
	sleep 2
	show $KM vms
	show $KM stop vm1

	say "listening again: a Linux guest comes next"
	# (a boots the guest first: up to BOOT_S)
	show_within $((BOOT_S + 240)) $KM listen --address "$LAB_MIG_ADDR" --port $PORT --once
	say "the Linux guest now runs here"
	show $KM vms
	say "the guest checks itself (over kmigrate console): its writers stop, then it reads its memory and disk back"
	if agent_check lm "$LOG"; then
		echo "guest check on $(hostname): no bad memory page, all $AGENT_FSYNCED fsynced records on the disk"
		st=0
	else
		echo "guest check on $(hostname) FAILED (bad pages ${AGENT_BAD_PAGES:-?}, fsynced ${AGENT_FSYNCED:-?}); its console:"
		tail -n 30 "$LOG"
		st=1
	fi
	show $KM stop lm
	exit $st
fi

say "a 64 MiB, 2-vCPU workload guest on host a"
show $KM run vm1 --memory 64M --vcpus 2 --rate 200 --detach
sleep 2
show $KM vms
say "live-migrate vm1 to host b"
show $KM start vm1 --to "[$LAB_PEER_MIG_ADDR]:$PORT" --connect-timeout 60
say "guests left on host a (none: vm1 now runs on b)"
show $KM vms

say "a stock Debian Linux guest on host a: kernel $(uname -r) (this host's), 2 vCPUs, 256 MiB, the kmagent initramfs, the shared disk $DISK"
echo "(no NIC: kmigrate refuses to migrate a VM with a NIC today, exit 6, so this guest has none and no client probe runs)"
echo "in the guest: kmagent writes 32 MiB of memory (5000 pages/s) and appends fsynced records to its disk /dev/vda (20/s)"
show $KM run lm --kernel "$D/vmlinuz" --initrd "$D/initrd.cpio" --memory 256M --vcpus 2 \
	--append "console=ttyS0 panic=-1 reboot=k km.mem=32:5000 km.disk=/dev/vda:20" \
	--disk "$DISK" --detach
t0=$(date +%s)
if ! agent_wait "$LOG" "KMAGENT guest started" "$BOOT_S"; then
	echo "the guest did not start its agent in $BOOT_S s; its console:" >&2
	tail -n 40 "$LOG" >&2
	$KM stop lm >/dev/null 2>&1 || true
	exit 1
fi
echo "booted in $(($(date +%s) - t0)) s: $(grep -a 'KMAGENT guest up' "$LOG" | tr -d '\r' | tail -n 1)"
sleep 5
show $KM vms
echo "the guest's writers, from its console:"
grep -a "KMAGENT mem t=" "$LOG" | tr -d '\r' | tail -n 1
grep -a "KMAGENT disk fsynced=" "$LOG" | tr -d '\r' | tail -n 1
say "live-migrate it to host b (the progress per round, then the summary: downtime = the guest's pause)"
show $KM start lm --to "[$LAB_PEER_MIG_ADDR]:$PORT" --connect-timeout 120
say "guests left on host a (none: lm now runs on b)"
show $KM vms
if $KM vms 2>/dev/null | grep -q "^lm "; then
	echo "lm is still here" >&2
	exit 1
fi
echo "lm is gone from host a"
