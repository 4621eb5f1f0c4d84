#!/bin/bash
# make check-kdebug: the lab on a debug kernel.  Builds (once, cached) the
# kernel of tests/lab/kdebug_build.sh (KASAN, lockdep, kmemleak,
# DEBUG_ATOMIC_SLEEP, DEBUG_OBJECTS, KVM), boots it as the lab hosts and runs
#   kselftest        make lab-kselftest (the module's kselftests, one host)
#   migrate          make lab-migrate (both data paths)
#   migrate-tls      make lab-migrate-tls (TLS on both data paths)
#   migrate-faults   make lab-migrate-faults
# then scans every host's console (tests/lab/kdebug_scan.sh): a KASAN,
# lockdep, kmemleak (tests/lab/init scans after COMMAND) or WARN/BUG report
# fails the suite, as a failed test does.
#
#   kdebug.sh [SUITE...]      (default: all four, in that order)
#
# Logs: build/kdebug/<suite>/ (output.log, a-console.log, b-console.log,
# reports.log).  Under KASAN in TCG the hosts run several times slower:
# LAB_BOOT_TIMEOUT (default here 600 s), LAB_TIMEOUT_SCALE (6: every
# COMMAND deadline) and LAB_FAIL_GRACE (120 s) are raised for this line
# only; the environment overrides them.
# Exit status: 0 every suite passed with no report, 1 otherwise, 2 usage.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${BUILD:-$top/build}
all="kselftest migrate migrate-tls migrate-faults"
suites=${*:-$all}
for s in $suites; do
	case " $all " in *" $s "*) ;; *) echo "kdebug: unknown suite '$s' (use: $all)" >&2; exit 2 ;; esac
done

lab=$("$here/kdebug_build.sh") || { echo "kdebug: no debug kernel (see above)" >&2; exit 1; }
rel=$(cat "$lab/release")
export LAB_BOOT_TIMEOUT=${LAB_BOOT_TIMEOUT:-600}
export LAB_TIMEOUT_SCALE=${LAB_TIMEOUT_SCALE:-6}
export LAB_FAIL_GRACE=${LAB_FAIL_GRACE:-120}
echo "kdebug: kernel $rel ($lab); boot timeout ${LAB_BOOT_TIMEOUT}s, COMMAND timeouts x$LAB_TIMEOUT_SCALE"

summary=() bad=0
for s in $suites; do
	d=$build/kdebug/$s
	rm -rf "$d"
	mkdir -p "$d"
	t0=$SECONDS
	echo "== kdebug $s"
	rc=0
	LAB_LOG_DIR=$d make -s -C "$top" "lab-$s" LAB_KERNEL="$lab" 2>&1 </dev/null |
		tee "$d/run.log" | sed -u 's/^/   /' || rc=${PIPESTATUS[0]}
	p=$(sed -E 's/^[ab]\| //' "$d/run.log" | grep -E '^ok ' | grep -vc '# SKIP') || true
	k=$(sed -E 's/^[ab]\| //' "$d/run.log" | grep -E '^ok ' | grep -c '# SKIP') || true
	f=$(sed -E 's/^[ab]\| //' "$d/run.log" | grep -cE '^not ok ') || true
	reports=0
	mapfile -t consoles < <(find "$d" -maxdepth 1 -name '*-console.log' | sort)
	if [ ${#consoles[@]} -eq 0 ]; then
		echo "   kdebug: $s left no console log" | tee "$d/reports.log"
		reports=1
	elif ! sh "$here/kdebug_scan.sh" "${consoles[@]}" >"$d/reports.log"; then
		reports=$(grep -c -- '---- ' "$d/reports.log") || true
		sed 's/^/   /' "$d/reports.log"
	fi
	line=$(printf '%s: %d passed, %d failed, %d skipped, exit %d, %d kernel reports (%ds)' \
		"$s" "$p" "$f" "$k" "$rc" "$reports" $((SECONDS - t0)))
	echo "== kdebug $line"
	summary+=("$line")
	if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ] || [ "$reports" -ne 0 ]; then bad=$((bad + 1)); fi
done
echo "kdebug: $rel: summary"
printf '  %s\n' "${summary[@]}"
if [ "$bad" -ne 0 ]; then
	echo "kdebug: $bad of $(echo "$suites" | wc -w) suites failed or had kernel reports (logs in $build/kdebug)"
	exit 1
fi
echo "kdebug: all suites passed with no KASAN, lockdep, kmemleak or WARN report"
