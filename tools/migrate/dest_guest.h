/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The destination's guest-specific parts (dest_guest.c): what a migrated-in
 * guest needs besides memory and CPU state, by kind of guest.
 *
 *   the workload guest  the longest pause its status page recorded (RESUMED)
 *   a Linux guest       its board (libvmm's UART, CMOS and ports, the board's
 *                       state loaded from the stream) and, once the guest is
 *                       ours, its console log and socket (vmconsole.h) here
 */
#ifndef KM_DEST_GUEST_H
#define KM_DEST_GUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "proto.h"
#include "vmconsole.h"
#include "vmhost.h"
#include "vmm.h"

/* The guest is the built-in workload (its parameters page is there). */
bool km_dest_workload(struct vmm_vm *vm);
/*
 * The workload runs again: let it make progress and read the longest pause
 * its status page recorded since the source's reset before the
 * stop-and-copy (KMP_RSM_PAUSE), or say why not (pause_note).
 */
void km_dest_guest_pause(struct vmm_vm *vm, struct kmp_resumed *rs);

struct km_dest_board {
	struct vmm_linux *lx;		/* NULL: no board */
	struct run_console con;
	bool console;			/* the console log and socket are up */
};

void km_dest_board_init(struct km_dest_board *b);
/* The board on a new VM (created with the irqchip), before any state. */
int km_dest_board_attach(struct km_dest_board *b, struct vmm_vm *vm, char *err, size_t errlen);
/*
 * The guest is ours (COMMIT), before its vCPUs run: its console log
 * NAME.console (started afresh on this host) and NAME.tty next to
 * @sock_path, and the VM host's fields for `kmigrate vms` / info.  A
 * console that cannot be set up is reported on stderr; the guest runs
 * anyway (it is the only copy).
 */
void km_dest_board_start(struct km_dest_board *b, const char *name, const char *sock_path,
			 struct km_vmhost *h);
/* After the VM is destroyed (its ports use the board). */
void km_dest_board_free(struct km_dest_board *b);

#endif /* KM_DEST_GUEST_H */
