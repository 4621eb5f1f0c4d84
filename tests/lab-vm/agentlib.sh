# SPDX-License-Identifier: GPL-2.0
# Sourced by lab tests (the Linux-guest migration test, make demo, the
# bench) that run a guest with the agent (agent_initrd.sh) and the client
# probe (kmprobe) on a lab host; tests/lab/README.md, "The guest agent and
# the client probe", shows them in use.  POSIX sh (dash on the lab hosts).
#
#   agent_wait LOG TEXT SECONDS   TEXT (a grep pattern) appears in the
#                                 guest's console LOG
#   agent_cmd NAME CMD            one kmguest command (stop, check [N],
#                                 status, poweroff) to VM NAME's console
#                                 through `$KM console` (the VM may have
#                                 moved: give the host's KMIGRATE_RUN_DIR)
#   agent_check NAME LOG          stop, then check: 0 when every fsynced
#                                 record is there and no page was bad;
#                                 AGENT_FSYNCED, AGENT_BAD_PAGES set
#   probe_start OUT SECONDS ARGS  kmprobe ARGS (--udp/--tcp ...) --seconds
#                                 SECONDS --summary in the background:
#                                 its JSON in OUT, its summary in OUT.sum
#   probe_finish OUT              waits for it; prints "# probe: ..." and
#                                 sets PROBE_GAP_MS, PROBE_LOST, PROBE_SENT,
#                                 PROBE_TCP and PROBE_TICKER (survived|lost|-),
#                                 PROBE_TICKS_MISSING; its exit status
#   lab_shared_disk MODDIR        the lab's shared disk (LAB_SHARED_DISK,
#                                 serial kmshared) on this lab host: loads
#                                 MODDIR's modules (virtio_mods.sh's guest/:
#                                 the host runs the same kernel), sets DISK
#                                 to /dev/vdX; 1 when it is not there in 10 s
# Env: KM (kmigrate), KMPROBE (default: kmprobe next to this file).

KMPROBE=${KMPROBE:-$(dirname "$0")/kmprobe}

agent_wait() {
	_i=0
	while [ $_i -lt $(($3 * 10)) ] && ! grep -q "$2" "$1" 2>/dev/null; do
		sleep 0.1
		_i=$((_i + 1))
	done
	grep -q "$2" "$1" 2>/dev/null
}

agent_cmd() {
	# the console relays until the VM ends: 3 s are enough for a line (the
	# group's stderr: the shell's "Terminated" of the timed-out pipeline)
	{ (echo "$2"; sleep 1) | timeout 3 "$KM" console "$1" >/dev/null 2>&1; } 2>/dev/null
}

agent_check() {
	_n=$(grep -c "KMAGENT guest cmd=check done" "$2" 2>/dev/null)
	agent_cmd "$1" stop
	agent_wait "$2" "KMAGENT guest cmd=stop done" 30 || return 1
	agent_cmd "$1" check
	_i=0
	while [ $_i -lt 600 ] && [ "$(grep -c "KMAGENT guest cmd=check done" "$2")" -le "$_n" ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	AGENT_FSYNCED=$(sed -n 's/.*KMAGENT disk done last_fsynced=\([0-9]*\).*/\1/p' "$2" | tail -n 1)
	AGENT_BAD_PAGES=$(sed -n 's/.*KMAGENT mem done .*bad_total=\([0-9]*\).*/\1/p' "$2" | tail -n 1)
	echo "# guest: $(grep -o 'KMAGENT disk-check [a-z]* [^ ]*' "$2" | tail -n 1), fsynced ${AGENT_FSYNCED:-?}, bad pages ${AGENT_BAD_PAGES:-?}"
	grep "KMAGENT disk-check" "$2" | tail -n 1 | grep -q "KMAGENT disk-check ok records=$AGENT_FSYNCED " &&
		[ "${AGENT_BAD_PAGES:-1}" = 0 ]
}

probe_start() {
	_out=$1 _s=$2
	shift 2
	"$KMPROBE" "$@" --seconds "$_s" --summary >"$_out" 2>"$_out.sum" &
	echo $! >"$_out.pid"
}

probe_finish() {
	wait "$(cat "$1.pid")"
	_rc=$?
	sed 's/^kmprobe: /# probe: /' "$1.sum"
	PROBE_GAP_MS=$(sed -n 's/.*"udp":{[^}]*"longest_gap_ms":\([0-9.]*\).*/\1/p' "$1")
	PROBE_LOST=$(sed -n 's/.*"lost":\([0-9]*\).*/\1/p' "$1")
	PROBE_SENT=$(sed -n 's/.*"udp":{[^}]*"sent":\([0-9]*\).*/\1/p' "$1")
	PROBE_TCP=$(sed -n 's/.*"tcp":{[^}]*"survived":\([a-z]*\).*/\1/p' "$1")
	PROBE_TICKER=$(sed -n 's/.*"ticker":{.*"survived":\([a-z]*\).*/\1/p' "$1")
	PROBE_TICKS_MISSING=$(sed -n 's/.*"ticker":{[^}]*"missing":\([0-9]*\).*/\1/p' "$1")
	PROBE_TCP=$(echo "${PROBE_TCP:--}" | sed 's/true/survived/; s/false/lost/')
	PROBE_TICKER=$(echo "${PROBE_TICKER:--}" | sed 's/true/survived/; s/false/lost/')
	return $_rc
}

lab_shared_disk() {
	for _m in $(cat "$1/order" 2>/dev/null); do
		insmod "$1/$_m.ko" 2>/dev/null
	done
	DISK=
	_i=0
	while [ $_i -lt 100 ] && [ -z "$DISK" ]; do
		for _s in /sys/block/*/serial; do
			[ "$(cat "$_s" 2>/dev/null)" = kmshared ] && DISK=/dev/$(basename "$(dirname "$_s")")
		done
		[ -n "$DISK" ] || sleep 0.1
		_i=$((_i + 1))
	done
	[ -b "$DISK" ]
}
