/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmigrate run's device options: --disk PATH[,ro] and
 * --net bridge=BR|tap=TAP[,mac=MAC], each repeatable (run_devs.c).
 */
#ifndef KM_RUN_DEVS_H
#define KM_RUN_DEVS_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm.h"

#define RUN_MAX_DISKS	8
#define RUN_MAX_NICS	8

struct run_devs {
	unsigned int nr_disks, nr_nics;
	struct {
		char path[256];
		bool ro;
	} disk[RUN_MAX_DISKS];
	struct {
		char bridge[16], tap[16];
		bool has_mac;
		uint8_t mac[6];
	} nic[RUN_MAX_NICS];
};

/* Parse one option's value; 0, or -1 after a usage error was printed. */
int run_devs_parse_disk(struct run_devs *d, const char *arg);
int run_devs_parse_net(struct run_devs *d, const char *arg);
/*
 * Adds the devices to the VM @name (before it starts).  Returns 0, or the
 * exit status after printing why: KM_EXIT_BUSY for a disk in use, else
 * KM_EXIT_FAIL.  Whatever was added goes with vmm_vm_destroy().
 */
int run_devs_add(const struct run_devs *d, struct vmm_vm *vm, const char *name);

#endif
