/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The trial pause: pause a running guest, save the VM's and every vCPU's
 * state (and throw it away), resume.  It measures what a switch-over's
 * fixed part costs with this guest on this host (switch_cost.h): the
 * pause, the save, the resume, the state's size.  The guest loses about
 * the time it takes (a few ms).  Used by the source after the bulk round
 * (source_rounds.c) and by `kmigrate profile` (profile_vm.c).
 */
#ifndef KM_TRIAL_H
#define KM_TRIAL_H

#include "switch_cost.h"
#include "vmm.h"

/* 0 with @k's pause_ns, save_ns, load_ns (= save_ns), resume_ns,
 * state_bytes set and measured true; -errno (the guest runs either way,
 * @k unchanged). */
int km_trial_pause(struct vmm_vm *vm, struct kms_costs *k);

#endif /* KM_TRIAL_H */
