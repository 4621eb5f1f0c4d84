/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The multiboot (v1) test kernel: header and 32-bit entry.  At entry the
 * loader left EAX = 0x2BADB002, EBX = the multiboot info; EFLAGS and CR0
 * are read before anything changes them (only ESP is set first: it is
 * undefined at entry) and handed to mb_main().
 */
#define MB_MAGIC	0x1BADB002
#define MB_FLAGS	0x00000003	/* page-aligned modules, memory info */

	.section .multiboot, "a"
	.align 4
mb_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.text
	.code32
	.globl _start
_start:
	movl $mb_stack_top, %esp	/* ESP is undefined at entry: first of all */
	pushfl
	popl %ecx
	movl %cr0, %edx
	pushl %edx		/* cr0 */
	pushl %ecx		/* eflags */
	pushl %ebx		/* info */
	pushl %eax		/* magic */
	call mb_main
1:	cli
	hlt
	jmp 1b

	.bss
	.align 16
mb_stack:
	.skip 16384
mb_stack_top:

	.section .note.GNU-stack, "", @progbits
