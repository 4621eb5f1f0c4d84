// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: the per-vCPU throttle (vmm.h, vmm_vcpu_set_throttle).
 *
 * A throttled vCPU runs for speed % of every VMM_THROTTLE_PERIOD_NS and
 * sleeps, outside KVM_RUN, for the rest: a duty cycle, as QEMU's
 * auto-converge does.  The sleep is sized on the time it actually ran
 * (ran * (100 - speed) / speed, at most a second): a single exit can last
 * longer than the share (KVM emulating a page of stores on PVM).  Chosen over sleeping on dirty-ring-full exits
 * (QEMU's dirty-limit) because it works the same with the dirty bitmap
 * (no ring, no ring-full exit) and with large rings (a 64k-entry ring
 * fills seldom), and its effect does not depend on how KVM reports writes.
 *
 * The vCPU thread does it all itself, at the top of its run loop
 * (vmm_throttle_point): when its share of the period is spent it sleeps;
 * else it arms a per-thread POSIX timer (SIGEV_THREAD_ID, the VM's kick
 * signal) for the end of its share, which throws it out of KVM_RUN with
 * EINTR like a pause kick.  The timer repeats every millisecond after
 * that, so a signal that lands just before KVM_RUN (and is lost) costs a
 * millisecond, not the period.  No lock is held while sleeping or armed:
 * the sleep is cut in pieces of at most a millisecond that look at
 * pause_req, quit and the throttle, and a pause's kick interrupts it, so a
 * pause, a stop or vmm_throttle_clear() takes effect within a millisecond.
 */
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"

#define VMM_THROTTLE_TICK_NS	1000000ULL	/* re-kick and sleep slice */
#define VMM_THROTTLE_SLEEP_MAX_NS 1000000000ULL	/* longest single sleep */

static void thr_ts(struct timespec *ts, uint64_t ns)
{
	ts->tv_sec = (time_t)(ns / 1000000000ULL);
	ts->tv_nsec = (long)(ns % 1000000000ULL);
}

static bool thr_stop(struct vmm_vcpu *v)
{
	struct vmm_vm *vm = v->vm;
	uint32_t sp = __atomic_load_n(&v->thr_speed, __ATOMIC_RELAXED);

	return __atomic_load_n(&vm->pause_req, __ATOMIC_ACQUIRE) ||
	       __atomic_load_n(&vm->quit, __ATOMIC_ACQUIRE) || !sp || sp >= 100;
}

static void thr_disarm(struct vmm_vcpu *v)
{
	struct itimerspec it;

	if (!v->thr_armed_at)
		return;
	memset(&it, 0, sizeof(it));
	timer_settime(v->thr_timer, 0, &it, NULL);
	v->thr_armed_at = 0;
}

/* Kick at @at (CLOCK_MONOTONIC ns), then every tick until re-armed. */
static void thr_arm(struct vmm_vcpu *v, uint64_t at)
{
	struct itimerspec it;
	struct sigevent sev;

	if (v->thr_armed_at == at)
		return;
	if (!v->thr_timer_ok) {
		memset(&sev, 0, sizeof(sev));
		sev.sigev_notify = SIGEV_THREAD_ID;
		sev.sigev_signo = v->vm->kick_signal;
		sev._sigev_un._tid = gettid();	/* sigev_notify_thread_id */
		if (timer_create(CLOCK_MONOTONIC, &sev, &v->thr_timer) < 0) {
			if (!v->thr_warned)
				vmm_logf(v->vm, "vcpu %u: throttle timer: %s (not throttled)",
					 v->idx, strerror(errno));
			v->thr_warned = true;
			return;
		}
		v->thr_timer_ok = true;
	}
	thr_ts(&it.it_value, at);
	thr_ts(&it.it_interval, VMM_THROTTLE_TICK_NS);
	if (timer_settime(v->thr_timer, TIMER_ABSTIME, &it, NULL) == 0)
		v->thr_armed_at = at;
}

/* Sleeps @ns outside KVM_RUN, or less if paused, stopped or unthrottled. */
static void thr_sleep(struct vmm_vcpu *v, uint64_t ns)
{
	uint64_t t0 = vmm_now_ns(), end = t0 + ns, now = t0;

	while (now < end && !thr_stop(v)) {
		struct timespec ts;

		thr_ts(&ts, end - now < VMM_THROTTLE_TICK_NS ? end - now : VMM_THROTTLE_TICK_NS);
		nanosleep(&ts, NULL);	/* EINTR (a kick): look again */
		now = vmm_now_ns();
	}
	__atomic_add_fetch(&v->stats.throttle_ns, now - t0, __ATOMIC_RELAXED);
	__atomic_add_fetch(&v->stats.throttle_sleeps, 1, __ATOMIC_RELAXED);
}

void vmm_throttle_point(struct vmm_vcpu *v)
{
	uint32_t sp = __atomic_load_n(&v->thr_speed, __ATOMIC_RELAXED);
	uint64_t run, now;

	if (!sp || sp >= 100 || thr_stop(v)) {
		thr_disarm(v);
		v->thr_run_until = 0;
		return;
	}
	run = VMM_THROTTLE_PERIOD_NS * sp / 100;
	now = vmm_now_ns();
	if (!v->thr_run_until) {
		v->thr_run_from = now;
		v->thr_run_until = now + run;
	} else if (now >= v->thr_run_until) {
		/* the sleep matches the time it really ran: one exit can take
		 * longer than the share (an emulated page write on PVM does) */
		uint64_t sleep = (now - v->thr_run_from) * (100 - sp) / sp;

		thr_disarm(v);
		thr_sleep(v, sleep < VMM_THROTTLE_SLEEP_MAX_NS ? sleep : VMM_THROTTLE_SLEEP_MAX_NS);
		v->thr_run_from = vmm_now_ns();
		v->thr_run_until = v->thr_run_from + run;
	}
	thr_arm(v, v->thr_run_until);
}

void vmm_throttle_exit(struct vmm_vcpu *v)
{
	thr_disarm(v);
	if (v->thr_timer_ok)
		timer_delete(v->thr_timer);
	v->thr_timer_ok = false;
}

int vmm_vcpu_set_throttle(struct vmm_vcpu *v, unsigned int speed_pct)
{
	struct vmm_vm *vm = v->vm;
	uint32_t old;

	if (speed_pct < 1 || speed_pct > 100)
		return -EINVAL;
	old = __atomic_exchange_n(&v->thr_speed, speed_pct, __ATOMIC_RELAXED);
	if (speed_pct < 100 && (!old || old >= 100)) {
		/* newly throttled: a vCPU deep in KVM_RUN arms its timer now */
		pthread_mutex_lock(&vm->lock);
		if (v->thread_started && v->active && !v->parked)
			pthread_kill(v->thread, vm->kick_signal);
		pthread_mutex_unlock(&vm->lock);
	}
	return 0;
}

unsigned int vmm_vcpu_throttle(const struct vmm_vcpu *v)
{
	uint32_t sp = __atomic_load_n(&v->thr_speed, __ATOMIC_RELAXED);

	return !sp || sp > 100 ? 100 : sp;
}

void vmm_throttle_clear(struct vmm_vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->nr_vcpus; i++)
		__atomic_store_n(&vm->vcpus[i].thr_speed, 100, __ATOMIC_RELAXED);
}

uint64_t vmm_vcpu_dirty_entries(const struct vmm_vcpu *v)
{
	return __atomic_load_n(&v->dirty_entries, __ATOMIC_RELAXED);
}
