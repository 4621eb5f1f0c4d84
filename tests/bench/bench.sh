#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make bench`: the host-side driver.  Boots two lab hosts once (kernel line
# LAB_KERNEL), loads kmigrate.ko on both (bench_host.sh), runs the same
# migrations on the userspace and the kernel data path, and writes
#   build/bench/<kernel>-<stamp>.log     the lab's output
#   build/bench/<kernel>-<stamp>.jsonl   one JSON object per migration and median
#   build/bench/<kernel>-<stamp>.md      the report (tables, ratios, raw figures)
# and, unless BENCH_DOC=0, puts the report into docs/BENCH.md between the
# "bench:lab-LAB_KERNEL" markers (BENCH_SECTION: other markers), with the
# command, the date and the kernel.
#
#   tests/bench/bench.sh PAYLOAD-DIR LAB_KERNEL REPEAT COMMAND-TEXT
set -euo pipefail

payload=$1
kernel=$2
repeat=$3
cmdtext=$4
[ -n "${BENCH_WORKLOADS:-}" ] && cmdtext="BENCH_WORKLOADS='$BENCH_WORKLOADS' $cmdtext"
[ -n "${BENCH_CHANNELS:-}" ] && cmdtext="BENCH_CHANNELS='$BENCH_CHANNELS' $cmdtext"
channels=$(echo "${BENCH_CHANNELS:-plain tls}" | tr ' ' ,)
# the section of docs/BENCH.md the report replaces (a reduced run, e.g. of
# one workload, can go into its own: BENCH_SECTION=lab-6.1-tls)
section=${BENCH_SECTION:-lab-$kernel}
[ -n "${BENCH_SECTION:-}" ] && cmdtext="BENCH_SECTION=$BENCH_SECTION $cmdtext"
nch=$(echo "$channels" | tr , '\n' | grep -c .)
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$TOP/build}
out=$BUILD/bench
mkdir -p "$out"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
base=$out/$kernel-$stamp
# a migration on TCG takes up to a minute; 3 workloads x 2 paths x channels
timeout=$((300 + repeat * 6 * nch * 90))
# the lab runs COMMAND through a shell inside the host: no spaces in values

echo "bench: lab kernel $kernel, $repeat repeat(s), log $base.log" >&2
set +e
"$TOP/tests/lab/lab.sh" run --kernel "$kernel" --hosts 2 --payload "$payload" \
	--timeout "$timeout" -- env BENCH_REPEAT="$repeat" BENCH_CHANNELS="$channels" \
	BENCH_WORKLOADS="$(echo "${BENCH_WORKLOADS:-idle moderate heavy}" | tr ' ' ,)" sh bin/bench_host.sh 2>&1 | tee "$base.log"
st=${PIPESTATUS[0]}
set -e
grep -q '^a| BENCH ' "$base.log" || { echo "bench: no migration ran (lab exit $st)" >&2; exit 1; }

rel=$(grep -m1 -o 'kernel [^ ,]*' "$base.log" | cut -d' ' -f2 || true)
{
	echo "<!-- bench:$section:begin -->"
	echo "### Lab: kernel $rel, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Command: \`$cmdtext\` (tool $VERSION, lab exit status $st)."
	echo
	echo "The lab hosts are QEMU TCG guests (nested SVM): the absolute figures are"
	echo "those of an emulated CPU shared with other work; only the ratios (kernel/user,"
	echo "and the cost of encryption: user-tls/user, kernel-tls/kernel) mean something,"
	echo "and they are noisy: every figure below is from this one run."
	echo
	grep -v '^RAW ' "$base.log" | awk -v jsonl="$base.jsonl" -f "$TOP/tests/bench/report.awk"
	echo "<!-- bench:$section:end -->"
} >"$base.md"
grep '^a| RAW ' "$base.log" | sed 's/^a| RAW //' >"$base.raw" || true
cat "$base.md"

if [ "${BENCH_DOC:-1}" = 1 ]; then
	"$TOP/tests/bench/docsection.sh" "$TOP/docs/BENCH.md" "$section" "$base.md" &&
		echo "bench: docs/BENCH.md updated" >&2
fi
exit 0
