// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: x86-64 boot state without firmware.
 *
 * The workload guest is entered directly in 64-bit mode: a flat GDT (code
 * 0x08, data 0x10, TSS 0x18), identity page tables with 2 MiB pages over
 * all guest-physical space that holds RAM, CR0.PE|PG, CR4.PAE|OSFXSR|
 * OSXMMEXCPT(|OSXSAVE), EFER.LME|LMA, and XCR0 = x87|SSE(|AVX).  No IDT:
 * an exception in the guest becomes a triple fault, which the VMM reports
 * (KVM_EXIT_SHUTDOWN) with the registers.
 */
#include <string.h>
#include <sys/ioctl.h>
#include "internal.h"
#include "guest/wl_abi.h"

#define CR0_PE		(1ULL << 0)
#define CR0_MP		(1ULL << 1)
#define CR0_ET		(1ULL << 4)
#define CR0_NE		(1ULL << 5)
#define CR0_WP		(1ULL << 16)
#define CR0_AM		(1ULL << 18)
#define CR0_PG		(1ULL << 31)
#define CR4_PAE		(1ULL << 5)
#define CR4_OSFXSR	(1ULL << 9)
#define CR4_OSXMMEXCPT	(1ULL << 10)
#define CR4_OSXSAVE	(1ULL << 18)
#define EFER_LME	(1ULL << 8)
#define EFER_LMA	(1ULL << 10)

#define PTE_P		(1ULL << 0)
#define PTE_RW		(1ULL << 1)
#define PTE_PS		(1ULL << 7)

static const struct kvm_cpuid_entry2 *cpuid_find(const struct kvm_cpuid2 *c,
						 uint32_t fn, uint32_t idx)
{
	uint32_t i;

	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn &&
		    (!(c->entries[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ||
		     c->entries[i].index == idx))
			return &c->entries[i];
	return NULL;
}

int vmm_x86_setup_tables(struct vmm_vm *vm)
{
	uint64_t gdt[5], *pml4, *pdpt, *pd;
	uint64_t top = vm->gfn_end << VMM_PAGE_SHIFT;
	uint64_t npd = (top + (1ULL << 30) - 1) >> 30, i, j;
	uint64_t tss = WL_TSS_GPA;

	if (npd > WL_PD_MAX) {
		vmm_logf(vm, "identity map covers %d GiB, guest-physical top is %llu GiB",
			 WL_PD_MAX, (unsigned long long)(top >> 30));
		return -E2BIG;
	}
	if (!vmm_gpa_to_hva(vm, 0, WL_PD_GPA + npd * VMM_PAGE_SIZE))
		return -EFAULT;

	gdt[0] = 0;
	gdt[1] = 0x00af9b000000ffffULL;		/* 0x08: code, 64-bit, accessed */
	gdt[2] = 0x00cf93000000ffffULL;		/* 0x10: data, writable, accessed */
	gdt[3] = 0x67 | ((tss & 0xffffff) << 16) | (0xbULL << 40) | (1ULL << 47) |
		 (((tss >> 24) & 0xff) << 56);	/* 0x18: busy 64-bit TSS */
	gdt[4] = tss >> 32;
	vmm_guest_write(vm, WL_GDT_GPA, gdt, sizeof(gdt));

	pml4 = vmm_gpa_to_hva(vm, WL_PML4_GPA, VMM_PAGE_SIZE);
	pdpt = vmm_gpa_to_hva(vm, WL_PDPT_GPA, VMM_PAGE_SIZE);
	memset(pml4, 0, VMM_PAGE_SIZE);
	memset(pdpt, 0, VMM_PAGE_SIZE);
	pml4[0] = WL_PDPT_GPA | PTE_P | PTE_RW;
	for (i = 0; i < npd; i++) {
		pdpt[i] = (WL_PD_GPA + i * VMM_PAGE_SIZE) | PTE_P | PTE_RW;
		pd = vmm_gpa_to_hva(vm, WL_PD_GPA + i * VMM_PAGE_SIZE, VMM_PAGE_SIZE);
		for (j = 0; j < 512; j++)
			pd[j] = ((i << 30) | (j << 21)) | PTE_P | PTE_RW | PTE_PS;
	}
	vmm_mark_dirty(vm, WL_PML4_GPA, 2 * VMM_PAGE_SIZE);
	vmm_mark_dirty(vm, WL_PD_GPA, npd * VMM_PAGE_SIZE);
	return 0;
}

static void seg_code64(struct kvm_segment *s)
{
	memset(s, 0, sizeof(*s));
	s->selector = WL_SEL_CODE;
	s->limit = 0xffffffff;
	s->type = 0xb;
	s->present = 1;
	s->s = 1;
	s->l = 1;
	s->g = 1;
}

static void seg_data(struct kvm_segment *s)
{
	memset(s, 0, sizeof(*s));
	s->selector = WL_SEL_DATA;
	s->limit = 0xffffffff;
	s->type = 0x3;
	s->present = 1;
	s->s = 1;
	s->db = 1;
	s->g = 1;
}

int vmm_x86_setup_longmode(struct vmm_vcpu *v, uint64_t rip, uint64_t rsp,
			   uint64_t rdi, uint64_t rsi, uint64_t rdx)
{
	struct vmm_vm *vm = v->vm;
	const struct kvm_cpuid_entry2 *leaf1 = cpuid_find(v->cpuid, 1, 0);
	const struct kvm_cpuid_entry2 *leafd = cpuid_find(v->cpuid, 0xd, 0);
	bool xsave = leaf1 && (leaf1->ecx & (1u << 26));
	struct kvm_sregs s;
	struct kvm_regs r;

	if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		return vmm_ioctl_err(vm, "KVM_GET_SREGS");
	seg_code64(&s.cs);
	seg_data(&s.ds);
	s.es = s.fs = s.gs = s.ss = s.ds;
	memset(&s.tr, 0, sizeof(s.tr));
	s.tr.selector = WL_SEL_TSS;
	s.tr.base = WL_TSS_GPA;
	s.tr.limit = 0x67;
	s.tr.type = 0xb;
	s.tr.present = 1;
	memset(&s.ldt, 0, sizeof(s.ldt));
	s.ldt.unusable = 1;
	s.gdt.base = WL_GDT_GPA;
	s.gdt.limit = 5 * 8 - 1;
	s.idt.base = 0;
	s.idt.limit = 0;
	s.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG;
	s.cr3 = WL_PML4_GPA;
	s.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | (xsave ? CR4_OSXSAVE : 0);
	s.efer = EFER_LME | EFER_LMA;
	if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0)
		return vmm_ioctl_err(vm, "KVM_SET_SREGS");

	if (xsave && vm->has_xcrs && leafd) {
		struct kvm_xcrs x;
		uint64_t supported = leafd->eax | ((uint64_t)leafd->edx << 32);

		memset(&x, 0, sizeof(x));
		x.nr_xcrs = 1;
		x.xcrs[0].xcr = 0;
		x.xcrs[0].value = 0x3 | (supported & 0x4);	/* x87, SSE, AVX */
		if (ioctl(v->fd, KVM_SET_XCRS, &x) < 0)
			return vmm_ioctl_err(vm, "KVM_SET_XCRS");
	}

	/* with an in-kernel LAPIC, APs would wait for INIT/SIPI: start them all */
	{
		struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };

		if (ioctl(v->fd, KVM_SET_MP_STATE, &mp) < 0)
			return vmm_ioctl_err(vm, "KVM_SET_MP_STATE");
	}

	memset(&r, 0, sizeof(r));
	r.rflags = 0x2;
	r.rip = rip;
	r.rsp = rsp;
	r.rdi = rdi;
	r.rsi = rsi;
	r.rdx = rdx;
	if (ioctl(v->fd, KVM_SET_REGS, &r) < 0)
		return vmm_ioctl_err(vm, "KVM_SET_REGS");
	return 0;
}
