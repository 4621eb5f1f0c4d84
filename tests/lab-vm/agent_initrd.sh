#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The initramfs of the Linux guest of the migration tests and the
# benchmark (issue 11):  agent_initrd.sh OUT.cpio KMAGENT [MODDIR]
# busybox (static), the guest agent KMAGENT (build/lab-vm/kmagent, static),
# tests/lab-vm/kmguest.sh as /bin/kmguest, and MODDIR's modules
# (virtio_mods.sh OUTDIR/guest: loaded in MODDIR/order).  /init reads from
# the kernel command line:
#   km.ip=198.18.x.y/N    eth0's IPv4 address (and km.ip6=fd00::.../N)
#   km.port=P             kmagent echo on UDP and TCP port P, its ticker on
#                         P+1 every km.tick=MS (default 10)
#   km.mem=MIB:RATE       kmagent mem: MIB MiB written at RATE pages/s
#   km.disk=DEV[:RATE]    kmagent disk-write on DEV at RATE records/s
#   km.upto=N             first, kmagent disk-check DEV up to N (a disk
#                         another boot or host wrote), then the rest
# prints "KMAGENT guest up ..." then the agent's lines on the console, takes
# kmguest's commands (stop, check [N], status, poweroff) from the console
# (`kmigrate console NAME` or the serial line), and after poweroff (or
# EOF) reboots (reboot=k: the VM ends).
set -eu
out=${1:?usage: agent_initrd.sh OUT.cpio KMAGENT [MODDIR]}
agent=${2:?usage: agent_initrd.sh OUT.cpio KMAGENT [MODDIR]}
mods=${3:-}
bb=$(command -v busybox) || { echo "agent_initrd.sh: busybox not found" >&2; exit 1; }
[ -x "$agent" ] || { echo "agent_initrd.sh: $agent is not an executable (make lab-agent)" >&2; exit 1; }
if file "$agent" 2>/dev/null | grep -q "dynamically linked"; then
	echo "agent_initrd.sh: $agent is dynamically linked; the guest has no libc" >&2
	exit 1
fi
st=$(mktemp -d)
trap 'rm -rf "$st"' EXIT
mkdir -p "$st/bin" "$st/proc" "$st/sys" "$st/dev" "$st/lib/km" "$st/run" "$st/tmp"
cp "$bb" "$st/bin/busybox"
ln -s busybox "$st/bin/sh"
cp "$agent" "$st/bin/kmagent"
cp "$(dirname "$0")/kmguest.sh" "$st/bin/kmguest"
chmod 755 "$st/bin/kmagent" "$st/bin/kmguest"
: >"$st/lib/km/order"
if [ -n "$mods" ]; then
	cp "$mods/order" "$st/lib/km/"
	for m in $(cat "$mods/order"); do cp "$mods/$m.ko" "$st/lib/km/"; done
fi
cat >"$st/init" <<'INIT'
#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
for m in $(cat /lib/km/order); do
	insmod /lib/km/$m.ko || echo "KMAGENT guest insmod $m failed"
done
arg() { sed -n "s/.*km\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
ip=$(arg ip) ip6=$(arg ip6)
export KM_PORT=$(arg port) KM_MEM=$(arg mem) KM_DISK=$(arg disk) KM_TICK=$(arg tick)
upto=$(arg upto)
dev=${KM_DISK%%:*}
i=0
while [ $i -lt 300 ] && { { [ -n "$ip$ip6" ] && [ ! -e /sys/class/net/eth0 ]; } ||
	{ [ -n "$dev" ] && [ ! -b "$dev" ]; }; }; do
	sleep 0.1
	i=$((i + 1))
done
ip link set lo up
if [ -n "$ip$ip6" ]; then
	ip link set eth0 up
	[ -n "$ip" ] && ip addr add "$ip" dev eth0
	[ -n "$ip6" ] && ip addr add "$ip6" dev eth0 nodad
fi
echo "KMAGENT guest up nproc=$(nproc) mac=$(cat /sys/class/net/eth0/address 2>/dev/null) ip=$ip ip6=$ip6 disk=$dev"
if [ -n "$upto" ] && [ -n "$dev" ]; then
	kmagent disk-check "$dev" --upto "$upto"
fi
kmguest start
kmguest serve </dev/ttyS0
echo "KMAGENT guest rebooting"
reboot -f
INIT
chmod 755 "$st/init"
(cd "$st" && find . | sort | cpio -o -H newc -R 0:0 --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
