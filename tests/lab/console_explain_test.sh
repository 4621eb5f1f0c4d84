#!/bin/sh
# The lab's explanations of known host-kernel reports (console_explain.sh),
# on console excerpts shaped like the issue 13 panic.  TAP; no lab needed.
D=$(cd "$(dirname "$0")" && pwd)
X="sh $D/console_explain.sh"
T=$(mktemp -d /tmp/kmexplain.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
N=0 FAILED=0
ok()     { N=$((N + 1)); echo "ok $N $*"; }
not_ok() { N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N $*"; sed 's/^/# /' "$T/out"; }
# has DESC PATTERN / lacks DESC PATTERN: on the last output.
has()   { if grep -Eq -- "$2" "$T/out"; then ok "$1"; else not_ok "$1 (no /$2/)"; fi; }
lacks() { if grep -Eq -- "$2" "$T/out"; then not_ok "$1 (/$2/ there)"; else ok "$1"; fi; }

echo "1..14"

cat >"$T/panic.log" <<'LOG'
[   20.1] kvm_amd: kvm [300]: vcpu0, guest rIP: 0xfff0 Unhandled WRMSR(0x1d9) = 0x0
[   61.2] ------------[ cut here ]------------
[   61.2] WARNING: CPU: 0 PID: 412 at arch/x86/kernel/traps.c:1120 exc_debug_kernel+0x1a/0x60
[   61.2] CPU: 0 UID: 0 PID: 412 Comm: kmigrate Not tainted 6.12.118+deb12-amd64 #1
[   61.2] RIP: 0010:exc_debug_kernel+0x1a/0x60
[   61.3] Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: inet6_csk_route_socket+0x1/0x2
[   61.3]  ? tcp_recvmsg+0x87/0x200
LOG
$X b "$T/panic.log" >"$T/out" 2>&1
[ $? -eq 0 ] && ok "a panic console: exit 0" || not_ok "a panic console: exit 0"
has "the WARN line is shown, with its host" '^lab: host b console: .*WARNING: .*exc_debug_kernel'
has "the process is shown" '^lab: host b console: .*Comm: kmigrate'
has "the #DB is explained" '^lab: host b: \^ a debug exception \(#DB, single step\) was taken in the host kernel'
has "the stack-protector panic is shown" 'console: .*stack-protector: Kernel stack is corrupted in: inet6_csk_route_socket'
has "and tied to the #DB" 'the same event as the #DB above'
has "the TCP receive path is named" 'in the TCP receive path \(an ACK sent from tcp_recvmsg\)'
has "the DEBUGCTL write is explained" 'ignored a write of a guest.s IA32_DEBUGCTL'

printf '[    1.0] Linux version 6.1.0\n[    2.0] kvm_amd: Nested Paging enabled\n' >"$T/clean.log"
$X a "$T/clean.log" >"$T/out" 2>&1
[ $? -eq 0 ] && [ ! -s "$T/out" ] && ok "a clean console: nothing, exit 0" || not_ok "a clean console: nothing, exit 0"

echo '[ 9.0] Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: foo+0x1/0x2' >"$T/sp.log"
$X a "$T/sp.log" >"$T/out" 2>&1
has "a stack-protector panic alone is a corruption" 'a memory corruption in the host kernel'
lacks "and not tied to a #DB" '#DB'
lacks "nor to the TCP receive path" 'TCP receive path'

$X a >"$T/out" 2>&1
[ $? -eq 2 ] && ok "a missing argument: exit 2" || not_ok "a missing argument: exit 2"
$X a "$T/none.log" >"$T/out" 2>&1
[ $? -eq 2 ] && ok "an unreadable log: exit 2" || not_ok "an unreadable log: exit 2"

[ "$FAILED" -eq 0 ]
