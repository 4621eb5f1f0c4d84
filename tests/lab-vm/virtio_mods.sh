#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The kernel modules tests/lab-vm/virtio_test.sh needs, taken from the lab
# kernel's Debian package (decompressed, flat, in load order):
#   virtio_mods.sh IMAGE.deb RELEASE OUTDIR
# OUTDIR/guest/: what a Linux guest needs for virtio-pci, -blk and -net that
#   its kernel does not have built in (6.1: virtio, virtio_ring, virtio_pci
#   and its libraries are modules; 6.12 builds those in), with failover and
#   net_failover, which virtio_net needs; OUTDIR/guest/order lists them.
# OUTDIR/host/: the bridge (llc, stp, bridge) and loop for the lab host,
#   whose base initramfs ships neither; OUTDIR/host/order.
set -eu
deb=${1:?usage: virtio_mods.sh IMAGE.deb RELEASE OUTDIR}
rel=${2:?release}
out=${3:?outdir}
guest="failover net_failover virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
	virtio_pci virtio_blk virtio_net"
host="llc stp bridge loop"
x=$(mktemp -d)
trap 'rm -rf "$x"' EXIT
mkdir -p "$out/guest" "$out/host"
timeout 600 dpkg-deb --fsys-tarfile "$deb" |
	tar -x -C "$x" --wildcards "./lib/modules/$rel/kernel/*.ko*"
for side in guest host; do
	eval "list=\$$side"
	: >"$out/$side/order"
	for m in $list; do
		f=$(find "$x/lib/modules/$rel/kernel" -name "$m.ko" -o -name "$m.ko.xz" \
			-o -name "$m.ko.zst" | head -n 1)
		[ -n "$f" ] || continue	# built in
		case "$f" in
		*.xz) xz -dc "$f" >"$out/$side/$m.ko" ;;
		*.zst) zstd -qdc "$f" >"$out/$side/$m.ko" ;;
		*) cp "$f" "$out/$side/$m.ko" ;;
		esac
		echo "$m" >>"$out/$side/order"
	done
done
