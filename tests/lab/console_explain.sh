#!/bin/sh
# console_explain.sh HOST CONSOLE_LOG: for the kernel reports of a lab
# host that have a known meaning here, print the report's first lines and
# one line saying what it means, each prefixed "lab: host HOST console: "
# or "lab: host HOST: ".  Prints nothing for a console without them.
# lab.sh runs it on a host whose console has a WARNING/BUG/Oops; issue 13
# has the evidence behind the explanations.
#
# Exit status: 0, or 2 for a usage error or an unreadable log.

[ $# -eq 2 ] || { echo "usage: console_explain.sh HOST CONSOLE_LOG" >&2; exit 2; }
h=$1 log=$2
[ -r "$log" ] || { echo "console_explain.sh: cannot read $log" >&2; exit 2; }

# show PATTERN: the first three console lines matching the extended regex.
show() {
	grep -E -m 3 -- "$1" "$log" | sed "s/^/lab: host $h console: /"
}
say() { echo "lab: host $h: $*"; }

if grep -q 'exc_debug_kernel' "$log"; then
	show 'WARNING: .*exc_debug_kernel|RIP: .*exc_debug_kernel|Comm: '
	say "^ a debug exception (#DB, single step) was taken in the host kernel," \
		"which never single-steps itself: the trap came from outside it." \
		"kmigrate's VMM restores no TF, DR7 breakpoint or DEBUGCTL into a guest" \
		"that did not set them (vmm_selftest checks it); under QEMU TCG's nested" \
		"SVM suspect the emulator's debug-state switch at VMRUN/#VMEXIT (issue 13)"
fi
if grep -q 'stack-protector: Kernel stack is corrupted' "$log"; then
	show 'stack-protector: Kernel stack is corrupted|Comm: '
	if grep -q 'exc_debug_kernel' "$log"; then
		say "^ the kernel then found a stack canary overwritten: the same event" \
			"as the #DB above (a #DB the kernel does not expect runs on its" \
			"exception stack in the middle of whatever it interrupted)"
	else
		say "^ the kernel found a stack canary overwritten: a memory corruption" \
			"in the host kernel; the function named is where it was noticed"
	fi
	if grep -q 'tcp_recvmsg' "$log"; then
		say "^ in the TCP receive path (an ACK sent from tcp_recvmsg), where" \
			"issue 13's #DB and panics were seen on 6.12 lab hosts; kmigrate.ko" \
			"has no code on a receiving host's path"
	fi
fi
if grep -q 'Unhandled WRMSR(0x1d9)' "$log"; then
	show 'Unhandled WRMSR\(0x1d9\)'
	say "^ KVM without LBR virtualisation (TCG has none) ignored a write of a" \
		"guest's IA32_DEBUGCTL; harmless to the host. kmigrate's VMM writes it" \
		"only for a guest that changed it"
fi
exit 0
