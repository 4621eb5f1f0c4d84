#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# virtio devices of `kmigrate run` on this machine's own /dev/kvm, in a
# network namespace (its own bridge and taps, nothing on the host's links):
# --disk (listed by info, a second writer or reader refused with exit 5,
# ro), --net bridge= (a tap named after the VM joins the bridge, up, with
# the stable MAC; gone when the VM stops), --net tap= (an existing tap,
# kept), every bad input refused with exit 2 and nothing left behind, a VM
# with disks migrated over loopback to a listener with its own run
# directory (the disks change hands: the source lets them go, the
# destination holds them; pre-flight refuses a disk that differs there),
# and `start` of a VM with a NIC refused with exit 6 before it connects.
# The guest is the built-in workload (it does not drive the devices: the
# Linux guest tests in the lab do).
# Env: KM (kmigrate), PORT_BASE.  TAP output; exit 0 when all passed.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
KM=${KM:-$top/build/bin/kmigrate}
P=${PORT_BASE:-49550}
N=0 FAILED=0
T=$(mktemp -d /var/tmp/kmdev.XXXXXX)	# not tmpfs: the disks need O_DIRECT
NS=kmd$$

ok() {	# ok STATUS DESCRIPTION
	N=$((N + 1))
	if [ "$1" -eq 0 ]; then echo "ok $N $2"; else echo "not ok $N $2"; FAILED=$((FAILED + 1)); fi
}

cleanup() {
	ip netns pids "$NS" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

in_ns() { ip netns exec "$NS" env KMIGRATE_RUN_DIR="$T/run" KMIGRATE_TLS_DIR="$T/tls/a" "$@"; }
km() { in_ns "$KM" "$@"; }
# run_rc NAME ARGS...: exit status of a detached run; its stderr in $T/NAME.err
run_rc() { local n=$1; shift; km run "$n" -m 32M "$@" --detach >"$T/$n.out" 2>"$T/$n.err"; echo $?; }
has() { grep -q -- "$2" "$1" || { echo "# $1 lacks '$2':"; sed 's/^/#   /' "$1"; return 1; }; }
no_trace() { [ ! -e "$T/run/$1.sock" ] && ! ip -n "$NS" link show "km-$1-0" >/dev/null 2>&1; }

mkdir -p "$T/run" && sh "$top/tests/lab-migrate/tls_certs.sh" "$T/tls" >/dev/null &&
	ip netns add "$NS" && ip -n "$NS" link set lo up &&
	ip -n "$NS" link add br0 type bridge && ip -n "$NS" link set br0 up &&
	ip -n "$NS" tuntap add dev tapx mode tap vnet_hdr &&
	truncate -s 16M "$T/d1.img" "$T/d2.img"
ok $? "setup: a namespace with bridge br0 and tap tapx, two disk images"

# --- disks
rc=$(run_rc v1 --disk "$T/d1.img" --disk "$T/d2.img,ro")
ok "$rc" "run with a read-write and a read-only disk"
km -j vms >"$T/vms.json" 2>&1
has "$T/vms.json" "\"type\":\"disk\",\"pci_slot\":1,\"path\":\"$T/d1.img\",\"read_only\":false,\"bytes\":16777216" &&
	has "$T/vms.json" "\"pci_slot\":2,\"path\":\"$T/d2.img\",\"read_only\":true"
ok $? "vms -j lists both disks on PCI slots 1 and 2"
km vms v1 >"$T/vms.txt" 2>&1
has "$T/vms.txt" "  disk 00:01.0 $T/d1.img, 16 MiB" && has "$T/vms.txt" "  disk 00:02.0 $T/d2.img (read-only), 16 MiB"
ok $? "vms lists them under the VM's line"
rc=$(run_rc v2 --disk "$T/d1.img")
[ "$rc" = 5 ] && has "$T/v2.err" "is in use" && no_trace v2
ok $? "a second VM writing the same disk: exit 5 ($rc), 'in use', nothing left"
rc=$(run_rc v2 --disk "$T/d1.img,ro")
[ "$rc" = 5 ] && no_trace v2
ok $? "a second VM reading a disk another writes: exit 5 ($rc)"
rc=$(run_rc v2 --disk "$T/d2.img,ro")
ok "$rc" "two VMs share a read-only disk"
km stop v2 >/dev/null 2>&1
# a VM with disks migrates (the destination: its own run directory)
kmb() { ip netns exec "$NS" env KMIGRATE_RUN_DIR="$T/runb" KMIGRATE_TLS_DIR="$T/tls/b" "$KM" "$@"; }
mkdir -p "$T/runb"
kmb listen --address 127.0.0.1 --port "$P" --once --insecure >"$T/listen.out" 2>&1 &
lpid=$!
km start v1 --to 127.0.0.1:"$P" --insecure --connect-timeout 10 --json >"$T/start.out" \
	2>"$T/start.err"
rc=$?
wait "$lpid"
lrc=$?
[ "$rc" = 0 ] && [ "$lrc" = 0 ] && has "$T/start.out" '"result":"completed"'
ok $? "a VM with two disks migrates (start exit $rc, listen exit $lrc)"
kmb -j vms >"$T/vmsb.json" 2>&1
has "$T/vmsb.json" "\"path\":\"$T/d1.img\",\"read_only\":false" &&
	has "$T/vmsb.json" "\"path\":\"$T/d2.img\",\"read_only\":true"
ok $? "the destination's VM has both disks"
rc=$(run_rc v2 --disk "$T/d1.img,ro")
[ "$rc" = 5 ]
ok $? "the destination holds the read-write disk: another VM is refused it (exit $rc)"
kmb stop v1 >/dev/null 2>&1
for _ in $(seq 50); do [ -e "$T/runb/v1.sock" ] || break; sleep 0.1; done
rc=$(run_rc v3 --disk "$T/d1.img")
ok "$rc" "the disk is free again once its VM stopped"
# pre-flight: the destination sees other data at the disk's path (d2,
# with a first sector of its own, bound over d1 in the listener's view)
printf 'other disk' | dd of="$T/d2.img" conv=notrunc status=none
in_ns unshare -m sh -c "mount --bind '$T/d2.img' '$T/d1.img' &&
	KMIGRATE_RUN_DIR='$T/runb' KMIGRATE_TLS_DIR='$T/tls/b' timeout 20 '$KM' listen \
	--address 127.0.0.1 --port '$P' --once --insecure" >"$T/listen2.out" 2>&1 &
lpid=$!
sleep 1
km check v3 --to 127.0.0.1:"$P" --insecure --connect-timeout 10 >"$T/check.out" 2>&1
rc=$?
kill "$lpid" 2>/dev/null
wait "$lpid" 2>/dev/null
[ "$rc" != 0 ] && has "$T/check.out" "holds other data"
ok $? "check: a disk with other data at the destination is refused (exit $rc)"
km stop v3 >/dev/null 2>&1

# --- NICs
rc=$(run_rc n1 --net bridge=br0 --net tap=tapx,mac=52:54:00:12:34:56)
ok "$rc" "run with a NIC on bridge br0 and one on the existing tap tapx"
ip -n "$NS" -d link show km-n1-0 >"$T/tap.txt" 2>&1
has "$T/tap.txt" "master br0" && has "$T/tap.txt" "state UP\|,UP" && has "$T/tap.txt" "tun type tap"
ok $? "the tap km-n1-0 exists, is up and in br0"
km -j vms >"$T/vms2.json" 2>&1
mac=$(sed -n 's/.*"tap":"km-n1-0","bridge":"br0","mac":"\([0-9a-f:]*\)".*/\1/p' "$T/vms2.json")
case $mac in 02:6b:6d:??:??:??) r=0 ;; *) r=1 ;; esac
[ $r = 0 ] && has "$T/vms2.json" '"tap":"tapx","bridge":null,"mac":"52:54:00:12:34:56"'
ok $? "vms -j: the default MAC $mac (02:6b:6d:...) and the given one"
km vms n1 >"$T/vms2.txt" 2>&1
has "$T/vms2.txt" "  net  00:01.0 tap km-n1-0 in bridge br0, mac $mac" &&
	has "$T/vms2.txt" "  net  00:02.0 tap tapx, mac 52:54:00:12:34:56"
ok $? "vms lists the NICs with tap, bridge and MAC"
km start n1 --to 198.18.77.1:"$P" >"$T/startn.out" 2>"$T/startn.err"
rc=$?
[ "$rc" = 6 ] && has "$T/startn.err" "virtio-net device is not supported yet"
ok $? "start of a VM with NICs: exit 6 ($rc) before it connects"
km vmctl n1 '{"cmd":"migrate","to":"198.18.77.1:'"$P"'"}' >"$T/vmctl.out" 2>&1
has "$T/vmctl.out" "not supported yet"
ok $? "the VM refuses a raw migrate request too"
km stop n1 >/dev/null 2>&1
for _ in $(seq 50); do ip -n "$NS" link show km-n1-0 >/dev/null 2>&1 || break; sleep 0.1; done
! ip -n "$NS" link show km-n1-0 >/dev/null 2>&1 && ip -n "$NS" link show tapx >/dev/null 2>&1
ok $? "after stop: the created tap is gone, the existing tap is kept"
rc=$(run_rc n2 --net bridge=br0)
km -j vms >"$T/vms3.json" 2>&1
mac2=$(sed -n 's/.*"tap":"km-n2-0","bridge":"br0","mac":"\([0-9a-f:]*\)".*/\1/p' "$T/vms3.json")
[ "$rc" = 0 ] && [ -n "$mac2" ] && [ "$mac2" != "$mac" ]
ok $? "another VM name gets another MAC ($mac2)"
km stop n2 >/dev/null 2>&1

# --- bad input: exit 2, one line, nothing left
bad() {	# bad DESCRIPTION EXPECTED-TEXT ARGS...
	local d=$1 w=$2 rc
	shift 2
	rc=$(run_rc bad "$@")
	[ "$rc" = 2 ] && has "$T/bad.err" "$w" && no_trace bad
	ok $? "refused with exit 2 ($rc): $d"
}
bad "a disk that does not exist" "No such file" --disk "$T/none.img"
bad "an unknown disk option" "only option after PATH" --disk "$T/d1.img,rw"
bad "an empty --disk" "expected PATH" --disk ""
bad "a bridge that does not exist" "bridge 'nobr' does not exist" --net bridge=nobr
bad "a tap that does not exist" "tap 'notap' does not exist" --net tap=notap
bad "a device that is not a bridge" "'tapx' is not a bridge" --net bridge=tapx
bad "a multicast MAC" "not a unicast MAC" --net bridge=br0,mac=01:00:5e:00:00:01
bad "a short MAC" "mac= takes" --net bridge=br0,mac=52:54:00
bad "bridge and tap at once" "give one bridge= or tap=" --net bridge=br0,tap=tapx
bad "no bridge or tap" "expected bridge=BR or tap=TAP" --net mac=52:54:00:12:34:56
bad "an unknown --net key" "expected bridge=BR or tap=TAP" --net vlan=3

echo "1..$N"
[ "$FAILED" -eq 0 ]
