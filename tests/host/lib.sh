# SPDX-License-Identifier: GPL-2.0
# Sourced by the host suites (tests/host/*_test.sh) and tests/bench/local.sh.

# km_stop_guests DIR...: stop every VM whose control socket is in one of the
# run directories (a detached guest outlives the script that started it).
# Uses $KM.
km_stop_guests() {
	local d s
	for d in "$@"; do
		for s in "$d"/*.sock; do
			[ -e "$s" ] || continue
			s=${s##*/}
			KMIGRATE_RUN_DIR=$d timeout 15 "$KM" stop "${s%.sock}" >/dev/null 2>&1
		done
	done
}
