#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# `kmigrate run` and its control socket, in a lab host (nested KVM):
#   tests/lab/lab.sh run --kernel 6.1 --hosts 1 --payload DIR -- sh bin/run_test.sh
# with DIR/bin/kmigrate and DIR/bin/run_test.sh.  Prints TAP.
#
# KMIGRATE (default: kmigrate on PATH) and KMIGRATE_RUN_DIR may be set.

KM=${KMIGRATE:-kmigrate}
export KMIGRATE_RUN_DIR=${KMIGRATE_RUN_DIR:-/run/kmigrate/vms}
N=0
FAILED=0
PLAN=33
OUT=/tmp/run_test.$$
mkdir -p "$OUT"

echo "1..$PLAN"

. "$(dirname "$0")/labtest.sh"	# ok, jfield, info

progress() { jfield "$(info "$1")" progress; }

# wait_gone NAME PID: the socket goes and the process ends (10 s)
wait_gone() {
	i=0
	while [ $i -lt 100 ]; do
		if [ ! -e "$KMIGRATE_RUN_DIR/$1.sock" ] && ! kill -0 "$2" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

echo "# kernel $(uname -r); run dir $KMIGRATE_RUN_DIR"

# --- 1. a 64 MiB 2-vCPU guest in the background
"$KM" run vm1 --memory 64M --vcpus 2 --rate 20000 --detach >"$OUT/run1" 2>&1
ok $? "run vm1 --memory 64M --vcpus 2 --detach"
cat "$OUT/run1" | sed 's/^/# /'
[ -S "$KMIGRATE_RUN_DIR/vm1.sock" ]
ok $? "vm1's control socket exists"
perm=$(stat -c %a "$KMIGRATE_RUN_DIR" 2>/dev/null)
[ "$perm" = 700 ]
ok $? "run dir is mode 0700 ($perm)"

"$KM" vms >"$OUT/vms" 2>&1
st=$?
sed 's/^/# /' "$OUT/vms"
[ $st -eq 0 ] && grep -q '^vm1 .* running ' "$OUT/vms"
ok $? "vms lists vm1 as running"
"$KM" -j vms >"$OUT/vmsj" 2>&1
grep -q '"vms":\[{"name":"vm1"' "$OUT/vmsj"
ok $? "vms -j lists vm1"

j=$(info vm1)
echo "# info: $j"
[ "$(jfield "$j" memory)" = 67108864 ] && [ "$(jfield "$j" vcpus)" = 2 ] &&
	[ "$(jfield "$j" state)" = running ] && [ -n "$(jfield "$j" dirty_mode)" ]
ok $? "info: 64 MiB, 2 vCPUs, running, dirty mode $(jfield "$j" dirty_mode)"
pid=$(jfield "$j" pid)
kill -0 "$pid" 2>/dev/null
ok $? "info: pid $pid is alive"

p1=$(progress vm1); sleep 1; p2=$(progress vm1)
[ -n "$p1" ] && [ -n "$p2" ] && [ "$p2" -gt "$p1" ]
ok $? "guest progress increases while running ($p1 -> $p2)"

# --- pause / resume
"$KM" pause vm1 >/dev/null
ok $? "pause vm1"
[ "$(jfield "$(info vm1)" state)" = paused ]
ok $? "info says paused"
p1=$(progress vm1); sleep 1; p2=$(progress vm1)
[ -n "$p1" ] && [ "$p1" = "$p2" ]
ok $? "no progress while paused ($p1 -> $p2)"
"$KM" resume vm1 >/dev/null
ok $? "resume vm1"
p1=$(progress vm1); sleep 1; p2=$(progress vm1)
[ -n "$p1" ] && [ -n "$p2" ] && [ "$p2" -gt "$p1" ]
ok $? "progress again after resume ($p1 -> $p2)"
mp=$(jfield "$(info vm1)" max_pause_us)
[ -n "$mp" ] && [ "$mp" -ge 900000 ]
ok $? "the guest observed the ~1 s pause (max_pause_us $mp)"

# --- verify
v=$("$KM" vmctl vm1 verify 2>&1)
st=$?
echo "# verify: $v"
[ $st -eq 0 ] && [ "$(jfield "$v" bad)" = 0 ] && [ "$(jfield "$v" passed)" = true ] &&
	[ "$(jfield "$v" stamped)" -gt 0 ]
ok $? "verify: 0 bad pages ($(jfield "$v" stamped) stamped)"
[ "$(jfield "$(info vm1)" state)" = running ]
ok $? "running again after verify"

# --- a second VM of the same name
"$KM" run vm1 --memory 64M --detach >"$OUT/dup" 2>&1
st=$?
sed 's/^/# /' "$OUT/dup"
[ $st -eq 1 ] && grep -q "already running" "$OUT/dup"
ok $? "a second 'run vm1' is refused (exit $st)"

# --- bad arguments
bad=0
for args in "" "bad/name" "vm9 --memory 3M" "vm9 --memory 63M" "vm9 --memory lots" \
	    "vm9 --vcpus 0" "vm9 --vcpus 65" "vm9 --dirty-log log" "vm9 --workload x" \
	    "vm9 --rate -1" "vm9 --working-set 1G" "vm9 extra" "vm9 --nope"; do
	# shellcheck disable=SC2086
	"$KM" run $args >/dev/null 2>&1
	st=$?
	if [ $st -ne 2 ]; then
		echo "# 'run $args' exited $st"
		bad=1
	fi
done
[ ! -e "$KMIGRATE_RUN_DIR/vm9.sock" ]
ok $((bad + $?)) "bad arguments exit 2"

# --- malformed requests
r=$("$KM" vmctl vm1 '{"cmd":"bogus"}' 2>&1)
st=$?
echo "# bogus: $r"
[ $st -eq 1 ] && echo "$r" | grep -q '"ok":false'
ok $? "unknown request gets an error reply"
r=$("$KM" vmctl vm1 '{"nocmd":1}' 2>&1)
echo "$r" | grep -q '"ok":false'
ok $? "request without cmd gets an error reply"
[ "$(jfield "$(info vm1)" state)" = running ]
ok $? "still serving after malformed requests"

# --- stop
"$KM" stop vm1 >/dev/null
st=$?
wait_gone vm1 "$pid"
ok $((st + $?)) "stop vm1: socket removed, process $pid ended"
"$KM" vms >"$OUT/vms2" 2>&1
! grep -q '^vm1 ' "$OUT/vms2"
ok $? "vms no longer lists vm1"

# --- both dirty-log modes
for mode in ring bitmap; do
	"$KM" run "vm-$mode" --memory 64M --vcpus 2 --dirty-log $mode --workload random \
		--detach >"$OUT/run-$mode" 2>&1
	st=$?
	sed 's/^/# /' "$OUT/run-$mode"
	j=$(info "vm-$mode")
	m=$(jfield "$j" dirty_mode)
	p1=$(progress "vm-$mode"); sleep 1; p2=$(progress "vm-$mode")
	[ $st -eq 0 ] && [ "$m" = $mode ] && [ -n "$p1" ] && [ -n "$p2" ] && [ "$p2" -gt "$p1" ]
	ok $? "--dirty-log $mode runs (mode $m, progress $p1 -> $p2)"
	v=$("$KM" vmctl "vm-$mode" verify 2>&1)
	[ "$(jfield "$v" bad)" = 0 ]
	ok $? "--dirty-log $mode: verify 0 bad"
done

# --- SIGTERM stops cleanly
pid=$(jfield "$(info vm-ring)" pid)
kill -TERM "$pid"
wait_gone vm-ring "$pid"
ok $? "SIGTERM: vm-ring stopped, socket removed"

# --- a stale socket is cleaned up
pid=$(jfield "$(info vm-bitmap)" pid)
kill -KILL "$pid"
i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -S "$KMIGRATE_RUN_DIR/vm-bitmap.sock" ]
ok $? "SIGKILL leaves a stale socket"
"$KM" run vm-bitmap --memory 64M --dirty-log bitmap --detach >/dev/null 2>&1 &&
	[ "$(jfield "$(info vm-bitmap)" state)" = running ]
ok $? "run over a stale socket succeeds"
"$KM" pause vm-bitmap >/dev/null && "$KM" stop vm-bitmap >/dev/null
ok $? "stop vm-bitmap while paused"

# --- in the foreground: SIGINT stops it
"$KM" run vm-fg --memory 32M >"$OUT/fg" 2>&1 &
fgpid=$!
i=0; while [ ! -S "$KMIGRATE_RUN_DIR/vm-fg.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
p1=$(progress vm-fg); sleep 0.5; p2=$(progress vm-fg)
[ -n "$p1" ] && [ -n "$p2" ] && [ "$p2" -gt "$p1" ]
ok $? "foreground run serves its socket (progress $p1 -> $p2)"
kill -INT $fgpid
wait $fgpid
st=$?
sed 's/^/# /' "$OUT/fg"
[ $st -eq 0 ] && [ ! -e "$KMIGRATE_RUN_DIR/vm-fg.sock" ]
ok $? "SIGINT: foreground run exits 0 (exit $st), socket removed"

rm -rf "$OUT"
[ "$N" -eq "$PLAN" ] || echo "# ran $N tests, planned $PLAN"
[ $FAILED -eq 0 ] && [ "$N" -eq "$PLAN" ]
