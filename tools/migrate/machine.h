/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The MACHINE record's contents (proto.h, feature BOARD), machine.c:
 * described from the source's running VM, checked on the destination
 * before any page moves (part of its pre-flight: every disk opens there and
 * is the same disk, every NIC's bridge or tap is there), and built into the
 * destination's new VM (disks detached until COMMIT, NICs on their bridge).
 */
#ifndef KM_MACHINE_H
#define KM_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "vmm.h"

/*
 * A disk's identity, the same on every host that sees the same disk: its
 * size and the XXH64 of its first sector and its last 64 KiB (read with
 * O_DIRECT, no lock: parts a file system does not rewrite while in use).
 */
int km_disk_identity(const char *path, uint64_t *bytes, uint64_t *ident, char *err,
		     size_t errlen);
/* The source: @vm's devices (@linux_board: the PC board of a Linux guest). */
int km_machine_describe(struct vmm_vm *vm, bool linux_board, struct kmp_machine *m,
			char *err, size_t errlen);
/* The destination's pre-flight: 0, or -1 with one line per failed check. */
int km_machine_check_here(const struct kmp_machine *m, char *msg, size_t len);
/* The destination: the devices into the new VM @vm of the guest @name. */
int km_machine_build(struct vmm_vm *vm, const struct kmp_machine *m, const char *name,
		     char *err, size_t errlen);

#endif /* KM_MACHINE_H */
