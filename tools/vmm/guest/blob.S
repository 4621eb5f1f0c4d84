/* SPDX-License-Identifier: GPL-2.0 */
/* kmigrate VMM: embeds the flat workload guest image (WL_GUEST_BIN). */
	.section .rodata, "a"
	.balign 16
	.globl vmm_wl_image_start
	.globl vmm_wl_image_end
vmm_wl_image_start:
	.incbin WL_GUEST_BIN
vmm_wl_image_end:

	.section .note.GNU-stack, "", @progbits
