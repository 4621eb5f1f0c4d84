# SPDX-License-Identifier: GPL-2.0
# Sourced by the host suites that number their results "ok N - ..."
# (sparse_test.sh, throttle_test.sh), after lib.sh; they use $n, $failed,
# $T, $A, $B, $LPIDS and $KM.
ok() {	# ok STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=1
	fi
}

# jnum KEY FILE: the first number of "KEY": in a JSON text
jnum() {
	tr -d '\n' <"$2" | grep -o "\"$1\": *[0-9][0-9.]*" | head -n 1 | sed 's/.*: *//'
}

# on a|b CMD...: kmigrate with side a's or b's run and credentials directory
on() {
	s=$1
	shift
	KMIGRATE_RUN_DIR=$T/$s KMIGRATE_TLS_DIR=$T/tls/$s "$KM" "$@"
}

# cleanup: the guests of both sides ($A, $B), the listeners in $LPIDS, $T
cleanup() {
	km_stop_guests "$A" "$B"
	for p in $LPIDS; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
