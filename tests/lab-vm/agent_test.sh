#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The guest agent in a stock Debian Linux guest of `kmigrate run --kernel`,
# inside one lab host (make lab-agent-test; the payload: kmigrate, this,
# agentlib.sh, labtest.sh, vmlinuz, initrd.cpio from agent_initrd.sh with
# the guest modules, host/ with the lab host's loop module):
#   boot 1: kmagent mem (32 MiB at 5000 pages/s) and disk-write on
#           /dev/vda (50 records/s) run; over the console: status, stop
#           (no bad page, the last fsynced record), check (every fsynced
#           record read back), poweroff ends the VM
#   boot 2: the same disk, km.upto=N: every record boot 1 fsynced is there
# The network side (echo and probe through a bridge) is tests/host/
# probe_test.sh's here, and the migration tests' in the lab.
set -u
D=$(cd "$(dirname "$0")/.." && pwd)
KM=${KMIGRATE:-$D/bin/kmigrate}
export KMIGRATE_RUN_DIR=${KMIGRATE_RUN_DIR:-/run/kmigrate/vms}
N=0
FAILED=0
OUT=/tmp/agent_test.$$
mkdir -p "$OUT"
BOOT_S=${LINUX_BOOT_S:-400}
APPEND="console=ttyS0 panic=-1 reboot=k"
. "$D/bin/labtest.sh"	# ok, jfield, info, finish
. "$D/bin/agentlib.sh"	# agent_wait, agent_cmd, agent_check

echo "# kernel $(uname -r); guest kernel $D/vmlinuz"
for m in $(cat "$D/host/order" 2>/dev/null); do
	grep -q "^$m " /proc/modules || insmod "$D/host/$m.ko" || echo "# insmod $m failed"
done
truncate -s 16M /tmp/ag.raw && losetup /dev/loop0 /tmp/ag.raw
ok $? "a raw image on /dev/loop0"

gone() {	# gone NAME: the VM ended within BOOT_S
	i=0
	while [ $i -lt $((BOOT_S * 10)) ] && [ -e "$KMIGRATE_RUN_DIR/$1.sock" ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ ! -e "$KMIGRATE_RUN_DIR/$1.sock" ] || { "$KM" stop "$1" >/dev/null 2>&1; return 1; }
}

"$KM" run ag1 --kernel "$D/vmlinuz" --initrd "$D/initrd.cpio" --memory 256M --vcpus 2 \
	--append "$APPEND km.mem=32:5000 km.disk=/dev/vda:50" --disk /dev/loop0 --detach \
	>"$OUT/run1" 2>&1
ok $? "boot 1: run --kernel with the agent's initramfs and a disk"
log=$KMIGRATE_RUN_DIR/ag1.console
agent_wait "$log" "KMAGENT guest started" "$BOOT_S"
up=$?
ok $up "the guest's agent started (KMAGENT guest started)"
[ $up -eq 0 ] || tail -n 60 "$log" | sed 's/^/# console: /'
grep "KMAGENT guest up" "$log" | sed 's/^/# /'
sleep 5
agent_cmd ag1 status
agent_wait "$log" "KMAGENT guest status echo=down mem=up disk=up" 30
ok $? "status over the console: mem and disk writers up"
agent_check ag1 "$log"
ok $? "stop, check: no bad page, every one of the ${AGENT_FSYNCED:-?} fsynced records read back"
grep "KMAGENT mem t=" "$log" | tail -n 3 | sed 's/^/# /'
[ "${AGENT_FSYNCED:-0}" -ge 100 ]
ok $? "the writer fsynced at least 100 records in 5 s (${AGENT_FSYNCED:-0})"
agent_cmd ag1 poweroff
gone ag1
ok $? "poweroff over the console ends the VM"
upto=${AGENT_FSYNCED:-0}

"$KM" run ag2 --kernel "$D/vmlinuz" --initrd "$D/initrd.cpio" --memory 256M --vcpus 1 \
	--append "$APPEND km.disk=/dev/vda:50 km.upto=$upto" --disk /dev/loop0 --detach \
	>"$OUT/run2" 2>&1
ok $? "boot 2: the same disk, km.upto=$upto"
log=$KMIGRATE_RUN_DIR/ag2.console
agent_wait "$log" "KMAGENT disk-check " "$BOOT_S"
grep "KMAGENT disk-check" "$log" | sed 's/^/# /'
grep -q "KMAGENT disk-check ok records=$upto beyond=0 direct=1" "$log"
ok $? "boot 2 finds every record boot 1 fsynced, none beyond"
agent_cmd ag2 poweroff
gone ag2
ok $? "poweroff ends it"
losetup -d /dev/loop0 2>/dev/null
finish
