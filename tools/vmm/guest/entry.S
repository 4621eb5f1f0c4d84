/* SPDX-License-Identifier: GPL-2.0 */
/* kmigrate VMM workload guest: entry point, loaded at WL_IMAGE_GPA. */
	.section .text.entry, "ax"
	.code64
	.globl _start
_start:
	/* rdi = vCPU index, rsi = params gpa, rdx = memory base; rsp set by the VMM */
	cld
	andq	$-16, %rsp
	call	wl_guest_main
1:	cli
	hlt
	jmp	1b

	.section .note.GNU-stack, "", @progbits
