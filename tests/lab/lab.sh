#!/bin/bash
# The kmigrate lab: one or two emulated KVM hypervisor hosts (QEMU, TCG,
# nested SVM) booting Debian's own kernel, joined by two private links: a
# management network and a dedicated migration network.
#
#   lab.sh run   --kernel 6.1|6.12|RELEASE|DIR [--hosts 1|2] [--payload DIR]
#                [--timeout SEC] [--mem MiB] [--smp N] [--log-dir DIR]
#                -- COMMAND...
#   lab.sh shell --kernel 6.1|6.12|RELEASE|DIR [--hosts 1|2] [--payload DIR]
#                [--mem MiB] [--smp N] [--log-dir DIR]
#   lab.sh prepare --kernel 6.1|6.12|RELEASE|DIR   (fetch the kernel, build
#                                              the cached base initramfs)
#
# See tests/lab/README.md for the layout inside a host, the environment
# COMMAND gets, and the exit statuses (COMMAND's, 124 timeout, 125 lab).
set -euo pipefail
shopt -s inherit_errexit

T0=$EPOCHREALTIME
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=${TOP:-$(cd "$LAB_DIR/../.." && pwd)}
BUILD=${BUILD:-$TOP/build}
CACHE=${LAB_CACHE:-$TOP/.cache/lab}
PATH=$PATH:/usr/sbin:/sbin
export LC_ALL=C

# Modules loaded at boot (modprobe resolves their dependencies) and modules
# only shipped for tests to load (kTLS and its ciphers, qdiscs for shaping).
LOAD_MODULES="kvm_amd virtio_pci virtio_net virtio_console"
SHIP_MODULES="tls gcm ghash_generic ctr chacha20poly1305 algif_aead
	sch_netem sch_tbf sch_htb tun"
# Host programs put into every host, with their shared libraries.  dash is
# /bin/sh as on Debian (busybox's sh would run its own applets before PATH,
# shadowing iproute2's ip and tc); bash is there for scripts and the shell.
HOST_TOOLS="dash bash ip ss tc"

BOOT_TIMEOUT=${LAB_BOOT_TIMEOUT:-90}	# seconds from QEMU start to COMMAND start
FAIL_GRACE=${LAB_FAIL_GRACE:-20}	# seconds the other host gets after one failed
QEMU=${LAB_QEMU:-qemu-system-x86_64}
QEMU_CPU=${LAB_QEMU_CPU:-qemu64,+svm,+npt}

# What in a console log means the kernel is unwell (kmemleak's reports come
# from a debug kernel, tests/lab/kdebug.sh).
OOPS_RE='Kernel panic|BUG:|Oops|WARNING:|general protection fault|Call Trace:|unreferenced object 0x'
STALL_RE='soft lockup|hard LOCKUP|rcu.*stall|blocked for more than|hung_task'

say() { echo "lab: $*" >&2; }
die() { say "$*"; exit 125; }	# the lab itself failed
usage() {
	sed -n '/^#   lab.sh/,/^#$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
	exit 2
}

# ---------------------------------------------------------------- kernels

# Kernel line (6.1, 6.12) or release (6.1.0-56-amd64) -> release.  A
# directory (a path with a slash) is a locally built kernel laid out as the
# cache's kernel/<rel>/ is (tests/lab/kdebug_build.sh makes one): vmlinux
# and/or vmlinuz, config, meta/, a file "release" and, instead of image.deb,
# the modules under modules/ (relative to lib/modules/<rel>/); it sets
# LOCAL_KDIR.
resolve_release() {
	local want=$1 rel pat
	case "$want" in
	*/*)
		[ -d "$want" ] || { say "--kernel $want: no such directory"; exit 2; }
		if ! rel=$(cat "$want/release" 2>/dev/null) || [ -z "$rel" ]; then
			die "--kernel $want: no release file (is it a kernel from tests/lab/kdebug_build.sh?)"
		fi
		echo "$rel"
		;;
	6.1 | 6.12)
		if rel=$("$TOP/scripts/lab-kernel.sh" "$want" 2>/dev/null); then
			echo "$rel"
			return
		fi
		# No headers here (a lab-only machine): newest image apt knows.
		case "$want" in
		6.1) pat='^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
		6.12) pat='^linux-image-6\.12\.[0-9]+\+deb12-amd64$' ;;
		esac
		rel=$(apt-cache search --names-only "$pat" 2>/dev/null |
			awk '{sub(/^linux-image-/, "", $1); print $1}' | sort -V | tail -n 1)
		[ -n "$rel" ] || die "no kernel release for line $want (no headers, apt knows no linux-image; run scripts/deps.sh and apt-get update)"
		echo "$rel"
		;;
	[0-9]*.*-amd64) echo "$want" ;;
	*) say "unknown kernel '$want' (use 6.1, 6.12, a release like 6.1.0-56-amd64 or a kernel directory)"; exit 2 ;;
	esac
}

# Uncompressed ELF vmlinux from a bzImage, so QEMU boots it through PVH and
# the guest skips decompressing itself (saves ~3 s under TCG).  Best effort.
extract_vmlinux() {
	local bz=$1 out=$2 magic cmd off shoff ent num
	for magic in xz zstd gzip; do
		case $magic in
		xz) off=$'\xfd7zXZ\x00' cmd="xz -dc" ;;
		zstd) off=$'\x28\xb5\x2f\xfd' cmd="zstd -dc" ;;
		gzip) off=$'\x1f\x8b\x08' cmd="gzip -dc" ;;
		esac
		command -v "${cmd%% *}" >/dev/null || continue
		off=$(grep -aob "$off" "$bz" 2>/dev/null | head -n 1 | cut -d: -f1) || true
		[ -n "$off" ] || continue
		# The stream is followed by other data: the decompressor complains.
		tail -c +$((off + 1)) "$bz" | $cmd >"$out" 2>/dev/null || true
		if [ "$(head -c 4 "$out")" = $'\x7fELF' ]; then
			shoff=$(od -An -t u8 -j 40 -N 8 "$out" | tr -d ' ')
			ent=$(od -An -t u2 -j 58 -N 2 "$out" | tr -d ' ')
			num=$(od -An -t u2 -j 60 -N 2 "$out" | tr -d ' ')
			[ "$(stat -c %s "$out")" -ge $((shoff + ent * num)) ] && return 0
		fi
	done
	rm -f "$out"
	return 1
}

# $CACHE/kernel/<rel>/: image.deb (Debian's linux-image package), vmlinuz,
# vmlinux, config, and meta/ (modules.dep made by depmod, modules.builtin*,
# and modules.order saved as "order").  Neither module files nor files named
# modules.order are kept here: kbuild's "make clean" with M=<top> deletes
# those (*.ko, *.ko.*, modules.order) anywhere below the tree, .cache too.
kernel_ok() {
	local f
	for f in .ok vmlinuz config meta/modules.dep meta/modules.builtin \
		meta/modules.builtin.modinfo meta/order; do
		[ -f "$1/$f" ] || return 1
	done
	[ -f "$1/image.deb" ] || [ -d "$1/modules" ]
}

fetch_kernel() {
	local rel=$1 kd=$CACHE/kernel/$1 tmp deb
	kernel_ok "$kd" && return 0
	say "fetching kernel $rel (once; cached in ${kd#"$TOP"/})"
	rm -rf "$kd"
	tmp=$CACHE/kernel/.tmp.$rel
	rm -rf "$tmp"	# from a run that was killed (we hold the lock)
	mkdir -p "$tmp/root"
	if ! (cd "$tmp" && timeout 900 apt-get download -q "linux-image-$rel" >download.log 2>&1); then
		sed 's/^/  /' "$tmp/download.log" >&2 || true
		rm -rf "$tmp"
		die "cannot download linux-image-$rel with apt-get (try 'apt-get update'; is the release still in the archive?)"
	fi
	deb=$(echo "$tmp"/linux-image-*.deb)
	timeout 600 dpkg-deb -x "$deb" "$tmp/root" || { rm -rf "$tmp"; die "cannot unpack $deb"; }
	[ -f "$tmp/root/boot/vmlinuz-$rel" ] || { rm -rf "$tmp"; die "no vmlinuz-$rel in $deb"; }
	depmod -b "$tmp/root" "$rel" || { rm -rf "$tmp"; die "depmod failed for $rel"; }
	mkdir -p "$kd/meta"
	mv "$deb" "$kd/image.deb"
	mv "$tmp/root/boot/vmlinuz-$rel" "$kd/vmlinuz"
	mv "$tmp/root/boot/config-$rel" "$kd/config"
	mv "$tmp/root/lib/modules/$rel"/modules.{dep,builtin,builtin.modinfo} "$kd/meta/"
	mv "$tmp/root/lib/modules/$rel/modules.order" "$kd/meta/order"	# (see above)
	rm -rf "$tmp"
	if grep -q '^CONFIG_PVH=y' "$kd/config" && extract_vmlinux "$kd/vmlinuz" "$kd/vmlinux"; then
		:
	else
		say "booting the compressed kernel (no PVH vmlinux): slower"
	fi
	touch "$kd/.ok"
}

# Print the module files (relative to modules/) of the named modules and of
# everything they depend on; names may use - or _.
module_closure() {
	local md=$1
	shift
	awk -v want="$*" '
	FILENAME == ARGV[1] { b = $1; sub(/.*\//, "", b); sub(/\.ko.*/, "", b); gsub(/-/, "_", b); builtin[b] = 1; next }
	{
		k = $1; sub(/:$/, "", k)
		b = k; sub(/.*\//, "", b); sub(/\.ko.*/, "", b); gsub(/-/, "_", b)
		path[b] = k; deps[b] = ""
		for (i = 2; i <= NF; i++) deps[b] = deps[b] " " $i
	}
	END {
		n = split(want, w, /[ \t\n]+/)
		for (i = 1; i <= n; i++) {
			m = w[i]; gsub(/-/, "_", m)
			if (m == "") continue
			if (m in path) {
				print path[m]
				c = split(deps[m], d, " ")
				for (j = 1; j <= c; j++) print d[j]
			} else if (!(m in builtin))
				print "lab: module " m " not found (skipped)" > "/dev/stderr"
		}
	}' "$md/modules.builtin" "$md/modules.dep" | sort -u
}

# Copy the shared libraries (and the loader) the ELF files given on stdin
# need into $1, skipping those listed in file $2.
copy_libs() {
	local dest=$1 have=$2 f lib
	while IFS= read -r f; do
		if [ ! -f "$f" ] || [ "$(head -c 4 "$f" | tr -d '\0')" != $'\x7fELF' ]; then
			continue
		fi
		timeout 20 ldd "$f" 2>/dev/null | awk '
			$2 == "=>" && $3 ~ /^\// { print $3 }
			$2 == "=>" && $3 == "not" { print "lab: " $1 " not found (needed by a payload file)" > "/dev/stderr" }
			$1 ~ /^\// { print $1 }' || true
	done | sort -u | while IFS= read -r lib; do
		grep -qxF "${lib#/}" "$have" && continue
		mkdir -p "$dest$(dirname "$lib")"
		cp -L "$lib" "$dest$lib"
	done
}

# The cached base initramfs of a release: busybox, init, host tools and their
# libraries, and the modules.  Prints its path.
base_key() {
	local t p
	{
		cat "${BASH_SOURCE[0]}" "$LAB_DIR/init" "$KDIR_C/config"
		sha256sum "$(command -v busybox)"
		for t in $HOST_TOOLS; do
			p=$(command -v "$t" 2>/dev/null) && stat -L -c '%n %s %Y' "$p"
		done
	} | sha256sum | cut -c1-16
}

build_base() {
	local rel=$1 kd=$KDIR_C key st out t p m mods
	key=$(base_key)
	out=$CACHE/base/$rel-$key
	# (modules.order: see kernel_ok about "make clean")
	if [ -f "$out.ok" ] && [ -f "$out/lib/modules/$rel/modules.order" ]; then
		echo "$out"
		return
	fi
	say "building the base initramfs for $rel"
	rm -rf "$CACHE/base/$rel"-*
	st=$out.tmp
	rm -rf "$st" "$st.x"
	mkdir -p "$st"
	(cd "$st" && mkdir -p bin sbin usr/bin usr/sbin lib lib64 etc/lab dev proc sys tmp run root \
		mnt opt/kmigrate/bin var/log "lib/modules/$rel")
	cp "$LAB_DIR/init" "$st/init"
	chmod 755 "$st/init"
	cp "$(command -v busybox)" "$st/bin/busybox"
	for t in $("$st/bin/busybox" --list); do
		[ -e "$st/bin/$t" ] || ln -s busybox "$st/bin/$t"
	done
	ln -s ../../bin/busybox "$st/usr/bin/env"
	# Host tools go to /usr/{s,}bin, ahead of busybox on PATH.
	for t in $HOST_TOOLS; do
		p=$(command -v "$t" 2>/dev/null) || { say "host tool $t not found (skipped)"; continue; }
		p=$(readlink -f "$p")
		case "$p" in */sbin/*) cp "$p" "$st/usr/sbin/$t" ;; *) cp "$p" "$st/usr/bin/$t" ;; esac
	done
	[ -e "$st/usr/bin/bash" ] && ln -sf ../usr/bin/bash "$st/bin/bash"
	[ -e "$st/usr/bin/dash" ] && ln -sf ../usr/bin/dash "$st/bin/sh"
	: >"$st.have"
	find "$st/usr/bin" "$st/usr/sbin" -type f | copy_libs "$st" "$st.have"
	# Modules, from the package (or a local kernel's modules/),
	# decompressed (busybox modprobe and fast loading want that).
	# shellcheck disable=SC2086 # lists of words
	mods=$(module_closure "$kd/meta" $LOAD_MODULES $SHIP_MODULES)
	mkdir -p "$st.x/lib/modules/$rel"
	if [ -z "$mods" ]; then
		:	# all built in
	elif [ -f "$kd/image.deb" ]; then
		# shellcheck disable=SC2046,SC2086 # one word per module file
		timeout 600 dpkg-deb --fsys-tarfile "$kd/image.deb" |
			tar -x -C "$st.x" $(printf "./lib/modules/$rel/%s " $mods)
	else
		# shellcheck disable=SC2086 # one word per module file
		(cd "$kd/modules" && cp --parents $mods "$st.x/lib/modules/$rel/")
	fi
	for m in $mods; do
		p=$st/lib/modules/$rel/${m%.ko*}.ko
		mkdir -p "$(dirname "$p")"
		case "$m" in
		*.ko.xz) xz -dc "$st.x/lib/modules/$rel/$m" >"$p" ;;
		*.ko.zst) zstd -qdc "$st.x/lib/modules/$rel/$m" >"$p" ;;
		*.ko.gz) gzip -dc "$st.x/lib/modules/$rel/$m" >"$p" ;;
		*) mv "$st.x/lib/modules/$rel/$m" "$p" ;;
		esac
	done
	rm -rf "$st.x"
	cp "$kd"/meta/modules.{builtin,builtin.modinfo} "$st/lib/modules/$rel/"
	cp "$kd/meta/order" "$st/lib/modules/$rel/modules.order"
	depmod -b "$st" "$rel" || die "depmod failed on the base initramfs"
	# A few files every host has.
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$st/etc/passwd"
	printf 'root:x:0:\ntty:x:5:\n' >"$st/etc/group"
	cat >"$st/etc/hosts" <<-'EOF'
		127.0.0.1	localhost
		::1		localhost
		fd00:6b6d:1::a	lab-a
		fd00:6b6d:1::b	lab-b
		fd00:6b6d:2::a	lab-a-mig
		fd00:6b6d:2::b	lab-b-mig
	EOF
	cat >"$st/etc/profile" <<-'EOF'
		[ -r /etc/lab/env ] && . /etc/lab/env
		export HOME=/root
		PS1="$(hostname):\w# "
		cd /opt/kmigrate 2>/dev/null || cd /
	EOF
	(cd "$st" && find . | sed 's|^\./||' | sort) >"$st.have"
	(cd "$st" && find . | sort | cpio -o -H newc -R 0:0 --quiet) >"$out.cpio.tmp"
	rm -rf "$out"
	mv "$st" "$out"
	mv "$st.have" "$out.have"
	mv "$out.cpio.tmp" "$out.cpio"
	touch "$out.ok"
	echo "$out"
}

# Kernel and base initramfs for a release, under a lock so parallel runs on
# a cold cache do not trip over each other.  Sets KDIR_C and BASE.
prepare() {
	local rel=$1
	mkdir -p "$CACHE/kernel" "$CACHE/base"
	exec 8>"$CACHE/lock"
	flock -w 1800 8 || die "timed out waiting for the lab cache lock"
	if [ -n "$LOCAL_KDIR" ]; then
		KDIR_C=$LOCAL_KDIR
		kernel_ok "$KDIR_C" || die "--kernel $KDIR_C: not a complete kernel directory (needs .ok, vmlinuz, config, meta/, modules/)"
	else
		fetch_kernel "$rel"
		KDIR_C=$CACHE/kernel/$rel
	fi
	BASE=$(build_base "$rel")
	exec 8>&-
}

# ---------------------------------------------------------------- per run

# The per-run initramfs: payload, its libraries, extra tools, the command,
# and kmigrate's module for modprobe.
build_run_cpio() {
	local st=$RUN/stage m t p
	mkdir -p "$st/opt/kmigrate" "$st/etc/lab"
	if [ -n "$PAYLOAD" ]; then
		cp -a "$PAYLOAD/." "$st/opt/kmigrate/"
		find "$st/opt/kmigrate" -type f ! -name '*.ko' | copy_libs "$st" "$BASE.have"
		# Modules in the payload also go to updates/, so "modprobe kmigrate" works.
		if [ -n "$(find "$st/opt/kmigrate" -maxdepth 2 -name '*.ko' -print -quit)" ]; then
			m=$RUN/modtree/lib/modules/$REL
			mkdir -p "$m/updates"
			cp -a "$BASE/lib/modules/$REL/." "$m/"
			find "$st/opt/kmigrate" -maxdepth 2 -name '*.ko' -exec cp {} "$m/updates/" \;
			depmod -b "$RUN/modtree" "$REL" || die "depmod failed on the payload's modules"
			mkdir -p "$st/lib/modules/$REL"
			cp -a "$m/updates" "$m"/modules.* "$st/lib/modules/$REL/"
			rm -rf "$RUN/modtree"
		fi
	fi
	for t in ${LAB_TOOLS:-}; do
		p=$(command -v "$t" 2>/dev/null) || die "LAB_TOOLS: $t not found"
		p=$(readlink -f "$p")
		mkdir -p "$st$(dirname "$p")"
		cp "$p" "$st$p"
		echo "$st$p"
	done | copy_libs "$st" "$BASE.have"
	printf '%s\n' "$COMMAND" >"$st/etc/lab/cmd"
	(cd "$st" && find . | sort | cpio -o -H newc -R 0:0 --quiet) >"$RUN/run.cpio"
	cat "$BASE.cpio" "$RUN/run.cpio" >"$RUN/initrd"
	rm -rf "$st" "$RUN/run.cpio"
}

# Start host $1 (a or b, index $2) in the background; sets QPID[$2].
# shellcheck disable=SC2054 # the commas are QEMU's
start_host() {
	local h=$1 i=$2 peer=a n kernel net args cmdline logs=${LOGS//,/,,}
	[ "$h" = a ] && peer=b
	kernel=$KDIR_C/vmlinux
	[ -f "$kernel" ] || kernel=$KDIR_C/vmlinuz
	cmdline="console=ttyS0,115200 panic=-1 lab.host=$h lab.hosts=$HOSTS lab.mode=$MODE"
	if [ "$MODE" = shell ] && [ "$h" = a ]; then
		# Kernel messages below warning level stay off the terminal.
		cmdline="$cmdline quiet lab.rows=${TERM_ROWS:-0} lab.cols=${TERM_COLS:-0}"
	fi
	# One TCG thread per host (LAB_TCG_THREAD=multi: one per vCPU).  With a
	# thread per vCPU, a vCPU could keep running stale translated code
	# while another patched the kernel's text: KVM flips the
	# preempt-notifier static key in finish_task_switch() whenever the
	# first VM is created or the last destroyed, and the lab saw CPUs spin
	# there for minutes (soft lockups, an int3 oops in __schedule, a guest
	# triple fault).  One thread serialises the vCPUs, as the hardware's
	# cross-modifying-code rules assume; two hosts still use two cores.
	args=(-name "kmlab-$TAG-$h" -machine q35 -accel "tcg,thread=${LAB_TCG_THREAD:-single}" -cpu "$QEMU_CPU"
		-m "$MEM" -smp "$SMP" -nodefaults -no-user-config -display none -no-reboot
		-kernel "$kernel" -initrd initrd -append "$cmdline")
	# ttyS0 kernel console, ttyS1 status lines, and COMMAND's output on the
	# virtio serial port "lab.out" (100 times the speed of a UART under TCG).
	if [ "$MODE" = shell ] && [ "$h" = a ]; then
		args+=(-chardev "stdio,id=con,mux=on,signal=off,logfile=$logs/$h-console.log"
			-serial chardev:con -mon chardev=con,mode=readline)
	else
		args+=(-chardev "file,id=con,path=$logs/$h-console.log" -serial chardev:con)
	fi
	args+=(-chardev "file,id=st,path=$h.status" -serial chardev:st
		-device virtio-serial-pci,id=vser -chardev "file,id=out,path=$logs/$h-output.log"
		-device virtserialport,bus=vser.0,chardev=out,name=lab.out)
	# Two NICs, found inside by MAC: 52:54:00:6b:0<net>:0<host>.  The links
	# are unix datagram sockets in the run directory (relative paths: QEMU
	# runs there), so parallel runs never share a port or a name, and neither
	# QEMU waits for the other.  One host: the NICs hang on empty hubs.
	for n in 1 2; do
		if [ "$HOSTS" = 2 ]; then
			net="dgram,id=net$n,local.type=unix,local.path=$h-net$n.sock,remote.type=unix,remote.path=$peer-net$n.sock"
		else
			net="hubport,id=net$n,hubid=$n"
		fi
		args+=(-netdev "$net" -device "virtio-net-pci,netdev=net$n,mac=52:54:00:6b:0$n:0$h")
	done
	# Shared storage (LAB_SHARED_DISK=MiB): one raw image in the run
	# directory that every host sees as the same bytes, a virtio disk with
	# the serial "kmshared" (as a SAN LUN is seen); the two QEMUs share this
	# machine's page cache for it (writethrough, no image locking).
	if [ -n "${LAB_SHARED_DISK:-}" ]; then
		args+=(-drive "file=shared.img,format=raw,if=none,id=shd,cache=writethrough,file.locking=off"
			-device "virtio-blk-pci,drive=shd,serial=kmshared")
	fi
	: >"$RUN/$h.status"
	: >"$LOGS/$h-output.log"
	if [ "$MODE" = shell ] && [ "$h" = a ]; then
		(cd "$RUN" && exec setpriv --pdeathsig KILL "$QEMU" "${args[@]}" 0<&3 2>"$h.qemu.err") &
	else
		(cd "$RUN" && exec setpriv --pdeathsig KILL "$QEMU" "${args[@]}" </dev/null >"$h.qemu.out" 2>"$h.qemu.err") &
	fi
	QPID[i]=$!
	STARTED[i]=$SECONDS
	T_START[i]=$EPOCHREALTIME
}

elapsed() { if [ -n "$1" ] && [ -n "$2" ]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; else echo -; fi; }

host_alive() { kill -0 "${QPID[$1]}" 2>/dev/null; }

# Why host $1 failed, from its QEMU errors and console.
report_host_failure() {
	local h=$1 con=$LOGS/$1-console.log
	local err first
	err=$(grep -v 'is not connected to host network' "$RUN/$h.qemu.err" 2>/dev/null | tail -n 20) || true
	if [ -n "$err" ]; then
		say "host $h: QEMU said:"
		printf '%s\n' "$err" | sed 's/^/  /' >&2
	fi
	# An oops or panic: from its first line on; otherwise the last lines.
	first=$(grep -n -m 1 -E "$OOPS_RE" "$con" 2>/dev/null | cut -d: -f1) || true
	if [ -n "$first" ]; then
		say "host $h: the kernel oopsed or panicked; its console ($con) from there:"
		{ sed -n "${first},$((first + 40))p" "$con"; grep -m 1 'Kernel panic' "$con"; } | sed 's/^/  /' >&2
	else
		say "host $h: last lines of its console ($con):"
		tail -n 25 "$con" 2>/dev/null | sed 's/^/  /' >&2
	fi
	return 0
}

kill_hosts() {
	local i p alive
	for p in "${QPID[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for i in $(seq 20); do
		alive=
		for p in "${QPID[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ -z "$alive" ] && break
		sleep 0.1
	done
	for p in "${QPID[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	for p in "${QPID[@]}"; do wait "$p" 2>/dev/null || true; done
}

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	set +e
	kill_hosts
	for p in "${TAILS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${TAILS[@]}"; do wait "$p" 2>/dev/null; done
	[ -n "$STTY_SAVED" ] && stty "$STTY_SAVED" <&3 2>/dev/null
	if [ -n "$RUN" ] && [ -d "$RUN" ]; then
		if [ "$KEEP" = 1 ] || { [ "$rc" != 0 ] && [ "$LOGS" = "$RUN" ]; }; then
			rm -f "$RUN/initrd" "$RUN"/*.sock
			[ "$LOGS" = "$RUN" ] && say "logs kept in $RUN"
		else
			rm -rf "$RUN"
		fi
	fi
	exit "$rc"
}

# ---------------------------------------------------------------- main

[ $# -ge 1 ] || usage
ORIG_ARGS=("$@")	# for the one retry of a boot that hung
MODE=$1
shift
case "$MODE" in run | shell | prepare) ;; -h | --help | help) usage ;; *) usage ;; esac

KERNEL='' HOSTS=1 PAYLOAD='' TIMEOUT=600 MEM=1024 SMP='' LOGDIR=${LAB_LOG_DIR:-}
while [ $# -gt 0 ]; do
	opt=$1
	case "$opt" in
	--) shift; break ;;
	--*=*) set -- "${opt%%=*}" "${opt#*=}" "${@:2}"; continue ;;
	--kernel | --hosts | --payload | --timeout | --mem | --smp | --log-dir)
		[ $# -ge 2 ] || { say "$opt needs a value"; exit 2; } ;;
	-h | --help) usage ;;
	*) say "unknown argument '$opt'"; usage ;;
	esac
	case "$opt" in
	--kernel) KERNEL=$2 ;;
	--hosts) HOSTS=$2 ;;
	--payload) PAYLOAD=$2 ;;
	--timeout) TIMEOUT=$2 ;;
	--mem) MEM=$2 ;;
	--smp) SMP=$2 ;;
	--log-dir) LOGDIR=$2 ;;
	esac
	shift 2
done
COMMAND="$*"
[ -n "$KERNEL" ] || { say "--kernel is required"; exit 2; }
case "$HOSTS" in 1 | 2) ;; *) say "--hosts must be 1 or 2"; exit 2 ;; esac
case "$TIMEOUT$MEM${SMP:-1}" in *[!0-9]*) say "--timeout, --mem and --smp take numbers"; exit 2 ;; esac
# A slow kernel (the debug line, tests/lab/kdebug.sh) scales every
# COMMAND deadline at once.
case "${LAB_TIMEOUT_SCALE:-1}" in '' | *[!0-9]* | 0) say "LAB_TIMEOUT_SCALE takes a positive integer"; exit 2 ;; esac
TIMEOUT=$((TIMEOUT * ${LAB_TIMEOUT_SCALE:-1}))
# On a 2-core build machine two 1-vCPU hosts boot fastest (see README).
[ -n "$SMP" ] || SMP=$((3 - HOSTS))
if [ "$MODE" = run ] && [ -z "$COMMAND" ]; then say "run needs '-- COMMAND'"; exit 2; fi
if [ "$MODE" = shell ] && [ -n "$COMMAND" ]; then say "shell takes no COMMAND"; exit 2; fi
if [ -n "$PAYLOAD" ]; then
	[ -d "$PAYLOAD" ] || { say "payload $PAYLOAD is not a directory"; exit 2; }
	PAYLOAD=$(cd "$PAYLOAD" && pwd)
fi
for t in "$QEMU" busybox cpio depmod setpriv flock; do
	command -v "$t" >/dev/null || die "$t not found; run scripts/deps.sh lab"
done

REL=$(resolve_release "$KERNEL")
LOCAL_KDIR=
case "$KERNEL" in */*) LOCAL_KDIR=$(cd "$KERNEL" && pwd) ;; esac
KDIR_C='' BASE=
prepare "$REL"
[ "$MODE" = prepare ] && { echo "$REL"; exit 0; }

QPID=() STARTED=() T_START=() T_READY=() T_EXIT=() T_DOWN='' T_GONE='' TAILS=() RUN='' LOGS='' STTY_SAVED='' KEEP=${LAB_KEEP:-0}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$BUILD/lab"
# Logs of failed runs are kept; forget those older than two days.
find "$BUILD/lab" -maxdepth 1 -name 'run.*' -mtime +2 -exec rm -rf {} + 2>/dev/null || true
RUN=$(mktemp -d "$BUILD/lab/run.XXXXXX")
TAG=${LAB_TAG:-${RUN##*.}}
if [ -n "$LOGDIR" ]; then
	mkdir -p "$LOGDIR"
	LOGS=$(cd "$LOGDIR" && pwd)
else
	LOGS=$RUN
fi
build_run_cpio
if [ -n "${LAB_SHARED_DISK:-}" ]; then
	case $LAB_SHARED_DISK in
	*[!0-9]* | 0) die "LAB_SHARED_DISK: a size in MiB, not '$LAB_SHARED_DISK'" ;;
	esac
	truncate -s "${LAB_SHARED_DISK}M" "$RUN/shared.img"
fi

HOSTLIST=(a)
[ "$HOSTS" = 2 ] && HOSTLIST=(a b)
TERM_ROWS='' TERM_COLS=
if [ "$MODE" = shell ]; then
	exec 3<&0	# QEMU's stdin (bash gives background jobs /dev/null)
	if [ -t 3 ]; then
		STTY_SAVED=$(stty -g <&3)
		read -r TERM_ROWS TERM_COLS < <(stty size <&3) || true
	fi
	[ "$HOSTS" = 2 ] && start_host b 1
	cat >&2 <<-EOF
		lab: host a ($REL, $MEM MiB, $SMP vCPU) on this terminal; Ctrl-A X quits, Ctrl-A C is the QEMU monitor.
	EOF
	[ "$HOSTS" = 2 ] && cat >&2 <<-EOF
		lab: host b runs in the background (console: $LOGS/b-console.log); from a: 'lab-peer'
		lab:   (telnet to b over the management network: 198.18.1.2 / fd00:6b6d:1::b)
	EOF
	start_host a 0
	wait "${QPID[0]}" || true
	exit 0
fi

# ---- run mode: start, stream the output, watch the deadlines.
# Prefix whole lines, as they come (mawk reads pipes in blocks unless told).
AWK_LINES=()
awk -W version 2>&1 | grep -q mawk && AWK_LINES=(-W interactive)
for i in "${!HOSTLIST[@]}"; do
	start_host "${HOSTLIST[$i]}" "$i"
done
for i in "${!HOSTLIST[@]}"; do
	h=${HOSTLIST[$i]}
	if [ "$HOSTS" = 2 ]; then
		tail -s 0.2 --pid="${QPID[$i]}" -n +1 -f "$LOGS/$h-output.log" |
			awk "${AWK_LINES[@]}" -v p="$h| " '{ print p $0; fflush() }' &
	else
		tail -s 0.2 --pid="${QPID[$i]}" -n +1 -f "$LOGS/$h-output.log" &
	fi
	TAILS+=($!)
done

declare -A RC=() READY=() FINISHED=()
result='' lab_failed='' timed_out='' fail_at='' boot_hung=''
while :; do
	left=0
	for i in "${!HOSTLIST[@]}"; do
		h=${HOSTLIST[$i]}
		[ -n "${FINISHED[$h]:-}" ] && continue
		st=$(cat "$RUN/$h.status" 2>/dev/null || true)
		case "$st" in
		*LAB-EXIT*)
			RC[$h]=$(sed -n 's/^LAB-EXIT \([0-9]*\).*/\1/p' "$RUN/$h.status" | tail -n 1)
			T_EXIT[i]=$EPOCHREALTIME
			: "${T_READY[$i]:=${T_EXIT[$i]}}"	# too quick to see it ready
			FINISHED[$h]=1
			if [ "${RC[$h]}" != 0 ] && [ -z "$fail_at" ]; then fail_at=$SECONDS; fi
			continue
			;;
		*LAB-FAIL*)
			say "host $h: $(sed -n 's/^LAB-FAIL //p' "$RUN/$h.status" | head -n 1)"
			report_host_failure "$h"
			lab_failed=1
			;;
		*LAB-READY*)
			[ -n "${READY[$h]:-}" ] || { READY[$h]=$SECONDS; T_READY[i]=$EPOCHREALTIME; }
			if ! host_alive "$i"; then
				say "host $h: QEMU exited while COMMAND ran"
				report_host_failure "$h"
				lab_failed=1
			elif [ "$TIMEOUT" -gt 0 ] && [ $((SECONDS - ${READY[$h]})) -ge "$TIMEOUT" ]; then
				say "host $h: COMMAND still running after $TIMEOUT s: killed"
				timed_out=1
			fi
			;;
		*)
			if ! host_alive "$i"; then
				say "host $h: QEMU exited before the host came up"
				report_host_failure "$h"
				lab_failed=1
			elif [ $((SECONDS - STARTED[i])) -ge "$BOOT_TIMEOUT" ]; then
				say "host $h: not up after $BOOT_TIMEOUT s"
				report_host_failure "$h"
				lab_failed=1 boot_hung=1
			fi
			;;
		esac
		left=$((left + 1))
	done
	[ -n "$lab_failed$timed_out" ] && break
	[ "$left" = 0 ] && break
	if [ -n "$fail_at" ] && [ $((SECONDS - fail_at)) -ge "$FAIL_GRACE" ]; then
		say "a host failed; the other did not finish within $FAIL_GRACE s: stopped"
		break
	fi
	sleep 0.2
done
# With one host it has powered itself off by now; two hosts idle after
# COMMAND so that neither loses its peer while the other still runs.
T_DOWN=$EPOCHREALTIME
kill_hosts
T_GONE=$EPOCHREALTIME
# Let the output streams finish (tail sees QEMU gone and drains the file).
for p in "${TAILS[@]}"; do
	for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
done
TAILS=()

for h in "${HOSTLIST[@]}"; do
	if grep -qE "$OOPS_RE" "$LOGS/$h-console.log" 2>/dev/null; then
		say "host $h: the kernel logged a WARNING/BUG/Oops: see $LOGS/$h-console.log"
		# Known reports (issue 13's #DB in the host kernel): what they mean.
		sh "$LAB_DIR/console_explain.sh" "$h" "$LOGS/$h-console.log" >&2 || true
		[ "$LOGS" = "$RUN" ] && KEEP=1
	fi
done
# A COMMAND that timed out: show what the host's kernel said about stalls
# (and which modules it had), so the caller can tell a hung emulated host
# from a hung test.
if [ -n "$timed_out" ]; then
	for h in "${HOSTLIST[@]}"; do
		{ grep -E "$STALL_RE|Modules linked in:" "$LOGS/$h-console.log" 2>/dev/null || true; } |
			tail -n 20 | sed "s/^/lab: host $h console: /" >&2
	done
fi
if [ "${LAB_VERBOSE:-0}" = 1 ]; then
	for i in "${!HOSTLIST[@]}"; do
		say "host ${HOSTLIST[$i]}: timings (s): setup $(elapsed "$T0" "${T_START[$i]:-}")" \
			"boot $(elapsed "${T_START[$i]:-}" "${T_READY[$i]:-}")" \
			"command $(elapsed "${T_READY[$i]:-}" "${T_EXIT[$i]:-}")" \
			"teardown $(elapsed "$T_DOWN" "$T_GONE")" \
			"total $(elapsed "$T0" "$EPOCHREALTIME")"
	done
fi
# An emulated kernel that hung while booting (seen, rarely, under TCG) is
# the lab's failure, not the test's: boot the hosts again, once, as long as
# no COMMAND started anywhere.
if [ -n "$boot_hung" ] && [ ${#READY[@]} -eq 0 ] && [ -z "${LAB_BOOT_RETRIED:-}" ]; then
	say "a host hung while booting (logs kept in $RUN): booting the lab again, once"
	rm -f "$RUN/initrd" "$RUN"/*.sock
	export LAB_BOOT_RETRIED=1
	trap - EXIT INT TERM
	exec "$0" "${ORIG_ARGS[@]}"
fi
if [ -n "$lab_failed" ]; then exit 125; fi
if [ -n "$timed_out" ]; then exit 124; fi
for h in "${HOSTLIST[@]}"; do
	[ -n "${RC[$h]:-}" ] && [ "${RC[$h]}" != 0 ] && { result=${RC[$h]}; break; }
done
exit "${result:-0}"
