#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# kmigrate.ko selftests, run inside a lab host (busybox sh, root, devtmpfs
# on /dev, kmigrate.ko not loaded):
#
#	sh /opt/kmigrate/kselftest/run.sh
#
# 1. the module loads and unloads cleanly LOOPS (100) times;
# 2. each harness binary (chardev_test, genl_test, dp_test, modfuzz) runs
#    against a freshly loaded module, which must unload cleanly afterwards;
# 3. rmmod is refused while /dev/kmigrate is open (by another process,
#    then by this shell) and works once it is closed;
# 4. the kernel log has no BUG/WARNING/Oops or kmigrate error lines and
#    the kernel picked up no W/D/B/L taint.
#
# Output is one TAP stream: "ok N desc" / "not ok N desc", numbered across
# run.sh's own checks and the harness binaries' results (renumbered), and
# "1..N" at the end.  Every other line starts with "#".  A binary that
# exits non-zero without reporting a failure, or reports fewer results than
# it planned, counts as one more failure.  The exit status is 1 when
# anything failed.
#
# Environment: KMIGRATE_KO (default: ../kmigrate.ko next to this
# directory), KMIGRATE_LOAD_LOOPS (default 100), KMIGRATE_SELFTESTS (the
# binaries of step 2, default all), and modfuzz's MODFUZZ_SEED,
# MODFUZZ_SECONDS (20), MODFUZZ_ITERATIONS, MODFUZZ_RACES (1) and
# MODFUZZ_LOOPS (50): the short version; `make lab-modfuzz` runs the long
# one.

KSFT_DIR=$(cd "$(dirname "$0")" && pwd)
KO=${KMIGRATE_KO:-$KSFT_DIR/../kmigrate.ko}
LOOPS=${KMIGRATE_LOAD_LOOPS:-100}
PROBE=$KSFT_DIR/kmt_probe
DEV=/dev/kmigrate
TESTS=${KMIGRATE_SELFTESTS:-"chardev_test genl_test dp_test cli_test.sh modfuzz"}
export KMIGRATE_KO="$KO"

N=0
FAILED=0
TMP=$(mktemp -d /tmp/kmt-selftest.XXXXXX) || TMP=/tmp/kmt-selftest.$$
mkdir -p "$TMP"
trap 'exec 3>&- 2>/dev/null; rm -rf "$TMP"' EXIT

ok()     { N=$((N + 1)); echo "ok $N $*"; }
not_ok() { N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N $*"; }
skip()   { N=$((N + 1)); echo "ok $N # SKIP $*"; }
diag()   { echo "# $*"; }
# check DESC COMMAND...: one result from COMMAND's status.
check()  { _d=$1; shift; if "$@"; then ok "$_d"; else not_ok "$_d"; fi; }
# Print a file as comments.
diag_file() { [ -s "$1" ] && sed 's/^/# /' "$1"; return 0; }

nloaded() { grep -c '^kmigrate ' /proc/modules; }
loaded()  { [ "$(nloaded)" -ge 1 ]; }
unloaded() { ! loaded; }
dev_present() { [ -c "$DEV" ]; }
dev_absent() { [ ! -e "$DEV" ]; }
family_present() { "$PROBE" family; }
family_absent() { "$PROBE" family; [ $? -eq 1 ]; }

load() {
	if insmod "$KO" >"$TMP/insmod.err" 2>&1; then
		return 0
	fi
	diag "insmod $KO failed:"
	diag_file "$TMP/insmod.err"
	return 1
}

unload() {
	if rmmod kmigrate >"$TMP/rmmod.err" 2>&1; then
		return 0
	fi
	diag "rmmod kmigrate failed:"
	diag_file "$TMP/rmmod.err"
	[ -r /sys/module/kmigrate/refcnt ] &&
		diag "refcnt $(cat /sys/module/kmigrate/refcnt)"
	return 1
}

echo "TAP version 13"
diag "kmigrate.ko selftests on $(uname -r), module $KO"

# ---- preconditions ----------------------------------------------------

if [ "$(id -u)" != 0 ]; then
	not_ok "run.sh must run as root"
	echo "1..$N"
	exit 1
fi
if [ ! -r "$KO" ] || [ ! -x "$PROBE" ]; then
	not_ok "module $KO and $PROBE present"
	echo "1..$N"
	exit 1
fi
if loaded; then
	diag "kmigrate was already loaded; unloading it first"
	unload
fi

TAINT0=$(cat /proc/sys/kernel/tainted 2>/dev/null || echo 0)
MARK="kmt-selftest-start-$$"
echo "$MARK" >/dev/kmsg 2>/dev/null || diag "cannot write /dev/kmsg: kernel log checked whole"

# ---- module metadata ----------------------------------------------------

# The .modinfo strings of the file itself; modinfo (busybox's needs a
# modules.dep) only when strings is missing.
aliases=
have_tool=
if command -v strings >/dev/null 2>&1; then
	have_tool=strings
	aliases=$(strings "$KO" | sed -n 's/^alias=//p')
	diag "vermagic: $(strings "$KO" | sed -n 's/^vermagic=//p')"
elif command -v modinfo >/dev/null 2>&1; then
	have_tool=modinfo
	aliases=$(modinfo -F alias "$KO" 2>/dev/null | sed 's/^alias[:=] *//')
fi
if [ -z "$have_tool" ]; then
	skip "module alias devname:kmigrate (neither strings nor modinfo available)"
	skip "module alias char-major-10-250 (neither strings nor modinfo available)"
else
	diag "aliases ($have_tool): $(echo $aliases)"
	check "module alias devname:kmigrate" \
		sh -c 'echo "$1" | grep -qx "devname:kmigrate"' - "$aliases"
	check "module alias char-major-10-250" \
		sh -c 'echo "$1" | grep -qx "char-major-10-250"' - "$aliases"
fi

# ---- 1. load and unload LOOPS times -------------------------------------
#
# Every property is checked on every iteration; each gets one result line
# with the number of iterations it failed in (and the first one).

f_insmod=0 f_dev=0 f_mod1=0 f_fam=0 f_rmmod=0 f_devgone=0 f_modgone=0 f_famgone=0
first_insmod= first_dev= first_mod1= first_fam= first_rmmod= first_devgone= first_modgone= first_famgone=
# fail VAR ITERATION: count a failure of property VAR.
fail() {
	eval "f_$1=\$((f_$1 + 1)); [ -n \"\$first_$1\" ] || first_$1=$2"
}

i=0
while [ "$i" -lt "$LOOPS" ]; do
	i=$((i + 1))
	if ! insmod "$KO" >"$TMP/insmod.err" 2>&1; then
		fail insmod "$i"
		[ "$f_insmod" -eq 1 ] && diag_file "$TMP/insmod.err"
		# Do not stack failures: if something is left loaded, try to unload it.
		loaded && rmmod kmigrate >/dev/null 2>&1
		continue
	fi
	dev_present || fail dev "$i"
	[ "$(nloaded)" = 1 ] || fail mod1 "$i"
	family_present || fail fam "$i"
	if ! rmmod kmigrate >"$TMP/rmmod.err" 2>&1; then
		fail rmmod "$i"
		[ "$f_rmmod" -eq 1 ] && diag_file "$TMP/rmmod.err"
		continue
	fi
	dev_absent || fail devgone "$i"
	[ "$(nloaded)" = 0 ] || fail modgone "$i"
	family_absent || fail famgone "$i"
done

# result VAR DESC
result() {
	eval "_n=\$f_$1 _first=\$first_$1"
	if [ "$_n" -eq 0 ]; then
		ok "load/unload x$LOOPS: $2"
	else
		not_ok "load/unload x$LOOPS: $2 (failed $_n times, first at iteration $_first)"
	fi
}
result insmod "insmod succeeds"
result dev "$DEV exists after insmod"
result mod1 "/proc/modules lists kmigrate once after insmod"
result fam "genl family kmigrate registered after insmod"
result rmmod "rmmod succeeds"
result devgone "$DEV gone after rmmod"
result modgone "kmigrate gone from /proc/modules after rmmod"
result famgone "genl family kmigrate gone after rmmod"

# ---- 2. harness binaries ------------------------------------------------

# run_harness NAME: run $KSFT_DIR/NAME, renumber its TAP into ours.
run_harness() {
	_name=$1
	: >"$TMP/state"
	{ "$KSFT_DIR/$_name" 2>&1; echo "KMT-EXIT $?"; } | {
		n=$N pass=0 fail=0 rc= plan=
		while IFS= read -r line || [ -n "$line" ]; do
			case "$line" in
			"KMT-EXIT "*)
				rc=${line#KMT-EXIT }
				;;
			"ok "[0-9]*)
				rest=${line#ok }
				num=${rest%% *}
				desc=${rest#"$num"}
				desc=${desc# }
				n=$((n + 1)) pass=$((pass + 1))
				case "$desc" in
				"#"*) echo "ok $n $_name $desc" ;;
				*) echo "ok $n $_name: $desc" ;;
				esac
				;;
			"not ok "[0-9]*)
				rest=${line#not ok }
				num=${rest%% *}
				desc=${rest#"$num"}
				desc=${desc# }
				n=$((n + 1)) fail=$((fail + 1))
				echo "not ok $n $_name: $desc"
				;;
			"1.."[0-9]*)
				plan=${line#1..}
				plan=${plan%% *}
				echo "# $_name: $line"
				;;
			"#"*)
				echo "$line"
				;;
			*)
				echo "# $_name: $line"
				;;
			esac
		done
		echo "n=$n; pass=$pass; fail=$fail; rc='$rc'; plan='$plan'" >"$TMP/state"
	}
	n=$N pass=0 fail=0 rc= plan=
	. "$TMP/state"
	N=$n
	FAILED=$((FAILED + fail))
	seen=$((pass + fail))
	# At most one extra failure per binary.
	if [ -z "$rc" ]; then
		not_ok "$_name: no exit status (killed?)"
	elif [ "$rc" != 0 ] && [ "$fail" -eq 0 ]; then
		not_ok "$_name: crashed/exited $rc without reporting a failure ($seen results of ${plan:-?} planned)"
	elif [ -n "$plan" ] && [ "$plan" != "$seen" ]; then
		not_ok "$_name: $seen results of $plan planned"
	elif [ "$seen" -eq 0 ]; then
		not_ok "$_name: printed no results"
	fi
}

for t in $TESTS; do
	if [ ! -x "$KSFT_DIR/$t" ]; then
		not_ok "$t: binary missing"
		continue
	fi
	if ! load; then
		not_ok "insmod before $t"
		not_ok "$t: not run (module not loaded)"
		continue
	fi
	ok "insmod before $t"
	"$PROBE" info
	run_harness "$t"
	check "rmmod after $t (no session or reference left behind)" unload
	if loaded; then
		sleep 1
		unload && diag "rmmod after $t worked on the second try"
	fi
done

# ---- 3. rmmod while /dev/kmigrate is open --------------------------------
#
# rmmod runs in the background with fd 3 closed, bounded in time: with a
# module that does not pin itself while open, rmmod succeeds and the later
# close runs freed code (an Oops that can leave the closing task stuck), so
# nothing here waits without a bound, and the shell itself only holds the
# device once another process has shown that this is safe.

# rmmod_bounded: 0/1 as rmmod, 124 when it did not return within 20 s.
rmmod_bounded() {
	rm -f "$TMP/rmmod.rc"
	( rmmod kmigrate >"$TMP/rmmod.err" 2>&1 3>&-; echo $? >"$TMP/rmmod.rc" ) 3>&- &
	_p=$! _w=0
	while [ ! -s "$TMP/rmmod.rc" ] && [ $_w -lt 200 ]; do
		sleep 0.1 2>/dev/null || sleep 1
		_w=$((_w + 1))
	done
	if [ ! -s "$TMP/rmmod.rc" ]; then
		diag "rmmod did not return within 20 s"
		return 124
	fi
	wait "$_p"
	return "$(cat "$TMP/rmmod.rc")"
}

# gone_within PID: the process has exited (zombie or reaped) within 10 s.
gone_within() {
	_w=0
	while [ $_w -lt 100 ]; do
		_s=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
		case "$_s" in "" | Z) wait "$1" 2>/dev/null; return 0 ;; esac
		sleep 0.1 2>/dev/null || sleep 1
		_w=$((_w + 1))
	done
	diag "process $1 still there (state $_s)"
	return 1
}

refcnt() { cat /sys/module/kmigrate/refcnt 2>/dev/null || echo 0; }

# 3a. held by another process.
safe_to_hold=
if load; then
	ok "insmod before unload-while-held-by-another-process"
	sleep 600 3<>"$DEV" &
	holder=$!
	w=0
	while [ "$(refcnt)" -lt 1 ] && [ $w -lt 50 ] && [ -d "/proc/$holder" ]; do
		sleep 0.1 2>/dev/null || sleep 1
		w=$((w + 1))
	done
	diag "refcnt while held by process $holder: $(refcnt)"
	rmmod_bounded
	case $? in
	0) not_ok "rmmod refused while another process holds $DEV (it succeeded!)" ;;
	124) not_ok "rmmod refused while another process holds $DEV (rmmod hung)" ;;
	*) ok "rmmod refused while another process holds $DEV"
	   diag_file "$TMP/rmmod.err"
	   safe_to_hold=1 ;;
	esac
	check "kmigrate still in /proc/modules while held" loaded
	kill "$holder" 2>/dev/null
	check "holder process exits when killed" gone_within "$holder"
	if ! loaded; then
		not_ok "rmmod succeeds once the holder exited (module was already gone)"
	elif rmmod_bounded; then
		ok "rmmod succeeds once the holder exited"
	else
		not_ok "rmmod succeeds once the holder exited"
		diag_file "$TMP/rmmod.err"
	fi
else
	not_ok "insmod before unload-while-held-by-another-process"
fi

# 3b. held by this shell (exec 3<>/dev/kmigrate).
if [ -z "$safe_to_hold" ]; then
	not_ok "unload-while-open in the shell: not run (3a showed closing would run freed module code)"
elif ! load; then
	not_ok "insmod before unload-while-open"
else
	ok "insmod before unload-while-open"
	if exec 3<>"$DEV"; then
		ok "open $DEV in the shell"
		diag "refcnt while open: $(refcnt)"
		check "module refcnt >= 1 while open" [ "$(refcnt)" -ge 1 ]
		rmmod_bounded
		case $? in
		0) not_ok "rmmod refused while $DEV is open (it succeeded!)" ;;
		124) not_ok "rmmod refused while $DEV is open (rmmod hung)" ;;
		*) ok "rmmod refused while $DEV is open"; diag_file "$TMP/rmmod.err" ;;
		esac
		check "kmigrate still in /proc/modules while open" loaded
		check "$DEV still present while open" dev_present
		exec 3>&-
		if ! loaded; then
			not_ok "rmmod succeeds after close (module was already gone)"
		elif rmmod_bounded; then
			ok "rmmod succeeds after close"
		else
			not_ok "rmmod succeeds after close"
			diag_file "$TMP/rmmod.err"
		fi
	else
		not_ok "open $DEV in the shell"
		unload
	fi
fi

# ---- 4. final state and kernel log --------------------------------------

check "kmigrate not loaded at the end" unloaded
check "$DEV absent at the end" dev_absent
check "genl family kmigrate absent at the end" family_absent

dmesg >"$TMP/dmesg.all" 2>/dev/null
if grep -q "$MARK" "$TMP/dmesg.all"; then
	sed -n "/$MARK/,\$p" "$TMP/dmesg.all" >"$TMP/dmesg"
else
	cp "$TMP/dmesg.all" "$TMP/dmesg"
fi
grep -E 'BUG:|WARNING:|Oops|Call Trace|RIP:|general protection|kernel BUG|UBSAN|KASAN|kmemleak|refcount_t:|list_(add|del) corruption|Kernel panic|soft lockup|hung_task|INFO: task|stack-protector|double free|use-after-free' \
	"$TMP/dmesg" >"$TMP/dmesg.bad"
if [ -s "$TMP/dmesg.bad" ]; then
	not_ok "kernel log has no BUG/WARNING/Oops"
	sed 's/^/# dmesg: /' "$TMP/dmesg.bad" | head -n 60
else
	ok "kernel log has no BUG/WARNING/Oops"
fi
grep -i 'kmigrate' "$TMP/dmesg" | grep -iE 'error|fail|leak|bug|warn|unable|cannot' |
	grep -viE 'taint' >"$TMP/dmesg.km"
if [ -s "$TMP/dmesg.km" ]; then
	not_ok "kernel log has no kmigrate error lines"
	sed 's/^/# dmesg: /' "$TMP/dmesg.km" | head -n 60
else
	ok "kernel log has no kmigrate error lines"
fi
TAINT1=$(cat /proc/sys/kernel/tainted 2>/dev/null || echo 0)
new=$((TAINT1 & ~TAINT0))
diag "taint before $TAINT0, after $TAINT1"
# B (5) bad page, D (7) oops, W (9) warning, L (14) soft lockup
check "no new W/D/B/L kernel taint" [ $((new & (32 | 128 | 512 | 16384))) -eq 0 ]

echo "1..$N"
if [ "$FAILED" -ne 0 ]; then
	diag "$FAILED failed"
	exit 1
fi
exit 0
