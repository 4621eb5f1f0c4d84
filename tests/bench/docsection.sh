#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# docsection.sh DOC NAME FILE: replace the lines of DOC from
# "<!-- bench:NAME:begin -->" to "<!-- bench:NAME:end -->" with FILE (which
# carries the two markers itself).  Used by `make bench` (NAME lab) and for
# the real-KVM figures (NAME realkvm, tests/bench/realkvm.sh).
set -eu
doc=$1 name=$2 new=$3
grep -q "^<!-- bench:$name:begin -->" "$doc" || {
	echo "docsection: $doc has no bench:$name markers" >&2
	exit 1
}
awk -v new="$new" -v b="<!-- bench:$name:begin -->" -v e="<!-- bench:$name:end -->" '
	$0 == b { while ((getline l < new) > 0) print l; skip = 1; next }
	$0 == e { skip = 0; next }
	!skip' "$doc" >"$doc.tmp"
mv "$doc.tmp" "$doc"
