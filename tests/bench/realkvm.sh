#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The userspace path's absolute figures on a host with a real /dev/kvm
# (one that need not be able to load kmigrate.ko): source and destination
# on the same host over 127.0.0.1 (bench_host.sh, BENCH_LOCAL=1).
#
#   realkvm.sh run KMIGRATE LOG    on the KVM host, as root: the migrations,
#                                  the hardware in "# hw:" lines, into LOG
#   realkvm.sh doc COMMAND LOG...  here: the report of each LOG into
#                                  docs/BENCH.md (section bench:realkvm),
#                                  COMMAND being what produced them
#
# BENCH_REPEAT (default 3), BENCH_MEM (default 1G), BENCH_PATHS (default
# user) and the rest of bench_host.sh's environment apply to run.
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
case "${1:-}" in
run)
	km=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
	log=$3
	{
		echo "# hw: kernel $(uname -r), $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
		lscpu 2>/dev/null | grep -E '^(Model name|CPU\(s\)|Thread|Socket|Hypervisor vendor|Virtualization)' |
			sed 's/  */ /g; s/^/# hw: /'
		echo "# hw: memory $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
		echo "# hw: /dev/kvm $(ls -l /dev/kvm 2>&1)"
		mods=
		for m in /sys/module/kvm*; do [ -e "$m" ] && mods="$mods ${m##*/}"; done
		echo "# hw: KVM modules:${mods:- none listed in /sys/module}"
		echo "# hw: CPU flags: $(grep -m1 -o -w 'vmx\|svm\|hypervisor' /proc/cpuinfo | sort -u | tr '\n' ' ')"
		echo "# hw: kmigrate $("$km" --version 2>&1)"
		# the labtest.sh helpers sit next to bench_host.sh in a payload
		tmp=$(mktemp -d)
		cp "$dir/bench_host.sh" "$tmp/"
		cp "$dir/labtest.sh" "$tmp/" 2>/dev/null || cp "$dir/../lib/labtest.sh" "$tmp/"
		BENCH_LOCAL=1 KMIGRATE=$km BENCH_PATHS=${BENCH_PATHS:-user} \
			BENCH_MEM=${BENCH_MEM:-1G} BENCH_REPEAT=${BENCH_REPEAT:-3} sh "$tmp/bench_host.sh"
		echo "# exit $?"
		rm -rf "$tmp"
	} >"$log" 2>&1
	;;
doc)
	cmd=$2
	shift 2
	top=$(cd "$dir/../.." && pwd)
	md=$(mktemp)
	{
		echo "<!-- bench:realkvm:begin -->"
		echo "### Real KVM: userspace path, absolute figures"
		echo
		echo "Command (on the KVM host, as root, in a copy of build/bench/realkvm/"
		echo "from \`make bench-realkvm\`): \`$cmd\`"
		echo
		echo "Hardware and software, as recorded by the run:"
		echo
		sed -n 's/^# hw: \(.*[^: ]\) *$/- \1/p' "$1"
		echo
		echo "Source and destination run on the same host and talk over 127.0.0.1:"
		echo "the figures include both ends' CPU contention and no real network."
		for log in "$@"; do
			echo
			echo "#### $(basename "$log" .log): guest of $(sed -n 's/.*guest_mem_bytes=\([0-9]*\).*/\1/p' "$log" |
				head -1 | awk '{ printf "%d MiB", $1 / 1048576 }')"
			echo
			awk -v jsonl="${log%.log}.jsonl" -f "$dir/report.awk" "$log" | sed 's/^#### /##### /'
		done
		echo "<!-- bench:realkvm:end -->"
	} >"$md"
	"$dir/docsection.sh" "$top/docs/BENCH.md" realkvm "$md"
	rm -f "$md"
	;;
*)
	sed -n '4,16s/^# \{0,1\}//p' "$0" >&2
	exit 2
	;;
esac
