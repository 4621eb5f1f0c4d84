// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: /dev/kvm, the VM and its capabilities.
 *
 * Creation order matters to KVM: TSS/identity-map addresses and the
 * in-kernel irqchip come first, the dirty ring must be enabled before the
 * first vCPU exists, memslots may come any time before the guest runs.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"

#define VMM_TSS_ADDR		0xfffbd000ULL
#define VMM_IDENTITY_MAP_ADDR	0xfffbc000ULL

void vmm_logf(const struct vmm_vm *vm, const char *fmt, ...)
{
	FILE *f = vm && vm->log ? vm->log : stderr;
	char buf[1024];
	va_list ap;

	/* one write per message: vCPU threads log concurrently */
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(f, "vmm: %s\n", buf);
	fflush(f);
}

int vmm_ioctl_err(const struct vmm_vm *vm, const char *what)
{
	int e = errno ? errno : EIO;

	vmm_logf(vm, "%s: %s", what, strerror(e));
	return -e;
}

uint64_t vmm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t vmm_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int vmm_check_cap(const struct vmm_vm *vm, long cap)
{
	int r = -1;

	if (vm->vm_fd >= 0)
		r = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, cap);
	if (r < 0)
		r = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, cap);
	return r < 0 ? 0 : r;
}

int vmm_kvm_fd(const struct vmm_vm *vm) { return vm->kvm_fd; }
int vmm_vm_fd(const struct vmm_vm *vm) { return vm->vm_fd; }
unsigned int vmm_nr_vcpus(const struct vmm_vm *vm) { return vm->nr_vcpus; }
uint32_t vmm_tsc_khz(const struct vmm_vm *vm) { return vm->tsc_khz; }
FILE *vmm_log(const struct vmm_vm *vm) { return vm->log; }

struct vmm_vcpu *vmm_vcpu(struct vmm_vm *vm, unsigned int idx)
{
	return idx < vm->nr_vcpus ? &vm->vcpus[idx] : NULL;
}

/*
 * The KVM paravirt MSRs a Linux guest's state lives in: kvm-clock (the
 * per-vCPU time page and the wall clock), async page faults, steal time, PV
 * EOI and poll control (arch/x86/include/uapi/asm/kvm_para.h).  KVM lists
 * them among its emulated MSRs; they are added here should a KVM leave one
 * out, so a migrated guest never loses its clock page.  One KVM cannot read
 * is left out of a save (state.c), as any other.
 */
static const uint32_t vmm_pv_msrs[] = {
	0x4b564d00,	/* MSR_KVM_WALL_CLOCK_NEW */
	0x4b564d01,	/* MSR_KVM_SYSTEM_TIME_NEW */
	0x4b564d02,	/* MSR_KVM_ASYNC_PF_EN */
	0x4b564d03,	/* MSR_KVM_STEAL_TIME */
	0x4b564d04,	/* MSR_KVM_PV_EOI_EN */
	0x4b564d05,	/* MSR_KVM_POLL_CONTROL */
	0x4b564d06,	/* MSR_KVM_ASYNC_PF_INT */
	0x11,		/* MSR_KVM_WALL_CLOCK (old) */
	0x12,		/* MSR_KVM_SYSTEM_TIME (old) */
};
#define VMM_NR_PV_MSRS	(sizeof(vmm_pv_msrs) / sizeof(vmm_pv_msrs[0]))

static int vmm_msr_list_init(struct vmm_vm *vm)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	struct kvm_msr_list *l;
	uint32_t i, j, n;

	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return vmm_ioctl_err(vm, "KVM_GET_MSR_INDEX_LIST");
	l = calloc(1, sizeof(*l) + (probe.nmsrs + VMM_NR_PV_MSRS) * sizeof(l->indices[0]));
	if (!l)
		return -ENOMEM;
	l->nmsrs = probe.nmsrs;
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		free(l);
		return vmm_ioctl_err(vm, "KVM_GET_MSR_INDEX_LIST");
	}
	n = l->nmsrs;
	for (i = 0; i < VMM_NR_PV_MSRS; i++) {
		for (j = 0; j < n && l->indices[j] != vmm_pv_msrs[i]; j++)
			;
		if (j == n)
			l->indices[l->nmsrs++] = vmm_pv_msrs[i];
	}
	vm->msr_list = l;
	return 0;
}

static void vmm_kick_handler(int sig)
{
	(void)sig;	/* only there to make KVM_RUN return -EINTR */
}

static int vmm_signal_init(struct vmm_vm *vm)
{
	struct sigaction sa;

	vm->kick_signal = vm->cfg.kick_signal ? vm->cfg.kick_signal : SIGRTMIN;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vmm_kick_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART */
	if (sigaction(vm->kick_signal, &sa, NULL) < 0)
		return vmm_ioctl_err(vm, "sigaction(kick)");
	return 0;
}

int vmm_vm_create(const struct vmm_config *cfg, struct vmm_vm **out)
{
	struct vmm_vm *vm;
	int r;

	*out = NULL;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->cfg = *cfg;
	vm->log = cfg->log ? cfg->log : stderr;
	vm->kvm_fd = vm->vm_fd = vm->ram_fd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->harvest_lock, NULL);
	pthread_cond_init(&vm->run_cond, NULL);
	pthread_cond_init(&vm->parked_cond, NULL);
	pthread_cond_init(&vm->ring_cond, NULL);
	pthread_cond_init(&vm->full_cond, NULL);

	r = -EINVAL;
	if (!cfg->nr_vcpus || cfg->nr_vcpus > VMM_MAX_VCPUS) {
		vmm_logf(vm, "vCPU count %u out of range 1..%d", cfg->nr_vcpus,
			 VMM_MAX_VCPUS);
		goto fail;
	}
	if (!cfg->mem_bytes || cfg->mem_bytes % (2ULL << 20)) {
		vmm_logf(vm, "memory size must be a non-zero multiple of 2 MiB");
		goto fail;
	}
	vm->nr_vcpus = cfg->nr_vcpus;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		r = vmm_ioctl_err(vm, "open /dev/kvm");
		goto fail;
	}
	r = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (r != KVM_API_VERSION) {
		vmm_logf(vm, "KVM API version %d, want %d", r, KVM_API_VERSION);
		r = -ENOTSUP;
		goto fail;
	}
	if (!vmm_check_cap(vm, KVM_CAP_USER_MEMORY) ||
	    !vmm_check_cap(vm, KVM_CAP_IMMEDIATE_EXIT)) {
		vmm_logf(vm, "KVM lacks USER_MEMORY or IMMEDIATE_EXIT");
		r = -ENOTSUP;
		goto fail;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		r = vmm_ioctl_err(vm, "KVM_CREATE_VM");
		goto fail;
	}
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)VMM_TSS_ADDR) < 0) {
		r = vmm_ioctl_err(vm, "KVM_SET_TSS_ADDR");
		goto fail;
	}
	if (vmm_check_cap(vm, KVM_CAP_SET_IDENTITY_MAP_ADDR)) {
		uint64_t a = VMM_IDENTITY_MAP_ADDR;

		if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &a) < 0) {
			r = vmm_ioctl_err(vm, "KVM_SET_IDENTITY_MAP_ADDR");
			goto fail;
		}
	}
	if (cfg->irqchip) {
		struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

		if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
			r = vmm_ioctl_err(vm, "KVM_CREATE_IRQCHIP");
			goto fail;
		}
		if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
			r = vmm_ioctl_err(vm, "KVM_CREATE_PIT2");
			goto fail;
		}
	}

	vm->has_xcrs = vmm_check_cap(vm, KVM_CAP_XCRS) > 0;
	vm->has_debugregs = vmm_check_cap(vm, KVM_CAP_DEBUGREGS) > 0;
	vm->has_tsc_control = vmm_check_cap(vm, KVM_CAP_TSC_CONTROL) > 0;
	r = vmm_msr_list_init(vm);
	if (r)
		goto fail;
	r = vmm_signal_init(vm);
	if (r)
		goto fail;
	r = vmm_dirty_init_vm(vm);	/* the ring: before any vCPU */
	if (r)
		goto fail;
	r = vmm_mem_init(vm);
	if (r)
		goto fail;
	vmm_io_init_default(vm);
	r = vmm_vcpus_create(vm);
	if (r)
		goto fail;
	/* XSAVE2 size depends on the CPUID just set; query it afterwards. */
	if (vmm_check_cap(vm, KVM_CAP_XSAVE)) {
		int sz = vmm_check_cap(vm, KVM_CAP_XSAVE2);

		vm->has_xsave2 = sz > 0;
		vm->xsave_size = sz > (int)sizeof(struct kvm_xsave) ?
				 (size_t)sz : sizeof(struct kvm_xsave);
	}
	*out = vm;
	return 0;
fail:
	vmm_vm_destroy(vm);
	return r < 0 ? r : -EINVAL;
}

void vmm_vm_destroy(struct vmm_vm *vm)
{
	if (!vm)
		return;
	vmm_stop(vm);
	vmm_announce_stop(vm, NULL);	/* before the taps go */
	vmm_devices_free(vm);		/* their threads write guest memory */
	vmm_dirty_reaper_stop(vm);	/* it reads the vCPUs' rings */
	vmm_vcpus_free(vm);
	vmm_dirty_free(vm);
	vmm_mem_free(vm);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	free(vm->msr_list);
	pthread_mutex_destroy(&vm->lock);
	pthread_mutex_destroy(&vm->harvest_lock);
	pthread_cond_destroy(&vm->run_cond);
	pthread_cond_destroy(&vm->parked_cond);
	pthread_cond_destroy(&vm->ring_cond);
	pthread_cond_destroy(&vm->full_cond);
	free(vm);
}
