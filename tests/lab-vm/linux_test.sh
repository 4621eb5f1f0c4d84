#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# `kmigrate run --kernel` boots the lab host's own Debian kernel (bzImage)
# with a tiny busybox initramfs (linux_initrd.sh), in a lab host (nested KVM):
#   tests/lab/lab.sh run --kernel 6.1 --hosts 1 --payload DIR -- sh bin/linux_test.sh
# with DIR/bin/{kmigrate,linux_test.sh,labtest.sh}, DIR/vmlinuz, DIR/initrd.cpio.
# Checks for 1 and 4 vCPUs: the guest's /init runs (marker), nproc = --vcpus,
# the clocksource is kvm-clock, the console log has the boot log, the guest's
# reboot ends the VM cleanly; `kmigrate console` shows the output and feeds
# input; a second attach is refused; bad input is refused.  Prints TAP.

KM=${KMIGRATE:-kmigrate}
export KMIGRATE_RUN_DIR=${KMIGRATE_RUN_DIR:-/run/kmigrate/vms}
D=$(cd "$(dirname "$0")/.." && pwd)
N=0
FAILED=0
OUT=/tmp/linux_test.$$
mkdir -p "$OUT"
APPEND="console=ttyS0 earlyprintk=ttyS0 panic=-1 reboot=k"
BOOT_S=${LINUX_BOOT_S:-240}

. "$(dirname "$0")/labtest.sh"	# ok, jfield, info, finish

echo "# kernel $(uname -r); guest kernel $D/vmlinuz; run dir $KMIGRATE_RUN_DIR"

# wait_end NAME PID SECONDS: the VM's process ends
wait_end() {
	i=0
	while [ $i -lt $(($3 * 10)) ] && kill -0 "$2" 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	! kill -0 "$2" 2>/dev/null
}

boot() {	# boot VCPUS
	n=$1 name=lx$1
	log=$KMIGRATE_RUN_DIR/$name.console
	t0=$(date +%s)
	a=$APPEND
	[ "$n" = 1 ] && a="$a kmtest_console"
	"$KM" run "$name" --kernel "$D/vmlinuz" --initrd "$D/initrd.cpio" --memory 256M \
		--vcpus "$n" --append "$a" --detach >"$OUT/run$n" 2>&1
	ok $? "run $name --kernel vmlinuz --initrd --vcpus $n --detach"
	sed 's/^/# /' "$OUT/run$n"
	pid=$(jfield "$(info "$name")" pid)
	j=$(info "$name")
	echo "# info: $j"
	[ "$(jfield "$j" kernel_type)" = linux ] && [ "$(jfield "$j" console_log)" = "$log" ]
	ok $? "info: kernel_type linux, console_log $log"
	"$KM" start "$name" --to 198.18.0.2 --connect-timeout 1 >"$OUT/start$n" 2>&1
	st=$?
	sed 's/^/# /' "$OUT/start$n"
	[ $st -ne 0 ] && [ "$(jfield "$(info "$name")" state)" = running ]
	ok $? "a migration to a host that is not there fails (exit $st); the guest runs on"
	if [ "$n" = 1 ]; then
		# the console: wait for the guest to ask for input, send a line
		i=0
		while [ $i -lt $((BOOT_S * 10)) ] && ! grep -q "KMTEST waiting" "$log" 2>/dev/null &&
			kill -0 "$pid" 2>/dev/null; do
			sleep 0.1
			i=$((i + 1))
		done
		(sleep 1; echo "hello-from-console"; sleep 5) |
			timeout 30 "$KM" console "$name" >"$OUT/con" 2>"$OUT/con.err" &
		cpid=$!
		sleep 0.5
		timeout 5 "$KM" console "$name" </dev/null >"$OUT/con2" 2>&1
		st=$?
		sed 's/^/# console 2: /' "$OUT/con2"
		[ $st -ne 0 ] && grep -q "attached" "$OUT/con2"
		ok $? "a second console attach is refused (exit $st)"
		wait $cpid
		sed 's/^/# console: /' "$OUT/con" "$OUT/con.err" | tail -n 5
		grep -q "KMTEST got: hello-from-console" "$OUT/con"
		ok $? "kmigrate console: input reaches the guest, its output comes back"
	fi
	how=reboot
	wait_end "$name" "$pid" "$BOOT_S"
	ok $? "the guest's $how ends the VM ($(($(date +%s) - t0)) s)"
	[ ! -e "$KMIGRATE_RUN_DIR/$name.sock" ]
	ok $? "its control socket is gone"
	tail -n 40 "$log" | sed 's/^/# console: /'
	grep -q "^Linux version" "$log" || grep -q "Linux version" "$log"
	ok $? "console log has the kernel's boot log"
	grep -q "KMTEST-BOOT-OK" "$log"
	ok $? "the initramfs' /init ran (marker in the console log)"
	got=$(grep -o 'KMTEST nproc=[0-9]*' "$log" | head -n 1)
	[ "$got" = "KMTEST nproc=$n" ]
	ok $? "nproc in the guest = --vcpus $n ($got)"
	grep -q "KMTEST clocksource=kvm-clock" "$log"
	ok $? "the guest's clocksource is kvm-clock ($(grep -o 'KMTEST clocksource=[a-z-]*' "$log"))"
	grep -q "guest ended: reset" "$KMIGRATE_RUN_DIR/$name.log"
	ok $? "the VM's log says the guest ended ($how)"
}

# --- bad input: one clear line, usage exit code, nothing left behind
bad() {		# bad DESCRIPTION EXPECTED-TEXT ARGS...
	desc=$1 want=$2
	shift 2
	"$KM" run bad "$@" >"$OUT/bad" 2>&1
	st=$?
	sed 's/^/# /' "$OUT/bad" | head -n 2
	[ $st -eq 2 ] && grep -q "$want" "$OUT/bad" && ! ls "$KMIGRATE_RUN_DIR"/bad.* >/dev/null 2>&1
	ok $? "$desc: refused (exit $st), nothing left"
}
head -c 5000 "$D/vmlinuz" >"$OUT/trunc"
head -c 300000000 /dev/zero >"$OUT/huge" 2>/dev/null
bad "missing kernel" "No such file" --kernel /nonexistent
bad "garbage kernel" "HdrS" --kernel "$D/bin/linux_test.sh" --initrd "$D/initrd.cpio"
bad "truncated kernel" "truncated" --kernel "$OUT/trunc"
bad "missing initrd" "initrd" --kernel "$D/vmlinuz" --initrd /nonexistent
bad "initrd too large for memory" "does not fit" --kernel "$D/vmlinuz" --initrd "$OUT/huge" --memory 128M
bad "--append too long" "command line" --kernel "$D/vmlinuz" --append "$(head -c 3000 /dev/zero | tr '\0' x)"
rm -f "$OUT/huge"

boot 1
boot 4

finish
