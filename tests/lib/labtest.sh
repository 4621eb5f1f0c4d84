# SPDX-License-Identifier: GPL-2.0
# Helpers shared by the lab's shell tests (tests/lab-vm, tests/lab-migrate),
# sourced from the payload's bin/.  The sourcing script sets N=0, FAILED=0
# and KM (the kmigrate binary) first.

# The suites exercise the migration protocol itself: they ask for the
# plaintext channel explicitly (as --insecure on start and listen would);
# tests/lab-migrate/tls_test.sh sets KMIGRATE_INSECURE=0 for the TLS channel.
export KMIGRATE_INSECURE=${KMIGRATE_INSECURE:-1}
# --insecure authenticates too (TLS 1.3, mutual certificates): the payloads
# carry the lab's credentials in tls/a and tls/b (mk/check.mk,
# tests/lab-migrate/tls_certs.sh); this host's are the default.
if [ -z "${KMIGRATE_TLS_DIR:-}" ] && [ -n "${LAB_HOST:-}" ] &&
	[ -d "$(dirname "$0")/../tls/$LAB_HOST" ]; then
	KMIGRATE_TLS_DIR=$(cd "$(dirname "$0")/../tls/$LAB_HOST" && pwd)
	export KMIGRATE_TLS_DIR
fi

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

# finish: the TAP plan and the host's summary, $OUT removed; exits 0 when
# no test failed (a suite with more to report defines its own after this)
finish() {
	rm -rf "$OUT"
	echo "1..$N"
	echo "# host $LAB_HOST: $FAILED of $N failed"
	[ "$FAILED" -eq 0 ]
	exit $?
}

wait_gone() {	# NAME: its socket goes (15 s)
	i=0
	while [ $i -lt 150 ] && [ -e "$KMIGRATE_RUN_DIR/$1.sock" ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ ! -e "$KMIGRATE_RUN_DIR/$1.sock" ]
}

# The kernel data path (kmigrate.ko, /dev/kmigrate).  km_module_load loads
# the payload's kmigrate.ko (next to bin/) unless MIG_DATAPATH=user, and
# sets DATAPATH: MIG_DATAPATH if given, else kernel when /dev/kmigrate is
# there, user otherwise.  The scripts pass --datapath "$DATAPATH" to start.
km_module_load() {
	ko=$(dirname "$0")/../kmigrate.ko
	if [ "${MIG_DATAPATH:-}" != user ] && [ -f "$ko" ] && [ ! -e /dev/kmigrate ]; then
		insmod "$ko" 2>&1 | sed 's/^/# insmod: /'
		i=0
		while [ ! -e /dev/kmigrate ] && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
	fi
	if [ -n "${MIG_DATAPATH:-}" ]; then
		DATAPATH=$MIG_DATAPATH
	elif [ -e /dev/kmigrate ]; then
		DATAPATH=kernel
	else
		DATAPATH=user
	fi
	echo "# data path: $DATAPATH (module: $([ -e /dev/kmigrate ] && echo loaded || echo absent))"
}

# dp_result JSON WANT: the result says datapath WANT (and, for kernel, has
# the module's counters in kernel_session)
dp_result() {
	[ "$(jfield "$1" datapath)" = "$2" ] || return 1
	if [ "$2" = kernel ]; then
		printf '%s\n' "$1" | grep -q '"kernel_session":{'
	else
		printf '%s\n' "$1" | grep -q '"kernel_session":null'
	fi
}
