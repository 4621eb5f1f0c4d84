#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The short fuzzing step of `make check` (make fuzz-short): fuzz_recv for
# FUZZ_SECONDS (45) with a fixed seed, starting from the seeds of
# tests/fuzz/corpus alone (what it finds goes to a temporary directory, not
# into the repository), on one core, niced.  One TAP line: ok with the
# number of inputs run, not ok with where the failing input is, or a
# skipped line where clang cannot build a libFuzzer target.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cc=${FUZZ_CC:-clang}
secs=${FUZZ_SECONDS:-45}
out=$top/build/fuzz
mkdir -p "$out" || exit 1

probe=$(mktemp -d /tmp/km_fuzz_probe.XXXXXX) || exit 1
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n > 99; }' \
	>"$probe/p.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" >/dev/null 2>&1; then
	rm -rf "$probe"
	echo "ok 1 fuzz_recv: skipped, $cc cannot build a libFuzzer target (make deps installs clang) # SKIP"
	exit 0
fi
rm -rf "$probe"
if ! make -s -C "$top" fuzz-build >"$out/build.log" 2>&1; then
	sed 's/^/# /' "$out/build.log"
	echo "not ok 1 fuzz_recv: the target did not build ($out/build.log)"
	exit 1
fi

work=$(mktemp -d /tmp/km_fuzz_short.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT
log=$out/short.log
(cd "$out" && nice -n 10 ./fuzz_recv -seed=1 -max_total_time="$secs" \
	-dict="$top/tests/fuzz/kmp.dict" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
	-malloc_limit_mb="${FUZZ_MALLOC_MB:-64}" -print_final_stats=1 \
	-artifact_prefix="$out/short-" "$work" "$top/tests/fuzz/corpus") >"$log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
	echo "ok 1 fuzz_recv: $runs inputs in ${secs} s from $(ls "$top/tests/fuzz/corpus" | wc -l) seeds: no crash, leak, UB or oversized allocation"
	exit 0
fi
grep -E 'ERROR|SUMMARY|does not hold|Test unit written' "$log" | head -n 20 | sed 's/^/# /'
echo "not ok 1 fuzz_recv: exit $rc after ${runs:-?} inputs (log $log; the input is $out/short-*)"
exit 1
