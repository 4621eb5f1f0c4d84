// SPDX-License-Identifier: GPL-2.0
/* The trial pause (trial.h). */
#include <errno.h>

#include "proto.h"
#include "trial.h"

int km_trial_pause(struct vmm_vm *vm, struct kms_costs *k)
{
	unsigned int i, nv = vmm_nr_vcpus(vm);
	uint64_t t0 = vmm_now_ns(), t1, t2, t3, bytes = 0;
	int r = vmm_pause(vm);

	t1 = vmm_now_ns();
	for (i = 0; !r && i <= nv; i++) {
		struct vmm_state st = { 0 };

		r = i == 0 ? vmm_vm_state_save(vm, &st) :
			     vmm_vcpu_state_save(vmm_vcpu(vm, i - 1), &st);
		bytes += st.size + KMP_HDR_SIZE;	/* a VCPU_STATE record each */
		vmm_state_free(&st);
	}
	t2 = vmm_now_ns();
	if (vmm_resume(vm) && !r)
		r = -EIO;
	t3 = vmm_now_ns();
	if (r)
		return r;
	k->pause_ns = t1 - t0;
	k->save_ns = t2 - t1;
	k->load_ns = t2 - t1;
	k->resume_ns = t3 - t2;
	k->state_bytes = bytes;
	k->measured = true;
	return 0;
}
