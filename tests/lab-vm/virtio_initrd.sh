#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The initramfs of tests/lab-vm/virtio_test.sh's Linux guest:
#   virtio_initrd.sh OUT.cpio MODDIR
# busybox (static) and MODDIR's modules (virtio_mods.sh OUTDIR/guest, loaded
# in MODDIR/order).  /init reads km.phase= from the command line:
#   write  writes the pattern (virtio_pattern) at sector 2048 of /dev/vda with
#          dd conv=fsync (a FLUSH), brings eth0 up as 198.18.9.2/24, pings
#          198.18.9.1 and waits (120 s) for a line on TCP port 7777, which
#          it echoes back
#   read   reads the same range back and compares
# and prints "KMTEST ..." lines on the console, then reboots (reboot=k: the
# VM ends).
set -eu
out=${1:?usage: virtio_initrd.sh OUT.cpio MODDIR}
mods=${2:?moddir}
bb=$(command -v busybox) || { echo "virtio_initrd.sh: busybox not found" >&2; exit 1; }
st=$(mktemp -d)
trap 'rm -rf "$st"' EXIT
mkdir -p "$st/bin" "$st/proc" "$st/sys" "$st/dev" "$st/lib/km" "$st/tmp"
cp "$bb" "$st/bin/busybox"
ln -s busybox "$st/bin/sh"
cp "$mods"/*.ko "$mods/order" "$st/lib/km/" 2>/dev/null || cp "$mods/order" "$st/lib/km/"
cp "$(dirname "$0")/virtio_pattern.sh" "$st/bin/virtio_pattern"
# the echo service: one line in, "echo:LINE" back
printf '#!/bin/sh\nread -r l\necho "echo:$l"\necho "$l" >/tmp/got\n' >"$st/bin/echo_once"
chmod 755 "$st/bin/echo_once" "$st/bin/virtio_pattern"
cat >"$st/init" <<'INIT'
#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
for m in $(cat /lib/km/order); do
	insmod /lib/km/$m.ko || echo "KMTEST insmod $m failed"
done
phase=$(sed -n 's/.*km\.phase=\([a-z]*\).*/\1/p' /proc/cmdline)
net=/sys/class/net/eth0
[ "$phase" = write ] || net=/
i=0
while [ $i -lt 300 ] && ! { [ -b /dev/vda ] && [ -e $net ]; }; do
	sleep 0.1
	i=$((i + 1))
done
echo "KMTEST pci: $(cd /sys/bus/pci/devices && for d in *; do printf '%s=%s:%s ' $d $(cat $d/vendor) $(cat $d/device); done)"
echo "KMTEST blocks: $(ls /sys/block | tr '\n' ' ')"
want=$(virtio_pattern | md5sum | cut -d' ' -f1)
case $phase in
write)
	virtio_pattern >/tmp/pattern	# whole blocks from a file, not a pipe
	dd if=/tmp/pattern of=/dev/vda bs=512 seek=2048 conv=fsync 2>/dev/null &&
		echo "KMTEST disk-written $want"
	echo "KMTEST vdb-ro=$(cat /sys/block/vdb/ro 2>/dev/null)"
	dd if=/dev/zero of=/dev/vdb bs=512 count=1 conv=fsync 2>/dev/null ||
		echo "KMTEST vdb-write-refused"
	ip link set lo up
	ip link set eth0 up && ip addr add 198.18.9.2/24 dev eth0 &&
		echo "KMTEST net-up mac=$(cat /sys/class/net/eth0/address)"
	if ping -c 3 -W 5 198.18.9.1 >/tmp/ping 2>&1; then
		echo "KMTEST ping-host ok"
	else
		echo "KMTEST ping-host failed: $(tail -n 2 /tmp/ping | tr '\n' ' ')"
	fi
	echo "KMTEST waiting on 7777"
	timeout 120 nc -l -p 7777 -e /bin/echo_once
	echo "KMTEST got: $(cat /tmp/got 2>/dev/null)"
	;;
read)
	got=$(dd if=/dev/vda bs=512 skip=2048 count=$(( ($(virtio_pattern | wc -c) + 511) / 512 )) 2>/dev/null |
		head -c "$(virtio_pattern | wc -c)" | md5sum | cut -d' ' -f1)
	if [ "$got" = "$want" ]; then echo "KMTEST disk-read ok"; else echo "KMTEST disk-read bad $got"; fi
	;;
esac
echo "KMTEST rebooting"
reboot -f
INIT
chmod 755 "$st/init"
(cd "$st" && find . | sort | cpio -o -H newc -R 0:0 --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
