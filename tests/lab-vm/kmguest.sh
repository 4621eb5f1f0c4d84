#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# kmguest: runs kmagent's services inside the Linux guest of the migration
# tests (/bin/kmguest in the initramfs of agent_initrd.sh) and takes the
# test's commands, one a line, from the guest's console:
#
#   kmguest start     starts, in the background, with their lines on stdout:
#                       kmagent echo --port $KM_PORT --tick-ms $KM_TICK
#                                         (KM_PORT set; KM_TICK default 10: the
#                                         ticker on KM_PORT + 1)
#                       kmagent mem --mib M --rate R              (KM_MEM=M:R)
#                       kmagent disk-write $KM_DISK --rate R      (KM_DISK=DEV[:R])
#   kmguest serve     reads commands from stdin until "poweroff" or EOF:
#                       stop       SIGTERM to the memory and disk writers; their
#                                  last lines ("KMAGENT mem done ... bad_total=B",
#                                  "KMAGENT disk done last_fsynced=N") follow
#                       check [N]  disk-check of KM_DISK up to N (default: the
#                                  writer's last_fsynced, after a stop)
#                       status     "KMAGENT guest status mem=up|down disk=..."
#                     and answers each with "KMAGENT guest cmd=... done"
#
# Env: KMAGENT (the agent, default /bin/kmagent), KM_RUN (a directory of
# its own for pids and output, default /run/kmguest).  Runs under busybox
# sh (the guest) and dash/bash (tests/host/probe_test.sh runs it here).
set -u
AG=${KMAGENT:-/bin/kmagent}
RUN=${KM_RUN:-/run/kmguest}

say() { echo "KMAGENT guest $*"; }

start_one() {	# start_one NAME ARGS...: in the background, pid in $RUN/NAME.pid
	n=$1
	shift
	# its lines both on our stdout (the console) and in $RUN/NAME.out
	( "$AG" "$@" 2>&1 &
	  echo $! >"$RUN/$n.pid"
	  wait ) | tee "$RUN/$n.out" &
	i=0
	while [ ! -s "$RUN/$n.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
}

alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

stop_one() {	# stop_one NAME: SIGTERM, wait for it to end (its last line shows)
	alive "$1" || return 0
	p=$(cat "$RUN/$1.pid")
	kill -TERM "$p"
	i=0
	while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	sleep 0.1	# tee writes the last line
	rm -f "$RUN/$1.pid"
}

cmd_start() {
	mkdir -p "$RUN"
	if [ -n "${KM_PORT:-}" ]; then
		start_one echo echo --port "$KM_PORT" --tick-ms "${KM_TICK:-10}"
	fi
	if [ -n "${KM_MEM:-}" ]; then
		start_one mem mem --mib "${KM_MEM%%:*}" --rate "${KM_MEM#*:}"
	fi
	if [ -n "${KM_DISK:-}" ]; then
		case $KM_DISK in
		*:*) start_one disk disk-write "${KM_DISK%%:*}" --rate "${KM_DISK#*:}" ;;
		*) start_one disk disk-write "$KM_DISK" ;;
		esac
	fi
	say "started echo=${KM_PORT:-off} mem=${KM_MEM:-off} disk=${KM_DISK:-off}"
}

cmd_check() {
	upto=${1:-}
	if [ -z "$upto" ]; then
		upto=$(sed -n 's/^KMAGENT disk done last_fsynced=\([0-9]*\)$/\1/p' "$RUN/disk.out" 2>/dev/null)
	fi
	if [ -z "${KM_DISK:-}" ] || [ -z "$upto" ]; then
		say "check refused: no disk, or no sequence (stop the writer first or give one)"
		return
	fi
	"$AG" disk-check "${KM_DISK%%:*}" --upto "$upto"
}

cmd_serve() {
	while read -r cmd arg; do
		case $cmd in
		stop) stop_one mem; stop_one disk ;;
		check) cmd_check "${arg:-}" ;;
		status)
			m=down d=down e=down
			alive mem && m=up
			alive disk && d=up
			alive echo && e=up
			say "status echo=$e mem=$m disk=$d"
			;;
		poweroff) say "cmd=poweroff done"; break ;;
		"") continue ;;
		*) say "unknown command '$cmd' (stop, check [N], status, poweroff)"; continue ;;
		esac
		say "cmd=$cmd done"
	done
	stop_one mem
	stop_one disk
	stop_one echo
}

case ${1:-} in
start) cmd_start ;;
serve) cmd_serve ;;
*) echo "usage: kmguest start|serve" >&2; exit 2 ;;
esac
