#!/bin/sh
# Map a lab kernel line (6.1 or 6.12) to the Debian bookworm kernel release
# whose headers are installed here, e.g. "6.1" -> "6.1.0-56-amd64".
# The kernel image used by the lab is the package of exactly that release.
# A kernel directory (a path with a slash, as tests/lab/kdebug_build.sh
# makes for `lab.sh --kernel DIR`) maps to the release it names.
set -eu
line=${1:?usage: lab-kernel.sh 6.1|6.12|KERNEL-DIR}
case "$line" in
*/*)
	if ! rel=$(cat "$line/release" 2>/dev/null) || [ -z "$rel" ]; then
		echo "lab-kernel.sh: $line has no release file (not a kernel from tests/lab/kdebug_build.sh)" >&2
		exit 1
	fi
	echo "$rel"
	exit 0 ;;
6.1)	pat='6.1.0-*-amd64' ;;
6.12)	pat='6.12.*+deb12-amd64' ;;
*)	echo "lab-kernel.sh: unknown kernel line '$line' (use 6.1, 6.12 or a kernel directory)" >&2; exit 2 ;;
esac
rel=$(cd /usr/src && ls -d linux-headers-$pat 2>/dev/null | sed 's/^linux-headers-//' | sort -V | tail -n 1)
if [ -z "$rel" ]; then
	echo "lab-kernel.sh: no linux-headers for kernel line $line; run 'make deps'" >&2
	exit 1
fi
echo "$rel"
