#!/bin/sh
# Print kmigrate's version: PACKAGE_VERSION from dkms.conf (the one place it
# is set), plus "+g<commit>[-dirty]" when built from a git checkout.
set -eu
top=${1:-.}
base=$(sed -n 's/^PACKAGE_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$top/dkms.conf")
[ -n "$base" ] || base=0.0.0
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1 &&
   rev=$(git -C "$top" describe --always --dirty --abbrev=12 --exclude '*' 2>/dev/null); then
	echo "$base+g$rev"
else
	echo "$base"
fi
