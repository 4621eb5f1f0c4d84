#!/bin/sh
# kdebug_scan.sh CONSOLE_LOG...: the reports of the debug kernel's checkers
# in lab host consoles (tests/lab/kdebug.sh): KASAN, lockdep, kmemleak,
# DEBUG_ATOMIC_SLEEP, DEBUG_OBJECTS, and any WARNING, BUG, Oops or panic.
# Each report is printed from its first line, with its stack (up to 60
# lines), prefixed "LOG: ".  A console whose kmemleak scan did not run to
# the end (tests/lab/init prints "kmemleak: N unreferenced objects") counts
# as one report: a leak could have gone unseen.
#
# Exit status: 0 no report, 1 reports printed, 2 usage or unreadable log.
set -eu

[ $# -ge 1 ] || { echo "usage: kdebug_scan.sh CONSOLE_LOG..." >&2; exit 2; }
found=0
for log in "$@"; do
	[ -r "$log" ] || { echo "kdebug_scan.sh: cannot read $log" >&2; exit 2; }
	# A report starts at a header line and runs until a line that is
	# neither indented, a stack frame, nor part of the report's body; the
	# lockdep banners ("=====") come before their WARNING line.
	out=$(awk -v name="$log" '
	function start() { inrep = 1; n = 0; nrep++; print name ": ---- report " nrep }
	/BUG: KASAN|BUG:|WARNING:|Oops|Kernel panic|general protection fault|ODEBUG:|unreferenced object 0x|INFO: (possible|task)|kmemleak: .*(disabled|Cannot|Out of)|lockdep.*turned off/ {
		if (!inrep || /unreferenced object 0x/) start()
	}
	inrep {
		if (n++ < 60) print name ": " $0
		if (n > 1 && $0 ~ /---\[ end trace|lab-init:|^(\[[ 0-9.]*\] )?=+$/) inrep = 0
	}
	END { exit nrep > 0 }' "$log") || { found=1; printf '%s\n' "$out"; }
	if grep -q 'lab-init: .*COMMAND exited' "$log" &&
		! grep -q 'lab-init: .*kmemleak: [0-9]* unreferenced objects' "$log"; then
		echo "$log: ---- the kmemleak scan did not finish (no 'kmemleak: N unreferenced objects' line)"
		found=1
	fi
done
exit "$found"
