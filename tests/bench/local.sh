#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench-local: QEMU's live migration against kmigrate's (user data
# path) on this machine's own /dev/kvm, source and destination over
# 127.0.0.1, the same guest for both: the project's multiboot test kernel
# (tests/vmm/mb_guest) with "fill" (it writes all of its RAM once) and then
#   idle  rewrites one page with a pause between writes ("ws=1")
#   busy  rewrites a working set of BENCH_LOCAL_WS pages without pause
# at each downtime limit of BENCH_LOCAL_LIMITS (ms); kmigrate with the dirty
# ring and with the bitmap, QEMU with its default (bitmap).  Reported: the
# result, total time, downtime as each tool reports it, bytes sent, and a
# raw TCP stream over the same loopback path as the floor.
#
#   BENCH_LOCAL_MEM     guest RAM, MiB (default 64)
#   BENCH_LOCAL_LIMITS  default "300 50 10"
#   BENCH_LOCAL_WS      busy working set, pages (default 2048)
#   BENCH_SPARSE_SIZES  the large-guest part: MiB configured (default
#                       "256 1024 4096 16384"; 16384 only with 20 GiB of
#                       MemAvailable), BENCH_SPARSE_USED MiB written (256)
#   BENCH_PAUSE_VCPUS   the guest-pause part: the built-in workload guest at
#                       these vCPU counts (default "2 8"), --no-verify
#   BENCH_LOCAL_PARTS   which parts run (default "main sparse pause"); each
#                       writes its own section of docs/BENCH.md
#   BENCH_DOC=0         do not write docs/BENCH.md (section bench:local)
# Output: build/bench/local*.md (and local.log).  Not part of make check.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
KM=$top/build/bin/kmigrate
ELF=$top/build/vmm/mb_guest.elf
MEM=${BENCH_LOCAL_MEM:-64}
LIMITS=${BENCH_LOCAL_LIMITS:-"300 50 10"}
WS=${BENCH_LOCAL_WS:-2048}
OUTD=$top/build/bench
mkdir -p "$OUTD"
MD=$OUTD/local.md LOG=$OUTD/local.log
T=$(mktemp -d /tmp/kmbench.XXXXXX)
P=49700
. "$top/tests/host/lib.sh"	# km_stop_guests
cleanup() {	# the guests it started (detached: they outlive the script), then $T
	km_stop_guests "$T/a" "$T/b"
	pkill -f "$T" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
: >"$LOG"
log() { echo "$*" | tee -a "$LOG" >&2; }

[ -r /dev/kvm ] || { echo "bench-local: no /dev/kvm here" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || { echo "bench-local: qemu-system-x86 missing (make deps)" >&2; exit 2; }
sh "$top/tests/lab-migrate/tls_certs.sh" "$T/tls" >/dev/null || exit 1
mkdir -p "$T/a" "$T/b"
export KMIGRATE_INSECURE=1
PARTS=${BENCH_LOCAL_PARTS:-main sparse pause}
part() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }

jget() {
	sed -e 's/^{//; s/}$//' -e ':a' -e 's/{[^{}]*}/0/g; ta' "$1" 2>/dev/null |
		tr ',' '\n' | sed -n 's/^"'"$2"'":"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' | sed 's/^null$//' | head -n 1
}

# the filled guest's pages: all RAM from 5 MiB (the kernel, pattern and
# heartbeat pages below) on
fill_kb=$(( (MEM - 6) * 1024 ))
wait_rss() {	# PID: its shared resident memory reaches the filled size (180 s)
	local i rss
	for i in $(seq 1800); do
		rss=$(sed -n 's/^RssShmem:[[:space:]]*\([0-9]*\).*/\1/p' /proc/"$1"/status 2>/dev/null)
		[ -n "$rss" ] && [ "$rss" -ge "${FILL_KB:-$fill_kb}" ] && return 0
		sleep 0.1
	done
	return 1
}

cmdline() { if [ "$1" = busy ]; then echo "fill ws=$WS busy"; else echo "fill ws=1"; fi; }

row() { printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$@" >>"$T/rows"; }

vmrss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' /proc/"$1"/status 2>/dev/null; }
mib() { awk -v k="${1:-0}" 'BEGIN { printf "%.0f", k / 1024 }'; }

km_one() {	# VARIANT LIMIT MODE
	local v=$1 l=$2 mode=$3 n=g$P pid j dpid
	P=$((P + 1))
	KMIGRATE_RUN_DIR=$T/b KMIGRATE_TLS_DIR=$T/tls/b "$KM" listen --address 127.0.0.1 \
		--port $P --once >"$T/listen.log" 2>&1 &
	KMIGRATE_RUN_DIR=$T/a KMIGRATE_TLS_DIR=$T/tls/a "$KM" run $n --memory "${GMEM:-$MEM}M" \
		--kernel "$ELF" --cmdline "${CMD:-$(cmdline "$v")}" --dirty-log "$mode" --detach >"$T/run.out" 2>&1
	pid=$(sed -n 's/.*pid \([0-9]*\).*/\1/p' "$T/run.out")
	if ! wait_rss "$pid"; then
		log "kmigrate $v $l $mode: the guest did not fill its memory"
		row "$v" "$l" "kmigrate $mode" "no fill" - - -
		return
	fi
	j=$T/$n.json
	RSS_A0=$(vmrss "$pid")
	KMIGRATE_RUN_DIR=$T/a KMIGRATE_TLS_DIR=$T/tls/a "$KM" -j start $n --to 127.0.0.1:$P \
		--tls-name lab-b --downtime-limit "$l" >"$j" 2>>"$LOG"
	cat "$j" >>"$LOG"
	dpid=$(KMIGRATE_RUN_DIR=$T/b "$KM" vmctl $n info 2>/dev/null | sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
	RSS_B=$(vmrss "${dpid:-0}")
	# the source's process has ended: its peak from the result (RssShmem at READY)
	RSS_A1=$(grep -o "\"rss_shmem_after\":[0-9]*" "$j" | cut -d: -f2)
	row "$v" "$l" "kmigrate $mode" "$(jget "$j" result)" "$(jget "$j" total_ms)" \
		"$(jget "$j" downtime_ms)" "$(awk -v b="$(jget "$j" bytes_sent)" 'BEGIN { printf "%.1f", b / 1048576 }')"
	[ "$(jget "$j" result)" = completed ] || log "kmigrate $v $l $mode: $(jget "$j" error)"
	KMIGRATE_RUN_DIR=$T/a "$KM" stop $n >/dev/null 2>&1
	KMIGRATE_RUN_DIR=$T/b "$KM" stop $n >/dev/null 2>&1
	wait
}

# hmp SOCKET COMMAND...: QEMU's human monitor, one command each, replies out
hmp() {
	python3 - "$@" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(5)
def until_prompt():
    b = b""
    while not b.endswith(b"(qemu) "):
        r = s.recv(65536)
        if not r:
            break
        b += r
    return b.decode(errors="replace")
until_prompt()
for c in sys.argv[2:]:
    s.sendall(c.encode() + b"\n")
    print(until_prompt())
EOF
}

qemu_one() {	# VARIANT LIMIT
	local v=$1 l=$2 q=$((P + 1)) st i tot dt ram qd qs
	P=$((P + 1))
	qemu-system-x86_64 -enable-kvm -m "${GMEM:-$MEM}M" -kernel "$ELF" -append "${CMD:-$(cmdline "$v")}" \
		-display none -serial none -no-reboot -monitor unix:"$T/qd.sock",server,nowait \
		-incoming tcp:127.0.0.1:$q >>"$LOG" 2>&1 &
	qd=$!
	qemu-system-x86_64 -enable-kvm -m "${GMEM:-$MEM}M" -kernel "$ELF" -append "${CMD:-$(cmdline "$v")}" \
		-display none -serial none -no-reboot -monitor unix:"$T/qs.sock",server,nowait \
		-chardev file,id=con,path="$T/qcon.log" -device isa-debugcon,iobase=0x500,chardev=con \
		>>"$LOG" 2>&1 &
	qs=$!
	for i in $(seq 1800); do grep -q "filled" "$T/qcon.log" 2>/dev/null && break; sleep 0.1; done
	RSS_A0=$(vmrss $qs)
	hmp "$T/qs.sock" "migrate_set_parameter downtime-limit $l" "migrate -d tcp:127.0.0.1:$q" >/dev/null
	for i in $(seq 1200); do
		st=$(hmp "$T/qs.sock" "info migrate")
		echo "$st" | grep -qE 'Migration status: (completed|failed|cancelled)' && break
		sleep 0.1
	done
	echo "$st" >>"$LOG"
	RSS_A1=$(( $(vmrss $qs) * 1024 )) RSS_B=$(vmrss $qd)
	tot=$(echo "$st" | sed -n 's/^total time: \([0-9]*\) ms.*/\1/p')
	dt=$(echo "$st" | sed -n 's/^downtime: \([0-9]*\) ms.*/\1/p')
	ram=$(echo "$st" | sed -n 's/^transferred ram: \([0-9]*\) kbytes.*/\1/p')
	row "$v" "$l" "QEMU" "$(echo "$st" | sed -n 's/^Migration status: //p' | tr -d '\r')" \
		"${tot:-}" "${dt:-}" "$(awk -v k="${ram:-0}" 'BEGIN { printf "%.1f", k / 1024 }')"
	hmp "$T/qs.sock" quit >/dev/null 2>&1
	hmp "$T/qd.sock" quit >/dev/null 2>&1
	wait
	rm -f "$T/qcon.log"
}

raw_tcp() {	# MiB/s of one TCP stream over loopback
	python3 - <<'EOF'
import socket, threading, time
n = 512 << 20
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
def sink():
    c, _ = srv.accept()
    while c.recv(1 << 20):
        pass
t = threading.Thread(target=sink); t.start()
cl = socket.create_connection(srv.getsockname())
buf = b"\x55" * (1 << 20)
t0 = time.monotonic()
for _ in range(n >> 20):
    cl.sendall(buf)
cl.close(); t.join()
print("%.0f" % (n / (time.monotonic() - t0) / 1048576))
EOF
}

: >"$T/rows"
for v in $(part main && echo idle busy); do
	for l in $LIMITS; do
		log "== $v, $l ms"
		[ -n "${BENCH_NO_QEMU:-}" ] || qemu_one "$v" "$l"
		km_one "$v" "$l" ring
		km_one "$v" "$l" bitmap
	done
done
tcp=$(raw_tcp)

# A large guest that uses little of its memory (issue: cost and host memory
# per configured page): BENCH_SPARSE_SIZES MiB configured, BENCH_SPARSE_USED
# MiB written ("fill=N"), 300 ms; resident memory (VmRSS, MiB) of the source
# before and at the end, of the destination after.
: >"$T/srows"
USED=${BENCH_SPARSE_USED:-256}
avail=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
sizes=${BENCH_SPARSE_SIZES:-"256 1024 4096 $([ "$avail" -ge 20480 ] && echo 16384)"}
for g in $(part sparse && echo $sizes); do
	log "== sparse: $g MiB, $USED MiB used"
	# a guest of USED MiB fills all of its RAM above its 5 MiB of kernel
	u=$USED; [ "$u" -ge "$g" ] && u=$((g - 6))
	GMEM=$g CMD="fill=$u ws=1" FILL_KB=$(( (u - 1) * 1024 ))
	export GMEM CMD FILL_KB
	for tool in qemu km; do
		: >"$T/rows.save"; mv "$T/rows" "$T/rows.save"; : >"$T/rows"
		if [ $tool = qemu ]; then qemu_one sparse 300; else km_one sparse 300 ring; fi
		# the row's tool .. sent columns, then the memory
		printf '| %s MiB |%s| %s | %s | %s |\n' "$g" \
			"$(cut -d'|' -f4-8 "$T/rows")" "$(mib "$RSS_A0")" \
			"$(awk -v b="${RSS_A1:-0}" 'BEGIN { printf "%.0f", b / 1048576 }')" "$(mib "$RSS_B")" \
			>>"$T/srows"
		cat "$T/rows" >>"$LOG"; mv "$T/rows.save" "$T/rows"
	done
	unset GMEM CMD FILL_KB
done

# The guest's own pause against the reported downtime, by vCPUs: the
# built-in workload guest (it records its longest gap between page writes;
# --no-verify, since verifying before the resume is pause too), a 1 MiB
# working set per vCPU written at 1000 pages/s, 300 ms, ring.
: >"$T/prows"
for c in $(part pause && echo ${BENCH_PAUSE_VCPUS:-2 8}); do
	log "== pause: $c vCPUs"
	n=w$c P=$((P + 1))
	KMIGRATE_RUN_DIR=$T/b KMIGRATE_TLS_DIR=$T/tls/b "$KM" listen --address 127.0.0.1 \
		--port $P --once >"$T/listen.log" 2>&1 &
	KMIGRATE_RUN_DIR=$T/a "$KM" run $n --memory $((64 + 4 * c))M --vcpus "$c" \
		--working-set 1M --rate 1000 --detach >/dev/null 2>&1
	sleep $((4 + c))	# every vCPU has written its set once (first writes are slow here)
	j=$T/$n.json
	KMIGRATE_RUN_DIR=$T/a KMIGRATE_TLS_DIR=$T/tls/a "$KM" -j start $n --to 127.0.0.1:$P \
		--tls-name lab-b --downtime-limit 300 --no-verify >"$j" 2>>"$LOG"
	cat "$j" >>"$LOG"
	printf '| %s | %s | %s | %s | %s | %s |\n' "$c" "$(jget "$j" result)" "$(jget "$j" total_ms)" \
		"$(jget "$j" downtime_ms)" "$(jget "$j" guest_downtime_ms)" \
		"$(awk -v d="$(jget "$j" downtime_ms)" -v g="$(jget "$j" guest_downtime_ms)" \
			'BEGIN { if (d > 0 && g != "") printf "%.1f", g - d }')" >>"$T/prows"
	KMIGRATE_RUN_DIR=$T/a "$KM" stop $n >/dev/null 2>&1
	KMIGRATE_RUN_DIR=$T/b "$KM" stop $n >/dev/null 2>&1
	wait
done

# Each part writes its own section of docs/BENCH.md (bench:local,
# bench:local-sparse, bench:local-pause), so a part can be rerun alone.
section() {	# NAME FILE: FILE into build/bench/NAME.md and docs/BENCH.md
	cp "$2" "$OUTD/$1.md"
	cat "$2"
	[ "${BENCH_DOC:-1}" != 0 ] || return 0
	grep -q "^<!-- bench:$1:begin -->" "$top/docs/BENCH.md" ||
		printf '\n<!-- bench:%s:begin -->\n<!-- bench:%s:end -->\n' "$1" "$1" >>"$top/docs/BENCH.md"
	sh "$top/tests/bench/docsection.sh" "$top/docs/BENCH.md" "$1" "$2"
}
qver=$(qemu-system-x86_64 --version | sed -n '1s/.*version \([^ ]*\).*/\1/p')
if part main; then
	{
	echo "<!-- bench:local:begin -->"
	echo "### This machine's own /dev/kvm: QEMU and kmigrate side by side"
	echo
	echo "\`make bench-local\` ($(date -u +%Y-%m-%d), kernel $(uname -r), $(nproc) CPUs):"
	echo "a ${MEM} MiB multiboot guest that filled its memory, then idle (one page"
	echo "rewritten slowly) or busy ($WS pages rewritten without pause); source and"
	echo "destination over 127.0.0.1, QEMU $qver"
	echo "with KVM, kmigrate's user data path over authenticated plaintext."
	echo "A raw TCP stream over the same path carries $tcp MiB/s: ${MEM} MiB take"
	echo "$(awk -v m="$MEM" -v r="$tcp" 'BEGIN { printf "%.0f", m / r * 1000 }') ms at best.  Downtime is each tool's own figure"
	echo "(QEMU: paused to resumed on the source's clock; kmigrate: paused to"
	echo "READY); the guest's own pause is not measured by this guest."
	echo
	echo "| guest | limit (ms) | tool | result | total (ms) | downtime (ms) | sent (MiB) |"
	echo "|---|---|---|---|---|---|---|"
	cat "$T/rows"
	echo "<!-- bench:local:end -->"
	} >"$T/main.md"
	section local "$T/main.md"
fi
if part sparse; then
	{
	echo "<!-- bench:local-sparse:begin -->"
	echo "A large guest using ${USED} MiB of its memory (\"fill=${USED}\"), 300 ms"
	echo "(\`BENCH_LOCAL_PARTS=sparse make bench-local\`, $(date -u +%Y-%m-%d), QEMU $qver):"
	echo "the resident memory (VmRSS, MiB) of the source's process once the guest has"
	echo "filled and at the end (kmigrate: RssShmem at READY; QEMU: VmRSS at"
	echo "completion), and of the destination's after the migration."
	echo
	echo "| configured | tool | result | total (ms) | downtime (ms) | sent (MiB) | RSS a before | RSS a end | RSS b after |"
	echo "|---|---|---|---|---|---|---|---|---|"
	cat "$T/srows"
	echo "<!-- bench:local-sparse:end -->"
	} >"$T/sparse.md"
	section local-sparse "$T/sparse.md"
fi
if part pause; then
	{
	echo "<!-- bench:local-pause:begin -->"
	echo "The guest's own pause (\`guest_downtime_ms\`: the built-in workload"
	echo "guest's longest gap between two page writes across the switch-over, read"
	echo "on the destination) against kmigrate's reported \`downtime_ms\` (pause to"
	echo "READY), 300 ms, ring, \`--no-verify\`, 1 MiB written per vCPU at 1000"
	echo "pages/s (\`BENCH_LOCAL_PARTS=pause make bench-local\`, $(date -u +%Y-%m-%d))."
	echo "The difference is what the report leaves out: COMMIT's trip, the"
	echo "destination's vCPU start, the source's pause of each vCPU."
	echo
	echo "| vCPUs | result | total (ms) | downtime (ms) | guest's pause (ms) | unreported (ms) |"
	echo "|---|---|---|---|---|---|"
	cat "$T/prows"
	echo "<!-- bench:local-pause:end -->"
	} >"$T/pause.md"
	section local-pause "$T/pause.md"
fi
