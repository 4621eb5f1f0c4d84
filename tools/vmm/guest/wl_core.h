/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmigrate VMM: the workload loop of the built-in guest.
 *
 * Included by guest/main.c (freestanding, runs in the guest) and by the
 * host-side test of the workload (tests/vmm/wl_hosttest.c), which runs the
 * same loop in threads over a plain buffer.  The includer provides:
 *
 *   static void wl_out8(uint16_t port, uint8_t v);
 *   static void wl_out32(uint16_t port, uint32_t v);
 *   static void wl_ins8(uint16_t port, void *dst, uint32_t n);  (rep insb)
 *   WL_HAVE_FPU_CHECK  1 when the loop may use xmm13..xmm15 (guest only)
 *
 * All guest-physical addresses are accessed as mem + gpa, so that the host
 * test can pass a buffer; in the guest mem is 0 (identity map).
 */
#ifndef KMIGRATE_VMM_WL_CORE_H
#define KMIGRATE_VMM_WL_CORE_H

#include "wl_abi.h"

#define wl_barrier()	__asm__ __volatile__("" ::: "memory")

static inline uint64_t wl_rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return lo | ((uint64_t)hi << 32);
}

static inline void wl_cpu_relax(void)
{
	__asm__ __volatile__("pause" ::: "memory");
}

static void wl_puts(const char *s)
{
	while (*s)
		wl_out8(WL_PORT_CONSOLE, (uint8_t)*s++);
}

static void wl_putu(uint64_t v)
{
	char buf[24];
	int i = 0;

	do {
		buf[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		wl_out8(WL_PORT_CONSOLE, (uint8_t)buf[--i]);
}

/*
 * Write one page: claim (busy), fill, header, release.  Returns 0 when the
 * page was skipped because another vCPU held it (shared mode only).  With
 * @zero the page is cleared instead (claimed the same way, so that a
 * half-cleared page is marked busy): all zero once released.  With @burst
 * the claimed page first takes WL_BURST_BYTES of string port input (KVM
 * emulates it: a dirty-ring entry per byte), which the write then covers.
 */
static int wl_write_page(uint8_t *mem, uint64_t gpa, uint32_t vcpu,
			 uint64_t seq, uint32_t flags, int zero, int burst)
{
	struct wl_stamp *s = (struct wl_stamp *)(mem + gpa);
	uint64_t *q = (uint64_t *)(mem + gpa);
	uint64_t gfn = gpa >> WL_PAGE_SHIFT;
	uint64_t base, i;

	if (flags & WL_F_SHARED) {
		uint32_t zero = 0;

		if (!__atomic_compare_exchange_n(&s->busy, &zero, vcpu + 1, 0,
						 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return 0;
	} else {
		s->busy = vcpu + 1;
	}
	wl_barrier();
	if (burst)
		wl_ins8(WL_PORT_BURST, mem + gpa + 64, WL_BURST_BYTES);
	if (zero) {
		s->magic = 0;
		s->vcpu = 0;
		s->check = 0;
		for (i = 1; i < WL_PAGE_SIZE / 8; i++)
			q[i] = 0;
		__atomic_store_n(&s->busy, 0, __ATOMIC_RELEASE);
		return 1;
	}
	if (!(flags & WL_F_HEADER_ONLY)) {
		base = wl_fill_base(gfn, seq, vcpu);
		for (i = WL_STAMP_QWORDS; i < WL_PAGE_SIZE / 8; i++)
			q[i] = wl_fill(base, i);
	}
	s->magic = WL_STAMP_MAGIC;
	s->vcpu = vcpu;
	s->gfn = gfn;
	s->seq = seq;
	s->check = wl_stamp_check(gfn, seq, vcpu);
	__atomic_store_n(&s->busy, 0, __ATOMIC_RELEASE);
	return 1;
}

#if WL_HAVE_FPU_CHECK
/*
 * The SSE register check: xmm15 carries {seq, ~seq} from one write to the
 * next, so a vCPU state transfer that loses the XSAVE area is caught.  Only
 * movdqu is used, which KVM's instruction emulator also implements.
 */
static inline void wl_fpu_set(uint64_t v)
{
	uint64_t buf[2] = { v, ~v };

	__asm__ __volatile__("movdqu %0, %%xmm15" : : "m"(buf));
}

/* 0 when xmm15 holds {want, ~want} */
static inline int wl_fpu_check(uint64_t want)
{
	uint64_t buf[2];

	__asm__ __volatile__("movdqu %%xmm15, %0" : "=m"(buf));
	return buf[0] == want && buf[1] == ~want ? 0 : -1;
}
#endif

/*
 * The workload of one vCPU.  Returns when the host sets params->stop, or at
 * once (after WL_EV_PANIC) when the parameters make no sense.
 */
static void wl_run(uint8_t *mem, uint32_t vcpu)
{
	const volatile struct wl_params *vp =
		(const volatile struct wl_params *)(mem + WL_PARAMS_GPA);
	const struct wl_params *p = (const struct wl_params *)(mem + WL_PARAMS_GPA);
	struct wl_status *status = (struct wl_status *)(mem + WL_STATUS_GPA);
	struct wl_vcpu_status *st;
	struct wl_plan plan;
	uint64_t tpp, next, last, now, gap, seq, stall_thresh, catchup;
	uint64_t max_gap = 0;
	uint32_t epoch, flags, burst, b;

	if (vcpu >= WL_MAX_VCPUS) {
		wl_out32(WL_PORT_EVENT, (WL_PANIC_VCPU << 8) | WL_EV_PANIC);
		return;
	}
	st = &status->vcpu[vcpu];
	if (p->magic != WL_PARAMS_MAGIC || p->version != WL_PARAMS_VERSION ||
	    !p->tsc_khz || wl_plan_init(&plan, p, vcpu)) {
		st->state = WL_ST_PANIC;
		wl_out32(WL_PORT_EVENT, (WL_PANIC_PARAMS << 8) | WL_EV_PANIC);
		return;
	}
	flags = p->flags;
	tpp = p->rate ? p->tsc_khz * 1000 / p->rate : 0;
	if (p->rate && !tpp)
		tpp = 1;
	stall_thresh = p->tsc_khz / 10;		/* 100 us */
	catchup = p->tsc_khz * 10;		/* 10 ms: no bursts after a pause */
	seq = st->seq;
	epoch = vp->gap_epoch;
	burst = vp->burst;
	st->gap_epoch = epoch;
	st->state = WL_ST_RUNNING;
#if WL_HAVE_FPU_CHECK
	if (flags & WL_F_FPU_CHECK)
		wl_fpu_set(seq);
#endif
	if (vcpu == 0) {
		wl_puts("kmigrate workload: ");
		wl_putu(p->nr_vcpus);
		wl_puts(" vcpus, ");
		wl_putu(plan.n);
		wl_puts(" pages each, pattern ");
		wl_putu(p->pattern);
		wl_puts("\n");
	}
	wl_out32(WL_PORT_EVENT, WL_EV_READY);

	last = wl_rdtsc();
	next = last;
	for (;;) {
		now = wl_rdtsc();
		gap = now - last;
		last = now;
		if ((int64_t)gap > 0) {
			if (gap > max_gap) {
				max_gap = gap;
				st->max_gap_tsc = gap;
				st->max_gap_end = now;
			}
			if (gap > stall_thresh) {
				st->stalls++;
				st->stall_tsc += gap;
			}
		}
		if (vp->stop)
			break;
		if (vp->gap_epoch != epoch) {
			epoch = vp->gap_epoch;
			max_gap = 0;
			st->max_gap_tsc = 0;
			st->max_gap_end = now;
			st->stalls = 0;
			st->stall_tsc = 0;
			st->gap_epoch = epoch;
		}
		if (tpp) {
			if ((int64_t)(now - next) < 0) {
				wl_cpu_relax();
				continue;
			}
			if (now - next > catchup)
				next = now;
			next += tpp;
		}
		seq++;
		b = vp->burst;	/* read once: a request between two reads is not lost */
		if (!wl_write_page(mem, wl_ram_page_gpa(p, p->work_first + plan.base +
							wl_pick(&plan, seq)),
				   vcpu, seq, flags, wl_zeroes(p->zero_every, seq), b != burst))
			st->collisions++;
		burst = b;
		st->seq = seq;
		st->last_tsc = now;
#if WL_HAVE_FPU_CHECK
		if (flags & WL_F_FPU_CHECK) {
			if (wl_fpu_check(seq - 1)) {
				if (!st->errors)
					wl_out32(WL_PORT_EVENT, (WL_PANIC_FPU << 8) | WL_EV_PANIC);
				st->errors++;
			}
			wl_fpu_set(seq);
		}
#endif
	}
	st->state = WL_ST_DONE;
	wl_out32(WL_PORT_EVENT, WL_EV_DONE);
}

#endif
