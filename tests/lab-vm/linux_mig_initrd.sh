#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The initramfs of the Linux guest that tests/lab-vm/linux_mig_test.sh live-
# migrates:  linux_mig_initrd.sh OUT.cpio [MODDIR]
# (MODDIR: virtio_mods.sh OUTDIR/guest, loaded in MODDIR/order, for a disk)
# busybox (static, a lab dependency, every applet linked) and an /init that
#   - writes 8 MiB of random data into a tmpfs with its md5sum,
#   - keeps a counter loop running (it writes the tmpfs all the time, so the
#     guest dirties memory while it migrates),
#   - keeps a clock loop: the largest step of `date +%s` across a 1 s sleep,
#     and a line when the clock went back,
#   - prints KMTEST MIG-READY, then answers each line "check TAG" read from
#     the serial console with
#       KMTEST CHECK TAG data=ok|BAD counter=C1,C2 prev=P ticks=N maxstep=S date=T
#     C1, C2: the counter 1 s apart; P: C2 of the previous check (0 at
#     first); N: the clock loop's rounds; S: its largest step (s); T: the
#     guest's `date +%s`.
# With kmtest_disk on the kernel command line the guest also uses /dev/vda
# (a shared disk): 4 MiB of random data at 64 MiB, read back with O_DIRECT
# and checked in a loop all the time (reads=R readbad=B), and a writer that
# appends records "KMREC <i> <hash(i)>" one 4 KiB block each from block 1,
# every one written with O_DIRECT and fsync (a FLUSH), the last fsynced one
# kept in fsynced=F; a check reads blocks 1..F back with O_DIRECT and counts
# the records missing or wrong (missing=M); prevf=P: F at the previous check.
set -eu
out=${1:?usage: linux_mig_initrd.sh OUT.cpio [MODDIR]}
mods=${2:-}
bb=$(command -v busybox) || { echo "linux_mig_initrd.sh: busybox not found" >&2; exit 1; }
st=$(mktemp -d)
trap 'rm -rf "$st"' EXIT
mkdir -p "$st/bin" "$st/proc" "$st/sys" "$st/dev" "$st/data" "$st/lib/km"
cp "$bb" "$st/bin/busybox"
if [ -n "$mods" ]; then
	cp "$mods/order" "$st/lib/km/"
	cp "$mods"/*.ko "$st/lib/km/" 2>/dev/null || true
fi
for t in $("$bb" --list); do
	[ "$t" = busybox ] || ln -s busybox "$st/bin/$t"
done
cat >"$st/init" <<'INIT'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs -o size=64m tmpfs /data
for m in $(cat /lib/km/order 2>/dev/null); do
	insmod /lib/km/$m.ko || echo "KMTEST insmod $m failed"
done
disk=
grep -q kmtest_disk /proc/cmdline && disk=/dev/vda
echo "KMTEST nproc=$(nproc) clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
dd if=/dev/urandom of=/data/blob bs=1M count=8 2>/dev/null
md5sum /data/blob >/data/blob.md5
echo 0 >/data/counter
echo "0 0" >/data/tick
echo 0 >/data/prev
(c=0; while :; do c=$((c + 1)); echo $c >/data/counter; done) &
(prev=$(date +%s); max=0; n=0
 while :; do
	sleep 1
	now=$(date +%s)
	d=$((now - prev))
	[ $d -gt $max ] && max=$d
	[ $d -lt 0 ] && echo "KMTEST clock went back ${d} s"
	prev=$now
	n=$((n + 1))
	echo "$n $max" >/data/tick
 done) &
if [ -n "$disk" ]; then
	i=0
	while [ $i -lt 300 ] && [ ! -b $disk ]; do sleep 0.1; i=$((i + 1)); done
	dd if=/dev/urandom of=/data/pat bs=1M count=4 2>/dev/null
	dd if=/data/pat of=$disk bs=1M seek=64 oflag=direct conv=fsync,notrunc 2>/dev/null ||
		echo "KMTEST pattern write failed"
	md5sum </data/pat | cut -c1-32 >/data/pat.sum
	rm /data/pat
	echo 0 >/data/fsynced
	echo "0 0" >/data/reads
	(i=0; while [ $i -lt 16000 ]; do
		i=$((i + 1))
		printf 'KMREC %d %d\n' $i $(((i * 2654435761) % 4294967296)) >/data/rec
		dd if=/data/rec of=$disk bs=4096 seek=$i conv=sync,fsync,notrunc oflag=direct 2>/dev/null &&
			echo $i >/data/fsynced
	 done) &
	(n=0; bad=0; want=$(cat /data/pat.sum)
	 while :; do
		s=$(dd if=$disk bs=1M skip=64 count=4 iflag=direct 2>/dev/null | md5sum | cut -c1-32)
		n=$((n + 1))
		[ "$s" = "$want" ] || bad=$((bad + 1))
		echo "$n $bad" >/data/reads
	 done) &
fi
# a file the loops rewrite (echo > truncates first): read until not empty
rd() {
	v=
	while [ -z "$v" ]; do v=$(cat "$1"); done
	echo "$v"
}
stty -echo </dev/ttyS0 2>/dev/null
echo "KMTEST MIG-READY"
while :; do
	read -r line </dev/ttyS0 || { sleep 1; continue; }
	case "$line" in
	check*)
		tag=${line#check }
		c1=$(rd /data/counter)
		sleep 1
		c2=$(rd /data/counter)
		if md5sum -c /data/blob.md5 >/dev/null 2>&1; then data=ok; else data=BAD; fi
		read -r n max <<EOT
$(rd /data/tick)
EOT
		p=$(cat /data/prev)
		echo "$c2" >/data/prev
		dk=
		if [ -n "$disk" ]; then
			f=$(rd /data/fsynced)
			read -r rn rb <<EOT
$(rd /data/reads)
EOT
			miss=$(dd if=$disk bs=4096 skip=1 count=$f iflag=direct 2>/dev/null | tr -d '\000' |
				awk -v f=$f '$1 == "KMREC" && $3 == ($2 * 2654435761) % 4294967296 { ok[$2 + 0] = 1 }
				END { m = 0; for (j = 1; j <= f; j++) if (!(j in ok)) m++; print m }')
			pf=$(cat /data/prevf 2>/dev/null || echo 0)
			echo "$f" >/data/prevf
			dk=" fsynced=$f prevf=$pf missing=$miss reads=$rn readbad=$rb"
		fi
		echo "KMTEST CHECK $tag data=$data counter=$c1,$c2 prev=$p ticks=$n maxstep=$max date=$(date +%s)$dk"
		;;
	esac
done
INIT
chmod 755 "$st/init"
(cd "$st" && find . | sort | cpio -o -H newc -R 0:0 --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
