#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# virtio-pci devices of `kmigrate run --kernel` driven by a stock Debian
# kernel (the lab host's own bzImage), in a lab host (nested KVM):
#   tests/lab/lab.sh run --kernel 6.1 --hosts 1 --payload DIR -- sh bin/virtio_test.sh
# with DIR/bin/{kmigrate,virtio_test.sh,virtio_pattern.sh,labtest.sh},
# DIR/vmlinuz, DIR/initrd.cpio (virtio_initrd.sh) and DIR/host/ (the bridge
# and loop modules, virtio_mods.sh).  The disks are loop devices over raw
# images in /tmp (a block device takes O_DIRECT; tmpfs on 6.1 does not).
# First boot: the guest writes a pattern on vda with a FLUSH and reboots;
# the host finds it in the image; vdb is read-only in the guest; the guest
# (198.18.9.2/24) pings the host's bridge kmbr0 (198.18.9.1), the host pings
# it and talks to its echo service on TCP 7777; info lists the devices;
# start is refused (exit 6); the tap is gone when the VM ends.  Second
# boot: the guest reads the pattern back.  Prints TAP.

KM=${KMIGRATE:-kmigrate}
export KMIGRATE_RUN_DIR=${KMIGRATE_RUN_DIR:-/run/kmigrate/vms}
D=$(cd "$(dirname "$0")/.." && pwd)
N=0
FAILED=0
OUT=/tmp/virtio_test.$$
mkdir -p "$OUT"
APPEND="console=ttyS0 panic=-1 reboot=k"
BOOT_S=${LINUX_BOOT_S:-400}

. "$(dirname "$0")/labtest.sh"	# ok, jfield, info, finish

echo "# kernel $(uname -r); guest kernel $D/vmlinuz"

# wait_for FILE TEXT SECONDS PID: TEXT appears in FILE while PID lives
wait_for() {
	i=0
	while [ $i -lt $(($3 * 10)) ] && ! grep -q "$2" "$1" 2>/dev/null; do
		kill -0 "$4" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	grep -q "$2" "$1" 2>/dev/null
}
wait_end() {	# wait_end PID SECONDS
	i=0
	while [ $i -lt $(($2 * 10)) ] && kill -0 "$1" 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	! kill -0 "$1" 2>/dev/null
}

# --- the host side: modules, bridge, disks
modprobe tun 2>/dev/null
for m in $(cat "$D/host/order" 2>/dev/null); do
	grep -q "^$m " /proc/modules || insmod "$D/host/$m.ko" || echo "# insmod $m failed"
done
ip link add kmbr0 type bridge && ip addr add 198.18.9.1/24 dev kmbr0 && ip link set kmbr0 up
ok $? "the lab host has bridge kmbr0 with 198.18.9.1/24"
truncate -s 8M /tmp/vd1.raw /tmp/vd2.raw && printf 'read-only disk\n' | dd of=/tmp/vd2.raw conv=notrunc 2>/dev/null &&
	losetup /dev/loop0 /tmp/vd1.raw && losetup /dev/loop1 /tmp/vd2.raw
ok $? "two raw images on /dev/loop0 and /dev/loop1"

boot() {	# boot NAME PHASE ARGS...
	name=$1 phase=$2
	shift 2
	log=$KMIGRATE_RUN_DIR/$name.console
	"$KM" run "$name" --kernel "$D/vmlinuz" --initrd "$D/initrd.cpio" --memory 256M \
		--vcpus 1 --append "$APPEND km.phase=$phase" "$@" --detach >"$OUT/run-$name" 2>&1
	st=$?
	sed 's/^/# /' "$OUT/run-$name"
	pid=$(jfield "$(info "$name")" pid)
	return $st
}

# --- first boot: write, network
boot vw write --disk /dev/loop0 --disk /dev/loop1,ro --net bridge=kmbr0
ok $? "run --kernel with two disks (one ro) and a NIC on kmbr0"
j=$(info vw)
echo "# devices: $(printf '%s' "$j" | sed -n 's/.*"devices":\(.*\)}$/\1/p')"
printf '%s' "$j" | grep -q '"type":"disk","pci_slot":1,"path":"/dev/loop0","read_only":false' &&
	printf '%s' "$j" | grep -q '"path":"/dev/loop1","read_only":true' &&
	printf '%s' "$j" | grep -q '"tap":"km-vw-0","bridge":"kmbr0","mac":"02:6b:6d:'
ok $? "info lists the disks and the NIC (tap km-vw-0 in kmbr0)"
ip -d link show km-vw-0 2>&1 | grep -q "master kmbr0"
ok $? "the tap km-vw-0 is in kmbr0"
"$KM" start vw --to 198.18.0.2 >"$OUT/start" 2>&1
st=$?
sed 's/^/# /' "$OUT/start"
[ $st -eq 6 ] && grep -q "virtio-net device is not supported yet" "$OUT/start"
ok $? "start of a VM with a virtio NIC is refused before anything is sent (exit $st)"
wait_for "$KMIGRATE_RUN_DIR/vw.console" "KMTEST waiting on 7777" "$BOOT_S" "$pid"
up=$?
ok $up "the guest came up and configured its disk and NIC"
if [ $up -ne 0 ]; then
	tail -n 80 "$KMIGRATE_RUN_DIR/vw.console" | sed 's/^/# console: /'
	tail -n 20 "$KMIGRATE_RUN_DIR/vw.log" | sed 's/^/# vm log: /'
	"$KM" stop vw >/dev/null 2>&1
else
	grep "KMTEST" "$KMIGRATE_RUN_DIR/vw.console" | sed 's/^/# guest: /'
fi
ping -c 3 -W 5 198.18.9.2 >"$OUT/ping" 2>&1
ok $? "the lab host pings the guest at 198.18.9.2 ($(grep -o '[0-9]* received' "$OUT/ping"))"
reply=$(echo "hello-virtio" | timeout 20 nc 198.18.9.2 7777 2>&1)
[ "$reply" = "echo:hello-virtio" ]
ok $? "a host client reaches the guest's echo service ('$reply')"
wait_end "$pid" "$BOOT_S"
ok $? "the guest's reboot ends the VM"
log=$KMIGRATE_RUN_DIR/vw.console
grep -i "virtio\|pci\|vda\|eth0" "$log" | tail -n 40 | sed 's/^/# console: /'

grep -q "KMTEST pci: .*0x1af4:0x1042.*0x1af4:0x1042.*0x1af4:0x1041" "$log"
ok $? "the guest sees two virtio-blk and one virtio-net PCI functions"
grep -q "KMTEST blocks: .*vda.*vdb" "$log"
ok $? "virtio_blk made vda and vdb"
grep -q "KMTEST disk-written" "$log"
ok $? "the guest wrote the pattern with dd conv=fsync"
grep -q "KMTEST vdb-ro=1" "$log" && grep -q "KMTEST vdb-write-refused" "$log" &&
	[ "$(head -c 15 /tmp/vd2.raw)" = "read-only disk" ]
ok $? "the ro disk is read-only in the guest and unchanged"
grep -q "KMTEST ping-host ok" "$log"
ok $? "the guest pings the host's bridge address"
grep -q "KMTEST got: hello-virtio" "$log"
ok $? "the guest got the host client's line"
want=$(sh "$D/bin/virtio_pattern.sh" | md5sum | cut -d' ' -f1)
got=$(dd if=/tmp/vd1.raw bs=512 skip=2048 count=33 2>/dev/null | head -c 16640 | md5sum | cut -d' ' -f1)
[ "$got" = "$want" ]
ok $? "the host finds the guest's pattern in the image ($got)"
! ip link show km-vw-0 >/dev/null 2>&1
ok $? "the tap is gone with the VM"

# --- second boot: read back
boot vr read --disk /dev/loop0
ok $? "second boot with the same disk"
wait_end "$pid" "$BOOT_S"
r=$?
ok $r "the guest's reboot ends the VM"
[ $r -eq 0 ] || { tail -n 40 "$KMIGRATE_RUN_DIR/vr.console" | sed 's/^/# console: /'; "$KM" stop vr >/dev/null 2>&1; }
grep "KMTEST" "$KMIGRATE_RUN_DIR/vr.console" | sed 's/^/# guest: /'
grep -q "KMTEST disk-read ok" "$KMIGRATE_RUN_DIR/vr.console"
ok $? "the guest reads its pattern back after a reboot"

losetup -d /dev/loop0 2>/dev/null
losetup -d /dev/loop1 2>/dev/null
finish
