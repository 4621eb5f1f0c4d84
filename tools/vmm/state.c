// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: vCPU and VM state, saved into and loaded from a serialised,
 * self-describing form (see struct vmm_state_hdr in vmm.h).
 *
 * Save order follows the kernel's vcpu_save_state() selftest helper; load
 * order follows vcpu_load_state(): CPUID, (TSC frequency), sregs, MSRs,
 * XCRs, XSAVE, events, MP state, debug registers, regs; the LAPIC right
 * after sregs (its base MSR lives there).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include "internal.h"

#define MSR_IA32_TSC	0x10

/*
 * The debug MSRs KVM may list (IA32_DEBUGCTL and the last-branch records).
 * A KVM without LBR virtualisation (AMD without LBRV, e.g. QEMU's TCG)
 * ignores a write of DEBUGCTL and logs "Unhandled WRMSR(0x1d9)" for it.
 */
#define MSR_IA32_DEBUGCTLMSR		0x1d9
#define MSR_IA32_LASTINTTOIP		0x1de

static bool msr_is_debug(uint32_t index)
{
	return index >= MSR_IA32_DEBUGCTLMSR && index <= MSR_IA32_LASTINTTOIP;
}

#define X86_EFLAGS_TF_BIT		(1ULL << 8)


/* --------------------------------------------------------------- MSRs -- */

/*
 * Read every MSR of the index list.  KVM_GET_MSRS stops at the first MSR
 * it cannot read and returns how many it did: skip that one, go on.
 */
static int vmm_get_msrs(struct vmm_vcpu *v, struct kvm_msr_entry **out, uint32_t *nout)
{
	const struct kvm_msr_list *l = v->vm->msr_list;
	struct kvm_msrs *m;
	struct kvm_msr_entry *res;
	uint32_t pos = 0, n = 0, i;
	int r;

	m = calloc(1, sizeof(*m) + l->nmsrs * sizeof(m->entries[0]));
	res = calloc(l->nmsrs ? l->nmsrs : 1, sizeof(*res));
	if (!m || !res) {
		free(m);
		free(res);
		return -ENOMEM;
	}
	while (pos < l->nmsrs) {
		m->nmsrs = l->nmsrs - pos;
		for (i = 0; i < m->nmsrs; i++) {
			m->entries[i].index = l->indices[pos + i];
			m->entries[i].reserved = 0;
			m->entries[i].data = 0;
		}
		r = ioctl(v->fd, KVM_GET_MSRS, m);
		if (r < 0) {
			free(m);
			free(res);
			return vmm_ioctl_err(v->vm, "KVM_GET_MSRS");
		}
		memcpy(&res[n], m->entries, (size_t)r * sizeof(*res));
		n += (uint32_t)r;
		pos += (uint32_t)r;
		if (pos < l->nmsrs)
			pos++;	/* unreadable: leave it out */
	}
	free(m);
	*out = res;
	*nout = n;
	return 0;
}

/* Write MSRs; those KVM refuses are skipped and counted in *skipped. */
static int vmm_set_msrs(struct vmm_vcpu *v, const struct kvm_msr_entry *e,
			uint32_t n, uint32_t *skipped)
{
	struct kvm_msrs *m;
	uint32_t pos = 0;
	int r;

	*skipped = 0;
	m = calloc(1, sizeof(*m) + n * sizeof(m->entries[0]));
	if (!m)
		return -ENOMEM;
	while (pos < n) {
		m->nmsrs = n - pos;
		memcpy(m->entries, &e[pos], m->nmsrs * sizeof(*e));
		r = ioctl(v->fd, KVM_SET_MSRS, m);
		if (r < 0) {
			free(m);
			return vmm_ioctl_err(v->vm, "KVM_SET_MSRS");
		}
		pos += (uint32_t)r;
		if (pos < n) {
			struct { struct kvm_msrs h; struct kvm_msr_entry e; } cur = {
				.h.nmsrs = 1, .e.index = e[pos].index,
			};

			/* refused, but already holding that value: nothing lost */
			if (ioctl(v->fd, KVM_GET_MSRS, &cur) != 1 || cur.e.data != e[pos].data) {
				vmm_logf(v->vm, "vcpu %u: MSR %#x = %#llx refused", v->idx,
					 e[pos].index, (unsigned long long)e[pos].data);
				(*skipped)++;
			}
			pos++;
		}
	}
	free(m);
	return 0;
}

/*
 * A host write of MSR_IA32_TSC that lands within a second of what KVM
 * expects from an earlier write is taken as an attempt to synchronise the
 * vCPUs and replaced by KVM's own value (kvm_synchronize_tsc(); softened in
 * later kernels).  Read it back and, if KVM moved it, set the offset through
 * KVM_VCPU_TSC_OFFSET (5.16+), which KVM takes literally.
 */
static void vmm_tsc_fixup(struct vmm_vcpu *v, uint64_t want)
{
	struct { struct kvm_msrs h; struct kvm_msr_entry e; } cur = {
		.h.nmsrs = 1, .e.index = MSR_IA32_TSC,
	};
	uint64_t off, slack = (uint64_t)(v->vm->tsc_khz ? v->vm->tsc_khz : 1000000) * 10;
	struct kvm_device_attr attr = {
		.group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET,
		.addr = (uintptr_t)&off,
	};
	int64_t delta;

	if (ioctl(v->fd, KVM_GET_MSRS, &cur) != 1)
		return;
	delta = (int64_t)(cur.e.data - want);
	if (delta >= 0 && (uint64_t)delta < slack)	/* just the time since the write */
		return;
	if (ioctl(v->fd, KVM_HAS_DEVICE_ATTR, &attr) || ioctl(v->fd, KVM_GET_DEVICE_ATTR, &attr)) {
		vmm_logf(v->vm, "vcpu %u: TSC is %lld ticks off and cannot be corrected",
			 v->idx, (long long)delta);
		return;
	}
	off -= (uint64_t)delta;
	if (ioctl(v->fd, KVM_SET_DEVICE_ATTR, &attr))
		vmm_logf(v->vm, "vcpu %u: KVM_VCPU_TSC_OFFSET: %m", v->idx);
}

/* ---------------------------------------------------------- vCPU save -- */

static bool vmm_vcpu_quiescent(struct vmm_vcpu *v)
{
	bool ok;

	pthread_mutex_lock(&v->vm->lock);
	ok = !v->thread_started || !v->active || v->parked;
	pthread_mutex_unlock(&v->vm->lock);
	return ok;
}

#define GET(ioc, what, obj)						\
	do {								\
		if (ioctl(v->fd, ioc, obj) < 0) {			\
			r = vmm_ioctl_err(vm, what);			\
			goto out;					\
		}							\
	} while (0)

int vmm_vcpu_state_save(struct vmm_vcpu *v, struct vmm_state *st)
{
	struct vmm_vm *vm = v->vm;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct kvm_vcpu_events ev;
	struct kvm_mp_state mp;
	struct kvm_debugregs dr;
	struct vmm_state_tsc tsc;
	struct kvm_msr_entry *msrs = NULL;
	uint32_t nmsrs = 0, i;
	void *xs = NULL;
	int r, khz;

	if (!vmm_vcpu_quiescent(v)) {
		vmm_logf(vm, "vcpu %u: state save while running", v->idx);
		return -EBUSY;
	}
	r = vmm_state_begin(st, VMM_STATE_VCPU, v->idx);
	if (r)
		return r;

	/* TSC first, alone, with a host timestamp around it */
	{
		struct { struct kvm_msrs h; struct kvm_msr_entry e; } one = {
			.h.nmsrs = 1, .e.index = MSR_IA32_TSC,
		};
		uint64_t t0 = vmm_realtime_ns(), t1;

		if (ioctl(v->fd, KVM_GET_MSRS, &one) != 1) {
			r = vmm_ioctl_err(vm, "KVM_GET_MSRS(TSC)");
			goto out;
		}
		t1 = vmm_realtime_ns();
		memset(&tsc, 0, sizeof(tsc));
		tsc.tsc = one.e.data;
		tsc.realtime_ns = (int64_t)(t0 + (t1 - t0) / 2);
		khz = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);
		tsc.tsc_khz = khz > 0 ? (uint32_t)khz : vm->tsc_khz;
	}

	r = vmm_state_add(st, VMM_ST_CPUID, v->cpuid->entries,
		   v->cpuid->nent * sizeof(v->cpuid->entries[0]), v->cpuid->nent);
	if (r)
		goto out;
	GET(KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS", &ev);
	GET(KVM_GET_MP_STATE, "KVM_GET_MP_STATE", &mp);
	GET(KVM_GET_REGS, "KVM_GET_REGS", &regs);
	GET(KVM_GET_SREGS, "KVM_GET_SREGS", &sregs);
	if ((r = vmm_state_add(st, VMM_ST_REGS, &regs, sizeof(regs), 1)) ||
	    (r = vmm_state_add(st, VMM_ST_SREGS, &sregs, sizeof(sregs), 1)))
		goto out;
	if (vm->xsave_size) {
		xs = calloc(1, vm->xsave_size);
		if (!xs) {
			r = -ENOMEM;
			goto out;
		}
		if (vm->has_xsave2)
			GET(KVM_GET_XSAVE2, "KVM_GET_XSAVE2", xs);
		else
			GET(KVM_GET_XSAVE, "KVM_GET_XSAVE", xs);
		r = vmm_state_add(st, VMM_ST_XSAVE, xs, vm->xsave_size, 1);
	} else {
		struct kvm_fpu fpu;

		GET(KVM_GET_FPU, "KVM_GET_FPU", &fpu);
		r = vmm_state_add(st, VMM_ST_FPU, &fpu, sizeof(fpu), 1);
	}
	if (r)
		goto out;
	if (vm->has_xcrs) {
		GET(KVM_GET_XCRS, "KVM_GET_XCRS", &xcrs);
		r = vmm_state_add(st, VMM_ST_XCRS, &xcrs, sizeof(xcrs), 1);
		if (r)
			goto out;
	}
	r = vmm_get_msrs(v, &msrs, &nmsrs);
	if (r)
		goto out;
	/* the TSC as read above, so that MSR and timestamp agree */
	for (i = 0; i < nmsrs; i++)
		if (msrs[i].index == MSR_IA32_TSC)
			msrs[i].data = tsc.tsc;
	if ((r = vmm_state_add(st, VMM_ST_MSRS, msrs, nmsrs * sizeof(*msrs), nmsrs)) ||
	    (r = vmm_state_add(st, VMM_ST_EVENTS, &ev, sizeof(ev), 1)) ||
	    (r = vmm_state_add(st, VMM_ST_MP_STATE, &mp, sizeof(mp), 1)))
		goto out;
	if (vm->has_debugregs) {
		GET(KVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS", &dr);
		r = vmm_state_add(st, VMM_ST_DEBUGREGS, &dr, sizeof(dr), 1);
		if (r)
			goto out;
	}
	if (vm->cfg.irqchip) {
		struct kvm_lapic_state lapic;

		GET(KVM_GET_LAPIC, "KVM_GET_LAPIC", &lapic);
		r = vmm_state_add(st, VMM_ST_LAPIC, &lapic, sizeof(lapic), 1);
		if (r)
			goto out;
	}
	r = vmm_state_add(st, VMM_ST_TSC, &tsc, sizeof(tsc), 1);
out:
	free(msrs);
	free(xs);
	return r;
}

/* ---------------------------------------------------------- vCPU load -- */

#define SET(ioc, what, obj)						\
	do {								\
		if (ioctl(v->fd, ioc, obj) < 0) {			\
			r = vmm_ioctl_err(vm, what);			\
			goto out;					\
		}							\
	} while (0)

static int vmm_load_cpuid(struct vmm_vcpu *v, const struct vmm_state *st)
{
	struct vmm_vm *vm = v->vm;
	struct kvm_cpuid2 *c;
	uint32_t size, count;
	const void *p = vmm_state_find(st, VMM_ST_CPUID, &size, &count);

	if (!p)
		return 0;	/* keep the vCPU's */
	if (size != count * sizeof(struct kvm_cpuid_entry2))
		return -EBADMSG;
	c = calloc(1, sizeof(*c) + size);
	if (!c)
		return -ENOMEM;
	c->nent = count;
	memcpy(c->entries, p, size);
	if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0) {
		free(c);
		return vmm_ioctl_err(vm, "KVM_SET_CPUID2 (restore)");
	}
	free(v->cpuid);
	v->cpuid = c;
	return 0;
}

/*
 * Drop from @m the debug MSRs that already hold the saved value on this
 * vCPU (all of them for a guest that never used them); returns the new
 * count and adds the debug MSRs left to write to *@written.  The values
 * left are logged: a guest's own debug state is restored as it was.
 */
static uint32_t drop_unchanged_debug_msrs(struct vmm_vcpu *v, struct kvm_msr_entry *m,
					  uint32_t n, unsigned int *written)
{
	uint32_t i, out = 0;

	for (i = 0; i < n; i++) {
		struct { struct kvm_msrs h; struct kvm_msr_entry e; } cur = {
			.h.nmsrs = 1, .e.index = m[i].index,
		};

		if (msr_is_debug(m[i].index)) {
			if (ioctl(v->fd, KVM_GET_MSRS, &cur) == 1 && cur.e.data == m[i].data)
				continue;
			vmm_logf(v->vm, "vcpu %u: restoring the guest's debug MSR %#x = %#llx",
				 v->idx, m[i].index, (unsigned long long)m[i].data);
			(*written)++;
		}
		m[out++] = m[i];
	}
	return out;
}

/* The debug registers as KVM_SET_DEBUGREGS takes them, reserved fields aside. */
static bool debugregs_equal(const struct kvm_debugregs *a, const struct kvm_debugregs *b)
{
	return !memcmp(a->db, b->db, sizeof(a->db)) && a->dr6 == b->dr6 &&
	       a->dr7 == b->dr7 && a->flags == b->flags;
}

static int vmm_load_state_at(struct vmm_vcpu *v, const struct vmm_state *st,
			     bool tsc_advance, int64_t now_ns,
			     struct vmm_load_stats *stats)
{
	struct vmm_vm *vm = v->vm;
	const struct vmm_state_hdr *h = vmm_state_hdr(st);
	const struct vmm_state_tsc *tsc;
	const struct kvm_msr_entry *msrs;
	struct kvm_msr_entry *m = NULL;
	const void *p;
	uint32_t size, count, skipped, i;
	void *xs = NULL;
	int r;

	if (!h || vmm_state_check(st->buf, st->size) || h->kind != VMM_STATE_VCPU)
		return -EBADMSG;
	if (!vmm_vcpu_quiescent(v))
		return -EBUSY;
	r = vmm_load_cpuid(v, st);
	if (r)
		return r;

	tsc = vmm_state_get(st, VMM_ST_TSC, sizeof(*tsc));
	if (tsc && tsc->tsc_khz && vm->has_tsc_control) {
		int cur = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);

		if (cur > 0 && (uint32_t)cur != tsc->tsc_khz &&
		    ioctl(v->fd, KVM_SET_TSC_KHZ, (unsigned long)tsc->tsc_khz) < 0)
			vmm_logf(vm, "vcpu %u: KVM_SET_TSC_KHZ %u (host %d): %m",
				 v->idx, tsc->tsc_khz, cur);
	}

	p = vmm_state_get(st, VMM_ST_SREGS, sizeof(struct kvm_sregs));
	if (!p)
		return -EBADMSG;
	SET(KVM_SET_SREGS, "KVM_SET_SREGS", (void *)p);
	if (vm->cfg.irqchip && (p = vmm_state_get(st, VMM_ST_LAPIC, sizeof(struct kvm_lapic_state))))
		SET(KVM_SET_LAPIC, "KVM_SET_LAPIC", (void *)p);

	msrs = vmm_state_find(st, VMM_ST_MSRS, &size, &count);
	if (msrs) {
		if (size != count * sizeof(*msrs)) {
			r = -EBADMSG;
			goto out;
		}
		m = malloc(size ? size : 1);
		if (!m) {
			r = -ENOMEM;
			goto out;
		}
		memcpy(m, msrs, size);
		count = drop_unchanged_debug_msrs(v, m, count, &stats->debug_msrs_written);
		for (i = 0; i < count; i++) {
			if (m[i].index == MSR_IA32_TSC && tsc && tsc_advance &&
			    now_ns > tsc->realtime_ns)
				m[i].data += (uint64_t)((unsigned __int128)(now_ns - tsc->realtime_ns) *
							tsc->tsc_khz / 1000000);
		}
		r = vmm_set_msrs(v, m, count, &skipped);
		if (r)
			goto out;
		for (i = 0; i < count; i++)
			if (m[i].index == MSR_IA32_TSC && tsc)
				vmm_tsc_fixup(v, m[i].data);
		if (skipped)
			vmm_logf(vm, "vcpu %u: %u MSRs not restored", v->idx, skipped);
	}
	if (vm->has_xcrs && (p = vmm_state_get(st, VMM_ST_XCRS, sizeof(struct kvm_xcrs))))
		SET(KVM_SET_XCRS, "KVM_SET_XCRS", (void *)p);
	p = vmm_state_find(st, VMM_ST_XSAVE, &size, NULL);
	if (p && vm->xsave_size) {
		size_t n = vm->xsave_size > size ? vm->xsave_size : size;

		for (i = (uint32_t)vm->xsave_size; i < size; i++) {
			if (((const uint8_t *)p)[i]) {
				vmm_logf(vm, "vcpu %u: XSAVE state of %u bytes does not fit %zu",
					 v->idx, size, vm->xsave_size);
				r = -E2BIG;
				goto out;
			}
		}
		xs = calloc(1, n);
		if (!xs) {
			r = -ENOMEM;
			goto out;
		}
		memcpy(xs, p, size);
		SET(KVM_SET_XSAVE, "KVM_SET_XSAVE", xs);
	} else if ((p = vmm_state_get(st, VMM_ST_FPU, sizeof(struct kvm_fpu)))) {
		SET(KVM_SET_FPU, "KVM_SET_FPU", (void *)p);
	} else if (p) {
		vmm_logf(vm, "vcpu %u: XSAVE state but no XSAVE here", v->idx);
		r = -ENOTSUP;
		goto out;
	}
	if ((p = vmm_state_get(st, VMM_ST_EVENTS, sizeof(struct kvm_vcpu_events))))
		SET(KVM_SET_VCPU_EVENTS, "KVM_SET_VCPU_EVENTS", (void *)p);
	if ((p = vmm_state_get(st, VMM_ST_MP_STATE, sizeof(struct kvm_mp_state))))
		SET(KVM_SET_MP_STATE, "KVM_SET_MP_STATE", (void *)p);
	if (vm->has_debugregs &&
	    (p = vmm_state_get(st, VMM_ST_DEBUGREGS, sizeof(struct kvm_debugregs)))) {
		const struct kvm_debugregs *dr = p;
		struct kvm_debugregs cur;

		/* A fresh vCPU's (DR7 0x400, no breakpoint): nothing to set. */
		if (ioctl(v->fd, KVM_GET_DEBUGREGS, &cur) < 0 || !debugregs_equal(&cur, dr)) {
			vmm_logf(vm, "vcpu %u: restoring the guest's debug registers: "
				 "DR0-3 %#llx %#llx %#llx %#llx DR6 %#llx DR7 %#llx", v->idx,
				 (unsigned long long)dr->db[0], (unsigned long long)dr->db[1],
				 (unsigned long long)dr->db[2], (unsigned long long)dr->db[3],
				 (unsigned long long)dr->dr6, (unsigned long long)dr->dr7);
			SET(KVM_SET_DEBUGREGS, "KVM_SET_DEBUGREGS", (void *)p);
			stats->debugregs_written++;
		}
	}
	p = vmm_state_get(st, VMM_ST_REGS, sizeof(struct kvm_regs));
	if (!p) {
		r = -EBADMSG;
		goto out;
	}
	/* KVM_GET_REGS hides KVM's own single-stepping: a TF here is the guest's. */
	if (((const struct kvm_regs *)p)->rflags & X86_EFLAGS_TF_BIT)
		vmm_logf(vm, "vcpu %u: the guest single-steps itself (RFLAGS.TF): restored as it was",
			 v->idx);
	SET(KVM_SET_REGS, "KVM_SET_REGS", (void *)p);
	r = 0;
out:
	free(m);
	free(xs);
	return r;
}

int vmm_vcpu_state_load(struct vmm_vcpu *v, const struct vmm_state *st,
			const struct vmm_load_opts *opts)
{
	int64_t now = opts && opts->now_ns ? opts->now_ns : (int64_t)vmm_realtime_ns();
	struct vmm_load_stats ignored = { 0 };

	return vmm_load_state_at(v, st, opts && opts->tsc_advance, now,
				 opts && opts->stats ? opts->stats : &ignored);
}

int vmm_vcpus_state_load(struct vmm_vm *vm, const struct vmm_state *states,
			 const struct vmm_load_opts *opts)
{
	int64_t now = opts && opts->now_ns ? opts->now_ns : (int64_t)vmm_realtime_ns();
	struct vmm_load_stats ignored = { 0 };
	unsigned int i;
	int r;

	for (i = 0; i < vm->nr_vcpus; i++) {
		r = vmm_load_state_at(&vm->vcpus[i], &states[i],
				      opts && opts->tsc_advance, now,
				      opts && opts->stats ? opts->stats : &ignored);
		if (r)
			return r;
	}
	return 0;
}

/* ------------------------------------------------------------ VM state -- */

int vmm_vm_state_save(struct vmm_vm *vm, struct vmm_state *st)
{
	struct vmm_state_vminfo info;
	struct kvm_clock_data clk;
	unsigned int i;
	int r;

	r = vmm_state_begin(st, VMM_STATE_VM, 0);
	if (r)
		return r;
	memset(&info, 0, sizeof(info));
	info.mem_bytes = vm->ram_size;
	info.nr_vcpus = vm->nr_vcpus;
	info.nr_regions = vm->nr_slots;
	for (i = 0; i < vm->nr_slots; i++) {
		info.regions[i].gpa = vm->slots[i].r.gpa;
		info.regions[i].size = vm->slots[i].r.size;
		info.regions[i].ram_offset = vm->slots[i].r.ram_offset;
	}
	r = vmm_state_add(st, VMM_ST_VMINFO, &info, sizeof(info), 1);
	if (r)
		return r;
	memset(&clk, 0, sizeof(clk));
	/* flags: KVM_CLOCK_TSC_STABLE, and (5.16+) KVM_CLOCK_REALTIME and
	 * KVM_CLOCK_HOST_TSC with .realtime and .host_tsc of the same instant */
	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &clk) == 0) {
		r = vmm_state_add(st, VMM_ST_CLOCK, &clk, sizeof(clk), 1);
		if (r)
			return r;
	}
	if (vm->cfg.irqchip) {
		struct kvm_irqchip chips[3];
		struct kvm_pit_state2 pit;

		for (i = 0; i < 3; i++) {
			memset(&chips[i], 0, sizeof(chips[i]));
			chips[i].chip_id = i;
			if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chips[i]) < 0)
				return vmm_ioctl_err(vm, "KVM_GET_IRQCHIP");
		}
		if (ioctl(vm->vm_fd, KVM_GET_PIT2, &pit) < 0)
			return vmm_ioctl_err(vm, "KVM_GET_PIT2");
		if ((r = vmm_state_add(st, VMM_ST_IRQCHIP, chips, sizeof(chips), 3)) ||
		    (r = vmm_state_add(st, VMM_ST_PIT2, &pit, sizeof(pit), 1)))
			return r;
	}
	return 0;
}

int vmm_vm_state_load(struct vmm_vm *vm, const struct vmm_state *st)
{
	const struct vmm_state_hdr *h = vmm_state_hdr(st);
	const struct vmm_state_vminfo *info;
	const struct kvm_clock_data *clk;
	const struct kvm_irqchip *chips;
	const void *p;
	unsigned int i;

	if (!h || vmm_state_check(st->buf, st->size) || h->kind != VMM_STATE_VM)
		return -EBADMSG;
	info = vmm_state_get(st, VMM_ST_VMINFO, sizeof(*info));
	if (!info || info->mem_bytes != vm->ram_size || info->nr_regions != vm->nr_slots ||
	    info->nr_vcpus != vm->nr_vcpus) {
		vmm_logf(vm, "VM state: memory layout or vCPU count differs");
		return -EINVAL;
	}
	for (i = 0; i < vm->nr_slots; i++) {
		if (info->regions[i].gpa != vm->slots[i].r.gpa ||
		    info->regions[i].size != vm->slots[i].r.size ||
		    info->regions[i].ram_offset != vm->slots[i].r.ram_offset) {
			vmm_logf(vm, "VM state: region %u differs", i);
			return -EINVAL;
		}
	}
	clk = vmm_state_get(st, VMM_ST_CLOCK, sizeof(*clk));
	if (clk) {
		struct kvm_clock_data c = { .clock = clk->clock };
		int caps = vmm_check_cap(vm, KVM_CAP_ADJUST_CLOCK);

		if ((clk->flags & KVM_CLOCK_REALTIME) && caps > 0 &&
		    (caps & KVM_CLOCK_REALTIME)) {
			int64_t gap = (int64_t)(vmm_realtime_ns() - clk->realtime);

			if (gap >= 0 && (uint64_t)gap <= VMM_CLOCK_MAX_GAP_NS) {
				c.flags = KVM_CLOCK_REALTIME;
				c.realtime = clk->realtime;
			} else {
				vmm_logf(vm, "VM state: saved %.3f s %s by this host's clock: the "
					 "hosts' clocks disagree; kvmclock resumes where it stopped",
					 (gap < 0 ? -gap : gap) / 1e9, gap < 0 ? "ahead" : "ago");
			}
		}
		if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &c) < 0)
			return vmm_ioctl_err(vm, "KVM_SET_CLOCK");
	}
	chips = vmm_state_get(st, VMM_ST_IRQCHIP, 3 * sizeof(struct kvm_irqchip));
	if (chips && vm->cfg.irqchip) {
		for (i = 0; i < 3; i++)
			if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chips[i]) < 0)
				return vmm_ioctl_err(vm, "KVM_SET_IRQCHIP");
	}
	p = vmm_state_get(st, VMM_ST_PIT2, sizeof(struct kvm_pit_state2));
	if (p && vm->cfg.irqchip && ioctl(vm->vm_fd, KVM_SET_PIT2, p) < 0)
		return vmm_ioctl_err(vm, "KVM_SET_PIT2");
	return 0;
}
