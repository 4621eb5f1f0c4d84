#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# `make bench`, inside the hosts: the same migrations on the userspace and
# the kernel data path (kmigrate start --datapath user|kernel).
#
#   lab:   tests/lab/lab.sh run --hosts 2 --payload DIR -- sh bin/bench_host.sh
#          (host a runs the guests and migrates them, host b listens)
#   local: BENCH_LOCAL=1 sh bench_host.sh   (one host, listener and source on
#          127.0.0.1: the real-KVM figures of the userspace path)
#
# Environment: KMIGRATE (binary, default kmigrate on PATH), BENCH_REPEAT
# (repeats per workload and path, default 3), BENCH_PATHS (default
# "user kernel"), BENCH_CHANNELS (default "plain tls": each path once over
# the authenticated plaintext channel, --insecure, and once over TLS 1.3
# with the records in kernel TLS; the TLS runs are reported as paths
# user-tls and kernel-tls; both modes get --tls-dir $KMIGRATE_TLS_DIR, the
# lab's credentials, and b listens on BENCH_PORT for plaintext and
# BENCH_PORT+1 for TLS), BENCH_WORKLOADS (default "idle moderate heavy"; commas
# may separate them),
# BENCH_MEM (guest RAM, default 64M), BENCH_VCPUS (default 2),
# BENCH_RUN_ARGS (more `kmigrate run` options, e.g. "--dirty-log bitmap"),
# BENCH_DOWNTIME (ms, default 2000: the bench measures, it does not
# test the limit; the lab's slow link makes the model predict long pauses),
# BENCH_IDLE_DOWNTIME (for the idle guest, default 5000: the model measures
# the link on a bulk round of zero pages and predicts even longer ones).
#
# Host a prints one line per migration:
#   BENCH wl=W path=P rep=R status=ok|failed|unavailable key=value ...
# and the raw result JSON of each as "RAW W P R {json}".  The figures are
# exactly what `kmigrate start --json` reported, plus the CPU time of the
# threads the VM process created for the migration (the source thread, and
# with the kernel path the module's send work done in its ioctl context),
# read from /proc/PID/task/TID/stat while it ran.  Nothing is estimated:
# a migration that fails is reported as failed, a path that cannot run as
# unavailable, with the reason.

KM=${KMIGRATE:-kmigrate}
export KMIGRATE_RUN_DIR=${KMIGRATE_RUN_DIR:-/run/kmigrate/vms}
REPEAT=${BENCH_REPEAT:-3}
PATHS=${BENCH_PATHS:-"user kernel"}
CHANNELS=$(echo "${BENCH_CHANNELS:-plain tls}" | tr , ' ')
WORKLOADS=$(echo "${BENCH_WORKLOADS:-idle moderate heavy}" | tr , ' ')
MEM=${BENCH_MEM:-64M}
VCPUS=${BENCH_VCPUS:-2}
DOWNTIME=${BENCH_DOWNTIME:-2000}
IDLE_DOWNTIME=${BENCH_IDLE_DOWNTIME:-5000}
PORT=${BENCH_PORT:-49152}
TLS_PORT=$((PORT + 1))
OUT=/tmp/bench.$$
mkdir -p "$OUT" "$KMIGRATE_RUN_DIR"

# jfield JSON KEY (tests/lib/labtest.sh, copied into the payload next to us);
# it points KMIGRATE_TLS_DIR at the payload's credentials for this host
. "$(dirname "$0")/labtest.sh"
TLS_DIR=${KMIGRATE_TLS_DIR:-/etc/kmigrate/tls}

# chan_env CHANNEL: the KMIGRATE_INSECURE value of a channel
chan_env() { [ "$1" = tls ] && echo 0 || echo 1; }

say() { echo "# bench[$LAB_HOST]: $*"; }

# The workloads: `kmigrate run` options.  idle: one page write per second
# per vCPU; moderate: 200; heavy: 1000 random writes per second per vCPU.
wl_args() {
	case "$1" in
	idle) echo "--rate 1" ;;
	moderate) echo "--rate ${BENCH_RATE_MODERATE:-200}" ;;
	heavy) echo "--rate ${BENCH_RATE_HEAVY:-1000} --workload random" ;;
	*) return 1 ;;
	esac
}

# cpu_poll PID TIDS-BEFORE DIR: while PID lives, the stat line of each of its
# threads not in TIDS-BEFORE goes to DIR/TID (the last one read stays).
cpu_poll() {
	while [ -d "/proc/$1" ]; do
		for t in /proc/"$1"/task/*; do
			tid=${t##*/}
			case " $2 " in *" $tid "*) continue ;; esac
			read -r l <"$t/stat" 2>/dev/null && echo "$l" >"$3/$tid"
		done
		[ -e "$3/stop" ] && break
		sleep 0.02
	done
}

# cpu_ticks DIR: utime + stime summed over the stat lines in DIR
cpu_ticks() {
	t=0
	for f in "$1"/*; do
		[ -f "$f" ] || continue
		case "$f" in */stop) continue ;; esac
		# fields after "(comm) ": state is 1, utime 12, stime 13
		v=$(sed 's/.*) //' "$f" | awk '{ print $12 + $13 }')
		t=$((t + ${v:-0}))
	done
	echo $t
}

host_busy() {	# busy jiffies of the whole host (all but idle and iowait)
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

clk_tck() { getconf CLK_TCK 2>/dev/null || echo 100; }

echo "# bench: host ${LAB_HOST:-local}, kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs," \
	"$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"

echo "# bench: kmigrate run --memory $MEM --vcpus $VCPUS ${BENCH_RUN_ARGS:-}(+ workload options)"

if [ -z "$BENCH_LOCAL" ] && [ -n "$LAB_HOST" ]; then
	LISTEN_ADDR=$LAB_MIG_ADDR
	TO="[$LAB_PEER_MIG_ADDR]:$PORT"
	[ -f ./kmigrate.ko ] && { insmod ./kmigrate.ko 2>"$OUT/insmod" ||
		say "insmod kmigrate.ko: $(cat "$OUT/insmod")"; }
else
	LAB_HOST=a
	LISTEN_ADDR=127.0.0.1
	TO=127.0.0.1:$PORT
	# the certificate names a host, not the loopback address
	TLS_NAME_ARG="--tls-name ${BENCH_TLS_NAME:-lab-a}"
	export KMIGRATE_RUN_DIR=$OUT/vms-src
	mkdir -p "$KMIGRATE_RUN_DIR"
	# the destination's guests get their own run directory
	KMIGRATE_INSECURE=1 KMIGRATE_RUN_DIR=$OUT/vms-dst "$KM" listen --address 127.0.0.1 \
		--port "$PORT" --tls-dir "$TLS_DIR" >"$OUT/listen" 2>&1 &
	lpid=$!
	case " $CHANNELS " in *" tls "*)
		KMIGRATE_INSECURE=0 KMIGRATE_RUN_DIR=$OUT/vms-dst "$KM" listen --address 127.0.0.1 \
			--port "$TLS_PORT" --tls-dir "$TLS_DIR" >"$OUT/listen-tls" 2>&1 &
		lpid="$lpid $!" ;;
	esac
	DST_RUN_DIR=$OUT/vms-dst
	mkdir -p "$DST_RUN_DIR"
fi
i=0
while [ -f ./kmigrate.ko ] && [ ! -e /dev/kmigrate ] && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
say "kmigrate.ko: $([ -e /dev/kmigrate ] && echo 'loaded (/dev/kmigrate)' || echo 'not loaded')"
# kTLS and the AES-GCM it needs (the lab's crypto API does not autoload it)
case " $CHANNELS " in *" tls "*)
	for m in tls gcm ghash_generic ctr; do
		modprobe $m 2>/dev/null
	done
	say "kernel TLS: $([ -e /proc/net/tls_stat ] && echo 'loaded (/proc/net/tls_stat)' || echo 'not loaded')" ;;
esac

if [ "$LAB_HOST" = b ]; then
	KMIGRATE_INSECURE=1 "$KM" listen --address "$LISTEN_ADDR" --port "$PORT" \
		--tls-dir "$TLS_DIR" >"$OUT/listen" 2>&1 &
	lpid=$!
	case " $CHANNELS " in *" tls "*)
		KMIGRATE_INSECURE=0 "$KM" listen --address "$LISTEN_ADDR" --port "$TLS_PORT" \
			--tls-dir "$TLS_DIR" >"$OUT/listen-tls" 2>&1 &
		lpid="$lpid $!" ;;
	esac
	seen=" "
	i=0
	# stop every guest that arrives; a's bdone ends it (at most 9 minutes a
	# repeat, as long as the lab gives the run)
	while [ $i -lt $((REPEAT * 5400 + 1200)) ]; do
		for n in $("$KM" vms 2>/dev/null | awk '$0 ~ / running / { print $1 }'); do
			case "$seen" in *" $n "*) continue ;; esac
			seen="$seen$n "
			"$KM" stop "$n" >/dev/null 2>&1
		done
		case "$seen" in *" bdone "*) break ;; esac
		sleep 0.1
		i=$((i + 1))
	done
	kill $lpid 2>/dev/null
	wait $lpid 2>/dev/null
	sed 's/^/# listen: /' "$OUT/listen" | tail -40
	[ -f "$OUT/listen-tls" ] && sed 's/^/# listen-tls: /' "$OUT/listen-tls" | tail -40
	rm -rf "$OUT"
	case "$seen" in *" bdone "*) exit 0 ;; *) exit 1 ;; esac
fi

# ---------------------------------------------------------------- host a
if "$KM" start --help 2>&1 | grep -q -- '--datapath'; then
	HAVE_DP=1
else
	HAVE_DP=0
	say "this kmigrate has no 'start --datapath': only the default (userspace) path runs"
fi

# bench_one WL DATAPATH REP CHANNEL: reported as path DATAPATH (plain) or
# DATAPATH-tls
bench_one() {
	wl=$1 dpath=$2 rep=$3 ch=$4
	p=$dpath
	to=$TO
	if [ "$ch" = tls ]; then
		p=$dpath-tls
		to=${TO%:*}:$TLS_PORT
	fi
	n=bench-$wl-$p-$rep
	if [ "$dpath" != user ] && [ $HAVE_DP = 0 ]; then
		echo "BENCH wl=$wl path=$p rep=$rep status=unavailable reason=no_datapath_option"
		return
	fi
	# shellcheck disable=SC2046
	"$KM" run "$n" --memory "$MEM" --vcpus "$VCPUS" $(wl_args "$wl") ${BENCH_RUN_ARGS:-} --detach \
		>"$OUT/run" 2>&1 || {
		echo "BENCH wl=$wl path=$p rep=$rep status=failed reason=run_failed"
		sed 's/^/# run: /' "$OUT/run"
		return
	}
	sleep 2
	pid=$(jfield "$("$KM" vmctl "$n" info 2>/dev/null)" pid)
	tids=$(ls "/proc/$pid/task" 2>/dev/null | tr '\n' ' ')
	rm -rf "$OUT/cpu"
	mkdir -p "$OUT/cpu"
	cpu_poll "$pid" "$tids" "$OUT/cpu" &
	ppid_=$!
	dp=
	[ $HAVE_DP = 1 ] && dp="--datapath $dpath"
	b0=$(host_busy)
	lim=$DOWNTIME
	[ "$wl" = idle ] && lim=$IDLE_DOWNTIME
	# shellcheck disable=SC2086
	KMIGRATE_INSECURE=$(chan_env "$ch") "$KM" start "$n" --to "$to" --downtime-limit "$lim" \
		--connect-timeout 120 --tls-dir "$TLS_DIR" ${TLS_NAME_ARG:-} --json $dp >"$OUT/start" 2>"$OUT/start.err"
	st=$?
	b1=$(host_busy)
	touch "$OUT/cpu/stop"
	wait "$ppid_" 2>/dev/null
	ticks=$(cpu_ticks "$OUT/cpu")
	r=$(cat "$OUT/start")
	res=$(jfield "$r" result)
	got=$(jfield "$r" datapath)
	echo "RAW $wl $p $rep $r"
	grep 'model:\|round [0-9]*:\|stop-and-copy:\|dirty ring' "$KMIGRATE_RUN_DIR/$n.log" 2>/dev/null |
		sed "s/^/# log $n: /"
	if [ $st -ne 0 ] || [ "$res" != completed ]; then
		err=$(jfield "$r" error)
		[ -n "$err" ] || err=$(tail -1 "$OUT/start.err")
		reason=failed
		# the path itself refused (exit status 3: no module, no support)
		[ $st -eq 3 ] && reason=unavailable
		echo "BENCH wl=$wl path=$p rep=$rep status=$reason reason=\"$(echo "$err" | tr '" ' "'_")\""
		sed 's/^/# start: /' "$OUT/start.err" | tail -5
		"$KM" stop "$n" >/dev/null 2>&1
		wait_gone "$n"
		return
	fi
	tlsmode=$(jfield "$r" tls)
	case "$ch:$tlsmode" in
	tls:*plaintext* | tls: | plain:*kTLS* | plain:*encrypted*)
		echo "BENCH wl=$wl path=$p rep=$rep status=unavailable reason=\"channel:_$(echo "$tlsmode" | tr '" ' "'_")\""
		wait_gone "$n"
		return ;;
	esac
	if [ -n "$got" ] && [ "$got" != "$dpath" ]; then
		echo "BENCH wl=$wl path=$p rep=$rep status=unavailable reason=ran_on_$got"
		wait_gone "$n"
		return
	fi
	line="BENCH wl=$wl path=$p rep=$rep status=ok"
	# top-level keys apart from the kernel path's own counters
	top=$(printf '%s\n' "$r" | sed 's/"kernel_session":{[^}]*}//')
	ks=$(printf '%s\n' "$r" | sed -n 's/.*"kernel_session":\({[^}]*}\).*/\1/p')
	for k in total_ms downtime_ms rounds pages_sent zero_pages bytes_sent rate guest_mem_bytes \
		final_round_pages harvest_ns pages_harvested harvests send_ns; do
		v=$(jfield "$top" $k)
		line="$line $k=${v:-null}"
	done
	for k in pages_harvested harvest_ms harvest_calls send_ms send_calls send_stalls \
		bytes_sent ring_overflows; do
		v=
		[ -n "$ks" ] && v=$(jfield "$ks" $k)
		line="$line ks_$k=${v:-null}"
	done
	# the stop-and-copy harvest (downtime_breakdown_ms.harvest)
	v=$(printf '%s\n' "$r" | sed -n 's/.*"downtime_breakdown_ms":{[^}]*"harvest":\([0-9.]*\).*/\1/p')
	line="$line final_harvest_ms=${v:-null} src_cpu_ticks=$ticks host_busy_ticks=$((b1 - b0)) clk_tck=$(clk_tck)"
	echo "$line"
	wait_gone "$n"
	[ -n "$DST_RUN_DIR" ] && KMIGRATE_RUN_DIR=$DST_RUN_DIR "$KM" stop "$n" >/dev/null 2>&1
}

i=0
for wl in $WORKLOADS; do
	rep=1
	while [ $rep -le "$REPEAT" ]; do
		# alternate which path goes first
		if [ $((i % 2)) = 0 ]; then order=$PATHS; else
			order=$(echo "$PATHS" | awk '{ for (j = NF; j > 0; j--) printf "%s ", $j }')
		fi
		for p in $order; do
			for ch in $CHANNELS; do
				bench_one "$wl" "$p" "$rep" "$ch"
			done
		done
		i=$((i + 1))
		rep=$((rep + 1))
	done
done

if [ -n "$DST_RUN_DIR" ]; then
	kill $lpid 2>/dev/null
	wait $lpid 2>/dev/null
	rm -rf "$OUT"
	exit 0
fi
# tell b that we are done: an idle 16 MiB guest, a loose limit, retried
"$KM" run bdone --memory 16M --rate 1 --detach >/dev/null 2>&1
dp=
[ $HAVE_DP = 1 ] && dp="--datapath user"
for _ in 1 2 3; do
	# shellcheck disable=SC2086
	KMIGRATE_INSECURE=1 "$KM" start bdone --to "$TO" --downtime-limit 10000 --connect-timeout 120 \
		--tls-dir "$TLS_DIR" ${TLS_NAME_ARG:-} --json $dp \
		>"$OUT/start" 2>&1 && break
	sed 's/^/# bdone: /' "$OUT/start"
	sleep 1
done
"$KM" stop bdone >/dev/null 2>&1
rm -rf "$OUT"
exit 0
