# SPDX-License-Identifier: GPL-2.0
# Helpers shared by the lab's shell tests (tests/lab-vm, tests/lab-migrate),
# sourced from the payload's bin/.  The sourcing script sets N=0, FAILED=0
# and KM (the kmigrate binary) first.

ok() {	# ok COND-STATUS DESCRIPTION
	N=$((N + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $N $2"
	else
		echo "not ok $N $2"
		FAILED=$((FAILED + 1))
	fi
}

# jfield JSON KEY: the first top-level number/string KEY of a one-line object
# (the per-vCPU array comes last in info replies and is cut off first).
jfield() {
	printf '%s\n' "$1" | sed -e 's/"vcpus_status".*//' \
		-e 's/.*"'"$2"'":"\{0,1\}\([^",}]*\).*/\1/;t' -e 'd'
}

info() { "$KM" vmctl "$1" info 2>/dev/null; }
