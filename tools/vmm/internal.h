/* SPDX-License-Identifier: GPL-2.0 */
/* libvmm: private structures shared by the library's files. */
#ifndef KMIGRATE_VMM_INTERNAL_H
#define KMIGRATE_VMM_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <time.h>
#include "vmm.h"

#define VMM_MAX_IO_HANDLERS	32
#define VMM_CONSOLE_LINE	160

struct vmm_io_handler {
	uint16_t port, count;
	vmm_io_fn fn;
	void *opaque;
};

struct vmm_vcpu {
	struct vmm_vm *vm;
	unsigned int idx;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	struct kvm_cpuid2 *cpuid;

	pthread_t thread;
	bool thread_started;
	bool active;		/* thread running its loop (vm->lock) */
	bool parked;		/* (vm->lock) */
	bool io_pending;	/* last exit was I/O: complete it before saving state */
	enum vmm_vcpu_exit exit;

	/* dirty ring */
	struct kvm_dirty_gfn *ring;
	uint32_t ring_fetch;	/* harvester's next index (harvest_lock) */
	uint64_t ring_gen_seen;	/* vm->ring_reset_gen before the last KVM_RUN */

	struct vmm_vcpu_stats stats;

	/* throttle (throttle.c): thr_speed is set by any thread (atomic); the
	 * rest belongs to the vCPU thread */
	uint32_t thr_speed;	/* % of each period it runs; 0 or 100: full speed */
	uint64_t thr_run_from;	/* when the running share began */
	uint64_t thr_run_until;	/* end of the running share; 0: not throttled */
	uint64_t thr_armed_at;	/* the timer's next kick; 0: disarmed */
	timer_t thr_timer;
	bool thr_timer_ok, thr_warned;
	uint64_t dirty_entries;	/* ring entries collected from it (atomic) */

	char console[VMM_CONSOLE_LINE];
	unsigned int console_len;
};

struct vmm_slot {
	struct vmm_mem_region r;
	uint64_t base_gfn, npages;
	uint64_t *bitmap;	/* bitmap mode: KVM_GET_DIRTY_LOG buffer */
};

struct vmm_vm {
	struct vmm_config cfg;
	FILE *log;
	int kvm_fd, vm_fd;
	int kick_signal;
	uint32_t tsc_khz;

	/* memory */
	int ram_fd;
	uint8_t *ram;
	uint64_t ram_size;
	struct vmm_slot slots[VMM_MAX_REGIONS];
	struct vmm_mem_region regions[VMM_MAX_REGIONS];
	unsigned int nr_slots;
	uint64_t gfn_end;
	uint64_t *soft_dirty;	/* pages written by the VMM (atomic bits) */

	/* vCPUs */
	unsigned int nr_vcpus;
	struct vmm_vcpu *vcpus;
	struct kvm_msr_list *msr_list;
	size_t xsave_size;	/* 0: no XSAVE; else bytes for (GET_)XSAVE(2) */
	bool has_xsave2, has_xcrs, has_debugregs, has_tsc_control;

	/* run control (lock) */
	pthread_mutex_t lock;
	pthread_cond_t run_cond;	/* vCPUs wait here while paused */
	pthread_cond_t parked_cond;	/* pause waits here for vCPUs to park/end */
	pthread_cond_t ring_cond;	/* ring-full vCPUs wait here for a reset */
	pthread_cond_t full_cond;	/* harvester waits here for ring-full vCPUs */
	bool started, pause_req, quit;
	unsigned int nr_active, nr_parked, nr_ring_waiters;
	uint64_t ring_reset_gen;

	/* I/O */
	struct vmm_io_handler io[VMM_MAX_IO_HANDLERS];
	unsigned int nr_io;
	vmm_event_fn event_fn;
	void *event_opaque;
	vmm_io_fn default_io;		/* unclaimed ports (NULL: all ones) */
	void *default_io_opaque;
	char end_reason[128];		/* vmm_request_end() (lock); "" if none */

	/* dirty tracking */
	enum vmm_dirty_mode dirty_mode;
	uint32_t ring_entries;
	bool ring_acq_rel;
	bool manual_protect;
	bool dirty_active;
	uint64_t ring_overflows;	/* harvests that found a ring full/out of step */
	uint64_t ring_mismatches;	/* for rate-limiting messages */
	char ring_overflow_why[128];	/* the last overflow's cause */
	bool ring_resync;		/* an overflow was seen (harvest_lock) */
	bool rearm_failed;		/* write protection could not be re-armed
					 * after an overflow (harvest_lock) */
	pthread_mutex_t harvest_lock;

	/* the ring reaper (dirty.c): collects into reaped between harvests */
	pthread_t reaper;
	bool reaper_running, reaper_stop;	/* stop: lock */
	uint32_t reaper_period_us;
	uint64_t *reaped;		/* gfn bits (harvest_lock) */
	uint64_t reaped_entries;	/* since the last harvest (harvest_lock) */
	bool reaped_lost;		/* the reaper saw an overflow (harvest_lock) */
	uint64_t reaps;			/* collections by the reaper */
	vmm_ring_collect_fn reap_collect;	/* NULL: libvmm's own collection */
	void *reap_opaque;
	bool reap_failed;		/* the collector failed: the next harvest
					 * collects (harvest_lock) */

	struct vmm_devices *devs;	/* PCI devices (devices.c), NULL: none */
	struct announce_job *announce;	/* announce.c (lock); NULL: none */

	/* devices' state (devstate.c), in registration order */
	struct {
		const struct vmm_dev_ops *ops;
		void *opaque;
	} dev_states[VMM_MAX_DEV_STATES];
	unsigned int nr_dev_states;
};

void vmm_logf(const struct vmm_vm *vm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int vmm_ioctl_err(const struct vmm_vm *vm, const char *what);

/* memory.c */
int vmm_mem_init(struct vmm_vm *vm);
void vmm_mem_free(struct vmm_vm *vm);
int vmm_mem_set_slot_flags(struct vmm_vm *vm, uint32_t flags);
struct vmm_slot *vmm_slot_by_id(struct vmm_vm *vm, uint32_t id);

/* cpu.c */
int vmm_vcpus_create(struct vmm_vm *vm);
void vmm_vcpus_free(struct vmm_vm *vm);

/* ioport.c */
void vmm_io_dispatch(struct vmm_vcpu *vcpu);
void vmm_io_init_default(struct vmm_vm *vm);

/* dirty.c */
int vmm_dirty_init_vm(struct vmm_vm *vm);	/* before vCPUs */
int vmm_dirty_init_vcpu(struct vmm_vcpu *vcpu);
void vmm_dirty_free(struct vmm_vm *vm);
void vmm_dirty_ring_full_wait(struct vmm_vcpu *vcpu);
void vmm_ring_reset_done(struct vmm_vm *vm, struct vmm_harvest_stats *st);
int64_t vmm_ring_collect_into(struct vmm_vm *vm, struct vmm_dirty_bitmap *out, bool *lost);

/* devices.c */
bool vmm_devices_mmio(struct vmm_vm *vm, uint64_t gpa, bool write, void *data,
		      unsigned int len);
void vmm_devices_free(struct vmm_vm *vm);
/* The tap of device @i if it is a NIC (its MAC: vmm_dev_info); -ENOENT. */
int vmm_net_tap_fd(const struct vmm_vm *vm, unsigned int i);

/* reaper.c */
int64_t vmm_ring_collect_ext_into(struct vmm_vm *vm, struct vmm_dirty_bitmap *out,
				  bool *lost);

/* throttle.c: in the vCPU thread, before each KVM_RUN and at its end */
void vmm_throttle_point(struct vmm_vcpu *vcpu);
void vmm_throttle_exit(struct vmm_vcpu *vcpu);

#endif
