#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# host tier: runs without KVM
# announce-self (tools/vmm/announce.c) in a network namespace of its own:
# a bridge with two taps, and build/vmm/announce_test, which announces on
# the taps, then (where /dev/kvm works) through a VM with a NIC on the
# bridge and one on a tap; the frames are captured on the bridge
# (tests/vmm/announce_test.c says what is checked).  Needs root and ip
# netns (skipped otherwise).  TAP output; exit 0 when all passed.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
AT=$top/build/vmm/announce_test
NS=kman$$

cleanup() { ip netns del "$NS" 2>/dev/null; }
trap cleanup EXIT

if [ "$(id -u)" != 0 ] || ! ip netns add "$NS" 2>/dev/null; then
	echo "ok 1 announce_test # SKIP needs root and ip netns"
	exit 0
fi
if [ ! -x "$AT" ]; then
	echo "not ok 1 $AT not built (make vmm)"
	exit 1
fi
# no IPv6 on the bridge: only our frames (and no DAD, router solicitations)
if ! { ip netns exec "$NS" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 &&
	ip -n "$NS" link set lo up && ip -n "$NS" link add kmbr0 type bridge &&
	ip -n "$NS" link set kmbr0 up &&
	ip -n "$NS" tuntap add dev kmtap0 mode tap vnet_hdr &&
	ip -n "$NS" tuntap add dev kmtap1 mode tap vnet_hdr &&
	ip -n "$NS" link set kmtap0 master kmbr0 up &&
	ip -n "$NS" link set kmtap1 master kmbr0 up; }; then
	echo "not ok 1 setup: a namespace with bridge kmbr0 and taps kmtap0, kmtap1"
	exit 1
fi
timeout 120 ip netns exec "$NS" "$AT" kmbr0 kmtap0 kmtap1
rc=$?
left=$(ip -n "$NS" -o link show | grep -c "km-ann")
if [ "$left" = 0 ]; then echo "# the VM's own tap went with it"; else echo "# km-ann-0 left behind"; rc=1; fi
exit $rc
