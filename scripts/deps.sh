#!/bin/sh
# Install the Debian bookworm packages kmigrate needs, but only those that
# are missing, so a prepared machine does not touch apt at all.
#   scripts/deps.sh build   compiling the module and the tools
#   scripts/deps.sh lab     building and booting the emulated KVM lab
#   scripts/deps.sh kdebug  building the debug kernel of make check-kdebug
#   scripts/deps.sh all     both (default)
set -eu
build_pkgs="gcc make libc6-dev pkg-config libnl-3-dev libnl-genl-3-dev
	libjson-c-dev libxxhash-dev linux-headers-amd64 linux-headers-6.12-amd64
	linux-source-6.1 sparse dkms kmod xz-utils perl openssl libgnutls28-dev
	python3 iproute2 clang libclang-rt-14-dev gnuplot-nox"
lab_pkgs="qemu-system-x86 busybox-static cpio xz-utils zstd iproute2 kmod procps"
kdebug_pkgs="linux-source-6.1 gcc make flex bison bc perl libelf-dev libssl-dev xz-utils kmod"

case "${1:-all}" in
build)	want=$build_pkgs ;;
lab)	want=$lab_pkgs ;;
kdebug)	want=$kdebug_pkgs ;;
all)	want="$build_pkgs $lab_pkgs" ;;
*)	echo "deps.sh: unknown set '$1' (build, lab, kdebug or all)" >&2; exit 2 ;;
esac

missing=
for p in $want; do
	case " $missing " in *" $p "*) continue ;; esac
	dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
