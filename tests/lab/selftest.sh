#!/bin/bash
# Self-check of the lab itself (make lab-selftest): for every kernel line,
# two hosts boot, /dev/kvm is there with the dirty ring (and a guest runs on
# it), the hosts reach each other on both networks over IPv6 and IPv4; then,
# with one host, exit statuses, the timeout and a kernel panic come out as
# promised.  After every run no QEMU of it is left.  Prints TAP lines.
#
#   tests/lab/selftest.sh [KERNEL...]     (default: $LAB_KERNELS or "6.1 6.12")
set -euo pipefail
shopt -s inherit_errexit

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=${TOP:-$(cd "$LAB_DIR/../.." && pwd)}
BUILD=${BUILD:-$TOP/build}
export TOP BUILD
LAB=$LAB_DIR/lab.sh
read -r -a KERNELS <<<"${*:-${LAB_KERNELS:-6.1 6.12}}"
WORK=$BUILD/lab/selftest
PAYLOAD=$WORK/payload
TAG=st$$

n=0 failed=0
tap() {	# tap STATUS DESCRIPTION: STATUS 0 is ok
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n $2"
	else
		echo "not ok $n $2"
		failed=$((failed + 1))
	fi
}
st() { if "$@" >/dev/null 2>&1; then echo 0; else echo 1; fi; }	# status as a word
show() { sed 's/^/# /' "$1" | tail -n "${2:-30}"; }	# a log, as TAP comments
no_qemu_left() { ! pgrep -f "kmlab-$1-" >/dev/null; }

# The payload: kvmcheck (when a C compiler is here) and the in-host checks.
rm -rf "$WORK"
mkdir -p "$PAYLOAD/bin"
kvmcheck=
if command -v "${CC:-gcc}" >/dev/null &&
	"${CC:-gcc}" -static -O2 -Wall -Wextra -o "$PAYLOAD/bin/kvmcheck" "$LAB_DIR/kvmcheck.c" 2>"$WORK/cc.log"; then
	kvmcheck=1
else
	echo "# kvmcheck not built (no C compiler or no static libc): its checks are skipped"
fi
cat >"$PAYLOAD/bin/lab-check" <<'EOF'
#!/bin/sh
# Runs in a lab host: one "CHECK <name> ok|fail" line per check.
check() { name=$1; shift; if "$@" >/tmp/check.out 2>&1; then r=ok; else r=fail; fi
	echo "CHECK $name $r"; [ $r = ok ] || sed 's/^/  /' /tmp/check.out; }
in_range() { case "$1" in fd00:6b6d:*|198.18.*|198.19.*) return 0 ;; esac; return 1; }
env_ok() {
	for v in LAB_HOST LAB_KERNEL LAB_MGMT_IF LAB_MIG_IF LAB_MGMT_ADDR LAB_MIG_ADDR \
		LAB_MIG_ADDR4 LAB_PEER_MGMT_ADDR LAB_PEER_MIG_ADDR LAB_PEER_MIG_ADDR4; do
		eval "val=\${$v:-}"; [ -n "$val" ] || { echo "$v unset"; return 1; }
	done
	for a in $LAB_MGMT_ADDR $LAB_MIG_ADDR $LAB_MIG_ADDR4 $LAB_PEER_MGMT_ADDR \
		$LAB_PEER_MIG_ADDR $LAB_PEER_MIG_ADDR4; do in_range "$a" || { echo "$a"; return 1; }; done
	[ "$(uname -r)" = "$LAB_KERNEL" ] && [ "$PWD" = /opt/kmigrate ]
}
check kvm-dev test -c /dev/kvm
[ -x bin/kvmcheck ] && check kvm-dirty-ring kvmcheck
check hostname test "$(hostname)" = "lab-$LAB_HOST"
check env env_ok
check mgmt-ipv6 ping -c 1 -W 5 "$LAB_PEER_MGMT_ADDR"
check mgmt-ipv4 ping -c 1 -W 5 "$LAB_PEER_MGMT_ADDR4"
check mig-ipv6 ping -c 1 -W 5 -I "$LAB_MIG_IF" "$LAB_PEER_MIG_ADDR"
check mig-ipv4 ping -c 1 -W 5 -I "$LAB_MIG_IF" "$LAB_PEER_MIG_ADDR4"
check tls-module modprobe tls
exit 0
EOF
chmod 755 "$PAYLOAD/bin/lab-check"
CHECKS="kvm-dev kvm-dirty-ring hostname env mgmt-ipv6 mgmt-ipv4 mig-ipv6 mig-ipv4 tls-module"

for k in "${KERNELS[@]}"; do
	log=$WORK/$k-two-hosts.log
	rc=0
	LAB_TAG=$TAG-$k "$LAB" run --kernel "$k" --hosts 2 --payload "$PAYLOAD" --timeout 120 \
		--log-dir "$WORK/$k-two-hosts" -- lab-check >"$log" 2>&1 || rc=$?
	tap "$rc" "$k: two hosts boot and run a command (status $rc)"
	[ "$rc" = 0 ] || show "$log"
	for h in a b; do
		for c in $CHECKS; do
			if [ "$c" = kvm-dirty-ring ] && [ -z "$kvmcheck" ]; then
				echo "ok $((n += 1)) $k: host $h: $c # SKIP no kvmcheck"
				continue
			fi
			tap "$(st grep -qx "$h| CHECK $c ok" "$log")" "$k: host $h: $c"
		done
	done
	tap "$(st no_qemu_left "$TAG-$k")" "$k: no QEMU left after the run"
done

# The promises about exit statuses, with one host on the first kernel.
k=${KERNELS[0]}
expect() {	# expect WANT DESCRIPTION LAB-ARGS...: one host
	local want=$1 desc=$2 rc=0 log=$WORK/$k-$((n + 1)).log
	shift 2
	LAB_TAG=$TAG-x$n "$LAB" run --kernel "$k" --log-dir "${log%.log}" "$@" >"$log" 2>&1 || rc=$?
	local ok=1
	if [ "$rc" = "$want" ] && no_qemu_left "$TAG-x$n"; then ok=0; fi
	tap "$ok" "$k: $desc (status $rc, want $want; no QEMU left)"
	[ "$rc" = "$want" ] || show "$log"
}
expect 7 "COMMAND's exit status comes out" -- 'echo hi; exit 7'
expect 124 "a hung COMMAND is killed at --timeout" --timeout 3 -- 'sleep 600'
expect 125 "a kernel panic is a lab failure" -- 'echo c >/proc/sysrq-trigger'
tap "$(st grep -q 'Kernel panic' "$WORK/$k-$n.log")" "$k: the panic is reported with the console lines"

echo "1..$n"
[ "$failed" = 0 ]
