#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Builds the tiny initramfs a Linux guest of `kmigrate run --kernel` boots in
# tests/lab-vm/linux_test.sh:  linux_initrd.sh OUT.cpio
# busybox (static, a lab dependency) and an /init that prints what the test
# checks on the serial console, then (with kmtest_console on the kernel
# command line) reads one line from the console, so `kmigrate console` can
# be tested (30 s, then it goes on), and reboots
# (the VM ends: i8042 reset with reboot=k).
set -eu
out=${1:?usage: linux_initrd.sh OUT.cpio}
bb=$(command -v busybox) || { echo "linux_initrd.sh: busybox not found" >&2; exit 1; }
st=$(mktemp -d)
trap 'rm -rf "$st"' EXIT
mkdir -p "$st/bin" "$st/proc" "$st/sys" "$st/dev"
cp "$bb" "$st/bin/busybox"
for t in sh mount cat nproc reboot sleep echo grep; do
	ln -s busybox "$st/bin/$t"
done
cat >"$st/init" <<'INIT'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "KMTEST nproc=$(nproc)"
echo "KMTEST clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
echo "KMTEST-BOOT-OK"
if grep -q kmtest_console /proc/cmdline; then
	echo "KMTEST waiting for console input"
	if read -t 30 line </dev/ttyS0; then
		echo "KMTEST got: $line"
	fi
fi
echo "KMTEST rebooting"
reboot -f
INIT
chmod 755 "$st/init"
(cd "$st" && find . | sort | cpio -o -H newc -R 0:0 --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
