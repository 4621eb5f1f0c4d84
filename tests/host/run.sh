#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The host tier of `make check`: what needs KVM but not kmigrate.ko, run on
# this machine's own /dev/kvm in seconds (the lab suites cover the same and
# more under emulation; this tier is added, not a replacement):
#   the VMM selftests (dirty harvesting loses no page, local migration),
#   the multiboot boot test, and the migration suites of tests/host/*_test.sh
#   (user data path between two network namespaces, credentials as in the lab).
# Without a usable /dev/kvm it prints one line saying so and runs only the
# suites that say "# host tier: runs without KVM" (the guest agent and the
# client probe, announce-self on taps).
# Usage: tests/host/run.sh [SUITE...]   (default: every tests/host/*_test.sh)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
B=$top/build
mkdir -p "$B/host"

if ! cc -O2 -Wall -Wextra -o "$B/host/kvmcheck" tests/lab/kvmcheck.c 2>"$B/host/cc.log"; then
	echo "not ok 1 host tier: building kvmcheck failed"; cat "$B/host/cc.log"; exit 1
fi
suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(tests/host/*_test.sh)
if ! why=$("$B/host/kvmcheck" 2>&1); then
	echo "# host tier: no usable /dev/kvm here ($(printf '%s' "$why" | tail -n 1)); the lab suites cover KVM"
	echo "ok 1 host tier: the KVM suites skipped, /dev/kvm unusable # SKIP"
	# the suites marked "# host tier: runs without KVM" still run
	rc=0
	port=49500
	for s in "${suites[@]}"; do
		if grep -q '^# host tier: runs without KVM' "$s"; then
			echo "# $s"
			PORT_BASE=$port KM=$B/bin/kmigrate timeout 900 bash "$s" || rc=1
		fi
		port=$((port + 50))
	done
	exit $rc
fi
echo "# host tier: /dev/kvm works here ($(printf '%s' "$why" | grep -m1 -E 'ring' | tr '\n' ' '))"

rc=0
# The VMM's own selftests (TAP), with a watchdog each.  ring-small-hotcold
# (a 1024-entry ring) is left to the lab: a KVM that emulates guest stores,
# as this host's does, pushes up to 1024 entries in one exit and can drop
# entries of so small a ring without any sign the harvester can see (it
# loses a page in about one run of six here, before and after the reaper);
# the default ring and the reaper keep rings far from full (migrate_test.sh).
# throttle: a throttled vCPU writes fewer pages than its sibling (ring, bitmap).
for sc in ring-random bitmap-random bitmap-noprotect-seq ring-shared-4vcpu bitmap-irqchip throttle; do
	timeout 300 "$B/vmm/vmm_selftest" --seconds 2 -s "$sc" || rc=1
done
timeout 120 "$B/vmm/mb_test" "$B/vmm/mb_guest.elf" || rc=1
port=49500
for s in "${suites[@]}"; do
	echo "# $s"
	PORT_BASE=$port KM=$B/bin/kmigrate timeout 900 bash "$s" || rc=1
	port=$((port + 50))
done
exit $rc
