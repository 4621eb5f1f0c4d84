// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: vCPUs, their threads and the run/exit loop; pause and resume.
 *
 * Kick protocol (as kvmtool/QEMU): the controller sets pause_req and
 * kvm_run->immediate_exit under vm->lock, then sends kick_signal to the
 * vCPU thread.  A thread inside the guest is thrown out with -EINTR by the
 * signal; a thread about to call KVM_RUN returns at once because of
 * immediate_exit.  A thread clears immediate_exit only under vm->lock
 * after it has seen pause_req clear, so no kick can be lost.
 *
 * A vCPU that exited for port I/O has the access half done inside KVM;
 * before it parks it re-enters once with immediate_exit set, which
 * completes the access and returns -EINTR, so the saved state is
 * consistent (as the kernel's vcpu_save_state() selftest helper does).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "cpumodel.h"
#include "internal.h"

static const char *const exit_names[] = {
	[VMM_VCPU_NOT_STARTED]		= "not-started",
	[VMM_VCPU_RUNNING]		= "running",
	[VMM_VCPU_HALTED]		= "halted",
	[VMM_VCPU_STOPPED]		= "stopped",
	[VMM_VCPU_SHUTDOWN]		= "shutdown",
	[VMM_VCPU_FAIL_ENTRY]		= "fail-entry",
	[VMM_VCPU_INTERNAL_ERROR]	= "internal-error",
	[VMM_VCPU_SYSTEM_EVENT]		= "system-event",
	[VMM_VCPU_ERROR]		= "error",
};

const char *vmm_vcpu_exit_name(enum vmm_vcpu_exit e)
{
	return (unsigned int)e < sizeof(exit_names) / sizeof(exit_names[0]) ?
	       exit_names[e] : "?";
}

int vmm_vcpu_fd(const struct vmm_vcpu *vcpu) { return vcpu->fd; }
unsigned int vmm_vcpu_index(const struct vmm_vcpu *vcpu) { return vcpu->idx; }
struct kvm_run *vmm_vcpu_kvm_run(struct vmm_vcpu *vcpu) { return vcpu->run; }
const struct kvm_cpuid2 *vmm_vcpu_cpuid(const struct vmm_vcpu *vcpu) { return vcpu->cpuid; }

/* ----------------------------------------------------------- creation -- */

static struct kvm_cpuid2 *vmm_supported_cpuid(struct vmm_vm *vm)
{
	struct kvm_cpuid2 *c;
	int n = 64;

	for (;;) {
		c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return NULL;
		c->nent = n;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG || n >= 4096) {
			vmm_ioctl_err(vm, "KVM_GET_SUPPORTED_CPUID");
			return NULL;
		}
		n *= 2;
	}
}

/* Per-vCPU topology ids, as kvmtool does; the rest is the host's offer. */
static void vmm_cpuid_fixup(struct kvm_cpuid2 *c, unsigned int idx)
{
	uint32_t i;

	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x00ffffff) | (idx << 24);
			break;
		case 0xb:
		case 0x1f:
			e->edx = idx;
			break;
		}
	}
}

int vmm_vcpus_create(struct vmm_vm *vm)
{
	struct kvm_cpuid2 *base;
	unsigned int i;
	int mmap_size, r, khz;

	mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < (int)sizeof(struct kvm_run))
		return vmm_ioctl_err(vm, "KVM_GET_VCPU_MMAP_SIZE");
	base = vmm_supported_cpuid(vm);
	if (!base)
		return -EIO;
	if (vm->cfg.cpu_model) {
		char missing[256];

		r = vmm_cpumodel_apply(vm->cfg.cpu_model, base, missing, sizeof(missing));
		if (r) {
			if (r == -ENOTSUP)
				vmm_logf(vm, "CPU model %s: this host's KVM lacks: %s",
					    vm->cfg.cpu_model, missing);
			else
				vmm_logf(vm, "unknown CPU model '%s' (known: %s)",
					    vm->cfg.cpu_model, vmm_cpumodel_list());
			free(base);
			return r;
		}
	}
	vm->vcpus = calloc(vm->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		free(base);
		return -ENOMEM;
	}
	for (i = 0; i < vm->nr_vcpus; i++)
		vm->vcpus[i].fd = -1;
	for (i = 0; i < vm->nr_vcpus; i++) {
		struct vmm_vcpu *v = &vm->vcpus[i];
		size_t csz = sizeof(*base) + base->nent * sizeof(base->entries[0]);

		v->vm = vm;
		v->idx = i;
		v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (v->fd < 0) {
			r = vmm_ioctl_err(vm, "KVM_CREATE_VCPU");
			goto fail;
		}
		v->run_size = (size_t)mmap_size;
		v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			      v->fd, 0);
		if (v->run == MAP_FAILED) {
			v->run = NULL;
			r = vmm_ioctl_err(vm, "mmap(kvm_run)");
			goto fail;
		}
		v->cpuid = malloc(csz);
		if (!v->cpuid) {
			r = -ENOMEM;
			goto fail;
		}
		memcpy(v->cpuid, base, csz);
		vmm_cpuid_fixup(v->cpuid, i);
		if (ioctl(v->fd, KVM_SET_CPUID2, v->cpuid) < 0) {
			r = vmm_ioctl_err(vm, "KVM_SET_CPUID2");
			goto fail;
		}
		r = vmm_dirty_init_vcpu(v);
		if (r)
			goto fail;
	}
	khz = ioctl(vm->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);
	vm->tsc_khz = khz > 0 ? (uint32_t)khz : 0;
	free(base);
	return 0;
fail:
	free(base);
	return r;
}

void vmm_vcpus_free(struct vmm_vm *vm)
{
	unsigned int i;

	if (!vm->vcpus)
		return;
	for (i = 0; i < vm->nr_vcpus; i++) {
		struct vmm_vcpu *v = &vm->vcpus[i];

		if (v->ring)
			munmap(v->ring, (size_t)vm->ring_entries * sizeof(*v->ring));
		if (v->run)
			munmap(v->run, v->run_size);
		if (v->fd >= 0)
			close(v->fd);
		free(v->cpuid);
	}
	free(vm->vcpus);
	vm->vcpus = NULL;
}

/* --------------------------------------------------------- diagnostics -- */

void vmm_vcpu_dump(struct vmm_vcpu *v, const char *why)
{
	struct vmm_vm *vm = v->vm;
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
		vmm_logf(vm, "vcpu %u: %s (registers unavailable: %s)", v->idx, why,
			 strerror(errno));
		return;
	}
	vmm_logf(vm, "vcpu %u: %s\n"
		 "  rip %016llx rsp %016llx rflags %016llx\n"
		 "  rax %016llx rbx %016llx rcx %016llx rdx %016llx\n"
		 "  rsi %016llx rdi %016llx rbp %016llx\n"
		 "  r8  %016llx r9  %016llx r10 %016llx r11 %016llx\n"
		 "  r12 %016llx r13 %016llx r14 %016llx r15 %016llx\n"
		 "  cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx efer %016llx\n"
		 "  cs %04x base %llx l %u db %u  ss %04x  tr %04x  gdt %llx/%x idt %llx/%x",
		 v->idx, why, r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx,
		 r.rsi, r.rdi, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14,
		 r.r15, s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.cs.selector, s.cs.base,
		 s.cs.l, s.cs.db, s.ss.selector, s.tr.selector, s.gdt.base, s.gdt.limit,
		 s.idt.base, s.idt.limit);
}

/* ----------------------------------------------------------- run loop -- */

static void vmm_kick_locked(struct vmm_vcpu *v)
{
	if (v->run)
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
}

/* Re-enter with immediate_exit so KVM completes a half-done port access. */
static void vmm_complete_io(struct vmm_vcpu *v)
{
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (ioctl(v->fd, KVM_RUN, 0) == 0)
		vmm_logf(v->vm, "vcpu %u: KVM_RUN with immediate_exit returned 0 (exit %u)",
			 v->idx, v->run->exit_reason);
	v->io_pending = false;
}

/* Returns false when the thread must end (exit state set in v->exit). */
static bool vmm_handle_exit(struct vmm_vcpu *v)
{
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		v->stats.exits_io++;
		vmm_io_dispatch(v);
		v->io_pending = true;
		return true;
	case KVM_EXIT_MMIO:
		v->stats.exits_mmio++;
		if (!vmm_devices_mmio(v->vm, run->mmio.phys_addr, run->mmio.is_write,
				      run->mmio.data, run->mmio.len) && !run->mmio.is_write)
			memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
		v->io_pending = true;
		return true;
	case KVM_EXIT_INTR:
		v->stats.exits_intr++;
		return true;
	case KVM_EXIT_DIRTY_RING_FULL:
		v->stats.exits_ring_full++;
		vmm_dirty_ring_full_wait(v);
		return true;
	case KVM_EXIT_HLT:
		v->exit = VMM_VCPU_HALTED;
		return false;
	case KVM_EXIT_SHUTDOWN:
		v->exit = VMM_VCPU_SHUTDOWN;
		vmm_vcpu_dump(v, "KVM_EXIT_SHUTDOWN (triple fault)");
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		v->exit = VMM_VCPU_FAIL_ENTRY;
		vmm_logf(v->vm, "vcpu %u: hardware entry failure reason %#llx cpu %u",
			 v->idx, (unsigned long long)run->fail_entry.hardware_entry_failure_reason,
			 run->fail_entry.cpu);
		vmm_vcpu_dump(v, "KVM_EXIT_FAIL_ENTRY");
		return false;
	case KVM_EXIT_INTERNAL_ERROR: {
		char buf[256];
		int n, i;

		n = snprintf(buf, sizeof(buf), "KVM_EXIT_INTERNAL_ERROR suberror %u, data",
			     run->internal.suberror);
		for (i = 0; i < (int)run->internal.ndata && i < 16 && n < (int)sizeof(buf) - 20; i++)
			n += snprintf(buf + n, sizeof(buf) - (size_t)n, " %llx",
				      (unsigned long long)run->internal.data[i]);
		v->exit = VMM_VCPU_INTERNAL_ERROR;
		vmm_vcpu_dump(v, buf);
		return false;
	}
	case KVM_EXIT_SYSTEM_EVENT:
		v->exit = VMM_VCPU_SYSTEM_EVENT;
		vmm_logf(v->vm, "vcpu %u: system event type %u", v->idx,
			 run->system_event.type);
		return false;
	default:
		v->stats.exits_other++;
		v->exit = VMM_VCPU_ERROR;
		vmm_logf(v->vm, "vcpu %u: unhandled exit reason %u", v->idx,
			 run->exit_reason);
		vmm_vcpu_dump(v, "unhandled exit");
		return false;
	}
}

static void *vmm_vcpu_thread(void *arg)
{
	struct vmm_vcpu *v = arg;
	struct vmm_vm *vm = v->vm;
	sigset_t set;
	int r;

	sigemptyset(&set);
	sigaddset(&set, vm->kick_signal);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	for (;;) {
		vmm_throttle_point(v);	/* throttle.c: may sleep, no lock held */
		pthread_mutex_lock(&vm->lock);
		if (vm->pause_req && !vm->quit && v->io_pending) {
			pthread_mutex_unlock(&vm->lock);
			vmm_complete_io(v);
			continue;
		}
		if (vm->pause_req && !vm->quit) {
			v->parked = true;
			vm->nr_parked++;
			pthread_cond_broadcast(&vm->parked_cond);
			while (vm->pause_req && !vm->quit)
				pthread_cond_wait(&vm->run_cond, &vm->lock);
			v->parked = false;
			vm->nr_parked--;
		}
		if (vm->quit) {
			if (v->io_pending) {
				pthread_mutex_unlock(&vm->lock);
				vmm_complete_io(v);
				pthread_mutex_lock(&vm->lock);
			}
			v->exit = VMM_VCPU_STOPPED;
			pthread_mutex_unlock(&vm->lock);
			break;
		}
		__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		v->ring_gen_seen = vm->ring_reset_gen;
		pthread_mutex_unlock(&vm->lock);

		v->stats.runs++;
		r = ioctl(v->fd, KVM_RUN, 0);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				v->stats.exits_intr++;
				v->io_pending = false;	/* completed on entry */
				continue;
			}
			vmm_ioctl_err(vm, "KVM_RUN");
			v->exit = VMM_VCPU_ERROR;
			break;
		}
		v->io_pending = false;
		if (!vmm_handle_exit(v))
			break;
	}
	vmm_throttle_exit(v);

	pthread_mutex_lock(&vm->lock);
	v->active = false;
	vm->nr_active--;
	pthread_cond_broadcast(&vm->parked_cond);
	pthread_cond_broadcast(&vm->full_cond);
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

int vmm_start(struct vmm_vm *vm)
{
	unsigned int i;
	int r;

	pthread_mutex_lock(&vm->lock);
	if (vm->started) {
		pthread_mutex_unlock(&vm->lock);
		return -EBUSY;
	}
	vm->started = true;
	pthread_mutex_unlock(&vm->lock);

	for (i = 0; i < vm->nr_vcpus; i++) {
		struct vmm_vcpu *v = &vm->vcpus[i];

		pthread_mutex_lock(&vm->lock);
		v->active = true;
		v->exit = VMM_VCPU_RUNNING;
		vm->nr_active++;
		pthread_mutex_unlock(&vm->lock);
		r = pthread_create(&v->thread, NULL, vmm_vcpu_thread, v);
		if (r) {
			pthread_mutex_lock(&vm->lock);
			v->active = false;
			v->exit = VMM_VCPU_ERROR;
			vm->nr_active--;
			pthread_mutex_unlock(&vm->lock);
			vmm_logf(vm, "pthread_create: %s", strerror(r));
			vmm_stop(vm);
			return -r;
		}
		v->thread_started = true;
	}
	return 0;
}

static void vmm_kick_all(struct vmm_vm *vm)
{
	pthread_t threads[VMM_MAX_VCPUS];
	unsigned int i, n = 0;

	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < vm->nr_vcpus; i++) {
		struct vmm_vcpu *v = &vm->vcpus[i];

		vmm_kick_locked(v);
		if (v->thread_started && v->active && !v->parked)
			threads[n++] = v->thread;
	}
	pthread_mutex_unlock(&vm->lock);
	/* a thread that ended meanwhile is still joinable: pthread_kill is safe */
	for (i = 0; i < n; i++)
		pthread_kill(threads[i], vm->kick_signal);
}

static void vmm_deadline(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_nsec += ms * 1000000L;
	ts->tv_sec += ts->tv_nsec / 1000000000L;
	ts->tv_nsec %= 1000000000L;
}

int vmm_pause(struct vmm_vm *vm)
{
	struct timespec ts;

	pthread_mutex_lock(&vm->lock);
	vm->pause_req = true;
	pthread_cond_broadcast(&vm->ring_cond);	/* ring-full waiters park too */
	pthread_mutex_unlock(&vm->lock);
	vmm_kick_all(vm);

	pthread_mutex_lock(&vm->lock);
	while (vm->nr_parked < vm->nr_active) {
		vmm_deadline(&ts, 20);
		if (pthread_cond_timedwait(&vm->parked_cond, &vm->lock, &ts) == ETIMEDOUT) {
			/* a signal can be lost to a thread outside KVM_RUN: kick again */
			pthread_mutex_unlock(&vm->lock);
			vmm_kick_all(vm);
			pthread_mutex_lock(&vm->lock);
		}
	}
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

int vmm_resume(struct vmm_vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->pause_req = false;
	pthread_cond_broadcast(&vm->run_cond);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

bool vmm_paused(const struct vmm_vm *vm)
{
	return __atomic_load_n(&vm->pause_req, __ATOMIC_ACQUIRE);
}

int vmm_wait(struct vmm_vm *vm, int timeout_ms)
{
	struct timespec ts;
	int r = 0;

	if (timeout_ms >= 0)
		vmm_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&vm->lock);
	while (vm->nr_active && r != ETIMEDOUT) {
		if (timeout_ms >= 0)
			r = pthread_cond_timedwait(&vm->parked_cond, &vm->lock, &ts);
		else
			pthread_cond_wait(&vm->parked_cond, &vm->lock);
	}
	r = vm->nr_active ? -ETIMEDOUT : 0;
	pthread_mutex_unlock(&vm->lock);
	return r;
}

void vmm_stop(struct vmm_vm *vm)
{
	unsigned int i;

	if (!vm->vcpus)
		return;
	pthread_mutex_lock(&vm->lock);
	vm->quit = true;
	pthread_cond_broadcast(&vm->run_cond);
	pthread_cond_broadcast(&vm->ring_cond);
	pthread_mutex_unlock(&vm->lock);
	while (vmm_wait(vm, 20) == -ETIMEDOUT)
		vmm_kick_all(vm);
	for (i = 0; i < vm->nr_vcpus; i++) {
		if (vm->vcpus[i].thread_started) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].thread_started = false;
		}
	}
}

void vmm_request_end(struct vmm_vm *vm, const char *why)
{
	bool first;

	pthread_mutex_lock(&vm->lock);
	first = !vm->end_reason[0];
	if (first)
		snprintf(vm->end_reason, sizeof(vm->end_reason), "%s", why);
	vm->quit = true;
	pthread_cond_broadcast(&vm->run_cond);
	pthread_cond_broadcast(&vm->ring_cond);
	pthread_mutex_unlock(&vm->lock);
	if (first)
		vmm_logf(vm, "guest ended: %s", why);
	vmm_kick_all(vm);
}

const char *vmm_guest_ended(const struct vmm_vm *vm)
{
	const char *r;

	pthread_mutex_lock((pthread_mutex_t *)&vm->lock);
	r = vm->end_reason[0] ? vm->end_reason : NULL;
	pthread_mutex_unlock((pthread_mutex_t *)&vm->lock);
	return r;
}

unsigned int vmm_failed_vcpus(struct vmm_vm *vm)
{
	unsigned int i, n = 0;

	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < vm->nr_vcpus; i++) {
		switch (vm->vcpus[i].exit) {
		case VMM_VCPU_SHUTDOWN:
		case VMM_VCPU_FAIL_ENTRY:
		case VMM_VCPU_INTERNAL_ERROR:
		case VMM_VCPU_ERROR:
			n++;
			break;
		default:
			break;
		}
	}
	pthread_mutex_unlock(&vm->lock);
	return n;
}

void vmm_vcpu_stats(struct vmm_vcpu *vcpu, struct vmm_vcpu_stats *st)
{
	pthread_mutex_lock(&vcpu->vm->lock);
	*st = vcpu->stats;
	st->exit = vcpu->exit;
	pthread_mutex_unlock(&vcpu->vm->lock);
}
