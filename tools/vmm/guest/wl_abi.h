/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmigrate VMM: the ABI between the built-in workload guest and the host.
 *
 * This header is compiled twice: freestanding for the guest (x86-64 long
 * mode, identity-mapped) and hosted for the VMM and the verifier.  It holds
 * only fixed-width types and pure inline functions, so that the page-choice
 * sequence and the page stamps can be recomputed on the host exactly as the
 * guest produced them.
 *
 * Guest-physical layout (all below 4 MiB, identity mapped with 2 MiB pages):
 *
 *   0x00001000  GDT
 *   0x00002000  TSS (104 bytes used)
 *   0x00003000  struct wl_params      host -> guest (config + control words)
 *   0x00004000  struct wl_status      guest -> host (one cache line per vCPU)
 *   0x00008000  PML4, 0x9000 PDPT, 0x10000.. PDs (one per GiB, 64 GiB max)
 *   0x00100000  guest image (text/data/bss, at most 1 MiB)
 *   0x00200000  stacks, WL_STACK_SIZE per vCPU
 *   0x00400000  work area: every RAM page from here up is workload memory
 */
#ifndef KMIGRATE_VMM_WL_ABI_H
#define KMIGRATE_VMM_WL_ABI_H

#include <stdint.h>

#define WL_PAGE_SIZE		4096ULL
#define WL_PAGE_SHIFT		12

#define WL_GDT_GPA		0x1000ULL
#define WL_TSS_GPA		0x2000ULL
#define WL_PARAMS_GPA		0x3000ULL
#define WL_STATUS_GPA		0x4000ULL
#define WL_STATUS_SIZE		0x4000ULL
#define WL_PML4_GPA		0x8000ULL
#define WL_PDPT_GPA		0x9000ULL
#define WL_PD_GPA		0x10000ULL
#define WL_PD_MAX		64		/* GiB of guest-physical space mapped */
#define WL_IMAGE_GPA		0x100000ULL
#define WL_IMAGE_MAX		0x100000ULL
#define WL_STACK_GPA		0x200000ULL
#define WL_STACK_SIZE		0x4000ULL
#define WL_WORK_GPA		0x400000ULL

#define WL_MAX_VCPUS		64
#define WL_MAX_RANGES		8

/* GDT selectors */
#define WL_SEL_CODE		0x08
#define WL_SEL_DATA		0x10
#define WL_SEL_TSS		0x18

/* The hypercall device: port I/O the guest uses to talk to the VMM. */
#define WL_PORT_BASE		0x0500
#define WL_PORT_COUNT		0x10
#define WL_PORT_CONSOLE		0x0500	/* out8: one console byte */
#define WL_PORT_EVENT		0x0504	/* out32: (arg << 8) | code */
#define WL_PORT_VCPU_ID		0x0508	/* in32: this vCPU's index */
#define WL_PORT_BURST		0x050c	/* in8 (string): reads 0xff */
#define WL_BURST_BYTES		1024

#define WL_EV_READY		1	/* vCPU entered the workload loop */
#define WL_EV_DONE		2	/* vCPU left the loop (stop requested) */
#define WL_EV_PANIC		3	/* arg: WL_PANIC_* */

#define WL_PANIC_PARAMS		1	/* bad params page */
#define WL_PANIC_FPU		2	/* the SSE register check failed */
#define WL_PANIC_VCPU		3	/* vCPU index does not fit */

enum wl_pattern {
	WL_PAT_SEQ	= 0,	/* walk the working set in order, wrap */
	WL_PAT_RANDOM	= 1,	/* uniform over the working set */
	WL_PAT_HOTCOLD	= 2,	/* hot_prob% of writes to the first hot_pct% */
};

#define WL_PARAMS_MAGIC		0x4b4d574c50524d53ULL	/* "KMWLPRMS" */
#define WL_PARAMS_VERSION	1

#define WL_F_SHARED		(1u << 0)	/* all vCPUs write the same set */
#define WL_F_HEADER_ONLY	(1u << 1)	/* stamp only the 32-byte header */
#define WL_F_FPU_CHECK		(1u << 2)	/* keep a counter in xmm15 and check it */

struct wl_range {			/* one piece of guest RAM, in RAM order */
	uint64_t gpa;
	uint64_t pages;
};

struct wl_params {
	uint64_t magic;
	uint32_t version;
	uint32_t nr_vcpus;
	uint32_t pattern;		/* enum wl_pattern */
	uint32_t flags;			/* WL_F_* */
	uint64_t tsc_khz;		/* guest TSC frequency (KVM_GET_TSC_KHZ) */
	uint64_t rate;			/* pages per second per vCPU, 0 = unlimited */
	uint64_t ws_pages;		/* working set per vCPU, pages */
	uint64_t work_first;		/* RAM page index of the first work page */
	uint64_t work_pages;		/* work pages available in total */
	uint32_t hot_pct;		/* hot set size, % of the working set */
	uint32_t hot_prob;		/* % of writes that go to the hot set */
	uint64_t seed;
	uint32_t nr_ranges;
	uint32_t zero_every;		/* every zero_every-th write (seq % n == 0)
					 * zeroes its page instead of stamping it:
					 * the guest frees memory; 0: never */
	struct wl_range ranges[WL_MAX_RANGES];
	uint64_t reserved1[8];
	/* control words, written by the host while the guest runs */
	volatile uint32_t stop;		/* non-zero: leave the loop, report DONE, hlt */
	volatile uint32_t gap_epoch;	/* changed by the host: reset max_gap */
	volatile uint32_t burst;	/* changed by the host: each vCPU writes its
					 * next page once through string port input
					 * first (WL_PORT_BURST, rep insb of
					 * WL_BURST_BYTES), which KVM emulates with
					 * one dirty-ring entry per byte */
	uint32_t reserved3;
	uint64_t reserved2[5];
};

/* One cache line per vCPU, written only by that vCPU. */
struct wl_vcpu_status {
	volatile uint64_t seq;		/* completed page writes (= last stamp seq) */
	volatile uint64_t max_gap_tsc;	/* longest pause seen between two TSC samples */
	volatile uint64_t max_gap_end;	/* TSC when that pause ended */
	volatile uint64_t stall_tsc;	/* sum of all pauses > 100 us, TSC ticks */
	volatile uint32_t stalls;	/* number of pauses > 100 us */
	volatile uint32_t state;	/* WL_ST_* */
	volatile uint32_t gap_epoch;	/* epoch of max_gap_* */
	volatile uint32_t errors;	/* FPU check failures */
	volatile uint64_t collisions;	/* shared mode: pages skipped, busy */
	volatile uint64_t last_tsc;	/* TSC at the last completed write */
};

#define WL_ST_INIT	0
#define WL_ST_RUNNING	1
#define WL_ST_DONE	2
#define WL_ST_PANIC	3

struct wl_status {
	struct wl_vcpu_status vcpu[WL_MAX_VCPUS];
};

/*
 * The stamp at the head of each written page.  The rest of the page is
 * filled with wl_fill(stamp, qword index), so that the whole page can be
 * checked.  busy is the writer's vCPU index + 1 while the page is being
 * written (claimed with cmpxchg in shared mode), 0 otherwise.
 */
#define WL_STAMP_MAGIC	0x4b4d5354u		/* "KMST" */
#define WL_STAMP_QWORDS	4

struct wl_stamp {
	volatile uint32_t busy;
	uint32_t magic;
	uint32_t vcpu;
	uint32_t check;
	uint64_t gfn;
	uint64_t seq;
};

_Static_assert(sizeof(struct wl_stamp) == WL_STAMP_QWORDS * 8, "stamp size");
_Static_assert(sizeof(struct wl_vcpu_status) == 64, "status line");
_Static_assert(sizeof(struct wl_status) <= WL_STATUS_SIZE, "status size");
_Static_assert(sizeof(struct wl_params) <= WL_PAGE_SIZE, "params size");

static inline uint64_t wl_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static inline uint32_t wl_stamp_check(uint64_t gfn, uint64_t seq, uint32_t vcpu)
{
	return (uint32_t)wl_mix64(gfn ^ (seq << 20) ^ ((uint64_t)vcpu << 56) ^
				  WL_STAMP_MAGIC);
}

static inline uint64_t wl_fill_base(uint64_t gfn, uint64_t seq, uint32_t vcpu)
{
	return wl_mix64(gfn * 0x9e3779b97f4a7c15ULL ^ seq ^ ((uint64_t)vcpu << 48));
}

static inline uint64_t wl_fill(uint64_t base, uint64_t qword)
{
	return base + qword * 0xd1b54a32d192ed03ULL;
}

/* Whether write number @seq zeroes its page (wl_params.zero_every). */
static inline int wl_zeroes(uint32_t zero_every, uint64_t seq)
{
	return zero_every && seq % zero_every == 0;
}

/* x in [0, n): multiply-high, no division */
static inline uint64_t wl_scale(uint64_t x, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)x * n) >> 64);
}

/* What one vCPU writes: a set of n work pages starting at work index base. */
struct wl_plan {
	uint64_t base;		/* first work page index of the set */
	uint64_t n;		/* pages in the set */
	uint64_t hot;		/* hot/cold: pages in the hot subset */
	uint64_t seed;
	uint32_t pattern;
	uint32_t hot_prob;	/* scaled to 0..65536 */
};

static inline int wl_plan_init(struct wl_plan *pl, const struct wl_params *p,
			       uint32_t vcpu)
{
	uint64_t ws = p->ws_pages;

	if (!p->nr_vcpus || vcpu >= p->nr_vcpus || !ws)
		return -1;
	if (p->flags & WL_F_SHARED) {
		if (ws > p->work_pages)
			return -1;
		pl->base = 0;
	} else {
		if (ws * p->nr_vcpus > p->work_pages)
			return -1;
		pl->base = ws * vcpu;
	}
	pl->n = ws;
	pl->pattern = p->pattern;
	pl->seed = wl_mix64(p->seed + 0x1000193ULL * (vcpu + 1));
	pl->hot = ws * p->hot_pct / 100;
	if (!pl->hot)
		pl->hot = 1;
	if (pl->hot > ws)
		pl->hot = ws;
	pl->hot_prob = p->hot_prob >= 100 ? 65536 : p->hot_prob * 65536 / 100;
	return 0;
}

/* The work page index (relative to the set) written by write number seq (>= 1). */
static inline uint64_t wl_pick(const struct wl_plan *pl, uint64_t seq)
{
	uint64_t r;

	switch (pl->pattern) {
	case WL_PAT_SEQ:
		return (seq - 1) % pl->n;
	case WL_PAT_HOTCOLD:
		r = wl_mix64(pl->seed ^ seq);
		if ((r & 0xffff) < pl->hot_prob || pl->hot == pl->n)
			return wl_scale(wl_mix64(r), pl->hot);
		return pl->hot + wl_scale(wl_mix64(r), pl->n - pl->hot);
	case WL_PAT_RANDOM:
	default:
		return wl_scale(wl_mix64(pl->seed ^ seq), pl->n);
	}
}

/* RAM page index -> guest-physical address, via the range table; 0 if none */
static inline uint64_t wl_ram_page_gpa(const struct wl_params *p, uint64_t idx)
{
	uint32_t i;

	for (i = 0; i < p->nr_ranges && i < WL_MAX_RANGES; i++) {
		if (idx < p->ranges[i].pages)
			return p->ranges[i].gpa + (idx << WL_PAGE_SHIFT);
		idx -= p->ranges[i].pages;
	}
	return 0;
}

#endif
