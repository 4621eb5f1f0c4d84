/* SPDX-License-Identifier: GPL-2.0 */
/*
 * CPU models: which CPUID a guest sees (`kmigrate run --cpu MODEL`).
 *
 *   host        everything the local KVM offers (KVM_GET_SUPPORTED_CPUID);
 *               a guest started so migrates only to hosts with the same offer
 *   x86-64-v1   the x86-64 psABI microarchitecture levels: the offer masked
 *   x86-64-v2   to the level's ISA feature bits (leaves 1, 7.0, 0x80000001);
 *   x86-64-v3   a guest started so migrates to any host offering the level
 *   x86-64-v4
 *   qemu64      QEMU's qemu64 set: x86-64-v1 + sse3 cx16 lahf_lm (the lab's
 *               hosts, -cpu qemu64,+svm, offer exactly this much)
 *
 * Leaf 0xd (XSAVE) follows the model: without xsave (v1, v2, qemu64) it
 * reads 0; v3 keeps the x87, SSE and AVX state components, v4 adds opmask,
 * ZMM_Hi256 and Hi16_ZMM; the other components' subleaves read 0, the
 * sizes (subleaf 0 ebx/ecx) are those of the components left, and subleaf
 * 1's xsaveopt, xsavec, xgetbv1, xsaves and IA32_XSS bits are cleared.
 *
 * A few bits are not ISA features and pass through untouched whatever the
 * model (hypervisor, x2apic, tsc-deadline, osxsave).  A model the local KVM
 * cannot offer is refused with the missing features by name.
 */
#ifndef KMIGRATE_CPUMODEL_H
#define KMIGRATE_CPUMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#define VMM_CPU_HOST	"host"

struct vmm_vm;
/* The model @vm was created with: "host" or a baseline's name. */
const char *vmm_cpu_model(const struct vmm_vm *vm);

/* True if @name is "host" or a known baseline. */
bool vmm_cpumodel_known(const char *name);
/* "host, x86-64-v1, ..." for messages. */
const char *vmm_cpumodel_list(void);

/*
 * Applies model @name to @c (a KVM_GET_SUPPORTED_CPUID offer) in place.
 * Returns 0; -EINVAL for an unknown model; -ENOTSUP when @c lacks some of
 * the model's features: their names, space-separated, in @missing.
 */
int vmm_cpumodel_apply(const char *name, struct kvm_cpuid2 *c, char *missing, size_t len);

/*
 * The named feature bits set in @guest (arrays of entries) but clear in
 * @offer: their names, space-separated, in @out (truncated with "..."),
 * and the number of them returned.
 */
struct vmm_cpuid_ent {
	uint32_t function, index;
	uint32_t eax, ebx, ecx, edx;
};
unsigned int vmm_cpuid_missing(const struct vmm_cpuid_ent *guest, unsigned int ng,
			       const struct kvm_cpuid2 *offer, char *out, size_t len);

/* KVM_GET_SUPPORTED_CPUID of /dev/kvm (@kvm_fd < 0: opens it); NULL with
 * errno set on failure.  free() it. */
struct kvm_cpuid2 *vmm_kvm_supported_cpuid(int kvm_fd);

#endif /* KMIGRATE_CPUMODEL_H */
