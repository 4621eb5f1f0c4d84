// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: the dirty ring reaper.
 *
 * A harvest runs once a migration round: between two of them a guest that
 * writes fast can fill its ring, and then waits (KVM_EXIT_DIRTY_RING_FULL)
 * until the round ends; on a host whose KVM emulates guest stores (one ring
 * entry per store, up to 1024 per exit), it can overrun the ring before it
 * exits, and entries are lost.  The reaper is a thread that collects the
 * rings in between (dirty.c's collection, or another collector such as
 * the module's KMIGRATE_HARVEST, under harvest_lock) into a bitmap of its
 * own, which the next vmm_dirty_harvest() (_ext()) takes.
 */
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include "internal.h"

/* Some ring holds at least @q published entries.  Context: harvest_lock. */
static bool vmm_rings_above(struct vmm_vm *vm, uint32_t q)
{
	uint32_t mask = vm->ring_entries - 1;
	unsigned int i;

	for (i = 0; i < vm->nr_vcpus; i++) {
		const struct vmm_vcpu *v = &vm->vcpus[i];

		if (__atomic_load_n(&v->ring[(v->ring_fetch + q - 1) & mask].flags,
				    __ATOMIC_ACQUIRE) & KVM_DIRTY_GFN_F_DIRTY)
			return true;
	}
	return false;
}

/*
 * The reaper: while dirty logging runs in ring mode, collect the rings
 * into vm->reaped whenever one is an eighth full or a vCPU waits on a full
 * one, so a ring never overruns between two harvests of a long round and a
 * vCPU waits for one collection at most, never for the round.  The next
 * vmm_dirty_harvest() takes what it gathered.
 */
static void *vmm_reaper_main(void *arg)
{
	struct vmm_vm *vm = arg;
	struct vmm_dirty_bitmap bm = { .bits = vm->reaped, .nbits = vm->gfn_end };
	struct timespec ts;
	bool waiters;

	pthread_mutex_lock(&vm->lock);
	while (!vm->reaper_stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)vm->reaper_period_us * 1000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		/* a failed collector is not retried at once (the harvest takes over) */
		if (!vm->nr_ring_waiters || vm->reap_failed)
			pthread_cond_timedwait(&vm->full_cond, &vm->lock, &ts);
		if (vm->reaper_stop)
			break;
		waiters = vm->nr_ring_waiters > 0;
		pthread_mutex_unlock(&vm->lock);

		pthread_mutex_lock(&vm->harvest_lock);
		if (vm->dirty_active && !vm->reap_failed &&
		    (waiters || vmm_rings_above(vm, vm->ring_entries / 8))) {
			bool lost = false;
			int64_t n = vm->reap_collect ? vmm_ring_collect_ext_into(vm, &bm, &lost) :
						       vmm_ring_collect_into(vm, &bm, &lost);

			if (n > 0)
				vm->reaped_entries += (uint64_t)n;
			if (lost)
				vm->reaped_lost = true;
			vm->reaps++;
		}
		pthread_mutex_unlock(&vm->harvest_lock);
		if (waiters)	/* let the woken vCPUs count themselves out */
			sched_yield();
		pthread_mutex_lock(&vm->lock);
	}
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

int vmm_dirty_reaper_start(struct vmm_vm *vm, uint32_t period_us)
{
	return vmm_dirty_reaper_start_ext(vm, period_us, NULL, NULL);
}

int vmm_dirty_reaper_start_ext(struct vmm_vm *vm, uint32_t period_us,
			       vmm_ring_collect_fn collect, void *opaque)
{
	int r;

	if (vm->dirty_mode != VMM_DIRTY_RING)
		return 0;
	if (vm->reaper_running)
		return vm->reap_collect == collect ? 0 : -EBUSY;
	if (!vm->reaped) {
		vm->reaped = calloc((vm->gfn_end + 63) / 64, sizeof(uint64_t));
		if (!vm->reaped)
			return -ENOMEM;
	}
	vm->reaper_period_us = period_us ? period_us : 2000;
	vm->reaper_stop = false;
	vm->reap_collect = collect;
	vm->reap_opaque = opaque;
	vm->reap_failed = false;
	r = pthread_create(&vm->reaper, NULL, vmm_reaper_main, vm);
	if (r)
		return -r;
	vm->reaper_running = true;
	return 0;
}

void vmm_dirty_reaper_stop(struct vmm_vm *vm)
{
	if (!vm->reaper_running)
		return;
	pthread_mutex_lock(&vm->lock);
	vm->reaper_stop = true;
	pthread_cond_broadcast(&vm->full_cond);
	pthread_mutex_unlock(&vm->lock);
	pthread_join(vm->reaper, NULL);
	vm->reaper_running = false;
	vm->reap_collect = NULL;
	vm->reap_opaque = NULL;
}

bool vmm_dirty_reaper_running(const struct vmm_vm *vm) { return vm->reaper_running; }
uint64_t vmm_dirty_reaps(const struct vmm_vm *vm) { return vm->reaps; }
