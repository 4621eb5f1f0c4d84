#!/bin/bash
# Build the debug kernel of `make check-kdebug` (KASAN, lockdep, kmemleak,
# DEBUG_ATOMIC_SLEEP, DEBUG_OBJECTS, KVM and kvm_amd built in) from Debian's
# linux-source tarball, once: x86_64 defconfig plus tests/lab/kdebug.config.
#
#   kdebug_build.sh [--print]
#
# Output: CACHE/<version>-<key>/, where CACHE is $KDEBUG_CACHE (default
# $LAB_CACHE/kdebug, LAB_CACHE defaulting to .cache/lab), <version> the
# Debian version of the source package (or a hash of the tarball) and <key>
# a hash of the fragment's options.  In it:
#   src/   the built kernel tree (kmigrate.ko builds against it: KDIR=src)
#   lab/   what `lab.sh --kernel DIR` boots: vmlinuz (no vmlinux, see below), config,
#          release, meta/ (modules.dep, modules.builtin*, order), build -> ../src
# Prints the lab/ directory on stdout.  A cached build is reused.
#
# Environment: LINUX_SOURCE_TARBALL (default /usr/src/linux-source-6.1.tar.xz),
# KDEBUG_JOBS (make -j, default 2), KDEBUG_NICE (default 19).
# Exit status: 0 built or cached, 1 build failed, 2 usage or missing tools.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
fragment=$here/kdebug.config
tarball=${LINUX_SOURCE_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
lab_cache=${LAB_CACHE:-$top/.cache/lab}
cache=${KDEBUG_CACHE:-$lab_cache/kdebug}
jobs=${KDEBUG_JOBS:-2}
nice=${KDEBUG_NICE:-19}

say() { echo "kdebug: $*" >&2; }
fail() { say "$*"; exit 1; }

case "${1:-}" in
'' | --print) ;;
*) say "usage: kdebug_build.sh [--print]"; exit 2 ;;
esac
[ -f "$tarball" ] || { say "$tarball not found: install linux-source-6.1 (make deps-build)"; exit 2; }
for t in make gcc flex bison bc perl depmod xz tar; do
	command -v "$t" >/dev/null || { say "$t not found (make deps-build)"; exit 2; }
done
[ -f /usr/include/openssl/ssl.h ] || [ -n "$(find /usr/include -name opensslv.h -print -quit 2>/dev/null)" ] ||
	{ say "no OpenSSL headers (libssl-dev): the kernel's build tools need them"; exit 2; }
[ -f /usr/include/libelf.h ] || { say "no libelf headers (libelf-dev): objtool needs them"; exit 2; }

# The options of the fragment, normalized: comments, blank lines and order
# do not change the key.
options() {
	sed -n -e 's/^\(CONFIG_[A-Za-z0-9_]*\)=\(.*\)$/\1=\2/p' \
		-e 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set$/\1=n/p' "$fragment" | sort
}
version=$(dpkg-query -W -f '${Version}' linux-source-6.1 2>/dev/null) || version=
if [ -z "$version" ] || [ "$(dpkg-query -W -f '${Status}' linux-source-6.1 2>/dev/null)" != "install ok installed" ]; then
	version=src$(sha256sum "$tarball" | cut -c1-12)
fi
key=$(options | sha256sum | cut -c1-12)
out=$cache/$version-$key
if [ -f "$out/lab/.ok" ]; then
	say "cached: $out"
	echo "$out/lab"
	exit 0
fi
[ "${1:-}" = --print ] && { say "not built yet: $out"; exit 1; }

mkdir -p "$cache"
exec 9>"$cache/lock"
flock -n 9 || { say "waiting for another kdebug build ($cache/lock)"; flock 9; }
if [ -f "$out/lab/.ok" ]; then echo "$out/lab"; exit 0; fi

t0=$SECONDS
src=$out/src
log=$out/build.log
mkdir -p "$out"
if [ ! -f "$src/Makefile" ]; then
	say "unpacking $tarball"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -xJf "$tarball" --strip-components=1 -C "$src.tmp"
	mv "$src.tmp" "$src"
fi
kmake() { nice -n "$nice" make -C "$src" -j"$jobs" "$@"; }

say "configuring: defconfig + $(options | wc -l) options of ${fragment#"$top"/}"
kmake -s defconfig >"$log" 2>&1 || { cat "$log" >&2; fail "make defconfig failed"; }
options | while IFS='=' read -r opt val; do
	case "$val" in
	y) "$src/scripts/config" --file "$src/.config" --enable "$opt" ;;
	n) "$src/scripts/config" --file "$src/.config" --disable "$opt" ;;
	\"*\") v=${val#\"}; "$src/scripts/config" --file "$src/.config" --set-str "$opt" "${v%\"}" ;;
	*) "$src/scripts/config" --file "$src/.config" --set-val "$opt" "$val" ;;
	esac
done
kmake -s olddefconfig >>"$log" 2>&1 || { cat "$log" >&2; fail "make olddefconfig failed"; }
# Every option of the fragment must have survived Kconfig's dependencies.
bad=$(options | while IFS='=' read -r opt val; do
	case "$val" in
	n) grep -qE "^$opt=" "$src/.config" && echo "$opt=n (is $(grep -E "^$opt=" "$src/.config" | cut -d= -f2))" ;;
	*) grep -qxF "$opt=$val" "$src/.config" || echo "$opt=$val (is $(grep -E "^(# )?${opt}[= ]" "$src/.config" || echo unset))" ;;
	esac
done) || true
[ -z "$bad" ] || fail "Kconfig did not keep these options of ${fragment#"$top"/}:
$bad"

say "building $(kmake -s kernelrelease) with make -j$jobs at nice $nice (log: $log; about an hour on 2 shared cores)"
if ! kmake all >>"$log" 2>&1; then
	tail -n 40 "$log" >&2
	fail "kernel build failed (log: $log)"
fi

rel=$(kmake -s kernelrelease)
lab=$out/lab
rm -rf "$lab" "$out/modroot"
mkdir -p "$lab/meta"
# modules_install runs depmod: modules.dep and the builtin lists, as the
# lab's base initramfs wants them (every module the lab uses is built in).
kmake -s INSTALL_MOD_PATH="$out/modroot" modules_install >>"$log" 2>&1 ||
	fail "make modules_install failed (log: $log)"
md=$out/modroot/lib/modules/$rel
cp "$md"/modules.{dep,builtin,builtin.modinfo} "$lab/meta/"
cp "$md/modules.order" "$lab/meta/order"
mkdir -p "$lab/modules"
cp -a "$md/." "$lab/modules/"
rm -f "$lab/modules/build" "$lab/modules/source"
rm -rf "$out/modroot"
# No vmlinux: QEMU would boot it through PVH, whose entry code
# (arch/x86/platform/pvh/enlighten.c) runs KASAN-instrumented before the
# KASAN shadow exists and triple-faults at once (an empty console and QEMU
# gone, seen here).  The bzImage boots through the decompressor.
cp "$src/arch/x86/boot/bzImage" "$lab/vmlinuz"
cp "$src/.config" "$lab/config"
echo "$rel" >"$lab/release"
ln -s ../src "$lab/build"
touch "$lab/.ok"
say "built $rel in $(( (SECONDS - t0) / 60 )) min: $lab"
echo "$lab"
