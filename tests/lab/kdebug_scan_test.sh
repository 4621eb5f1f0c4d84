#!/bin/sh
# shellcheck disable=SC2015 # ok and not_ok never fail
# kdebug_scan.sh (make check-kdebug's console scan) on console excerpts
# shaped like the debug kernel's reports.  TAP; no lab needed.
D=$(cd "$(dirname "$0")" && pwd)
X="sh $D/kdebug_scan.sh"
T=$(mktemp -d /tmp/kmkdscan.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
N=0 FAILED=0
ok()     { N=$((N + 1)); echo "ok $N $*"; }
not_ok() { N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N $*"; sed 's/^/# /' "$T/out"; }
has()   { if grep -Eq -- "$2" "$T/out"; then ok "$1"; else not_ok "$1 (no /$2/)"; fi; }
lacks() { if grep -Eq -- "$2" "$T/out"; then not_ok "$1 (/$2/ there)"; else ok "$1"; fi; }
# run LOG... : the scan's output in $T/out, its status in $rc
run() { $X "$@" >"$T/out" 2>&1; rc=$?; }

echo "1..13"

cat >"$T/clean.log" <<'LOG'
[    1.0] Linux version 6.1.192-kdebug
lab-init: 2.0 start
lab-init: 9.0 COMMAND exited with 0
lab-init: 9.1 kmemleak: scanning
lab-init: 20.0 kmemleak: 0 unreferenced objects
LOG
run "$T/clean.log"
[ "$rc" -eq 0 ] && [ ! -s "$T/out" ] && ok "a clean console: nothing, exit 0" || not_ok "a clean console: nothing, exit 0 (exit $rc)"

cat >"$T/kasan.log" <<'LOG'
lab-init: 2.0 start
[    5.000] ==================================================================
[    5.001] BUG: KASAN: slab-use-after-free in km_session_put+0x1/0x2 [kmigrate]
[    5.002] Read of size 8 at addr ffff888001234568 by task kmigrate/412
[    5.003] Call Trace:
[    5.004]  <TASK>
[    5.005]  kasan_report+0x1/0x2
[    5.006] ==================================================================
[    6.000] after the report
[    7.000] ------------[ cut here ]------------
[    7.001] WARNING: CPU: 0 PID: 9 at kernel/workqueue.c:1 foo+0x1/0x2
[    7.002] Call Trace:
[    7.003] ---[ end trace 0000000000000000 ]---
[    7.004] later
lab-init: 9.0 COMMAND exited with 0
lab-init: 9.1 kmemleak: scanning
unreferenced object 0xffff888003000000 (size 64):
  comm "kmigrate", pid 412, jiffies 4294892296
  backtrace:
    [<000000001>] kmalloc_trace+0x26/0x90
unreferenced object 0xffff888004000000 (size 32):
  comm "swapper", pid 1, jiffies 1
lab-init: 20.0 kmemleak: 2 unreferenced objects
LOG
run "$T/kasan.log"
[ "$rc" -eq 1 ] && ok "reports: exit 1" || not_ok "reports: exit 1 (exit $rc)"
has "the KASAN report is shown" 'kasan.log: \[    5.001\] BUG: KASAN: slab-use-after-free in km_session_put'
has "with its stack" 'kasan.log: \[    5.005\]  kasan_report'
lacks "and ends with it" 'after the report|later'
has "the WARNING is shown" 'kasan.log: .*WARNING: CPU: 0 PID: 9 at kernel/workqueue.c'
has "each leak is a report" 'kasan.log: ---- report 4'
has "a leak's stack is shown" 'kasan.log:     \[<000000001>\] kmalloc_trace'
lacks "no fifth report" 'report 5'

cat >"$T/noscan.log" <<'LOG'
lab-init: 2.0 start
lab-init: 9.0 COMMAND exited with 0
LOG
run "$T/clean.log" "$T/noscan.log"
[ "$rc" -eq 1 ] && ok "a scan that did not finish: exit 1" || not_ok "a scan that did not finish: exit 1 (exit $rc)"
has "and says so" 'noscan.log: ---- the kmemleak scan did not finish'

printf '[ 1.0] BUG: sleeping function called from invalid context at mm/slab.h:1\n[ 1.1] in_atomic(): 1\n' >"$T/sleep.log"
run "$T/sleep.log"
has "a sleep in atomic context is a report" 'sleep.log: .*BUG: sleeping function called from invalid context'

run "$T/missing.log"
[ "$rc" -eq 2 ] && ok "an unreadable log: exit 2" || not_ok "an unreadable log: exit 2 (exit $rc)"

[ "$FAILED" -eq 0 ]
